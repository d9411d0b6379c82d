//! A shop's earnings and its orders as CSV: sums of delivered orders by
//! campus day, cash vs UPI, the platform fee owed; the export's rows and
//! quoting; who may see them; bad ranges.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{Market, ShopOpts, add_staff, checkout, lock, market, student_at, user_id};
use crate::helpers::{TestApp, assert_problem, get_ok, post, request, spawn_app};

async fn order(
    app: &TestApp,
    m: &Market,
    token: &str,
    address: &str,
    key: &str,
    pay: &str,
) -> Value {
    let body = json!({
        "shop_id": m.shop_id,
        "items": [{"product_id": m.products[0], "quantity": 2}],
        "address_id": address,
        "payment_method": pay,
        "notes": "=SUM(A1:A9), leave at \"door\""
    });
    checkout(app, token, key, body).await
}

fn today(app: &TestApp) -> String {
    let _ = app;
    // The test config keeps the default campus zone.
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .date_naive()
        .to_string()
}

#[tokio::test]
async fn earnings_sum_delivered_orders_by_day_and_the_export_lists_every_order() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let address = json!({"building_id": m.building_id, "room": "A-12", "label": "Room"});
    let (s1, a1) = student_at(&app, "s1@uni.edu", address.clone()).await;
    let (s2, a2) = student_at(&app, "s2@uni.edu", address).await;
    let cash = order(&app, &m, &s1, &a1, "k1", "CASH").await;
    let upi = order(&app, &m, &s2, &a2, "k2", "UPI").await;
    let open = order(&app, &m, &s2, &a2, "k3", "UPI").await;
    let batch = cash["batch_id"].as_str().unwrap().to_string();
    // The third order is cancelled by the student before the lock.
    let r = post(
        &app,
        &s2,
        &format!("/api/v1/orders/{}/cancel", open["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    lock(&app, &m, &batch).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/dispatch"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let day = today(&app);
    let path = format!("/api/v1/shops/{}/earnings?from={day}&to={day}", m.shop_id);
    // Nothing delivered yet: a day of zeroes, not an empty list.
    let e = get_ok(&app, &m.owner_token, &path).await;
    assert_eq!(e["total"]["orders"], 0);
    assert_eq!(e["days"].as_array().unwrap().len(), 1);
    assert_eq!(e["days"][0]["date"], day);

    for (token, o) in [(&s1, &cash), (&s2, &upi)] {
        let id = o["id"].as_str().unwrap();
        let v = get_ok(&app, token, &format!("/api/v1/orders/{id}")).await;
        let otp = v["otp"].as_str().unwrap();
        let r = post(
            &app,
            &m.owner_token,
            &format!("/api/v1/orders/{id}/deliver"),
            json!({"otp": otp}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    let e = get_ok(&app, &m.owner_token, &path).await;
    let n = |o: &Value, k: &str| o[k].as_i64().unwrap();
    let t = &e["total"];
    assert_eq!(e["currency"], "INR");
    assert_eq!(n(t, "orders"), 2);
    assert_eq!(n(t, "cash"), n(&cash, "total"));
    assert_eq!(n(t, "upi"), n(&upi, "total"));
    assert_eq!(n(t, "collected"), n(&cash, "total") + n(&upi, "total"));
    assert_eq!(
        n(t, "items"),
        n(&cash, "item_total") + n(&upi, "item_total")
    );
    assert_eq!(
        n(t, "delivery_fees"),
        n(&cash, "delivery_fee") + n(&upi, "delivery_fee")
    );
    let fees = n(&cash, "platform_fee") + n(&upi, "platform_fee");
    assert_eq!(n(t, "platform_fees_owed"), fees);
    assert_eq!(n(t, "net"), n(t, "collected") - fees);
    assert_eq!(e["days"][0]["orders"], 2, "{e}");

    // The export: a header and one row per order placed, cancelled included.
    let csv_path = format!("/api/v1/shops/{}/orders.csv?from={day}&to={day}", m.shop_id);
    let r = request(&app, Method::GET, &csv_path, Some(&m.owner_token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"orders-"),
        "{disposition}"
    );
    let text = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "order");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3, "{text}");
    assert_eq!(&records[0][0], cash["display_id"].as_str().unwrap());
    assert_eq!(&records[0][col("status")], "completed");
    assert_eq!(&records[2][col("status")], "cancelled");
    assert!(records[2][col("delivered")].is_empty());
    assert!(!records[0][col("delivered")].is_empty());
    assert_eq!(&records[0][col("payment_method")], "cash");
    assert_eq!(&records[0][col("payment_status")], "paid");
    assert_eq!(&records[0][col("room")], "A-12");
    assert_eq!(&records[0][col("student")], "Test Student");
    assert!(records[0][col("items")].contains("2 x "), "{text}");
    let total = n(&cash, "total");
    assert_eq!(
        records[0][col("total")],
        format!("{}.{:02}", total / 100, total % 100)
    );
    // A student's note never runs as a formula, and its quotes survive.
    assert_eq!(&records[0][col("notes")], "'=SUM(A1:A9), leave at \"door\"");

    // Runners carry orders but do not see the takings.
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    for p in [&path, &csv_path] {
        assert_problem(
            request(&app, Method::GET, p, Some(&runner), None).await,
            403,
        )
        .await;
        assert_problem(request(&app, Method::GET, p, Some(&s1), None).await, 403).await;
        assert_problem(request(&app, Method::GET, p, None, None).await, 401).await;
    }
    let admin = app.admin_bearer("admin@uni.edu").await;
    assert_eq!(get_ok(&app, &admin, &path).await["total"]["orders"], 2);
}

#[tokio::test]
async fn ranges_are_dates_in_order_and_bounded() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    for op in ["earnings", "orders.csv"] {
        for (query, field) in [
            ("from=yesterday", "from"),
            ("to=2026-02-30", "to"),
            ("from=2026-12-05&to=2026-12-01", "to"),
            ("from=2020-01-01&to=2026-12-01", "to"),
        ] {
            let path = format!("/api/v1/shops/{}/{op}?{query}", m.shop_id);
            let p = assert_problem(
                request(&app, Method::GET, &path, Some(&m.owner_token), None).await,
                422,
            )
            .await;
            assert_eq!(p["errors"][0]["field"], field, "{op}?{query}: {p}");
        }
        let path = format!("/api/v1/shops/{}/{op}?from={}", m.shop_id, "9".repeat(11));
        let r = request(&app, Method::GET, &path, Some(&m.owner_token), None).await;
        let p = assert_problem(r, 422).await;
        assert_eq!(p["errors"][0]["field"], "from", "{p}");
        let path = format!("/api/v1/shops/{}/{op}", "Z".repeat(26));
        assert_problem(
            request(&app, Method::GET, &path, Some(&m.owner_token), None).await,
            404,
        )
        .await;
    }
    // A quarter of earnings is one request; a year of orders one export.
    let path = format!(
        "/api/v1/shops/{}/earnings?from=2026-01-01&to=2026-04-02",
        m.shop_id
    );
    let e = get_ok(&app, &m.owner_token, &path).await;
    assert_eq!(e["days"].as_array().unwrap().len(), 92);
    let path = format!(
        "/api/v1/shops/{}/orders.csv?from=2026-01-01&to=2026-12-31",
        m.shop_id
    );
    let r = request(&app, Method::GET, &path, Some(&m.owner_token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.text().await.unwrap().lines().count(),
        1,
        "only the header"
    );
}
