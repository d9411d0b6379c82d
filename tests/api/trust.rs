//! Small trust findings, each reproduced here: answers that grow with the
//! request, look-alike names, ids of staff and admins in live events,
//! reviews that showed order ids and hidden shops.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, lock, market, order, student, user_id};
use crate::helpers::{assert_problem, get_ok, post, send, spawn_app};
use uphill::store::{StoreError, codec, tables};

#[tokio::test]
async fn a_huge_bad_body_gets_a_small_problem() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let big = "x".repeat(64 * 1024);
    let cases = [
        (
            Method::POST,
            "/auth/register",
            None,
            json!({"email": big, "password": big, "name": big}),
        ),
        (
            Method::POST,
            "/auth/login",
            None,
            json!({"email": {"nested": big}, "password": 1}),
        ),
        (
            Method::PATCH,
            &*format!("/shops/{}", m.shop_id),
            Some(m.owner_token.as_str()),
            json!({"name": big, "description": big, "location": big, "shop_type": big}),
        ),
        // One error per unknown key, and per entry of a too-long array:
        // 237 KB and 733 KB answers before problems were bounded.
        (
            Method::POST,
            "/me/addresses",
            Some(m.owner_token.as_str()),
            serde_json::Value::Object((0..3000).map(|i| (format!("k{i}"), json!(1))).collect()),
        ),
        (
            Method::POST,
            &*format!("/shops/{}/slots", m.shop_id),
            Some(m.owner_token.as_str()),
            json!({"label": "x", "cutoff_minutes": 100, "weekdays": (0..8000).collect::<Vec<_>>()}),
        ),
        (
            Method::POST,
            &*format!("/shops/{}/products", m.shop_id),
            Some(m.owner_token.as_str()),
            json!({"name": big, "price": big, "stock": big}),
        ),
    ];
    for (method, path, token, body) in cases {
        let r = send(&app, method, path, token, Some(body)).await;
        let status = r.status();
        assert!(status.is_client_error(), "{path}: {status}");
        let bytes = r.bytes().await.unwrap();
        assert!(
            bytes.len() < 4 * 1024,
            "{path}: a {status} problem of {} bytes",
            bytes.len()
        );
        let p: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(p["errors"].as_array().is_none_or(|e| e.len() <= 20), "{p}");
    }
}

#[tokio::test]
async fn names_with_invisible_or_direction_characters_are_refused() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let before = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}", m.shop_id),
    )
    .await;
    for name in ["Chai\u{202E}tnioP", "Ch\u{200B}ai", "\u{2067}Chai"] {
        let r = send(
            &app,
            Method::PATCH,
            &format!("/shops/{}", m.shop_id),
            Some(&m.owner_token),
            Some(json!({"name": name})),
        )
        .await;
        let p = assert_problem(r, 422).await;
        assert_eq!(p["errors"][0]["field"], "name", "{p}");
        let r = send(
            &app,
            Method::PATCH,
            &format!("/products/{}", m.products[0]),
            Some(&m.owner_token),
            Some(json!({"name": name})),
        )
        .await;
        assert_problem(r, 422).await;
    }
    let after = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}", m.shop_id),
    )
    .await;
    assert_eq!(before["name"], after["name"]);
    let r = send(
        &app,
        Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": "ad\u{200B}min@uni.edu", "password": "correct horse battery", "name": "Ad\u{2066}min"})),
    )
    .await;
    let p = assert_problem(r, 422).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"email") && fields.contains(&"name"), "{p}");
}

/// Every event's recipient (None: an audience) and JSON, oldest first.
async fn stored_events(app: &crate::helpers::TestApp) -> Vec<(Option<String>, String)> {
    app.state
        .store
        .read(|txn| {
            let mut out = Vec::new();
            use redb::ReadableTable;
            for e in txn.open_table(tables::EVENTS)?.iter()? {
                let e: uphill::events::Event = codec::decode(e?.1.value())?;
                out.push((e.user_id, serde_json::to_string(&e.data).unwrap()));
            }
            Ok::<_, StoreError>(out)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn live_events_do_not_carry_staff_or_admin_ids() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let owner_id = user_id(&app, &m.owner_token).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let oid = o["id"].as_str().unwrap();
    lock(&app, &m, o["batch_id"].as_str().unwrap()).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{oid}/messages"),
        json!({"body": "Coming at 5"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let admin = app.admin_bearer("admin@uni.edu").await;
    let admin_id = user_id(&app, &admin).await;
    let r = post(
        &app,
        &admin,
        "/api/v1/admin/broadcasts",
        json!({"title": "Water cut", "message": "No water 2-4 pm", "audience": "ALL"}),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let events = stored_events(&app).await;
    let s1_id = user_id(&app, &s1).await;
    let to_student = |needle: &str| {
        events
            .iter()
            .any(|(to, e)| to.as_deref() == Some(s1_id.as_str()) && e.contains(needle))
    };
    assert!(to_student("Coming at 5"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|(to, e)| to.is_none() && e.contains("Water cut")),
        "{events:?}"
    );
    // A user's own events may name them; nobody else's may name staff or admins.
    for (to, e) in &events {
        if to.as_deref() != Some(owner_id.as_str()) {
            assert!(
                !e.contains(&owner_id),
                "staff id in an event for {to:?}: {e}"
            );
        }
        if to.as_deref() != Some(admin_id.as_str()) {
            assert!(
                !e.contains(&admin_id),
                "admin id in an event for {to:?}: {e}"
            );
        }
    }
}

#[tokio::test]
async fn reviews_are_read_by_product_without_order_ids_and_only_for_public_shops() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let tea = m.products[0].clone();
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let oid = o["id"].as_str().unwrap().to_string();
    let admin = app.admin_bearer("admin@uni.edu").await;
    let r = post(
        &app,
        &admin,
        &format!("/api/v1/admin/orders/{oid}/status"),
        json!({"status": "COMPLETED", "reason": "delivered by hand"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &app,
        &s1,
        &format!("/api/v1/orders/{oid}/reviews"),
        json!({"product_id": tea, "rating": 4, "comment": "good chai"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let list = crate::helpers::whole_page(
        get_ok(&app, &s1, &format!("/api/v1/products/{tea}/reviews")).await,
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["comment"], "good chai");
    assert!(!list.to_string().contains(&oid), "order id shown: {list}");
    // Read through the product's index: a review whose index entry is
    // missing is not found by a scan either.
    let indexed = {
        let tea = tea.clone();
        app.state
            .store
            .read(move |txn| {
                Ok::<_, StoreError>(
                    txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?
                        .get(tea.as_str())?
                        .count(),
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(indexed, 1);
    // Other products have none.
    let samosa = &m.products[1];
    assert_eq!(
        crate::helpers::whole_page(
            get_ok(&app, &s1, &format!("/api/v1/products/{samosa}/reviews")).await
        ),
        json!([])
    );
    // The shop is deactivated: its reviews are hidden with it.
    let r = send(
        &app,
        Method::PATCH,
        &format!("/shops/{}", m.shop_id),
        Some(&m.owner_token),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    for who in [None, Some(s1.as_str())] {
        let r = send(
            &app,
            Method::GET,
            &format!("/products/{tea}/reviews"),
            who,
            None,
        )
        .await;
        assert_problem(r, 404).await;
    }
    let r = send(&app, Method::GET, "/products/NOSUCH/reviews", None, None).await;
    assert_problem(r, 404).await;
}
