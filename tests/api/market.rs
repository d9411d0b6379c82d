//! Addresses, carts, checkout, orders, cancellation, reviews, stock watches.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{self, Market, ShopOpts, market, order_count, stock, student};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, send, spawn_app};
use reqwest::Method;

fn checkout_body(m: &Market, address: &str, items: Value) -> Value {
    json!({"shop_id": m.shop_id, "items": items, "address_id": address, "payment_method": "CASH"})
}

async fn checkout(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn set_platform_fee(app: &TestApp, fee: i64) {
    app.state
        .store
        .write(move |txn| {
            uphill::settings::write(
                txn,
                &uphill::settings::PlatformSettings {
                    platform_fee: fee,
                    ..Default::default()
                },
            )?;
            Ok::<_, uphill::store::StoreError>(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn checkout_places_an_order_with_snapshots_and_frozen_fees() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "asha@uni.edu", &m).await;
    set_platform_fee(&app, 500).await;

    // Fill the cart first: checkout empties it.
    let c = app.client();
    let r = c
        .put(app.url(&format!("/api/v1/cart/{}", m.shop_id)))
        .bearer_auth(&token)
        .json(&json!({"items": [{"product_id": m.products[0], "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cart: Value = r.json().await.unwrap();
    assert_eq!(cart["item_total"], 2000);

    let body = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 2}, {"product_id": m.products[1], "quantity": 1}]),
    );
    let r = checkout(&app, &token, "key-1", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o: Value = r.json().await.unwrap();
    assert!(o["display_id"].as_str().unwrap().starts_with("UP-"));
    assert_eq!(o["status"], "NEW");
    assert_eq!(o["item_total"], 2 * 1000 + 2000);
    assert_eq!(o["delivery_fee"], 1000);
    assert_eq!(o["platform_fee"], 500);
    assert_eq!(o["total"], 4000 + 1000 + 500);
    let tea = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product_id"] == m.products[0].as_str())
        .unwrap();
    assert_eq!(tea["unit_price"], 1000, "price snapshot after discount");
    assert_eq!(tea["name"], "Masala Tea");
    assert_eq!(o["address"]["building_name"], "Hostel A");
    assert_eq!(o["address"]["room"], "B-214");
    assert!(o["batch_id"].is_string());
    assert!(o["otp"].is_null(), "no OTP before the batch locks");
    assert_eq!(stock(&app, &m.products[0]).await, 8);
    assert_eq!(stock(&app, &m.products[1]).await, 4);
    let cart: Value = c
        .get(app.url(&format!("/api/v1/cart/{}", m.shop_id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"].as_array().unwrap().len(), 0, "cart emptied");

    // Later changes never touch the placed order.
    set_platform_fee(&app, 900).await;
    let r = c
        .patch(app.url(&format!("/api/v1/me/addresses/{address}")))
        .bearer_auth(&token)
        .json(&json!({"room": "C-001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = o["id"].as_str().unwrap();
    let again: Value = c
        .get(app.url(&format!("/api/v1/orders/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["platform_fee"], 500);
    assert_eq!(again["address"]["room"], "B-214");

    // The vendor sees it in the shop's list; another student cannot see it.
    let list: Value = c
        .get(app.url(&format!("/api/v1/shops/{}/orders", m.shop_id)))
        .bearer_auth(&m.owner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], o["id"]);
    let other = app.bearer("other@uni.edu").await;
    assert_problem(
        c.get(app.url(&format!("/api/v1/orders/{id}")))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_problem(
        c.get(app.url(&format!("/api/v1/shops/{}/orders", m.shop_id)))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let mine: Value = c
        .get(app.url("/api/v1/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let status = mine["items"][0]["status"].as_str().unwrap().to_string();
    let of = |s: &str| {
        let (app, token) = (&app, token.clone());
        let path = format!("/api/v1/orders?status={s}");
        async move {
            get_ok(app, &token, &path).await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(of(&status).await, 1, "its own status finds it");
    assert_eq!(of("DELIVERY_FAILED").await, 0, "another status does not");
    assert_problem(
        c.get(app.url("/api/v1/orders?status=LOST"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}

#[tokio::test]
async fn the_same_key_never_charges_stock_twice() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "ravi@uni.edu", &m).await;
    let body = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 3}]),
    );
    // Ten concurrent retries of the same request.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (client, url, token, body) = (
            app.client(),
            app.url("/api/v1/orders"),
            token.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "retry-me")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (status, v["id"].as_str().unwrap().to_string())
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.push(id);
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the original order");
    assert_eq!(stock(&app, &m.products[0]).await, 7);
    assert_eq!(order_count(&app).await, 1);

    let r = checkout(&app, &token, "retry-me", &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    // Same key, different body.
    let other = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 1}]),
    );
    let p = assert_problem(checkout(&app, &token, "retry-me", &other).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(stock(&app, &m.products[0]).await, 7);
}

#[tokio::test]
async fn forty_buyers_race_for_ten_units() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let mut buyers = Vec::new();
    for i in 0..40 {
        buyers.push(student(&app, &format!("buyer{i}@uni.edu"), &m).await);
    }
    let mut tasks = Vec::new();
    for (i, (token, address)) in buyers.into_iter().enumerate() {
        let body = checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[0], "quantity": 1}]),
        );
        let (client, url) = (app.client(), app.url("/api/v1/orders"));
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", format!("k{i}"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut sold = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => sold += 1,
            StatusCode::CONFLICT => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((sold, refused), (10, 30));
    assert_eq!(stock(&app, &m.products[0]).await, 0);
    assert_eq!(order_count(&app).await, 10);
}

#[tokio::test]
async fn shortages_and_bad_checkouts_change_nothing() {
    let app = spawn_app().await;
    let m = market(
        &app,
        "owner@uni.edu",
        ShopOpts {
            min_order_value: 1500,
            ..Default::default()
        },
    )
    .await;
    let (token, address) = student(&app, "meera@uni.edu", &m).await;
    let (other_token, other_address) = student(&app, "sam@uni.edu", &m).await;
    let _ = other_token;
    let item = |q: Value| json!([{"product_id": m.products[1], "quantity": q}]);

    // A shortage names the item and reserves nothing.
    let p = assert_problem(checkout(&app, &token, "a", &checkout_body(&m, &address, json!([{"product_id": m.products[0], "quantity": 2}, {"product_id": m.products[1], "quantity": 6}]))).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("Samosa"), "{p}");
    assert!(!p["detail"].as_str().unwrap().contains("Masala"), "{p}");

    // The minimum order's shortfall, in the campus currency.
    let p = assert_problem(
        checkout(
            &app,
            &token,
            "min",
            &checkout_body(
                &m,
                &address,
                json!([{"product_id": m.products[0], "quantity": 1}]),
            ),
        )
        .await,
        422,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("come to ₹10.00, below this shop's minimum order of ₹15.00"),
        "{p}"
    );

    let many: Vec<Value> = (0..51)
        .map(|i| json!({"product_id": format!("P{i}"), "quantity": 1}))
        .collect();
    let cases: Vec<(Value, u16)> = vec![
        (checkout_body(&m, &address, item(json!(0))), 422),
        (checkout_body(&m, &address, item(json!(100))), 422),
        (checkout_body(&m, &address, item(json!(-1))), 422),
        (checkout_body(&m, &address, item(json!("two"))), 400),
        (checkout_body(&m, &address, item(json!(1.5))), 400),
        (checkout_body(&m, &address, json!([])), 422),
        // Over the documented `maxItems` (the 50-product rule): off the shape.
        (checkout_body(&m, &address, json!(many)), 400),
        (
            checkout_body(
                &m,
                &address,
                json!([{"product_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "quantity": 1}]),
            ),
            422,
        ),
        (
            checkout_body(
                &m,
                &address,
                json!([{"product_id": m.products[0], "quantity": 1}]),
            ),
            422,
        ), // 1000 < minimum 1500
        (checkout_body(&m, &other_address, item(json!(1))), 422), // another student's address
        (checkout_body(&m, "nope", item(json!(1))), 422),
        (
            json!({"shop_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "items": item(json!(1)), "address_id": address, "payment_method": "CASH"}),
            404,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "BITCOIN"}),
            400,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address}),
            400,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "CASH", "discount": 100}),
            400,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "CASH", "delivery": "DIRECT"}),
            422,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "CASH", "delivery": "BATCH", "slot_id": "x", "cutoff_at": "2020-01-01T00:00:00Z"}),
            422,
        ),
        (
            json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "CASH", "notes": "x".repeat(501)}),
            400,
        ),
    ];
    for (i, (body, status)) in cases.into_iter().enumerate() {
        let p = assert_problem(
            checkout(&app, &token, &format!("case-{i}"), &body).await,
            status,
        )
        .await;
        if status == 422 || status == 400 {
            assert!(!p["errors"].as_array().unwrap().is_empty(), "case {i}: {p}");
        }
    }
    // A wrong type names the field, down to the line.
    let p = assert_problem(
        checkout(
            &app,
            &token,
            "typed",
            &checkout_body(&m, &address, item(json!("two"))),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "items[0].quantity", "{p}");
    // Header problems.
    let body = checkout_body(&m, &address, item(json!(1)));
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key", "{p}");
    assert_problem(checkout(&app, &token, "has space", &body).await, 422).await;
    assert_problem(checkout(&app, &token, &"k".repeat(101), &body).await, 422).await;
    // No credentials.
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .header("idempotency-key", "z")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    // Over the body limit.
    let huge = json!({"shop_id": m.shop_id, "items": item(json!(1)), "address_id": address, "payment_method": "CASH", "notes": "x".repeat(100_000)});
    assert_problem(checkout(&app, &token, "huge", &huge).await, 413).await;

    // Nothing changed.
    assert_eq!(order_count(&app).await, 0);
    assert_eq!(stock(&app, &m.products[0]).await, 10);
    assert_eq!(stock(&app, &m.products[1]).await, 5);
}

#[tokio::test]
async fn shops_that_cannot_take_the_order_refuse_it() {
    let app = spawn_app().await;
    let cases = [
        (
            ShopOpts {
                verification: uphill::domain::shop::Verification::Pending,
                ..Default::default()
            },
            404,
        ),
        (
            ShopOpts {
                accepting_orders: false,
                ..Default::default()
            },
            409,
        ),
        (
            ShopOpts {
                with_slot: false,
                ..Default::default()
            },
            422,
        ),
        (
            ShopOpts {
                delivers_to_other_only: true,
                ..Default::default()
            },
            422,
        ),
    ];
    for (i, (opts, status)) in cases.into_iter().enumerate() {
        let m = market(&app, &format!("owner{i}@uni.edu"), opts).await;
        let (token, address) = student(&app, &format!("s{i}@uni.edu"), &m).await;
        let body = checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[0], "quantity": 1}]),
        );
        assert_problem(checkout(&app, &token, "k", &body).await, status).await;
        assert_eq!(stock(&app, &m.products[0]).await, 10);
    }
    assert_eq!(order_count(&app).await, 0);
}

