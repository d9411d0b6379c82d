//! Shops, verification, runners, products and restocks, slots, favourites
//! and announcements, through the real server.

use chrono::{Duration, Utc};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use uphill::audit::AuditEntry;
use uphill::domain::catalog::{Announcement, Building, Category};
use uphill::notify::Notification;
use uphill::store::{StoreError, codec, tables};

use crate::fixtures::user_id;
use crate::helpers::{TestApp, assert_problem, send, spawn_app, whole_page};

// --- helpers ---

/// Asserts the status and returns the body; a list's answer as the items
/// of its only page (every list here fits one).
async fn expect(r: Response, status: u16) -> Value {
    whole_page(crate::helpers::expect(r, status).await)
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    send(app, Method::GET, path, token, None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    send(app, Method::POST, path, Some(token), Some(body)).await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    send(app, Method::PATCH, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    send(app, Method::DELETE, path, Some(token), None).await
}

async fn put(app: &TestApp, path: &str, token: &str) -> Response {
    send(app, Method::PUT, path, Some(token), None).await
}

/// The fields a validation problem names.
fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Buildings and categories are admin-managed elsewhere; tests write the
/// records directly.
async fn seed_building(app: &TestApp, name: &str) -> String {
    let b = Building {
        id: ulid::Ulid::new().to_string(),
        name: name.into(),
        created_at: Utc::now(),
    };
    let id = b.id.clone();
    app.state
        .store
        .write(move |txn| {
            codec::put(&mut txn.open_table(tables::BUILDINGS)?, &b.id, &b)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    id
}

async fn seed_category(app: &TestApp, name: &str) -> String {
    let c = Category {
        id: ulid::Ulid::new().to_string(),
        name: name.into(),
        created_at: Utc::now(),
    };
    let id = c.id.clone();
    app.state
        .store
        .write(move |txn| {
            codec::put(&mut txn.open_table(tables::CATEGORIES)?, &c.id, &c)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    id
}

/// A student starts watching a product (another module's endpoint).
async fn watch(app: &TestApp, product_id: &str, user_id: &str) {
    let (p, u) = (product_id.to_string(), user_id.to_string());
    app.state
        .store
        .write(move |txn| {
            txn.open_multimap_table(tables::STOCK_WATCHES)?
                .insert(p.as_str(), u.as_str())?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

async fn watchers(app: &TestApp, product_id: &str) -> usize {
    let p = product_id.to_string();
    app.state
        .store
        .read(move |txn| {
            Ok::<_, StoreError>(
                txn.open_multimap_table(tables::STOCK_WATCHES)?
                    .get(p.as_str())?
                    .count(),
            )
        })
        .await
        .unwrap()
}

async fn notifications(app: &TestApp, user_id: &str) -> Vec<Notification> {
    let u = user_id.to_string();
    app.state
        .store
        .read(move |txn| {
            let index = txn.open_multimap_table(tables::USER_TO_NOTIFICATIONS)?;
            let table = txn.open_table(tables::NOTIFICATIONS)?;
            let mut out = Vec::new();
            for id in index.get(u.as_str())? {
                if let Some(n) = codec::get::<Notification>(&table, id?.value())? {
                    out.push(n);
                }
            }
            Ok::<_, StoreError>(out)
        })
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp, target: &str) -> Vec<AuditEntry> {
    let t = target.to_string();
    app.state
        .store
        .read(move |txn| {
            let all: Vec<AuditEntry> = codec::all(&txn.open_table(tables::AUDIT_LOG)?)?;
            Ok::<_, StoreError>(all.into_iter().filter(|e| e.target == t).collect())
        })
        .await
        .unwrap()
}

fn shop_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Tea, samosa and maggi.",
        "location": "Market row 3",
        "shop_type": "CANTEEN",
        "opens_at": 480,
        "closes_at": 1320,
        "upi_id": "chai@okaxis",
        "min_order_value": 5000,
        "delivery_fee": 1000,
        "direct_delivery_fee": 0,
        "delivers_to": []
    })
}

fn product_body(name: &str, price: i64, stock: u32) -> Value {
    json!({"name": name, "price": price, "discount": 0, "stock": stock, "veg": true})
}

async fn create_shop(app: &TestApp, owner: &str, name: &str) -> String {
    let s = expect(post(app, "/shops", owner, shop_body(name)).await, 201).await;
    s["id"].as_str().unwrap().to_string()
}

async fn verify(app: &TestApp, admin: &str, owner: &str, shop_id: &str) {
    crate::fixtures::submit_for_verification(app, owner, shop_id).await;
    expect(
        post(
            app,
            &format!("/admin/shops/{shop_id}/decision"),
            admin,
            json!({"verification": "VERIFIED"}),
        )
        .await,
        200,
    )
    .await;
}

async fn verified_shop(app: &TestApp, admin: &str, owner: &str, name: &str) -> String {
    let id = create_shop(app, owner, name).await;
    verify(app, admin, owner, &id).await;
    id
}

async fn create_product(app: &TestApp, owner: &str, shop_id: &str, body: Value) -> String {
    let p = expect(
        post(app, &format!("/shops/{shop_id}/products"), owner, body).await,
        201,
    )
    .await;
    p["id"].as_str().unwrap().to_string()
}

// --- the whole flow ---

#[tokio::test]
async fn a_new_shop_becomes_public_after_verification_and_restocks_notify_watchers_once() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let student_id = user_id(&app, &student).await;
    let hostel = seed_building(&app, "Hostel A").await;

    // Create: hidden, not started, active and accepting.
    let mut body = shop_body("Chai Point");
    body["delivers_to"] = json!([hostel]);
    let shop = expect(post(&app, "/shops", &owner, body).await, 201).await;
    let id = shop["id"].as_str().unwrap().to_string();
    assert_eq!(shop["verification"], "NOT_STARTED");
    assert_eq!(shop["active"], true);
    assert_eq!(shop["accepting_orders"], true);
    assert_eq!(shop["delivers_to"], json!([hostel]));
    assert_eq!(shop["min_order_value"], 5000);
    let mine = expect(get(&app, "/me/shop", Some(&owner)).await, 200).await;
    assert_eq!(mine["id"], id.as_str());

    // Students cannot see it yet.
    assert_problem(
        get(&app, &format!("/shops/{id}"), Some(&student)).await,
        404,
    )
    .await;
    assert_problem(get(&app, &format!("/shops/{id}"), None).await, 404).await;
    let list = expect(get(&app, "/shops", Some(&student)).await, 200).await;
    assert_eq!(list, json!([]));

    // Submit; the admins' queue shows it with the owner's name and email.
    let s = crate::fixtures::submit_for_verification(&app, &owner, &id).await;
    assert_eq!(s["verification"], "PENDING");
    let queue = expect(
        get(&app, "/admin/shops?verification=PENDING", Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["id"], id.as_str());
    assert_eq!(queue[0]["owner_email"], "vendor@uni.edu");
    assert_eq!(queue[0]["owner_name"], "Test Student");
    assert_eq!(
        expect(
            get(&app, "/admin/shops?verification=VERIFIED", Some(&admin)).await,
            200
        )
        .await,
        json!([])
    );

    // Verify: audited, owner notified, and the shop is public.
    let v = expect(
        post(
            &app,
            &format!("/admin/shops/{id}/decision"),
            &admin,
            json!({"verification": "VERIFIED", "note": "Looks good"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["verification"], "VERIFIED");
    let owner_id = user_id(&app, &owner).await;
    let notes = notifications(&app, &owner_id).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].title, "Shop verified");
    let audit = audit_actions(&app, &id).await;
    let decided: Vec<_> = audit.iter().filter(|e| e.action == "shop.decide").collect();
    assert_eq!(decided.len(), 1);
    assert_eq!(
        decided[0].actor_id.as_deref(),
        Some(user_id(&app, &admin).await.as_str())
    );

    let public = get(&app, &format!("/shops/{id}"), None).await;
    let text = public.text().await.unwrap();
    assert!(
        !text.contains("vendor@uni.edu"),
        "owner email leaked: {text}"
    );
    assert!(!text.contains("verification_note"), "{text}");
    let public: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(public["verification"], "VERIFIED");
    assert_eq!(public["name"], "Chai Point");
    let owner_view = expect(get(&app, &format!("/shops/{id}"), Some(&owner)).await, 200).await;
    assert_eq!(owner_view["verification_note"], "Looks good");
    let list = get(&app, "/shops", Some(&student))
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains("vendor@uni.edu"), "{list}");
    let list = whole_page(serde_json::from_str(&list).unwrap());
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Products appear to everyone.
    let cat = seed_category(&app, "Snacks").await;
    let p = expect(
        post(
            &app,
            &format!("/shops/{id}/products"),
            &owner,
            json!({"name": "Samosa", "description": "Two pieces", "category_id": cat,
                   "price": 2000, "discount": 500, "stock": 0, "veg": true}),
        )
        .await,
        201,
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["unit_price"], 1500);
    assert_eq!(p["in_stock"], false);
    assert_eq!(p["rating"], Value::Null);
    assert_eq!(p["review_count"], 0);
    assert_eq!(p["shop_id"], id.as_str());
    let listed = expect(get(&app, &format!("/shops/{id}/products"), None).await, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Samosa");
    expect(
        get(&app, &format!("/products/{pid}"), Some(&student)).await,
        200,
    )
    .await;

    // Restock: the watcher hears once, and the watch is gone.
    watch(&app, &pid, &student_id).await;
    let other = app.bearer("other@uni.edu").await;
    let other_id = user_id(&app, &other).await;
    watch(&app, &pid, &other_id).await;
    let p = expect(
        patch(
            &app,
            &format!("/products/{pid}"),
            &owner,
            json!({"stock": 5}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["stock"], 5);
    assert_eq!(p["in_stock"], true);
    for uid in [&student_id, &other_id] {
        let back: Vec<_> = notifications(&app, uid)
            .await
            .into_iter()
            .filter(|n| n.title == "Back in stock")
            .collect();
        assert_eq!(back.len(), 1, "one notification per watcher");
        assert!(back[0].message.contains("Samosa"));
    }
    assert_eq!(watchers(&app, &pid).await, 0, "watches cleared");
    // Out again and back again: nobody is watching any more.
    expect(
        patch(
            &app,
            &format!("/products/{pid}"),
            &owner,
            json!({"stock": 0}),
        )
        .await,
        200,
    )
    .await;
    expect(
        patch(
            &app,
            &format!("/products/{pid}"),
            &owner,
            json!({"stock": 3}),
        )
        .await,
        200,
    )
    .await;
    // More stock while in stock is no restock either.
    watch(&app, &pid, &student_id).await;
    expect(
        patch(
            &app,
            &format!("/products/{pid}"),
            &owner,
            json!({"stock": 9}),
        )
        .await,
        200,
    )
    .await;
    let back = notifications(&app, &student_id)
        .await
        .into_iter()
        .filter(|n| n.title == "Back in stock")
        .count();
    assert_eq!(back, 1);
    assert_eq!(
        watchers(&app, &pid).await,
        1,
        "still waiting for a real restock"
    );
}

// --- shops ---

#[tokio::test]
async fn shop_creation_refuses_malformed_bodies_and_creates_nothing() {
    let app = spawn_app().await;
    let owner = app.bearer("vendor@uni.edu").await;
    let with = |k: &str, v: Value| {
        let mut b = shop_body("Chai Point");
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = shop_body("Chai Point");
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let many: Vec<String> = (0..101).map(|i| format!("B{i}")).collect();
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        // Wrong JSON types.
        (with("name", json!(5)), 400, None),
        (with("opens_at", json!("480")), 400, None),
        (with("opens_at", json!(4.5)), 400, None),
        (with("delivery_fee", json!("10")), 400, None),
        (with("delivers_to", json!("B1")), 400, None),
        (with("delivers_to", json!([1])), 400, None),
        (with("shop_type", json!("BAKERY")), 400, None),
        (with("upi_id", json!(true)), 400, None),
        (json!([1, 2]), 400, None),
        (without("name"), 400, None),
        (without("shop_type"), 400, None),
        // Unknown fields, including ones a client must not set.
        (
            with("verification", json!("VERIFIED")),
            400,
            Some("verification"),
        ),
        (with("owner_id", json!("x")), 400, Some("owner_id")),
        // Over the documented bounds.
        (with("name", json!("x".repeat(81))), 400, None),
        (with("description", json!("x".repeat(1001))), 400, None),
        (with("location", json!("x".repeat(201))), 400, None),
        (
            with("upi_id", json!(format!("{}@bank", "a".repeat(56)))),
            400,
            None,
        ),
        (with("opens_at", json!(1440)), 400, None),
        (with("closes_at", json!(-1)), 400, None),
        (with("min_order_value", json!(-1)), 400, None),
        (with("delivery_fee", json!(100_000_001)), 400, None),
        (with("direct_delivery_fee", json!(100_000_001)), 400, None),
        (with("delivers_to", json!(many)), 400, None),
        (with("delivers_to", json!(["x".repeat(27)])), 400, None),
        // Our own rules.
        (with("name", json!("   ")), 422, Some("name")),
        (with("name", json!("Chai\u{0007}")), 422, Some("name")),
        (with("upi_id", json!("not a upi")), 422, Some("upi_id")),
        (
            with("delivers_to", json!(["NOSUCHBUILDING"])),
            422,
            Some("delivers_to"),
        ),
    ];
    for (body, status, field) in cases {
        let r = post(&app, "/shops", &owner, body.clone()).await;
        let p = assert_problem(r, status).await;
        if let Some(f) = field {
            assert!(
                fields(&p).contains(&f.to_string()),
                "{f} not named in {p} for {body}"
            );
        }
        assert_problem(get(&app, "/me/shop", Some(&owner)).await, 404).await;
    }
    // Not signed in.
    let r = send(&app, Method::POST, "/shops", None, Some(shop_body("X"))).await;
    assert_problem(r, 401).await;
    // A cookie session needs its CSRF token for a change.
    let (browser, _csrf) = app.signed_in_browser("cookie@uni.edu").await;
    let r = browser
        .post(app.url("/api/v1/shops"))
        .json(&shop_body("Cookie Shop"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let all = expect(get(&app, "/admin/shops", Some(&admin)).await, 200).await;
    assert_eq!(all, json!([]), "nothing was created");

    // Optional fields have defaults.
    let r = post(
        &app,
        "/shops",
        &owner,
        json!({"name": "  Minimal  ", "shop_type": "OTHER", "opens_at": 0, "closes_at": 1439}),
    )
    .await;
    let s = expect(r, 201).await;
    assert_eq!(s["name"], "Minimal");
    assert_eq!(s["description"], "");
    assert_eq!(s["delivery_fee"], 0);
    assert_eq!(s["upi_id"], Value::Null);
    assert_eq!(s["delivers_to"], json!([]));
}

#[tokio::test]
async fn a_user_has_at_most_one_shop() {
    let app = spawn_app().await;
    let owner = app.bearer("vendor@uni.edu").await;
    let first = create_shop(&app, &owner, "First").await;
    let r = post(&app, "/shops", &owner, shop_body("Second")).await;
    assert_problem(r, 409).await;
    let mine = expect(get(&app, "/me/shop", Some(&owner)).await, 200).await;
    assert_eq!(mine["id"], first.as_str());
    assert_eq!(mine["name"], "First");
    let admin = app.admin_bearer("admin@uni.edu").await;
    let all = expect(get(&app, "/admin/shops", Some(&admin)).await, 200).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    // Someone else may open theirs.
    let other = app.bearer("other@uni.edu").await;
    create_shop(&app, &other, "Second").await;
}

#[tokio::test]
async fn shops_students_cannot_see_are_404_for_them_but_visible_to_their_people() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let runner = app.bearer("runner@uni.edu").await;

    // One shop in each hidden state.
    let o1 = app.bearer("o1@uni.edu").await;
    let not_started = create_shop(&app, &o1, "Not started").await;
    // A runner kept from before the shop went back to NOT_STARTED (an
    // unverified shop cannot invite one today).
    crate::fixtures::add_staff(&app, &not_started, &user_id(&app, &runner).await).await;
    let o2 = app.bearer("o2@uni.edu").await;
    let pending = create_shop(&app, &o2, "Pending").await;
    crate::fixtures::submit_for_verification(&app, &o2, &pending).await;
    let o3 = app.bearer("o3@uni.edu").await;
    let rejected = create_shop(&app, &o3, "Rejected").await;
    crate::fixtures::submit_for_verification(&app, &o3, &rejected).await;
    expect(
        post(
            &app,
            &format!("/admin/shops/{rejected}/decision"),
            &admin,
            json!({"verification": "REJECTED", "note": "Not a campus vendor"}),
        )
        .await,
        200,
    )
    .await;
    let o4 = app.bearer("o4@uni.edu").await;
    let inactive = verified_shop(&app, &admin, &o4, "Inactive").await;
    let pid = create_product(&app, &o4, &inactive, product_body("Pen", 1000, 3)).await;
    expect(
        patch(
            &app,
            &format!("/shops/{inactive}"),
            &o4,
            json!({"active": false}),
        )
        .await,
        200,
    )
    .await;
    let o5 = app.bearer("o5@uni.edu").await;
    let visible = verified_shop(&app, &admin, &o5, "Visible").await;

    let hidden = [
        (&not_started, &o1),
        (&pending, &o2),
        (&rejected, &o3),
        (&inactive, &o4),
    ];
    for (id, owner) in hidden {
        for viewer in [Some(student.as_str()), None] {
            assert_problem(get(&app, &format!("/shops/{id}"), viewer).await, 404).await;
            assert_problem(
                get(&app, &format!("/shops/{id}/products"), viewer).await,
                404,
            )
            .await;
            assert_problem(get(&app, &format!("/shops/{id}/slots"), viewer).await, 404).await;
            assert_problem(
                get(&app, &format!("/shops/{id}/announcements"), viewer).await,
                404,
            )
            .await;
        }
        assert_problem(
            put(&app, &format!("/me/favorites/{id}"), &student).await,
            404,
        )
        .await;
        // A stranger changing what they cannot see: 404, not 403.
        assert_problem(
            patch(
                &app,
                &format!("/shops/{id}"),
                &student,
                json!({"name": "Mine"}),
            )
            .await,
            404,
        )
        .await;
        let o = expect(get(&app, &format!("/shops/{id}"), Some(owner)).await, 200).await;
        assert_eq!(o["id"], id.as_str());
        expect(get(&app, &format!("/shops/{id}"), Some(&admin)).await, 200).await;
    }
    assert_problem(
        get(&app, &format!("/products/{pid}"), Some(&student)).await,
        404,
    )
    .await;
    expect(get(&app, &format!("/products/{pid}"), Some(&o4)).await, 200).await;
    expect(
        get(&app, &format!("/products/{pid}"), Some(&admin)).await,
        200,
    )
    .await;
    // The runner sees the shop they work for, without the admins' note.
    let r = expect(
        get(&app, &format!("/shops/{not_started}"), Some(&runner)).await,
        200,
    )
    .await;
    assert_eq!(r["verification"], "NOT_STARTED");
    let rejected_view = expect(
        get(&app, &format!("/shops/{rejected}"), Some(&o3)).await,
        200,
    )
    .await;
    assert_eq!(rejected_view["verification_note"], "Not a campus vendor");

    let list = expect(get(&app, "/shops", Some(&student)).await, 200).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![visible.as_str()]);
    // Even the owner's own hidden shop is not in the public directory.
    let list = expect(get(&app, "/shops", Some(&o1)).await, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn verification_follows_its_workflow_and_only_admins_decide() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let owner_id = user_id(&app, &owner).await;
    let student = app.bearer("student@uni.edu").await;
    let id = create_shop(&app, &owner, "Chai Point").await;
    let decision = format!("/admin/shops/{id}/decision");
    let submit = format!("/shops/{id}/verification");
    let status = |v: Value| v["verification"].as_str().unwrap().to_string();
    let read = || async { status(expect(get(&app, "/me/shop", Some(&owner)).await, 200).await) };

    // Nothing to decide before a submission.
    assert_problem(
        post(&app, &decision, &admin, json!({"verification": "VERIFIED"})).await,
        409,
    )
    .await;
    assert_eq!(read().await, "NOT_STARTED");
    // Only the owner submits.
    assert_problem(post(&app, &submit, &admin, json!({})).await, 403).await;
    assert_problem(post(&app, &submit, &student, json!({})).await, 404).await;
    assert_eq!(read().await, "NOT_STARTED");
    crate::fixtures::checklist(&app, &owner, &id).await;
    expect(post(&app, &submit, &owner, json!({})).await, 200).await;
    assert_problem(post(&app, &submit, &owner, json!({})).await, 409).await;
    assert_eq!(read().await, "PENDING");

    // Only admins decide; the owner deciding their own shop is refused too.
    for who in [&student, &owner] {
        assert_problem(
            post(&app, &decision, who, json!({"verification": "VERIFIED"})).await,
            403,
        )
        .await;
    }
    assert_problem(
        post(
            &app,
            "/admin/shops/NOSUCHSHOP/decision",
            &student,
            json!({"verification": "VERIFIED"}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(get(&app, "/admin/shops", Some(&student)).await, 403).await;
    assert_problem(get(&app, "/admin/shops", None).await, 401).await;
    // Malformed decisions.
    for (body, code) in [
        (json!({"verification": "APPROVE"}), 400),
        (json!({"verification": "VERIFY"}), 400),
        (json!({"verification": "PENDING"}), 400),
        (json!({"verification": 1}), 400),
        (json!({"decision": "VERIFY"}), 400),
        (json!({}), 400),
        (
            json!({"verification": "VERIFIED", "note": "x".repeat(501)}),
            400,
        ),
        (json!({"verification": "VERIFIED", "extra": true}), 400),
        (json!({"verification": "REJECTED"}), 422),
        (
            json!({"verification": "REQUIRES_ACTION", "note": "  "}),
            422,
        ),
    ] {
        assert_problem(post(&app, &decision, &admin, body).await, code).await;
    }
    assert_problem(
        post(
            &app,
            "/admin/shops/NOSUCHSHOP/decision",
            &admin,
            json!({"verification": "VERIFIED"}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(read().await, "PENDING");
    assert!(notifications(&app, &owner_id).await.is_empty());
    assert!(
        audit_actions(&app, &id)
            .await
            .iter()
            .all(|e| e.action != "shop.decide")
    );

    // Ask for changes; the owner sees the note, fixes, resubmits.
    let v = expect(
        post(
            &app,
            &decision,
            &admin,
            json!({"verification": "REQUIRES_ACTION", "note": "Add your UPI QR"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(status(v), "REQUIRES_ACTION");
    let mine = expect(get(&app, "/me/shop", Some(&owner)).await, 200).await;
    assert_eq!(mine["verification_note"], "Add your UPI QR");
    assert_problem(
        post(&app, &decision, &admin, json!({"verification": "VERIFIED"})).await,
        409,
    )
    .await;
    assert_eq!(read().await, "REQUIRES_ACTION");
    expect(post(&app, &submit, &owner, json!({})).await, 200).await;
    assert_eq!(read().await, "PENDING");

    // Reject: final.
    expect(
        post(
            &app,
            &decision,
            &admin,
            json!({"verification": "REJECTED", "note": "Duplicate of another shop"}),
        )
        .await,
        200,
    )
    .await;
    assert_problem(post(&app, &submit, &owner, json!({})).await, 409).await;
    assert_problem(
        post(&app, &decision, &admin, json!({"verification": "VERIFIED"})).await,
        409,
    )
    .await;
    assert_eq!(read().await, "REJECTED");

    let notes = notifications(&app, &owner_id).await;
    let titles: Vec<&str> = notes.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(
        titles,
        vec!["Action needed on your shop", "Shop verification rejected"]
    );
    assert!(notes[1].message.contains("Duplicate of another shop"));
    let decisions: Vec<String> = audit_actions(&app, &id)
        .await
        .into_iter()
        .filter(|e| e.action == "shop.decide")
        .map(|e| e.details)
        .collect();
    assert_eq!(decisions.len(), 2);
    assert!(decisions[0].starts_with("REQUIRES_ACTION"));
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_a_shop() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let owner_id = user_id(&app, &owner).await;
    let student = app.bearer("student@uni.edu").await;
    let runner = app.bearer("runner@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    crate::fixtures::add_staff(&app, &id, &user_id(&app, &runner).await).await;
    let path = format!("/shops/{id}");
    let before = expect(get(&app, &path, Some(&owner)).await, 200).await;

    // Visible but not theirs: 403.
    for who in [&student, &runner] {
        assert_problem(patch(&app, &path, who, json!({"name": "Mine"})).await, 403).await;
        assert_problem(delete(&app, &path, who).await, 403).await;
    }
    // Bad patches.
    for (body, code) in [
        (json!({"name": 5}), 400),
        (json!({"owner_id": "x"}), 400),
        (json!({"verification": "VERIFIED"}), 400),
        (json!({"name": "x".repeat(81)}), 400),
        (json!({"opens_at": 1440}), 400),
        (json!({"delivery_fee": -5}), 400),
        (json!({"active": "no"}), 400),
        (json!({"name": " "}), 422),
        (json!({"delivers_to": ["NOSUCHBUILDING"]}), 422),
        (json!({"upi_id": "nope"}), 422),
    ] {
        assert_problem(patch(&app, &path, &owner, body).await, code).await;
    }
    assert_problem(
        patch(&app, "/shops/NOSUCHSHOP", &owner, json!({"name": "x"})).await,
        404,
    )
    .await;
    let after = expect(get(&app, &path, Some(&owner)).await, 200).await;
    assert_eq!(before, after, "refused patches changed nothing");

    // The owner changes only what they send; null clears the UPI id.
    let b = seed_building(&app, "Hostel B").await;
    let s = expect(
        patch(
            &app,
            &path,
            &owner,
            json!({"accepting_orders": false, "upi_id": null, "delivers_to": [b, b]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(s["accepting_orders"], false);
    assert_eq!(s["upi_id"], Value::Null);
    assert_eq!(s["delivers_to"], json!([b]));
    assert_eq!(s["name"], "Chai Point");
    assert_eq!(s["min_order_value"], 5000);
    // Not accepting orders is still visible.
    expect(get(&app, &path, Some(&student)).await, 200).await;
    assert!(
        audit_actions(&app, &id)
            .await
            .iter()
            .all(|e| e.action != "shop.update")
    );

    // An admin may edit; it is audited and the owner told.
    let s = expect(
        patch(&app, &path, &admin, json!({"name": "Chai Point (Market)"})).await,
        200,
    )
    .await;
    assert_eq!(s["name"], "Chai Point (Market)");
    assert_eq!(
        audit_actions(&app, &id)
            .await
            .iter()
            .filter(|e| e.action == "shop.update")
            .count(),
        1
    );
    assert!(
        notifications(&app, &owner_id)
            .await
            .iter()
            .any(|n| n.title == "Your shop was edited")
    );
    // Deactivating hides it from students.
    expect(
        patch(&app, &path, &owner, json!({"active": false})).await,
        200,
    )
    .await;
    assert_problem(get(&app, &path, Some(&student)).await, 404).await;
}

#[tokio::test]
async fn deleting_a_shop_hides_it_and_lets_the_owner_open_another() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let pid = create_product(&app, &owner, &id, product_body("Tea", 1000, 5)).await;
    let path = format!("/shops/{id}");

    assert_problem(delete(&app, &path, &student).await, 403).await;
    expect(get(&app, &path, Some(&student)).await, 200).await;
    assert_eq!(
        expect(delete(&app, &path, &owner).await, 204).await,
        Value::Null
    );

    for who in [Some(student.as_str()), Some(owner.as_str()), None] {
        assert_problem(get(&app, &path, who).await, 404).await;
        assert_problem(get(&app, &format!("/products/{pid}"), who).await, 404).await;
        assert_problem(get(&app, &format!("/shops/{id}/products"), who).await, 404).await;
    }
    assert_problem(get(&app, "/me/shop", Some(&owner)).await, 404).await;
    // Admins still find it; nobody changes it any more.
    expect(get(&app, &path, Some(&admin)).await, 200).await;
    assert_problem(
        patch(&app, &path, &admin, json!({"name": "Back"})).await,
        404,
    )
    .await;
    assert_problem(
        patch(&app, &path, &owner, json!({"name": "Back"})).await,
        404,
    )
    .await;
    assert_problem(delete(&app, &path, &owner).await, 404).await;
    assert_eq!(
        expect(get(&app, "/shops", None).await, 200).await,
        json!([])
    );
    assert_eq!(
        audit_actions(&app, &id)
            .await
            .iter()
            .filter(|e| e.action == "shop.delete")
            .count(),
        1
    );
    // The owner may start over.
    let again = create_shop(&app, &owner, "Chai Point 2").await;
    let mine = expect(get(&app, "/me/shop", Some(&owner)).await, 200).await;
    assert_eq!(mine["id"], again.as_str());
}

#[tokio::test]
async fn shop_list_filters_by_type_and_building() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let a = seed_building(&app, "Hostel A").await;
    let b = seed_building(&app, "Hostel B").await;
    let o1 = app.bearer("o1@uni.edu").await;
    let canteen = verified_shop(&app, &admin, &o1, "Canteen everywhere").await;
    let o2 = app.bearer("o2@uni.edu").await;
    let mut body = shop_body("Stationery A");
    body["shop_type"] = json!("STATIONERY");
    body["delivers_to"] = json!([a]);
    let stationery = expect(post(&app, "/shops", &o2, body).await, 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    verify(&app, &admin, &o2, &stationery).await;

    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(expect(get(&app, "/shops", None).await, 200).await);
    assert_eq!(
        all,
        vec![canteen.clone(), stationery.clone()],
        "sorted by name"
    );
    let s = ids(expect(get(&app, "/shops?shop_type=STATIONERY", None).await, 200).await);
    assert_eq!(s, vec![stationery.clone()]);
    let in_a = ids(expect(get(&app, &format!("/shops?building={a}"), None).await, 200).await);
    assert_eq!(in_a, vec![canteen.clone(), stationery.clone()]);
    let in_b = ids(expect(get(&app, &format!("/shops?building={b}"), None).await, 200).await);
    assert_eq!(in_b, vec![canteen.clone()]);
    assert_problem(get(&app, "/shops?shop_type=BAKERY", None).await, 422).await;
    assert_problem(get(&app, "/shops?favorites=maybe", None).await, 422).await;
    assert_problem(get(&app, "/shops?favorites=true", None).await, 401).await;
    assert_problem(get(&app, "/shops", Some("uph_notavalidtoken")).await, 401).await;
}

// --- staff ---

/// Marks an account's address unconfirmed again (as for an account made
/// before addresses had to be confirmed).
async fn unconfirm_email(app: &TestApp, user_id: &str) {
    let id = user_id.to_string();
    app.state
        .store
        .write(move |txn| {
            let mut t = txn.open_table(tables::USERS)?;
            let mut u: uphill::domain::user::User = codec::get(&t, &id)?.unwrap();
            u.email_verified = false;
            codec::put(&mut t, &id, &u)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn runners_are_invited_by_email_accept_and_are_removed_by_the_owner() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let runner = app.bearer("runner@uni.edu").await;
    let runner_id = user_id(&app, &runner).await;
    let student = app.bearer("student@uni.edu").await;
    let id = create_shop(&app, &owner, "Chai Point").await;
    let pid = create_product(&app, &owner, &id, product_body("Tea", 1000, 5)).await;
    let staff = format!("/shops/{id}/staff");
    let invites = format!("/shops/{id}/staff/invites");
    let staff_index = || async {
        let u = runner_id.clone();
        app.state
            .store
            .read(move |txn| {
                let mut out = Vec::new();
                for s in txn
                    .open_multimap_table(tables::STAFF_TO_SHOPS)?
                    .get(u.as_str())?
                {
                    out.push(s?.value().to_string());
                }
                Ok::<_, StoreError>(out)
            })
            .await
            .unwrap()
    };

    // The runner cannot see the unverified shop yet, and an unverified
    // shop invites nobody.
    assert_problem(get(&app, &format!("/shops/{id}"), Some(&runner)).await, 404).await;
    assert_problem(
        post(&app, &staff, &owner, json!({"email": "runner@uni.edu"})).await,
        409,
    )
    .await;
    verify(&app, &admin, &owner, &id).await;

    // Refusals first, each changing nothing.
    let p = assert_problem(
        post(&app, &staff, &owner, json!({"email": "vendor@uni.edu"})).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["email"]);
    assert_problem(
        post(&app, &staff, &owner, json!({"email": "not an email"})).await,
        422,
    )
    .await;
    assert_problem(post(&app, &staff, &owner, json!({"email": 5})).await, 400).await;
    assert_problem(
        post(
            &app,
            &staff,
            &owner,
            json!({"email": "runner@uni.edu", "role": "x"}),
        )
        .await,
        400,
    )
    .await;
    // Others: a student → 403; admin sees it but is not the owner → 403;
    // a runner-to-be cannot invite himself.
    for who in [&student, &admin, &runner] {
        assert_problem(
            post(&app, &staff, who, json!({"email": "runner@uni.edu"})).await,
            403,
        )
        .await;
    }
    assert_eq!(
        expect(get(&app, &invites, Some(&owner)).await, 200).await,
        json!([])
    );

    // An address with an account and one without get the same answer, so
    // the vendor learns nothing about who is signed up.
    let known = expect(
        post(&app, &staff, &owner, json!({"email": "  RUNNER@uni.edu "})).await,
        202,
    )
    .await;
    let unknown = expect(
        post(&app, &staff, &owner, json!({"email": "nobody@uni.edu"})).await,
        202,
    )
    .await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert!(known.get("user_id").is_none() && known.get("name").is_none());
    assert_eq!(known["email"], "RUNNER@uni.edu");
    // Inviting again is no error and no duplicate.
    expect(
        post(&app, &staff, &owner, json!({"email": "runner@uni.edu"})).await,
        202,
    )
    .await;
    let pending = expect(get(&app, &invites, Some(&owner)).await, 200).await;
    assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");
    assert_problem(get(&app, &invites, Some(&runner)).await, 403).await;
    // Not a runner yet.
    assert!(staff_index().await.is_empty());
    assert_eq!(
        expect(get(&app, &staff, Some(&owner)).await, 200).await,
        json!([])
    );
    assert!(
        notifications(&app, &runner_id)
            .await
            .iter()
            .any(|n| n.title == "Invitation to run deliveries")
    );

    // The invitee sees it; nobody else does.
    let mine = expect(get(&app, "/me/invitations", Some(&runner)).await, 200).await;
    assert_eq!(mine[0]["shop_id"], id.as_str());
    assert_eq!(mine[0]["shop_name"], "Chai Point");
    assert_eq!(
        expect(get(&app, "/me/invitations", Some(&student)).await, 200).await,
        json!([])
    );
    let accept = format!("/me/invitations/{id}/accept");
    assert_problem(post(&app, &accept, &student, json!({})).await, 404).await;
    // Accepting needs a confirmed address.
    unconfirm_email(&app, &runner_id).await;
    assert_problem(post(&app, &accept, &runner, json!({})).await, 403).await;
    assert!(staff_index().await.is_empty());
    app.confirm_email(&app.browser(), "runner@uni.edu").await;
    expect(post(&app, &accept, &runner, json!({})).await, 204).await;
    assert_problem(post(&app, &accept, &runner, json!({})).await, 404).await;
    let list = expect(get(&app, &staff, Some(&owner)).await, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user_id"], runner_id.as_str());
    expect(get(&app, &staff, Some(&admin)).await, 200).await;
    assert_eq!(staff_index().await, vec![id.clone()]);
    assert_eq!(
        expect(get(&app, "/me/invitations", Some(&runner)).await, 200).await,
        json!([])
    );
    let left = expect(get(&app, &invites, Some(&owner)).await, 200).await;
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["email"], "nobody@uni.edu");

    // Declining removes an invitation.
    let other = app.bearer("other@uni.edu").await;
    expect(
        post(&app, &staff, &owner, json!({"email": "other@uni.edu"})).await,
        202,
    )
    .await;
    expect(
        delete(&app, &format!("/me/invitations/{id}"), &other).await,
        204,
    )
    .await;
    assert_problem(
        post(
            &app,
            &format!("/me/invitations/{id}/accept"),
            &other,
            json!({}),
        )
        .await,
        404,
    )
    .await;

    // The runner sees the shop, its products and its batches, but manages
    // nothing.
    expect(
        get(&app, &format!("/shops/{id}/batches"), Some(&runner)).await,
        200,
    )
    .await;
    expect(get(&app, &format!("/shops/{id}"), Some(&runner)).await, 200).await;
    expect(
        get(&app, &format!("/shops/{id}/products"), Some(&runner)).await,
        200,
    )
    .await;
    expect(
        get(&app, &format!("/products/{pid}"), Some(&runner)).await,
        200,
    )
    .await;
    assert_problem(get(&app, &staff, Some(&runner)).await, 403).await;
    assert_problem(
        patch(
            &app,
            &format!("/products/{pid}"),
            &runner,
            json!({"stock": 0}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &format!("/shops/{id}/products"),
            &runner,
            product_body("X", 1, 1),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        delete(&app, &format!("{staff}/{runner_id}"), &runner).await,
        403,
    )
    .await;
    let p = expect(
        get(&app, &format!("/products/{pid}"), Some(&owner)).await,
        200,
    )
    .await;
    assert_eq!(p["stock"], 5);

    // Remove.
    assert_problem(
        delete(&app, &format!("{staff}/NOSUCHUSER"), &owner).await,
        404,
    )
    .await;
    expect(
        delete(&app, &format!("{staff}/{runner_id}"), &owner).await,
        204,
    )
    .await;
    assert_problem(
        delete(&app, &format!("{staff}/{runner_id}"), &owner).await,
        404,
    )
    .await;
    assert!(staff_index().await.is_empty());
    assert_eq!(
        expect(get(&app, &staff, Some(&owner)).await, 200).await,
        json!([])
    );
    // No longer staff: the shop's batches are hidden from him again.
    expect(
        get(&app, &format!("/shops/{id}/batches"), Some(&owner)).await,
        200,
    )
    .await;
    assert_problem(
        get(&app, &format!("/shops/{id}/batches"), Some(&runner)).await,
        404,
    )
    .await;
}

// --- products ---

#[tokio::test]
async fn products_are_validated_and_only_the_owner_manages_them() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let other = app.bearer("other@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let hidden = create_shop(&app, &other, "Hidden").await;
    let cat = seed_category(&app, "Drinks").await;
    let products = format!("/shops/{id}/products");
    let with = |k: &str, v: Value| {
        let mut b = json!({"name": "Tea", "description": "Hot", "category_id": cat,
                           "price": 1000, "discount": 100, "stock": 5, "veg": true});
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (with("price", json!("1000")), 400, None),
        (with("price", json!(10.5)), 400, None),
        (with("stock", json!(true)), 400, None),
        (with("veg", json!("yes")), 400, None),
        (with("name", json!(["Tea"])), 400, None),
        (with("rating_sum", json!(500)), 400, Some("rating_sum")),
        (with("shop_id", json!(hidden)), 400, Some("shop_id")),
        (with("name", json!("x".repeat(101))), 400, None),
        (with("description", json!("x".repeat(1001))), 400, None),
        (with("category_id", json!("x".repeat(27))), 400, None),
        (with("price", json!(-1)), 400, None),
        (with("price", json!(100_000_001)), 400, None),
        (with("discount", json!(-1)), 400, None),
        (with("stock", json!(100_001)), 400, None),
        (with("stock", json!(-1)), 400, None),
        (with("discount", json!(1001)), 422, Some("discount")),
        (
            with("category_id", json!("NOSUCHCATEGORY")),
            422,
            Some("category_id"),
        ),
        (with("name", json!("  ")), 422, Some("name")),
    ];
    for (body, status, field) in cases {
        let p = assert_problem(post(&app, &products, &owner, body.clone()).await, status).await;
        if let Some(f) = field {
            assert!(
                fields(&p).contains(&f.to_string()),
                "{f} not in {p} for {body}"
            );
        }
    }
    assert_eq!(
        expect(get(&app, &products, Some(&owner)).await, 200).await,
        json!([]),
        "nothing was created"
    );

    // Someone else's shop: visible → 403; hidden → 404.
    assert_problem(
        post(&app, &products, &other, with("name", json!("Mine"))).await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &format!("/shops/{hidden}/products"),
            &owner,
            with("name", json!("X")),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        post(
            &app,
            "/shops/NOSUCHSHOP/products",
            &owner,
            with("name", json!("X")),
        )
        .await,
        404,
    )
    .await;

    let p = expect(
        post(&app, &products, &owner, with("discount", json!(1000))).await,
        201,
    )
    .await;
    assert_eq!(p["unit_price"], 0, "100 % off is the most there is");
    let pid = p["id"].as_str().unwrap().to_string();
    let path = format!("/products/{pid}");
    let hidden_pid = create_product(&app, &other, &hidden, product_body("Secret", 100, 1)).await;

    // Patches that must change nothing.
    let before = expect(get(&app, &path, None).await, 200).await;
    for (who, body, code) in [
        (&owner, json!({"price": 500}), 422),
        (&owner, json!({"discount": 1001}), 422),
        (&owner, json!({"stock": 100_001}), 400),
        (&owner, json!({"price": "5"}), 400),
        (&owner, json!({"shop_id": hidden}), 400),
        (&owner, json!({"category_id": "NOSUCHCATEGORY"}), 422),
        (&owner, json!({"name": ""}), 422),
        (&other, json!({"stock": 0}), 403),
        (&admin, json!({"stock": 0}), 403),
    ] {
        assert_problem(patch(&app, &path, who, body).await, code).await;
    }
    assert_problem(delete(&app, &path, &other).await, 403).await;
    assert_eq!(expect(get(&app, &path, None).await, 200).await, before);
    // Another user's hidden product: 404 whatever the request.
    assert_problem(
        patch(
            &app,
            &format!("/products/{hidden_pid}"),
            &owner,
            json!({"stock": 0}),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        delete(&app, &format!("/products/{hidden_pid}"), &owner).await,
        404,
    )
    .await;
    assert_problem(
        get(&app, &format!("/products/{hidden_pid}"), Some(&owner)).await,
        404,
    )
    .await;
    expect(
        get(&app, &format!("/products/{hidden_pid}"), Some(&other)).await,
        200,
    )
    .await;

    // Lowering the price together with the discount is fine; null clears
    // the category.
    let p = expect(
        patch(
            &app,
            &path,
            &owner,
            json!({"price": 500, "discount": 50, "category_id": null, "name": "Masala Tea"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["unit_price"], 450);
    assert_eq!(p["category_id"], Value::Null);
    assert_eq!(p["name"], "Masala Tea");
    assert_eq!(p["stock"], 5);
}

#[tokio::test]
async fn product_lists_filter_and_deleted_products_are_gone() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let owner_id = user_id(&app, &owner).await;
    let student = app.bearer("student@uni.edu").await;
    let student_id = user_id(&app, &student).await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let snacks = seed_category(&app, "Snacks").await;
    let tea = create_product(&app, &owner, &id, product_body("Tea", 1000, 5)).await;
    let mut egg = product_body("Egg roll", 4000, 0);
    egg["veg"] = json!(false);
    egg["category_id"] = json!(snacks);
    let egg = create_product(&app, &owner, &id, egg).await;
    let mut samosa = product_body("Samosa", 1500, 2);
    samosa["category_id"] = json!(snacks);
    let samosa = create_product(&app, &owner, &id, samosa).await;

    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |q: String| {
        let app = &app;
        let id = id.clone();
        async move {
            names(
                expect(
                    get(app, &format!("/shops/{id}/products{q}"), None).await,
                    200,
                )
                .await,
            )
        }
    };
    assert_eq!(
        list(String::new()).await,
        vec![tea.clone(), egg.clone(), samosa.clone()]
    );
    assert_eq!(
        list(format!("?category={snacks}")).await,
        vec![egg.clone(), samosa.clone()]
    );
    assert_eq!(
        list("?veg=true".into()).await,
        vec![tea.clone(), samosa.clone()]
    );
    assert_eq!(list("?veg=false".into()).await, vec![egg.clone()]);
    assert_eq!(
        list("?in_stock=true".into()).await,
        vec![tea.clone(), samosa.clone()]
    );
    assert_eq!(list("?in_stock=false".into()).await, vec![egg.clone()]);
    assert_eq!(
        list(format!("?category={snacks}&veg=true&in_stock=true")).await,
        vec![samosa.clone()]
    );
    assert_problem(
        get(&app, &format!("/shops/{id}/products?veg=1x"), None).await,
        422,
    )
    .await;

    // Delete (the owner), and an admin moderating another.
    watch(&app, &egg, &student_id).await;
    expect(delete(&app, &format!("/products/{egg}"), &owner).await, 204).await;
    assert_eq!(
        watchers(&app, &egg).await,
        0,
        "nobody waits for a deleted product"
    );
    expect(
        delete(&app, &format!("/products/{samosa}"), &admin).await,
        204,
    )
    .await;
    assert_eq!(list(String::new()).await, vec![tea.clone()]);
    for gone in [&egg, &samosa] {
        assert_problem(get(&app, &format!("/products/{gone}"), None).await, 404).await;
        assert_problem(
            get(&app, &format!("/products/{gone}"), Some(&owner)).await,
            404,
        )
        .await;
        assert_problem(
            patch(
                &app,
                &format!("/products/{gone}"),
                &owner,
                json!({"stock": 1}),
            )
            .await,
            404,
        )
        .await;
        assert_problem(
            delete(&app, &format!("/products/{gone}"), &owner).await,
            404,
        )
        .await;
    }
    assert!(
        notifications(&app, &student_id)
            .await
            .iter()
            .all(|n| n.title != "Back in stock")
    );
    assert!(
        notifications(&app, &owner_id)
            .await
            .iter()
            .any(|n| n.title == "A product was removed")
    );
    assert_eq!(
        audit_actions(&app, &samosa)
            .await
            .iter()
            .filter(|e| e.action == "product.delete")
            .count(),
        1
    );
    // The record is kept for order history.
    let kept = {
        let s = samosa.clone();
        app.state
            .store
            .read(move |txn| {
                Ok::<_, StoreError>(txn.open_table(tables::PRODUCTS)?.get(s.as_str())?.is_some())
            })
            .await
            .unwrap()
    };
    assert!(kept);
}

// --- slots ---

#[tokio::test]
async fn slots_have_bounds_defaults_and_a_next_cutoff() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let other = app.bearer("other@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let hidden = create_shop(&app, &other, "Hidden").await;
    let slots = format!("/shops/{id}/slots");

    let with = |k: &str, v: Value| {
        let mut b = json!({"cutoff_minutes": 1020, "label": "5 PM Batch"});
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (with("cutoff_minutes", json!(1440)), 400, None),
        (with("cutoff_minutes", json!(-1)), 400, None),
        (with("cutoff_minutes", json!("1020")), 400, None),
        (with("label", json!("x".repeat(61))), 400, None),
        (with("label", json!(5)), 400, None),
        (with("weekdays", json!([0])), 400, None),
        (with("weekdays", json!([8])), 400, None),
        (with("weekdays", json!([1, 1])), 400, None),
        (with("weekdays", json!([1, 2, 3, 4, 5, 6, 7, 1])), 400, None),
        (with("max_orders", json!(0)), 400, None),
        (with("max_orders", json!(10_001)), 400, None),
        (with("sort_order", json!(1001)), 400, None),
        (with("active", json!("yes")), 400, None),
        (with("shop_id", json!(hidden)), 400, Some("shop_id")),
        (with("label", json!("  ")), 422, Some("label")),
        (with("weekdays", json!([])), 422, Some("weekdays")),
    ];
    for (body, status, field) in cases {
        let p = assert_problem(post(&app, &slots, &owner, body.clone()).await, status).await;
        if let Some(f) = field {
            assert!(
                fields(&p).contains(&f.to_string()),
                "{f} not in {p} for {body}"
            );
        }
    }
    assert_eq!(
        expect(get(&app, &slots, Some(&owner)).await, 200).await,
        json!([])
    );
    assert_problem(
        post(&app, &slots, &other, with("label", json!("x"))).await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &format!("/shops/{hidden}/slots"),
            &owner,
            with("label", json!("x")),
        )
        .await,
        404,
    )
    .await;

    let s = expect(
        post(&app, &slots, &owner, with("label", json!("5 PM Batch"))).await,
        201,
    )
    .await;
    assert_eq!(s["active"], true);
    assert_eq!(s["sort_order"], 0);
    assert_eq!(s["weekdays"], Value::Null);
    assert_eq!(s["max_orders"], Value::Null);
    assert_eq!(s["shop_id"], id.as_str());
    let next: chrono::DateTime<Utc> = s["next_cutoff_at"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now() && next <= Utc::now() + Duration::days(1));
    let five = s["id"].as_str().unwrap().to_string();

    let mut b = with("label", json!("Weekend noon"));
    b["cutoff_minutes"] = json!(720);
    b["weekdays"] = json!([7, 6]);
    b["max_orders"] = json!(40);
    b["sort_order"] = json!(1);
    let s = expect(post(&app, &slots, &owner, b).await, 201).await;
    assert_eq!(s["weekdays"], json!([6, 7]));
    let weekend = s["id"].as_str().unwrap().to_string();
    let next: chrono::DateTime<Utc> = s["next_cutoff_at"].as_str().unwrap().parse().unwrap();
    assert!(next <= Utc::now() + Duration::days(7));

    let mut b = with("label", json!("Paused"));
    b["active"] = json!(false);
    let s = expect(post(&app, &slots, &owner, b).await, 201).await;
    assert_eq!(s["next_cutoff_at"], Value::Null);
    let paused = s["id"].as_str().unwrap().to_string();

    // Students see active slots only; the owner sees all, in sort order.
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        labels(expect(get(&app, &slots, Some(&student)).await, 200).await),
        vec!["5 PM Batch", "Weekend noon"]
    );
    assert_eq!(
        labels(expect(get(&app, &slots, Some(&owner)).await, 200).await),
        vec!["5 PM Batch", "Paused", "Weekend noon"]
    );

    // Patches.
    let before = expect(get(&app, &slots, Some(&owner)).await, 200).await;
    for (who, path, body, code) in [
        (&owner, &weekend, json!({"weekdays": [9]}), 400),
        (&owner, &weekend, json!({"weekdays": []}), 422),
        (&owner, &weekend, json!({"label": ""}), 422),
        (&owner, &weekend, json!({"cutoff_minutes": 1440}), 400),
        (&owner, &weekend, json!({"shop_id": "x"}), 400),
        (&other, &weekend, json!({"label": "Mine"}), 403),
        (&student, &weekend, json!({"label": "Mine"}), 403),
        // An inactive slot is not something a student can see.
        (&student, &paused, json!({"label": "Mine"}), 404),
    ] {
        assert_problem(
            patch(&app, &format!("/slots/{path}"), who, body).await,
            code,
        )
        .await;
    }
    assert_problem(delete(&app, &format!("/slots/{five}"), &other).await, 403).await;
    assert_problem(delete(&app, &format!("/slots/{paused}"), &other).await, 404).await;
    assert_problem(
        patch(&app, "/slots/NOSUCHSLOT", &owner, json!({"label": "x"})).await,
        404,
    )
    .await;
    assert_eq!(
        expect(get(&app, &slots, Some(&owner)).await, 200).await,
        before
    );

    let s = expect(
        patch(
            &app,
            &format!("/slots/{weekend}"),
            &owner,
            json!({"weekdays": null, "max_orders": null, "label": "Noon"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(s["weekdays"], Value::Null);
    assert_eq!(s["max_orders"], Value::Null);
    assert_eq!(s["label"], "Noon");
    assert_eq!(s["cutoff_minutes"], 720);
    let s = expect(
        patch(
            &app,
            &format!("/slots/{paused}"),
            &owner,
            json!({"active": true}),
        )
        .await,
        200,
    )
    .await;
    assert!(s["next_cutoff_at"].is_string());

    expect(delete(&app, &format!("/slots/{five}"), &owner).await, 204).await;
    assert_problem(delete(&app, &format!("/slots/{five}"), &owner).await, 404).await;
    assert_eq!(
        labels(expect(get(&app, &slots, Some(&student)).await, 200).await),
        vec!["Paused", "Noon"]
    );
}

// --- favourites ---

#[tokio::test]
async fn only_public_shops_can_be_favourites() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let other = app.bearer("other@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let public = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let hidden = create_shop(&app, &other, "Hidden").await;
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };

    assert_problem(
        put(&app, &format!("/me/favorites/{hidden}"), &student).await,
        404,
    )
    .await;
    assert_problem(put(&app, "/me/favorites/NOSUCHSHOP", &student).await, 404).await;
    assert_problem(
        send(
            &app,
            Method::PUT,
            &format!("/me/favorites/{public}"),
            None,
            None,
        )
        .await,
        401,
    )
    .await;
    assert_problem(
        put(&app, &format!("/me/favorites/{}", "x".repeat(27)), &student).await,
        400,
    )
    .await;
    assert_eq!(
        expect(get(&app, "/me/favorites", Some(&student)).await, 200).await,
        json!([])
    );

    expect(
        put(&app, &format!("/me/favorites/{public}"), &student).await,
        204,
    )
    .await;
    expect(
        put(&app, &format!("/me/favorites/{public}"), &student).await,
        204,
    )
    .await;
    assert_eq!(
        ids(expect(get(&app, "/me/favorites", Some(&student)).await, 200).await),
        vec![public.clone()]
    );
    assert_eq!(
        ids(expect(
            get(&app, "/shops?favorites=true", Some(&student)).await,
            200
        )
        .await),
        vec![public.clone()]
    );
    assert_eq!(
        expect(get(&app, "/me/favorites", Some(&other)).await, 200).await,
        json!([]),
        "favourites are per user"
    );
    assert_problem(get(&app, "/me/favorites", None).await, 401).await;

    // A favourite that stops being public drops out, and comes back.
    expect(
        patch(
            &app,
            &format!("/shops/{public}"),
            &owner,
            json!({"active": false}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        expect(get(&app, "/me/favorites", Some(&student)).await, 200).await,
        json!([])
    );
    expect(
        patch(
            &app,
            &format!("/shops/{public}"),
            &owner,
            json!({"active": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        ids(expect(get(&app, "/me/favorites", Some(&student)).await, 200).await),
        vec![public.clone()]
    );

    expect(
        delete(&app, &format!("/me/favorites/{public}"), &student).await,
        204,
    )
    .await;
    expect(
        delete(&app, &format!("/me/favorites/{public}"), &student).await,
        204,
    )
    .await;
    assert_eq!(
        expect(get(&app, "/me/favorites", Some(&student)).await, 200).await,
        json!([])
    );
}

// --- announcements ---

#[tokio::test]
async fn announcements_are_current_newest_first_and_owned() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let owner_id = user_id(&app, &owner).await;
    let other = app.bearer("other@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let other_shop = verified_shop(&app, &admin, &other, "Other").await;
    let pid = create_product(&app, &owner, &id, product_body("Tea", 1000, 5)).await;
    let foreign_pid = create_product(&app, &other, &other_shop, product_body("Pen", 1000, 5)).await;
    let path = format!("/shops/{id}/announcements");
    let soon = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let far = (Utc::now() + Duration::days(400)).to_rfc3339();

    let with = |k: &str, v: Value| {
        let mut b = json!({"title": "Fresh samosas", "message": "Out of the oven at 5."});
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (with("title", json!(5)), 400, None),
        (with("title", json!("x".repeat(101))), 400, None),
        (with("message", json!("x".repeat(1001))), 400, None),
        (with("expires_at", json!("tomorrow")), 400, None),
        (with("expires_at", json!(12345)), 400, None),
        (with("pinned", json!(true)), 400, Some("pinned")),
        (with("title", json!(" ")), 422, Some("title")),
        (with("message", json!("")), 422, Some("message")),
        (with("expires_at", json!(past)), 422, Some("expires_at")),
        (with("expires_at", json!(far)), 422, Some("expires_at")),
        (
            with("product_id", json!(foreign_pid)),
            422,
            Some("product_id"),
        ),
        (
            with("product_id", json!("NOSUCHPRODUCT")),
            422,
            Some("product_id"),
        ),
    ];
    for (body, status, field) in cases {
        let p = assert_problem(post(&app, &path, &owner, body.clone()).await, status).await;
        if let Some(f) = field {
            assert!(
                fields(&p).contains(&f.to_string()),
                "{f} not in {p} for {body}"
            );
        }
    }
    assert_problem(
        post(&app, &path, &other, with("title", json!("Mine"))).await,
        403,
    )
    .await;
    assert_problem(
        post(&app, &path, &admin, with("title", json!("Admin"))).await,
        403,
    )
    .await;
    assert_eq!(expect(get(&app, &path, None).await, 200).await, json!([]));

    let first = expect(
        post(&app, &path, &owner, with("product_id", json!(pid))).await,
        201,
    )
    .await;
    assert_eq!(first["product_id"], pid.as_str());
    assert_eq!(first["expires_at"], Value::Null);
    let second = expect(
        post(&app, &path, &owner, with("expires_at", json!(soon))).await,
        201,
    )
    .await;
    assert!(second["expires_at"].is_string());
    // One that has run out since it was posted.
    let expired_id = ulid::Ulid::new().to_string();
    {
        let (eid, sid) = (expired_id.clone(), id.clone());
        app.state
            .store
            .write(move |txn| {
                let a = Announcement {
                    id: eid.clone(),
                    shop_id: sid.clone(),
                    title: "Old news".into(),
                    message: "Closed on Sunday".into(),
                    product_id: None,
                    expires_at: Some(Utc::now() - Duration::hours(1)),
                    created_at: Utc::now(),
                };
                codec::put(&mut txn.open_table(tables::ANNOUNCEMENTS)?, &a.id, &a)?;
                txn.open_multimap_table(tables::SHOP_TO_ANNOUNCEMENTS)?
                    .insert(sid.as_str(), eid.as_str())?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let list = expect(get(&app, &path, Some(&student)).await, 200).await;
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ],
        "current ones only, newest first"
    );

    // Deleting: others' visible → 403, expired (invisible to them) → 404.
    let first_id = first["id"].as_str().unwrap();
    assert_problem(
        delete(&app, &format!("/announcements/{first_id}"), &other).await,
        403,
    )
    .await;
    assert_problem(
        delete(&app, &format!("/announcements/{expired_id}"), &other).await,
        404,
    )
    .await;
    assert_problem(delete(&app, "/announcements/NOSUCHONE", &owner).await, 404).await;
    assert_eq!(
        expect(get(&app, &path, None).await, 200)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    expect(
        delete(&app, &format!("/announcements/{first_id}"), &owner).await,
        204,
    )
    .await;
    let second_id = second["id"].as_str().unwrap();
    expect(
        delete(&app, &format!("/announcements/{second_id}"), &admin).await,
        204,
    )
    .await;
    assert_eq!(expect(get(&app, &path, None).await, 200).await, json!([]));
    assert!(
        notifications(&app, &owner_id)
            .await
            .iter()
            .any(|n| n.title == "An announcement was removed")
    );
    // Posting again sweeps out the expired record.
    expect(
        post(&app, &path, &owner, with("title", json!("Again"))).await,
        201,
    )
    .await;
    let e = expired_id.clone();
    let still_there = app
        .state
        .store
        .read(move |txn| {
            Ok::<_, StoreError>(
                txn.open_table(tables::ANNOUNCEMENTS)?
                    .get(e.as_str())?
                    .is_some(),
            )
        })
        .await
        .unwrap();
    assert!(!still_there);
}

/// The catalog page of a public shop is served from an encoded cache;
/// every change must show on the very next read, for every caller.
#[tokio::test]
async fn the_cached_catalog_page_changes_with_the_next_write() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let id = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let tea = create_product(&app, &owner, &id, product_body("Tea", 1000, 5)).await;
    let page = format!("/shops/{id}/products");

    let first = expect(get(&app, &page, None).await, 200).await;
    // A hit is byte-for-byte what a miss encodes, whoever asks.
    assert_eq!(expect(get(&app, &page, None).await, 200).await, first);
    assert_eq!(
        expect(get(&app, &page, Some(&student)).await, 200).await,
        first
    );
    assert_eq!(first[0]["price"], 1000);

    expect(
        patch(
            &app,
            &format!("/products/{tea}"),
            &owner,
            json!({"price": 1200, "stock": 0}),
        )
        .await,
        200,
    )
    .await;
    let after = expect(get(&app, &page, None).await, 200).await;
    assert_eq!(after[0]["price"], 1200);
    assert_eq!(after[0]["in_stock"], false);
    let sold_out = expect(get(&app, &format!("{page}?in_stock=true"), None).await, 200).await;
    assert_eq!(sold_out, json!([]));

    let chips = create_product(&app, &owner, &id, product_body("Chips", 500, 3)).await;
    let two = expect(get(&app, &page, Some(&student)).await, 200).await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    // Each page is cached under its own query: a smaller page, and the
    // page after its cursor, are not the whole list.
    for _ in 0..2 {
        let p1 =
            crate::helpers::expect(get(&app, &format!("{page}?limit=1"), None).await, 200).await;
        assert_eq!(p1["items"].as_array().unwrap().len(), 1, "{p1}");
        assert_eq!(p1["items"][0]["id"], tea.as_str());
        let c = p1["next_cursor"].as_str().unwrap();
        let p2 = crate::helpers::expect(
            get(&app, &format!("{page}?limit=1&cursor={c}"), None).await,
            200,
        )
        .await;
        assert_eq!(p2["items"][0]["id"], chips.as_str());
        assert!(p2["next_cursor"].is_null(), "{p2}");
    }
    expect(
        delete(&app, &format!("/products/{chips}"), &owner).await,
        204,
    )
    .await;
    assert_eq!(
        expect(get(&app, &page, None).await, 200)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A shop that stops being public disappears at once from the cached page.
    expect(delete(&app, &format!("/shops/{id}"), &owner).await, 204).await;
    assert_problem(get(&app, &page, None).await, 404).await;
    assert_problem(get(&app, &page, Some(&student)).await, 404).await;
}

/// A change made from an older version of a product or shop (`If-Match`)
/// is a 412 that changes nothing: a form open while the vendor restocked
/// in another tab never writes the old stock back.
#[tokio::test]
async fn a_change_made_from_an_older_version_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let m =
        crate::fixtures::market(&app, "owner@uni.edu", crate::fixtures::ShopOpts::default()).await;
    let product = format!("/api/v1/products/{}", m.products[0]);
    let get = |path: String| {
        let app = &app;
        let token = m.owner_token.clone();
        async move { crate::helpers::get_ok(app, &token, &path).await }
    };
    let send_if = |path: String, version: String, body: Value| {
        let app = &app;
        let token = m.owner_token.clone();
        async move {
            app.client()
                .patch(app.url(&path))
                .bearer_auth(token)
                .header("if-match", version)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Two tabs load the product; one restocks.
    let seen = get(product.clone()).await;
    let v1 = seen["version"].as_str().unwrap().to_string();
    let r = send_if(product.clone(), format!("\"{v1}\""), json!({"stock": 25})).await;
    let after = expect(r, 200).await;
    assert_ne!(after["version"], seen["version"]);
    // The other tab saves a new name and the stock it had loaded: refused.
    let r = send_if(
        product.clone(),
        v1.clone(),
        json!({"name": "Chai", "stock": 10}),
    )
    .await;
    let p = assert_problem(r, 412).await;
    assert!(p["detail"].as_str().unwrap().contains("reload"), "{p}");
    let now = get(product.clone()).await;
    assert_eq!(
        (now["stock"].as_u64(), now["name"].as_str()),
        (Some(25), after["name"].as_str())
    );
    // From the current version (a weak tag is the same version) it goes through.
    let v2 = now["version"].as_str().unwrap();
    let r = send_if(
        product.clone(),
        format!("W/\"{v2}\""),
        json!({"name": "Chai"}),
    )
    .await;
    assert_eq!(expect(r, 200).await["stock"], 25);
    // A restock adds to the stock as it is then, whatever the sender last saw.
    let r = send_if(product.clone(), v1.clone(), json!({"restock": 5})).await;
    assert_problem(r, 412).await;
    let r = patch(&app, &product[7..], &m.owner_token, json!({"restock": 5})).await;
    assert_eq!(expect(r, 200).await["stock"], 30);
    let r = patch(
        &app,
        &product[7..],
        &m.owner_token,
        json!({"restock": 5, "stock": 1}),
    )
    .await;
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "restock", "{p}");
    let r = patch(&app, &product[7..], &m.owner_token, json!({"restock": 0})).await;
    assert_problem(r, 400).await;
    assert_eq!(get(product.clone()).await["stock"], 30);
    // Without If-Match a change is made as before.
    expect(
        patch(&app, &product[7..], &m.owner_token, json!({"discount": 0})).await,
        200,
    )
    .await;

    // The same for shops, for owners and admins alike.
    let shop = format!("/api/v1/shops/{}", m.shop_id);
    let seen = get(shop.clone()).await;
    let v1 = seen["version"].as_str().unwrap().to_string();
    expect(
        patch(
            &app,
            &shop[7..],
            &m.owner_token,
            json!({"location": "Row 4"}),
        )
        .await,
        200,
    )
    .await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let r = app
        .client()
        .patch(app.url(&shop))
        .bearer_auth(&admin)
        .header("if-match", &v1)
        .json(&json!({"description": ""}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 412).await;
    let now = get(shop.clone()).await;
    assert_eq!(now["location"], "Row 4");
    assert_eq!(now["description"], seen["description"]);
    let r = send_if(shop, "x".repeat(41), json!({"location": "Row 5"})).await;
    assert_problem(r, 400).await;
}

#[tokio::test]
async fn the_favourites_feed_shows_current_announcements_of_favourite_shops_newest_first() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("vendor@uni.edu").await;
    let other = app.bearer("other@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let fav = verified_shop(&app, &admin, &owner, "Chai Point").await;
    let not_fav = verified_shop(&app, &admin, &other, "Other").await;
    let announce = |shop: String, token: String, title: &'static str| {
        let app = &app;
        async move {
            let body = json!({"title": title, "message": "Come by."});
            expect(
                post(app, &format!("/shops/{shop}/announcements"), &token, body).await,
                201,
            )
            .await
        }
    };
    announce(fav.clone(), owner.clone(), "Older").await;
    announce(fav.clone(), owner.clone(), "Newer").await;
    announce(not_fav.clone(), other.clone(), "Not followed").await;

    let feed = expect(get(&app, "/me/announcements", Some(&student)).await, 200).await;
    assert_eq!(feed, json!([]), "no favourites, no feed");
    expect(
        put(&app, &format!("/me/favorites/{fav}"), &student).await,
        204,
    )
    .await;

    // One item of two: a page with a cursor, which the local `expect` refuses.
    let feed = crate::helpers::expect(
        get(&app, "/me/announcements?limit=1", Some(&student)).await,
        200,
    )
    .await;
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{feed}");
    assert_eq!(items[0]["title"], "Newer");
    assert_eq!(items[0]["shop_name"], "Chai Point");
    assert_eq!(items[0]["shop_id"], fav.as_str());
    let cursor = feed["next_cursor"].as_str().expect("a second page");
    let rest = expect(
        get(
            &app,
            &format!("/me/announcements?cursor={cursor}"),
            Some(&student),
        )
        .await,
        200,
    )
    .await;
    let titles: Vec<&str> = rest
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Older"]);
    assert_problem(get(&app, "/me/announcements", None).await, 401).await;
}
