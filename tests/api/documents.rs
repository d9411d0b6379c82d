//! PDF documents over HTTP: the batch pick list and the order receipt,
//! read back as text.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{
    Market, ShopOpts, add_staff, checkout, lock, market, set_stock, student_at, user_id,
};
use crate::helpers::{TestApp, assert_problem, request, spawn_app_with};

/// Six-digit OTPs cannot turn up by chance among prices and counts.
async fn app() -> TestApp {
    spawn_app_with(|c| c.batch.otp_digits = 6).await
}

async fn student(app: &TestApp, email: &str, building: &str, room: &str) -> (String, String) {
    let address = json!({"building_id": building, "room": room, "label": "Hostel room"});
    student_at(app, email, address).await
}

async fn order(
    app: &TestApp,
    m: &Market,
    token: &str,
    address: &str,
    key: &str,
    payment: &str,
) -> Value {
    let body = json!({
        "shop_id": m.shop_id,
        "items": [
            {"product_id": m.products[0], "quantity": 2},
            {"product_id": m.products[1], "quantity": 1}
        ],
        "address_id": address,
        "payment_method": payment
    });
    checkout(app, token, key, body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    request(app, Method::GET, path, Some(token), None).await
}

/// The student's own view of the order: the only place the OTP shows.
async fn otp_of(app: &TestApp, token: &str, order: &Value) -> String {
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let v: Value = get(app, token, &path).await.json().await.unwrap();
    let otp = v["otp"].as_str().expect("the student sees the OTP");
    assert_eq!(otp.len(), 6);
    otp.to_string()
}

/// A 200 `application/pdf` response, as its text and page count.
async fn pdf_text(r: reqwest::Response) -> (String, usize) {
    assert_eq!(r.status(), StatusCode::OK, "{}", r.url());
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/pdf");
    let bytes = r.bytes().await.unwrap();
    let doc = lopdf::Document::load_mem(&bytes).expect("a readable PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    (doc.extract_text(&pages).unwrap(), pages.len())
}

fn money(minor: i64) -> String {
    format!("{}.{:02} INR", minor / 100, minor % 100)
}

#[tokio::test]
async fn pick_list_groups_buildings_and_rooms_with_totals_and_no_otp() {
    let app = app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m.building_id, "A-12").await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m.other_building_id, "B-3").await;
    let (s3, a3) = student(&app, "s3@uni.edu", &m.building_id, "A-2").await;
    let o1 = order(&app, &m, &s1, &a1, "k1", "UPI").await;
    let o2 = order(&app, &m, &s2, &a2, "k2", "UPI").await;
    let o3 = order(&app, &m, &s3, &a3, "k3", "CASH").await;
    let batch = o1["batch_id"].as_str().unwrap().to_string();
    assert_eq!(o2["batch_id"], o1["batch_id"]);
    assert_eq!(o3["batch_id"], o1["batch_id"]);
    lock(&app, &m, &batch).await;

    let r = get(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/picklist.pdf"),
    )
    .await;
    assert_eq!(
        r.headers()["content-disposition"].to_str().unwrap(),
        "inline; filename=\"picklist-Night-batch.pdf\""
    );
    let (text, pages) = pdf_text(r).await;
    assert_eq!(pages, 1);
    let id = |o: &Value| o["display_id"].as_str().unwrap().to_string();
    assert!(text.contains("Pick list: Foot Hill Canteen"), "{text}");
    assert!(text.contains("Night batch"));
    // Hostel A: A-2 before A-12; then Hostel B.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
    };
    let order_of = [
        at("Hostel A (2 orders)"),
        at(&id(&o3)),
        at("Room A-2 · Hostel room"),
        at(&id(&o1)),
        at("Room A-12 · Hostel room"),
        at("Hostel B (1 order)"),
        at(&id(&o2)),
        at("Room B-3 · Hostel room"),
    ];
    assert!(order_of.is_sorted(), "{order_of:?}\n{text}");
    // Whom to ask for at the door, and the cutoff in campus time.
    assert!(
        text.contains("Room A-12 · Hostel room · Test Student"),
        "{text}"
    );
    assert!(text.contains(" IST · locked"), "{text}");
    assert!(text.contains("2 × Masala Tea"));
    assert!(text.contains("1 × Samosa"));
    assert!(text.contains("Cash · pending") && text.contains("UPI · pending"));

    let total = |o: &Value| o["total"].as_i64().unwrap();
    for o in [&o1, &o2, &o3] {
        assert!(text.contains(&money(total(o))), "{text}");
    }
    assert!(text.contains("Orders\n3\n"), "{text}");
    assert!(text.contains("Items\n9\n"), "{text}");
    assert!(
        text.contains(&format!("Cash to collect\n{} (1 order)", money(total(&o3)))),
        "{text}"
    );
    assert!(text.contains(&format!(
        "UPI\n{} (2 orders, 2 not yet marked paid)",
        money(total(&o1) + total(&o2))
    )));
    assert!(text.contains(&format!(
        "Total\n{}",
        money(total(&o1) + total(&o2) + total(&o3))
    )));

    for (token, o) in [(&s1, &o1), (&s2, &o2), (&s3, &o3)] {
        let otp = otp_of(&app, token, o).await;
        assert!(!text.contains(&otp), "the OTP of {} was printed", id(o));
    }
}

