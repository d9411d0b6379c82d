//! One vocabulary across the API (issue #19): boolean names, the
//! verification status, the shape of a batch, product ratings, the
//! `Idempotency-Key` problem, shop creation and the checkout bound.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, add_staff, market, order, student, user_id};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, post, spawn_app};

/// Every property of every schema in the served document, as
/// (schema, property, property schema).
fn properties(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (schema, s) in doc["components"]["schemas"].as_object().unwrap() {
        for (name, p) in s["properties"].as_object().into_iter().flatten() {
            out.push((schema.clone(), name.clone(), p.clone()));
        }
    }
    out
}

#[tokio::test]
async fn booleans_are_plain_adjectives_everywhere() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let prefixed: Vec<String> = properties(&doc)
        .into_iter()
        .filter(|(_, name, p)| p["type"] == "boolean" && name.starts_with("is_"))
        .map(|(schema, name, _)| format!("{schema}.{name}"))
        .collect();
    assert!(prefixed.is_empty(), "is_ booleans: {prefixed:?}");
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                assert!(!name.starts_with("is_"), "{method} {path}: {name}");
            }
        }
    }

    // The same words in answers and requests.
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let shop = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}", m.shop_id),
    )
    .await;
    assert_eq!(shop["active"], true, "{shop}");
    assert!(shop.get("is_active").is_none());
    let p = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/products/{}", m.products[0]),
    )
    .await;
    assert_eq!(p["veg"], true, "{p}");
    assert!(p.get("is_veg").is_none());
    let r = app
        .client()
        .patch(app.url(&format!("/api/v1/products/{}", m.products[0])))
        .bearer_auth(&m.owner_token)
        .json(&json!({"veg": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, 200).await["veg"], false);
    let me = get_ok(&app, &m.owner_token, "/api/v1/me").await;
    assert_eq!(me["admin"], false, "{me}");
    let (token, address) = student(&app, "s@uni.edu", &m).await;
    let list = get_ok(&app, &token, "/api/v1/me/addresses").await;
    let a = list
        .as_array()
        .or(list["items"].as_array())
        .unwrap()
        .iter()
        .find(|a| a["id"] == address.as_str())
        .cloned()
        .unwrap();
    assert_eq!(a["default"], true, "{a}");
    let r = app
        .client()
        .patch(app.url(&format!("/api/v1/shops/{}", m.shop_id)))
        .bearer_auth(&m.owner_token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
}

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

/// The fields every batch answer has at its top level.
fn assert_batch(v: &Value, id: &str, status: &str) {
    assert_eq!(v["id"], id, "{v}");
    assert_eq!(v["status"], status, "{v}");
    for key in [
        "shop_id",
        "slot_id",
        "label",
        "cutoff_at",
        "order_count",
        "created_at",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    assert!(v.get("batch").is_none(), "no envelope: {v}");
}

#[tokio::test]
async fn every_answer_carries_a_batch_in_one_shape() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s, a) = student(&app, "s@uni.edu", &m).await;
    let o = order(&app, &m, &s, &a, "k1").await;
    let batch = o["batch_id"].as_str().unwrap();
    let owner = &m.owner_token;

    let open = get_ok(&app, owner, &format!("/api/v1/batches/{batch}")).await;
    assert_batch(&open, batch, "OPEN");
    assert_eq!(open["orders"].as_array().unwrap().len(), 1);
    assert_eq!(open["total"], o["total"]);
    let list = get_ok(&app, owner, &format!("/api/v1/shops/{}/batches", m.shop_id)).await;
    let items = list
        .as_array()
        .or(list["items"].as_array())
        .unwrap()
        .clone();
    assert_batch(&items[0], batch, "OPEN");

    let at = |what: &str| format!("/api/v1/batches/{batch}/{what}");
    let locked = expect(post(&app, owner, &at("lock"), json!({})).await, 200).await;
    assert_batch(&locked, batch, "LOCKED");
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let runs = get_ok(&app, &runner, "/api/v1/me/runs").await;
    let runs = runs
        .as_array()
        .or(runs["items"].as_array())
        .unwrap()
        .clone();
    assert_batch(&runs[0], batch, "LOCKED");
    let claimed = expect(post(&app, &runner, &at("claim"), json!({})).await, 200).await;
    assert_batch(&claimed, batch, "LOCKED");
    assert_eq!(claimed["runner_id"], user_id(&app, &runner).await);
    let gone = expect(post(&app, &runner, &at("dispatch"), json!({})).await, 200).await;
    assert_batch(&gone, batch, "IN_TRANSIT");
    let midway = expect(
        post(
            &app,
            &runner,
            &at("milestone"),
            json!({"milestone": "CLIMB_STARTED"}),
        )
        .await,
        200,
    )
    .await;
    assert_batch(&midway, batch, "IN_TRANSIT");
    assert_eq!(midway["milestone"], "CLIMB_STARTED");
    let again = get_ok(&app, owner, &format!("/api/v1/batches/{batch}")).await;
    assert_batch(&again, batch, "IN_TRANSIT");
}

