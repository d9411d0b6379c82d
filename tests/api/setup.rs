//! A vendor's shop set-up (issue #20): opening hours enforced at checkout,
//! the checklist before verification, every shop field through PATCH with
//! `If-Match`, and slot edits that leave existing batches alone.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};
use uphill::domain::batch::Batch;
use uphill::domain::hours;
use uphill::store::{StoreError, codec, tables};

use crate::fixtures::{ShopOpts, checklist, market, order_count, stock, student};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, send, spawn_app, whole_page};

async fn checkout(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(token)
        .header("idempotency-key", ulid::Ulid::new().to_string())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The campus minute of the day on the app's clock.
fn campus_minute(app: &TestApp) -> u16 {
    let tz = app.state.config.campus_tz().unwrap();
    hours::minute_of_day(app.state.clock.now(), tz)
}

#[tokio::test]
async fn orders_outside_the_opening_hours_are_refused_saying_when_the_shop_opens() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "s@uni.edu", &m).await;
    let body = json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}],
                      "address_id": address, "payment_method": "CASH"});
    let shop = format!("/shops/{}", m.shop_id);
    let set_hours = |opens: u16, closes: u16| {
        let (app, shop, owner) = (&app, &shop, &m.owner_token);
        async move {
            let r = send(
                app,
                Method::PATCH,
                shop,
                Some(owner),
                Some(json!({"opens_at": opens, "closes_at": closes})),
            )
            .await;
            expect(r, 200).await;
        }
    };
    let now = campus_minute(&app);
    let later = |by: u16| (now + by) % hours::MINUTES_PER_DAY;

    // Opens in two hours: refused, with the opening time, and nothing written.
    set_hours(later(120), later(240)).await;
    let p = assert_problem(checkout(&app, &token, &body).await, 409).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("opens at {}", hours::clock(later(120)))),
        "{detail}"
    );
    assert!(detail.contains("campus time"), "{detail}");
    assert_eq!(order_count(&app).await, 0);
    assert_eq!(stock(&app, &m.products[0]).await, 10);

    // Closed two hours ago, and a range past midnight that excludes now.
    set_hours(later(1440 - 240), later(1440 - 120)).await;
    assert_problem(checkout(&app, &token, &body).await, 409).await;
    set_hours(later(60), later(1440 - 60)).await;
    assert_problem(checkout(&app, &token, &body).await, 409).await;
    assert_eq!(order_count(&app).await, 0);

    // Open now (past midnight or not), and open all day.
    set_hours(later(1440 - 60), later(60)).await;
    expect(checkout(&app, &token, &body).await, 201).await;
    set_hours(600, 600).await;
    expect(checkout(&app, &token, &body).await, 201).await;

    // Time moves into the hours: the same order is taken.
    set_hours(later(120), later(240)).await;
    assert_problem(checkout(&app, &token, &body).await, 409).await;
    app.state.clock.advance(Duration::minutes(150));
    expect(checkout(&app, &token, &body).await, 201).await;
    assert_eq!(order_count(&app).await, 3);
    assert_eq!(stock(&app, &m.products[0]).await, 7);
}

async fn submit(app: &TestApp, token: &str, shop: &str) -> reqwest::Response {
    send(
        app,
        Method::POST,
        &format!("/shops/{shop}/verification"),
        Some(token),
        None,
    )
    .await
}

