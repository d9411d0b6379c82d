//! One vocabulary across the API (issue #19): boolean names, the
//! verification status, the shape of a batch, product ratings, the
//! `Idempotency-Key` problem, shop creation and the checkout bound.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, add_staff, market, order, student, user_id};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, post, spawn_app};

#[tokio::test]
async fn the_admin_sends_the_verification_status_the_shop_will_have() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(
        &app,
        "owner@uni.edu",
        ShopOpts {
            verification: uphill::domain::shop::Verification::Pending,
            ..Default::default()
        },
    )
    .await;
    let path = format!("/api/v1/admin/shops/{}/decision", m.shop_id);
    // The old verbs are not the vocabulary.
    for body in [
        json!({"decision": "VERIFY"}),
        json!({"verification": "VERIFY"}),
        json!({"verification": "APPROVE"}),
        json!({"verification": "PENDING"}),
    ] {
        let p = assert_problem(post(&app, &admin, &path, body.clone()).await, 400).await;
        assert!(
            p["errors"][0]["field"] == "verification" || p["errors"][0]["field"] == "decision",
            "{body}: {p}"
        );
    }
    let doc = app.openapi().await;
    let statuses = &doc["components"]["schemas"]["VerificationView"]["enum"];
    for v in doc["components"]["schemas"]["DecisionView"]["enum"]
        .as_array()
        .unwrap()
    {
        assert!(statuses.as_array().unwrap().contains(v), "{v}");
    }
    let shop = expect(
        post(&app, &admin, &path, json!({"verification": "VERIFIED"})).await,
        200,
    )
    .await;
    assert_eq!(shop["verification"], "VERIFIED");
}