#[tokio::test]
async fn a_product_shows_its_rating_sum_beside_the_rounded_average() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let id = m.products[0].clone();
    let p = get_ok(&app, &m.owner_token, &format!("/api/v1/products/{id}")).await;
    assert_eq!(
        (p["rating_sum"].as_u64(), p["review_count"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(p["rating"].is_null());
    // 4 + 2 + 1 stars: the average (2.33…) rounds, the sum does not.
    let pid = id.clone();
    app.state
        .store
        .write(move |txn| {
            use uphill::store::{codec, tables};
            let mut t = txn.open_table(tables::PRODUCTS)?;
            let mut p: uphill::domain::catalog::Product = codec::get(&t, &pid)?.unwrap();
            (p.rating_sum, p.review_count) = (7, 3);
            codec::put(&mut t, &pid, &p)?;
            Ok::<_, uphill::store::StoreError>(())
        })
        .await
        .unwrap();
    let p = get_ok(&app, &m.owner_token, &format!("/api/v1/products/{id}")).await;
    assert_eq!(p["rating_sum"], 7);
    assert_eq!(p["review_count"], 3);
    assert_eq!(p["rating"], 233);
    let list = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}/products", m.shop_id),
    )
    .await;
    let items = list
        .as_array()
        .or(list["items"].as_array())
        .unwrap()
        .clone();
    let listed = items.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(
        (
            listed["rating_sum"].as_u64(),
            listed["review_count"].as_u64()
        ),
        (Some(7), Some(3))
    );
}

async fn checkout(
    app: &TestApp,
    token: &str,
    key: Option<&[u8]>,
    body: &Value,
) -> reqwest::Response {
    let mut r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        r = r.header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(k).unwrap(),
        );
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_missing_or_malformed_idempotency_key_is_a_422_naming_the_header() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "s@uni.edu", &m).await;
    let body = json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}], "address_id": address, "payment_method": "CASH"});
    let long = "k".repeat(101);
    for key in [
        None,
        Some(&b""[..]),
        Some(&b"has space"[..]),
        Some(long.as_bytes()),
        Some(&b"caf\xc3\xa9"[..]),
    ] {
        let p = assert_problem(checkout(&app, &token, key, &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], "Idempotency-Key", "{key:?}: {p}");
    }
    // Named even when the body is wrong too: the header is read first.
    let p = assert_problem(checkout(&app, &token, None, &json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(crate::fixtures::order_count(&app).await, 0);
    let r = checkout(
        &app,
        &token,
        Some(b"0b7e6c1e-5d0f-4c4b-9d43-2f8f5c1a9e10"),
        &body,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Documented as a required header.
    let doc = app.openapi().await;
    let params = doc["paths"]["/api/v1/orders"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let key = params
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(
        (key["in"].as_str(), key["required"].as_bool()),
        (Some("header"), Some(true))
    );
}

#[tokio::test]
async fn a_shop_is_created_with_every_field_its_patch_takes() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let names = |schema: &str| {
        let mut v: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("CreateShopRequest"), names("UpdateShopRequest"));

    let owner = app.bearer("vendor@uni.edu").await;
    let body = json!({
        "name": "Night Canteen", "shop_type": "CANTEEN", "opens_at": 1200, "closes_at": 120,
        "active": false, "accepting_orders": false,
    });
    let shop = expect(post(&app, &owner, "/api/v1/shops", body).await, 201).await;
    assert_eq!(
        (shop["active"].as_bool(), shop["accepting_orders"].as_bool()),
        (Some(false), Some(false))
    );
    let other = app.bearer("vendor2@uni.edu").await;
    let body =
        json!({"name": "Day Canteen", "shop_type": "CANTEEN", "opens_at": 480, "closes_at": 1200});
    let shop = expect(post(&app, &other, "/api/v1/shops", body).await, 201).await;
    assert_eq!(
        (shop["active"].as_bool(), shop["accepting_orders"].as_bool()),
        (Some(true), Some(true)),
        "defaults"
    );
}

#[tokio::test]
async fn the_checkout_schema_bounds_items_by_the_rule() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let max = uphill::domain::order::MAX_LINES as u64;
    for schema in ["CheckoutRequest", "CartRequest"] {
        let items = &doc["components"]["schemas"][schema]["properties"]["items"];
        assert_eq!(items["maxItems"].as_u64(), Some(max), "{schema}: {items}");
    }
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "s@uni.edu", &m).await;
    let line = json!({"product_id": m.products[0], "quantity": 1});
    let over = vec![line; max as usize + 1];
    let body = json!({"shop_id": m.shop_id, "items": over, "address_id": address, "payment_method": "CASH"});
    let p = assert_problem(checkout(&app, &token, Some(b"over"), &body).await, 400).await;
    assert_eq!(p["errors"][0]["field"], "items", "{p}");
    assert_eq!(crate::fixtures::order_count(&app).await, 0);
}