#[tokio::test]
async fn pick_list_is_for_the_shop_its_runners_and_admins() {
    let app = app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m.building_id, "A-1").await;
    let o1 = order(&app, &m, &s1, &a1, "k1", "UPI").await;
    let batch = o1["batch_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/batches/{batch}/picklist.pdf");

    // Before the cutoff it is a preview of the waiting orders.
    let (text, _) = pdf_text(get(&app, &m.owner_token, &path).await).await;
    assert!(text.contains("Preview") && text.contains(o1["display_id"].as_str().unwrap()));
    lock(&app, &m, &batch).await;

    let stranger = app.bearer("stranger@uni.edu").await;
    assert_problem(get(&app, &stranger, &path).await, 404).await;
    assert_problem(get(&app, &s1, &path).await, 404).await;
    let other_owner = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    assert_problem(get(&app, &other_owner.owner_token, &path).await, 404).await;
    let r = app.client().get(app.url(&path)).send().await.unwrap();
    assert_problem(r, 401).await;

    pdf_text(get(&app, &m.owner_token, &path).await).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    pdf_text(get(&app, &runner, &path).await).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let (text, _) = pdf_text(get(&app, &admin, &path).await).await;
    assert!(text.contains(o1["display_id"].as_str().unwrap()));
    assert!(!text.contains("Preview"));

    let spec: Value = app.openapi().await;
    for p in [
        "/api/v1/batches/{id}/picklist.pdf",
        "/api/v1/orders/{id}/receipt.pdf",
    ] {
        let ok = &spec["paths"][p]["get"]["responses"]["200"];
        assert!(ok["content"]["application/pdf"].is_object(), "{p}: {ok}");
        // poem-openapi spells header names in capitals.
        let headers = ok["headers"].as_object().unwrap();
        assert!(
            headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("content-disposition")),
            "{p}: {ok}"
        );
    }

    let long = "0".repeat(27);
    assert_problem(
        get(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{long}/picklist.pdf"),
        )
        .await,
        400,
    )
    .await;
    assert_problem(
        get(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{}/picklist.pdf", "0".repeat(26)),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn receipt_for_the_student_the_shop_and_admins_only() {
    let app = app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m.other_building_id, "B-7").await;
    let o1 = order(&app, &m, &s1, &a1, "k1", "CASH").await;
    lock(&app, &m, o1["batch_id"].as_str().unwrap()).await;
    let path = format!("/api/v1/orders/{}/receipt.pdf", o1["id"].as_str().unwrap());
    let display = o1["display_id"].as_str().unwrap();

    let r = get(&app, &s1, &path).await;
    assert_eq!(
        r.headers()["content-disposition"].to_str().unwrap(),
        format!("inline; filename=\"receipt-{display}.pdf\"")
    );
    let (text, pages) = pdf_text(r).await;
    assert_eq!(pages, 1);
    let amount = |k: &str| money(o1[k].as_i64().unwrap());
    for want in [
        "Foot Hill Canteen".to_string(),
        "Market row 3".to_string(),
        format!("Receipt {display}"),
        "Batched".to_string(),
        "Cash · pending".to_string(),
        "Hostel room: Room B-7, Hostel B".to_string(),
        "Masala Tea\n10.00 INR\n2\n20.00 INR".to_string(),
        "Samosa\n20.00 INR\n1\n20.00 INR".to_string(),
        format!("Item total\n{}", amount("item_total")),
        format!("Delivery fee\n{}", amount("delivery_fee")),
        format!("Platform fee\n{}", amount("platform_fee")),
        format!("Total\n{}", amount("total")),
    ] {
        assert!(text.contains(&want), "{want:?} missing from:\n{text}");
    }
    // Campus time (the test config keeps Asia/Kolkata), with its zone, and
    // the student's name for the door.
    let created: chrono::DateTime<chrono::Utc> =
        o1["created_at"].as_str().unwrap().parse().unwrap();
    let local = created
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%d %H:%M IST")
        .to_string();
    assert!(text.contains(&local), "the date, {local}:\n{text}");
    assert!(text.contains("For\nTest Student"), "{text}");
    let otp = otp_of(&app, &s1, &o1).await;
    assert!(!text.contains(&otp), "the OTP was printed");

    let (s2, _) = student(&app, "s2@uni.edu", &m.building_id, "A-1").await;
    assert_problem(get(&app, &s2, &path).await, 404).await;
    let other_owner = market(&app, "owner2@uni.edu", ShopOpts::default()).await;
    assert_problem(get(&app, &other_owner.owner_token, &path).await, 404).await;
    pdf_text(get(&app, &m.owner_token, &path).await).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    pdf_text(get(&app, &admin, &path).await).await;

    let long = format!("/api/v1/orders/{}/receipt.pdf", "0".repeat(27));
    assert_problem(get(&app, &s1, &long).await, 400).await;
    let missing = format!("/api/v1/orders/{}/receipt.pdf", "0".repeat(26));
    assert_problem(get(&app, &s1, &missing).await, 404).await;
}