/// The writer keeps the shop, its slots and the fee decoded between
/// orders (`store::cache`); each change below must reach the very next order.
#[tokio::test]
async fn checkout_sees_every_shop_slot_and_fee_change_at_once() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "asha@uni.edu", &m).await;
    let body = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 1}]),
    );
    let placed = |key: &'static str| {
        let (app, token, body) = (&app, &token, &body);
        async move {
            let r = checkout(app, token, key, body).await;
            assert_eq!(r.status(), StatusCode::CREATED, "{key}");
            r.json::<Value>().await.unwrap()
        }
    };
    let o = placed("k1").await;
    assert_eq!(
        (o["platform_fee"].as_i64(), o["delivery_fee"].as_i64()),
        (Some(0), Some(1000))
    );

    set_platform_fee(&app, 300).await;
    assert_eq!(placed("k2").await["platform_fee"], 300);

    let shop = format!("/shops/{}", m.shop_id);
    let patch = |body: Value| {
        let (app, m, shop) = (&app, &m, &shop);
        async move {
            let r = send(app, Method::PATCH, shop, Some(&m.owner_token), Some(body)).await;
            expect(r, 200).await;
        }
    };
    patch(json!({"delivery_fee": 1200})).await;
    assert_eq!(placed("k3").await["delivery_fee"], 1200);
    patch(json!({"accepting_orders": false})).await;
    assert_problem(checkout(&app, &token, "k4", &body).await, 409).await;
    patch(json!({"accepting_orders": true})).await;
    assert_eq!(placed("k5").await["status"], "NEW");

    // Without its only slot (and no direct delivery) the shop has no batch.
    let slots = crate::helpers::whole_page(
        get_ok(&app, &m.owner_token, &format!("/api/v1{shop}/slots")).await,
    );
    let slot = slots[0]["id"].as_str().unwrap();
    let r = send(
        &app,
        Method::DELETE,
        &format!("/slots/{slot}"),
        Some(&m.owner_token),
        None,
    )
    .await;
    expect(r, 204).await;
    let p = assert_problem(checkout(&app, &token, "k6", &body).await, 422).await;
    assert!(p.to_string().contains("no upcoming batch"), "{p}");
    assert_eq!(stock(&app, &m.products[0]).await, 10 - 4);
}