async fn verification(app: &TestApp, token: &str) -> String {
    get_ok(app, token, "/api/v1/me/shop").await["verification"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_shop_is_submitted_only_with_a_product_an_active_slot_and_a_upi_id() {
    let app = spawn_app().await;
    let owner = app.bearer("vendor@uni.edu").await;
    let shop = expect(
        send(
            &app,
            Method::POST,
            "/shops",
            Some(&owner),
            Some(json!({"name": "Chai Point", "shop_type": "CANTEEN", "opens_at": 0, "closes_at": 0})),
        )
        .await,
        201,
    )
    .await;
    let id = shop["id"].as_str().unwrap().to_string();
    let missing = |p: &Value| p["detail"].as_str().unwrap().to_string();

    let p = assert_problem(submit(&app, &owner, &id).await, 409).await;
    assert!(
        missing(&p).ends_with("needs a product, an active batch slot and a UPI id"),
        "{p}"
    );
    assert_eq!(verification(&app, &owner).await, "NOT_STARTED");

    // A product; a paused slot does not count.
    let product = expect(
        send(
            &app,
            Method::POST,
            &format!("/shops/{id}/products"),
            Some(&owner),
            Some(json!({"name": "Masala Tea", "price": 1500, "stock": 5})),
        )
        .await,
        201,
    )
    .await;
    let slot = expect(
        send(
            &app,
            Method::POST,
            &format!("/shops/{id}/slots"),
            Some(&owner),
            Some(json!({"cutoff_minutes": 1020, "label": "5 PM Batch", "active": false})),
        )
        .await,
        201,
    )
    .await;
    let p = assert_problem(submit(&app, &owner, &id).await, 409).await;
    assert!(
        missing(&p).ends_with("needs an active batch slot and a UPI id"),
        "{p}"
    );
    let slot_path = format!("/slots/{}", slot["id"].as_str().unwrap());
    expect(
        send(
            &app,
            Method::PATCH,
            &slot_path,
            Some(&owner),
            Some(json!({"active": true})),
        )
        .await,
        200,
    )
    .await;
    let p = assert_problem(submit(&app, &owner, &id).await, 409).await;
    assert!(missing(&p).ends_with("needs a UPI id"), "{p}");

    // A deleted product does not count either.
    expect(
        send(
            &app,
            Method::PATCH,
            &format!("/shops/{id}"),
            Some(&owner),
            Some(json!({"upi_id": "chai@okaxis"})),
        )
        .await,
        200,
    )
    .await;
    let product_path = format!("/products/{}", product["id"].as_str().unwrap());
    expect(
        send(&app, Method::DELETE, &product_path, Some(&owner), None).await,
        204,
    )
    .await;
    let p = assert_problem(submit(&app, &owner, &id).await, 409).await;
    assert!(missing(&p).ends_with("needs a product"), "{p}");
    assert_eq!(verification(&app, &owner).await, "NOT_STARTED");

    // Complete: submitted.
    checklist(&app, &owner, &id).await;
    let s = expect(submit(&app, &owner, &id).await, 200).await;
    assert_eq!(s["verification"], "PENDING");
    assert_eq!(verification(&app, &owner).await, "PENDING");
}

#[tokio::test]
async fn every_shop_field_is_patched_from_its_version_and_a_stale_one_changes_nothing() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let path = format!("/shops/{}", m.shop_id);
    let before = get_ok(&app, &m.owner_token, &format!("/api/v1{path}")).await;
    let version = before["version"].as_str().unwrap().to_string();
    let patch = |body: Value, version: Option<String>| {
        let (app, path, owner) = (&app, &path, &m.owner_token);
        async move {
            let mut r = app
                .client()
                .patch(app.url(&format!("/api/v1{path}")))
                .bearer_auth(owner)
                .json(&body);
            if let Some(v) = version {
                r = r.header("if-match", v);
            }
            r.send().await.unwrap()
        }
    };
    let all = json!({
        "name": "Foot Hill Café", "description": "Chai, rolls.\nOpen late.",
        "location": "Market row 4", "shop_type": "GROCERY", "opens_at": 1080, "closes_at": 120,
        "upi_id": "cafe@okaxis", "delivery_fee": 1500, "direct_delivery_fee": 3000,
        "min_order_value": 5000, "delivers_to": [m.other_building_id], "active": true,
        "accepting_orders": false,
    });
    let after = expect(patch(all.clone(), Some(version.clone())).await, 200).await;
    for (k, v) in all.as_object().unwrap() {
        assert_eq!(&after[k], v, "{k}");
    }
    let read = get_ok(&app, &m.owner_token, &format!("/api/v1{path}")).await;
    assert_eq!(read, after);

    // From the old version: refused, nothing changed.
    let p = assert_problem(
        patch(json!({"description": "stale"}), Some(version)).await,
        412,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("reload"), "{p}");
    // Bad values: refused, nothing changed.
    for (body, code) in [
        (json!({"delivers_to": ["NOSUCHBUILDING"]}), 422),
        (json!({"upi_id": "not a upi"}), 422),
        (json!({"opens_at": 1440}), 400),
        (json!({"closes_at": "08:00"}), 400),
        (json!({"delivery_fee": -1}), 400),
        (json!({"upi_qr_image": "f".repeat(64)}), 422),
    ] {
        assert_problem(patch(body, None).await, code).await;
    }
    assert_eq!(
        get_ok(&app, &m.owner_token, &format!("/api/v1{path}")).await,
        read
    );
}

async fn stored_batch(app: &TestApp, id: &str) -> Batch {
    let id = id.to_string();
    app.state
        .store
        .read(move |txn| {
            Ok::<_, StoreError>(
                codec::get::<Batch>(&txn.open_table(tables::BATCHES)?, &id)?.unwrap(),
            )
        })
        .await
        .unwrap()
}

/// SPEC §3: editing a slot never changes existing batches.
#[tokio::test]
async fn editing_a_slot_leaves_its_existing_batches_alone() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "s@uni.edu", &m).await;
    let body = json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}],
                      "address_id": address, "payment_method": "CASH"});
    let first = expect(checkout(&app, &token, &body).await, 201).await;
    let batch_id = first["batch_id"].as_str().unwrap().to_string();
    let was = stored_batch(&app, &batch_id).await;
    let slots = whole_page(
        get_ok(
            &app,
            &m.owner_token,
            &format!("/api/v1/shops/{}/slots", m.shop_id),
        )
        .await,
    );
    let slot = format!("/slots/{}", slots[0]["id"].as_str().unwrap());

    let edited = expect(
        send(
            &app,
            Method::PATCH,
            &slot,
            Some(&m.owner_token),
            Some(json!({"label": "Late batch", "max_orders": 1, "weekdays": [1, 3], "sort_order": 5})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(edited["label"], "Late batch");
    assert_eq!(edited["weekdays"], json!([1, 3]));
    let b = stored_batch(&app, &batch_id).await;
    assert_eq!(
        (&b.label, b.cutoff_at, b.max_orders, b.status),
        (&was.label, was.cutoff_at, was.max_orders, was.status)
    );
    assert_eq!(b.label, "Night batch");
    let view = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch_id}")).await;
    assert_eq!(view["label"], "Night batch");

    // A new cutoff and a paused slot: the batch keeps its own.
    expect(
        send(
            &app,
            Method::PATCH,
            &slot,
            Some(&m.owner_token),
            Some(json!({"cutoff_minutes": 600, "active": false})),
        )
        .await,
        200,
    )
    .await;
    let b = stored_batch(&app, &batch_id).await;
    assert_eq!((b.cutoff_at, b.order_count), (was.cutoff_at, 1));
    assert_eq!(b.label, "Night batch");
}