#[tokio::test]
async fn sixty_orders_make_a_multi_page_pick_list_that_keeps_the_last() {
    let app = app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    set_stock(&app, &m.products[0], 500).await;
    set_stock(&app, &m.products[1], 500).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m.building_id, "A-1").await;
    let mut placed = Vec::new();
    for i in 0..60 {
        let pay = if i % 3 == 0 { "CASH" } else { "UPI" };
        placed.push(order(&app, &m, &s1, &a1, &format!("key-{i}"), pay).await);
    }
    let batch = placed[0]["batch_id"].as_str().unwrap().to_string();
    assert!(
        placed
            .iter()
            .all(|o| o["batch_id"] == placed[0]["batch_id"])
    );
    lock(&app, &m, &batch).await;

    let (text, pages) = pdf_text(
        get(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{batch}/picklist.pdf"),
        )
        .await,
    )
    .await;
    assert!(pages > 1, "{pages} page(s)");
    for o in &placed {
        let id = o["display_id"].as_str().unwrap();
        assert!(text.contains(id), "{id} is missing");
    }
    let last = placed.last().unwrap()["display_id"].as_str().unwrap();
    assert!(text.contains(last));
    assert!(text.contains(&format!("Page {pages} of {pages}")));
    assert!(text.contains("Orders\n60\n"), "{text}");
    assert!(text.contains("Items\n180\n"));
    let total: i64 = placed.iter().map(|o| o["total"].as_i64().unwrap()).sum();
    assert!(text.contains(&format!("Total\n{}", money(total))));
}