#[tokio::test]
async fn direct_delivery_skips_batching_and_uses_its_fee() {
    let app = spawn_app().await;
    let m = market(
        &app,
        "owner@uni.edu",
        ShopOpts {
            with_slot: false,
            direct_delivery_fee: 2500,
            ..Default::default()
        },
    )
    .await;
    let (token, address) = student(&app, "d@uni.edu", &m).await;
    let body = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 1}]),
    );
    let r = checkout(&app, &token, "d1", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o: Value = r.json().await.unwrap();
    assert!(o["batch_id"].is_null());
    assert_eq!(o["delivery_fee"], 2500);
}

#[tokio::test]
async fn cancelling_restores_stock_and_respects_who_may() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "c@uni.edu", &m).await;
    let other = app.bearer("x@uni.edu").await;
    let c = app.client();
    let place = |key: &'static str| {
        let body = checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[1], "quantity": 5}]),
        );
        let (app, token) = (&app, token.clone());
        async move {
            checkout(app, &token, key, &body)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let o = place("c1").await;
    let id = o["id"].as_str().unwrap().to_string();
    assert_eq!(stock(&app, &m.products[1]).await, 0);
    let cancel = |who: String, body: Value| {
        let (c, url) = (c.clone(), app.url(&format!("/api/v1/orders/{id}/cancel")));
        async move {
            c.post(url)
                .bearer_auth(who)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_problem(cancel(other.clone(), json!({})).await, 404).await;
    // The shop must give a reason.
    let p = assert_problem(cancel(m.owner_token.clone(), json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "reason");
    assert_problem(cancel(token.clone(), json!({"reason": 5})).await, 400).await;
    assert_eq!(
        stock(&app, &m.products[1]).await,
        0,
        "refusals changed nothing"
    );

    let r = cancel(token.clone(), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "CANCELLED");
    assert_eq!(stock(&app, &m.products[1]).await, 5);
    assert_problem(cancel(token.clone(), json!({})).await, 409).await;
    assert_eq!(stock(&app, &m.products[1]).await, 5, "stock restored once");

    // The vendor cancels with a reason; the student is told.
    let o = place("c2").await;
    let id2 = o["id"].as_str().unwrap();
    let r = c
        .post(app.url(&format!("/api/v1/orders/{id2}/cancel")))
        .bearer_auth(&m.owner_token)
        .json(&json!({"reason": "out of oil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["cancellation_reason"], "out of oil");
    assert_eq!(stock(&app, &m.products[1]).await, 5);
}

#[tokio::test]
async fn reviews_need_a_completed_order_and_update_ratings_once() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "r@uni.edu", &m).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let c = app.client();
    let o: Value = checkout(
        &app,
        &token,
        "r1",
        &checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[0], "quantity": 1}]),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = o["id"].as_str().unwrap();
    let review = |who: &str, body: Value| {
        c.post(app.url(&format!("/api/v1/orders/{id}/reviews")))
            .bearer_auth(who.to_string())
            .json(&body)
            .send()
    };
    let good = json!({"product_id": m.products[0], "rating": 4, "comment": "hot and sweet"});
    assert_problem(review(&token, good.clone()).await.unwrap(), 409).await;

    // Not an admin: refused. An admin completes it (audited override).
    let over = |who: &str, body: Value| {
        c.post(app.url(&format!("/api/v1/admin/orders/{id}/status")))
            .bearer_auth(who.to_string())
            .json(&body)
            .send()
    };
    assert_problem(
        over(
            &token,
            json!({"status": "COMPLETED", "reason": "delivered"}),
        )
        .await
        .unwrap(),
        403,
    )
    .await;
    assert_problem(
        over(&admin, json!({"status": "DONE", "reason": "delivered"}))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_problem(
        over(&admin, json!({"status": "COMPLETED", "reason": " "}))
            .await
            .unwrap(),
        422,
    )
    .await;
    let r = over(
        &admin,
        json!({"status": "COMPLETED", "reason": "delivered, OTP app down"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["payment_status"], "PAID");
    // The student and the shop's owner are told, with the reason.
    for who in [&token, &m.owner_token] {
        let notes = get_ok(&app, who, "/api/v1/notifications").await;
        let told = notes["items"].as_array().unwrap().iter().any(|n| {
            n["title"] == "Order changed by a campus admin"
                && n["message"]
                    .as_str()
                    .unwrap()
                    .contains("delivered, OTP app down")
        });
        assert!(told, "{notes}");
    }

    for (body, status) in [
        (json!({"product_id": m.products[0], "rating": 6}), 422),
        (json!({"product_id": m.products[0], "rating": 0}), 422),
        (json!({"product_id": m.products[0], "rating": "5"}), 400),
        (json!({"product_id": m.products[1], "rating": 5}), 422),
        (
            json!({"product_id": m.products[0], "rating": 5, "comment": "x".repeat(1001)}),
            400,
        ),
    ] {
        assert_problem(review(&token, body).await.unwrap(), status).await;
    }
    let other = app.bearer("o@uni.edu").await;
    assert_problem(review(&other, good.clone()).await.unwrap(), 404).await;
    assert_eq!(
        fixtures::product(&app, &m.products[0]).await.review_count,
        0
    );

    let seen = get_ok(&app, &token, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(seen["reviewed"], json!([]), "nothing reviewed yet");
    let r = review(&token, good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_problem(review(&token, good).await.unwrap(), 409).await;
    // The order says what was reviewed, so a reload does not ask again.
    let seen = get_ok(&app, &token, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(seen["reviewed"], json!([m.products[0]]));
    let p = fixtures::product(&app, &m.products[0]).await;
    assert_eq!((p.rating_sum, p.review_count), (4, 1));
    let list: Vec<Value> = crate::helpers::page_items(
        c.get(app.url(&format!("/api/v1/products/{}/reviews", m.products[0])))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(list[0]["comment"], "hot and sweet");
}

#[tokio::test]
async fn watchers_hear_once_when_a_cancellation_restocks() {
    use uphill::store::{StoreError, tables};
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (buyer, address) = student(&app, "b@uni.edu", &m).await;
    let watcher = app.bearer("w@uni.edu").await;
    let c = app.client();
    let watch = |p: &str| {
        c.put(app.url(&format!("/api/v1/products/{p}/watch")))
            .bearer_auth(watcher.clone())
            .send()
    };
    assert_problem(watch(&m.products[1]).await.unwrap(), 409).await; // in stock
    assert_problem(watch("01HZZZZZZZZZZZZZZZZZZZZZZZ").await.unwrap(), 404).await;

    let o: Value = checkout(
        &app,
        &buyer,
        "w1",
        &checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[1], "quantity": 5}]),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        watch(&m.products[1]).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let product = format!("/api/v1/products/{}", m.products[1]);
    // The product says you watch it, so a reload keeps the button's state.
    assert_eq!(get_ok(&app, &watcher, &product).await["watching"], true);
    assert_eq!(get_ok(&app, &buyer, &product).await["watching"], false);
    let anonymous: Value = c
        .get(app.url(&product))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(anonymous["watching"].is_null());
    assert_eq!(
        watch(&m.products[1]).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "idempotent"
    );
    let r = c
        .post(app.url(&format!(
            "/api/v1/orders/{}/cancel",
            o["id"].as_str().unwrap()
        )))
        .bearer_auth(&buyer)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let wid = fixtures::user_id(&app, &watcher).await;
    let pid = m.products[1].clone();
    let (notes, watches) = app
        .state
        .store
        .read(move |txn| {
            let n = txn
                .open_multimap_table(tables::USER_TO_NOTIFICATIONS)?
                .get(wid.as_str())?
                .count();
            let w = txn
                .open_multimap_table(tables::STOCK_WATCHES)?
                .get(pid.as_str())?
                .count();
            Ok::<_, StoreError>((n, w))
        })
        .await
        .unwrap();
    assert_eq!((notes, watches), (1, 0));
}

#[tokio::test]
async fn reorder_fills_the_cart_capped_at_stock() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "re@uni.edu", &m).await;
    let (t2, a2) = student(&app, "re2@uni.edu", &m).await;
    let o: Value = checkout(
        &app,
        &token,
        "r1",
        &checkout_body(
            &m,
            &address,
            json!([{"product_id": m.products[0], "quantity": 4}]),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    // Someone else buys most of what is left.
    checkout(
        &app,
        &t2,
        "r2",
        &checkout_body(
            &m,
            &a2,
            json!([{"product_id": m.products[0], "quantity": 4}]),
        ),
    )
    .await;
    let r = app
        .client()
        .post(app.url(&format!(
            "/api/v1/orders/{}/reorder",
            o["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["cart"]["items"][0]["quantity"], 2);
    let r = app
        .client()
        .post(app.url(&format!(
            "/api/v1/orders/{}/reorder",
            o["id"].as_str().unwrap()
        )))
        .bearer_auth(&t2)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
}

#[tokio::test]
async fn carts_refuse_foreign_deleted_and_malformed_items() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let m2 = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    let (token, _) = student(&app, "cart@uni.edu", &m).await;
    let c = app.client();
    let put = |body: Value| {
        c.put(app.url(&format!("/api/v1/cart/{}", m.shop_id)))
            .bearer_auth(token.clone())
            .json(&body)
            .send()
    };
    for (body, status) in [
        (
            json!({"items": [{"product_id": m2.products[0], "quantity": 1}]}),
            422,
        ),
        (
            json!({"items": [{"product_id": m.products[0], "quantity": 0}]}),
            422,
        ),
        (
            json!({"items": [{"product_id": m.products[0], "quantity": "1"}]}),
            400,
        ),
        (json!({"items": "all"}), 400),
        (json!({}), 400),
    ] {
        assert_problem(put(body).await.unwrap(), status).await;
    }
    let r = c
        .put(app.url("/api/v1/cart/01HZZZZZZZZZZZZZZZZZZZZZZZ"))
        .bearer_auth(&token)
        .json(&json!({"items": []}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    let carts: Vec<Value> = crate::helpers::page_items(
        c.get(app.url("/api/v1/cart"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert!(carts.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn addresses_keep_one_default_and_stay_private() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, first) = student(&app, "addr@uni.edu", &m).await;
    let other = app.bearer("nosy@uni.edu").await;
    let c = app.client();
    let r = c.post(app.url("/api/v1/me/addresses")).bearer_auth(&token).json(&json!({"label": "Lab", "building_id": m.other_building_id, "room": "L2", "default": true})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    let list: Vec<Value> = c
        .get(app.url("/api/v1/me/addresses"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let defaults: Vec<&Value> = list.iter().filter(|a| a["default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], second["id"]);
    for (body, status) in [
        (json!({"building_id": "nope", "room": "1"}), 422),
        (json!({"building_id": m.building_id}), 422),
        (
            json!({"building_id": m.building_id, "room": "x".repeat(21)}),
            400,
        ),
        (json!({"building_id": m.building_id, "room": 12}), 400),
    ] {
        assert_problem(
            c.post(app.url("/api/v1/me/addresses"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap(),
            status,
        )
        .await;
    }
    assert_problem(
        c.patch(app.url(&format!("/api/v1/me/addresses/{first}")))
            .bearer_auth(&other)
            .json(&json!({"room": "hack"}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_problem(
        c.delete(app.url(&format!("/api/v1/me/addresses/{first}")))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // Deleting the default promotes the other one.
    let r = c
        .delete(app.url(&format!(
            "/api/v1/me/addresses/{}",
            second["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Vec<Value> = c
        .get(app.url("/api/v1/me/addresses"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["room"], "B-214");
}

#[tokio::test]
async fn checkout_refuses_prices_the_student_did_not_see() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "asha@uni.edu", &m).await;
    let tea = m.products[0].clone();
    let mut body = checkout_body(&m, &address, json!([{"product_id": tea, "quantity": 2}]));
    // Tea is 1500 - 500 off = 1000 each; the default shop's delivery fee
    // and the platform fee make up the rest of what the page showed.
    let shown = {
        let r = checkout(&app, &token, "probe", &{
            let mut b = body.clone();
            b["expected_total"] = json!(0);
            b
        })
        .await;
        let p = assert_problem(r, 409).await;
        let detail = p["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("prices changed"), "{detail}");
        assert!(detail.contains("Tea ₹10.00 each"), "{detail}");
        assert_eq!(
            stock(&app, &tea).await,
            10,
            "a refused checkout takes no stock"
        );
        // The total the server would charge, as the UI computes it.
        let shop = get_ok(&app, &token, &format!("/api/v1/shops/{}", m.shop_id)).await;
        let fees = get_ok(&app, &token, "/api/v1/fees").await;
        2000 + shop["delivery_fee"].as_i64().unwrap() + fees["platform_fee"].as_i64().unwrap()
    };
    // The vendor raises the price between the student's look and the tap.
    let r = send(
        &app,
        Method::PATCH,
        &format!("/products/{tea}"),
        Some(&m.owner_token),
        Some(json!({"price": 2500})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    body["expected_total"] = json!(shown);
    let p = assert_problem(checkout(&app, &token, "k1", &body).await, 409).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("Tea ₹20.00 each"), "{detail}");
    assert!(
        detail.contains(&format!("you saw ₹{}.{:02}", shown / 100, shown % 100)),
        "{detail}"
    );
    assert_eq!(stock(&app, &tea).await, 10);
    assert_eq!(fixtures::order_count(&app).await, 0);
    // Out of range: a validation problem naming the field.
    body["expected_total"] = json!(-1);
    let p = assert_problem(checkout(&app, &token, "k2", &body).await, 400).await;
    assert!(p.to_string().contains("expected_total"), "{p}");
    // With the new total it goes through.
    body["expected_total"] = json!(shown + 2000);
    let r = checkout(&app, &token, "k3", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o: Value = r.json().await.unwrap();
    assert_eq!(o["total"], shown + 2000);
}

#[tokio::test]
async fn an_unconfirmed_address_cannot_order_until_it_is_confirmed() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    // Registered and signed in with the password, address not confirmed.
    let b = app.browser();
    let pw = "correct horse battery";
    assert_eq!(
        app.register(&b, "fresh@uni.edu", pw).await.status(),
        StatusCode::ACCEPTED
    );
    let r = app.login(&b, "fresh@uni.edu", pw).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.new_token(&b, &csrf, "t").await;
    let address = expect(
        send(
            &app,
            Method::POST,
            "/me/addresses",
            Some(&token),
            Some(json!({"label": "Room", "building_id": m.building_id, "room": "B-214"})),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = checkout_body(
        &m,
        &address,
        json!([{"product_id": m.products[0], "quantity": 1}]),
    );
    let stock_before = stock(&app, &m.products[0]).await;
    let p = assert_problem(checkout(&app, &token, "k-1", &body).await, 403).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("confirm your email first"),
        "{p}"
    );
    assert_eq!(order_count(&app).await, 0, "nothing was ordered");
    assert_eq!(stock(&app, &m.products[0]).await, stock_before);

    // After following the mailed link, the same request goes through.
    app.confirm_email(&app.browser(), "fresh@uni.edu").await;
    let r = checkout(&app, &token, "k-1", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(order_count(&app).await, 1);
}
