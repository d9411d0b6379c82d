//! Admins moderating a shop's content (issue 22): removing reviews,
//! deleting a shop with a reason, finding shops and users by text and role.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{Market, ShopOpts, add_staff, market, order, product, student, user_id};
use crate::helpers::{TestApp, assert_problem, expect, get_ok, page_items, post, send, spawn_app};

/// A market whose student reviewed tea (4 stars) on a delivered order:
/// (market, admin token, student token, order id, review id).
async fn reviewed_market(app: &TestApp) -> (Market, String, String, String, String) {
    let m = market(app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(app, "s1@uni.edu", &m).await;
    let o = order(app, &m, &s1, &a1, "k1").await;
    let oid = o["id"].as_str().unwrap().to_string();
    let admin = app.admin_bearer("admin@uni.edu").await;
    let r = post(
        app,
        &admin,
        &format!("/api/v1/admin/orders/{oid}/status"),
        json!({"status": "COMPLETED", "reason": "delivered by hand"}),
    )
    .await;
    expect(r, 200).await;
    let r = post(
        app,
        &s1,
        &format!("/api/v1/orders/{oid}/reviews"),
        json!({"product_id": m.products[0], "rating": 4, "comment": "rude words here"}),
    )
    .await;
    let review = expect(r, 201).await["id"].as_str().unwrap().to_string();
    (m, admin, s1, oid, review)
}

async fn shop_reviews(app: &TestApp, admin: &str, shop: &str) -> Vec<Value> {
    page_items(get_ok(app, admin, &format!("/api/v1/admin/shops/{shop}/reviews")).await)
}

async fn audit_of(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    page_items(get_ok(app, admin, &format!("/api/v1/admin/audit?action={action}")).await)
}

async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    get_ok(app, token, "/api/v1/notifications?limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_admin_removes_a_review_with_a_reason_and_the_rating_follows() {
    let app = spawn_app().await;
    let (m, admin, s1, oid, review) = reviewed_market(&app).await;
    let tea = m.products[0].clone();

    let listed = shop_reviews(&app, &admin, &m.shop_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], review.as_str());
    assert_eq!(listed[0]["product_name"], "Masala Tea");
    assert_eq!(
        listed[0]["author_name"].as_str().map(str::is_empty),
        Some(false)
    );
    assert_eq!(listed[0]["rating"], 4);
    let before = product(&app, &tea).await;
    assert_eq!((before.rating_sum, before.review_count), (4, 1));
    let notes_before = notifications(&app, &s1).await.len();

    // Refusals: not an admin, no reason, a blank reason, a wrong type, an
    // unknown id. Each is a problem, and nothing changes.
    let path = format!("/admin/reviews/{review}");
    let body = Some(json!({"reason": "abusive"}));
    for who in [&s1, &m.owner_token] {
        let r = send(&app, Method::DELETE, &path, Some(who), body.clone()).await;
        assert_problem(r, 403).await;
    }
    let r = send(&app, Method::DELETE, &path, None, body.clone()).await;
    assert_problem(r, 401).await;
    let r = send(&app, Method::DELETE, &path, Some(&admin), None).await;
    let p = assert_problem(r, 422).await;
    assert!(p.to_string().contains("reason"), "{p}");
    let r = send(
        &app,
        Method::DELETE,
        &path,
        Some(&admin),
        Some(json!({"reason": "  "})),
    )
    .await;
    assert_problem(r, 422).await;
    let r = send(
        &app,
        Method::DELETE,
        &path,
        Some(&admin),
        Some(json!({"reason": 5})),
    )
    .await;
    assert_problem(r, 400).await;
    let r = send(
        &app,
        Method::DELETE,
        &path,
        Some(&admin),
        Some(json!({"reason": "x".repeat(501)})),
    )
    .await;
    assert_problem(r, 400).await;
    let r = send(
        &app,
        Method::DELETE,
        "/admin/reviews/NOSUCH",
        Some(&admin),
        body.clone(),
    )
    .await;
    assert_problem(r, 404).await;
    let after = product(&app, &tea).await;
    assert_eq!((after.rating_sum, after.review_count), (4, 1));
    assert_eq!(shop_reviews(&app, &admin, &m.shop_id).await.len(), 1);
    assert!(audit_of(&app, &admin, "review.remove").await.is_empty());
    assert_eq!(notifications(&app, &s1).await.len(), notes_before);

    // The removal.
    let r = send(&app, Method::DELETE, &path, Some(&admin), body.clone()).await;
    expect(r, 204).await;
    let after = product(&app, &tea).await;
    assert_eq!((after.rating_sum, after.review_count), (0, 0));
    assert!(shop_reviews(&app, &admin, &m.shop_id).await.is_empty());
    let public = get_ok(&app, &s1, &format!("/api/v1/products/{tea}/reviews")).await;
    assert_eq!(public["items"], json!([]), "{public}");
    let entries = audit_of(&app, &admin, "review.remove").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["target"], review.as_str());
    assert!(entries[0]["details"].as_str().unwrap().contains("abusive"));
    let notes = notifications(&app, &s1).await;
    let told = notes
        .iter()
        .find(|n| n["title"] == "Your review was removed")
        .unwrap_or_else(|| panic!("the author is told: {notes:?}"));
    assert!(
        told["message"].as_str().unwrap().contains("abusive"),
        "{told}"
    );

    // Gone for good: removed twice is 404, and the item is not reviewed again.
    let r = send(&app, Method::DELETE, &path, Some(&admin), body).await;
    assert_problem(r, 404).await;
    let r = post(
        &app,
        &s1,
        &format!("/api/v1/orders/{oid}/reviews"),
        json!({"product_id": tea, "rating": 5, "comment": "again"}),
    )
    .await;
    let p = assert_problem(r, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains("an admin removed"),
        "{p}"
    );
    assert_eq!(product(&app, &tea).await.review_count, 0);
}

#[tokio::test]
async fn only_admins_list_a_shops_reviews_and_unknown_shops_are_404() {
    let app = spawn_app().await;
    let (m, admin, s1, _, _) = reviewed_market(&app).await;
    let path = format!("/admin/shops/{}/reviews", m.shop_id);
    for who in [&s1, &m.owner_token] {
        let r = send(&app, Method::GET, &path, Some(who), None).await;
        assert_problem(r, 403).await;
    }
    let r = send(&app, Method::GET, &path, None, None).await;
    assert_problem(r, 401).await;
    let r = send(
        &app,
        Method::GET,
        "/admin/shops/NOSUCH/reviews",
        Some(&admin),
        None,
    )
    .await;
    assert_problem(r, 404).await;
    // A query parameter that does not parse is 422 (DECISIONS "errors").
    let r = send(
        &app,
        Method::GET,
        &format!("{path}?limit=x"),
        Some(&admin),
        None,
    )
    .await;
    assert_problem(r, 422).await;
    // A shop students cannot see is still moderated.
    let r = send(
        &app,
        Method::PATCH,
        &format!("/shops/{}", m.shop_id),
        Some(&admin),
        Some(json!({"active": false})),
    )
    .await;
    expect(r, 200).await;
    assert_eq!(shop_reviews(&app, &admin, &m.shop_id).await.len(), 1);
}

#[tokio::test]
async fn an_admin_deletes_a_shop_with_a_reason_the_owner_reads() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let path = format!("/shops/{}", m.shop_id);
    let r = send(
        &app,
        Method::DELETE,
        &path,
        Some(&admin),
        Some(json!({"reason": 1})),
    )
    .await;
    assert_problem(r, 400).await;
    get_ok(&app, &admin, &format!("/api/v1{path}")).await;
    let body = Some(json!({"reason": "sold fake tickets"}));
    let r = send(&app, Method::DELETE, &path, Some(&admin), body).await;
    expect(r, 204).await;
    let entries = audit_of(&app, &admin, "shop.delete").await;
    assert!(
        entries[0]["details"]
            .as_str()
            .unwrap()
            .contains("sold fake tickets"),
        "{entries:?}"
    );
    let notes = notifications(&app, &m.owner_token).await;
    assert!(
        notes.iter().any(|n| n["title"] == "Your shop was removed"
            && n["message"].as_str().unwrap().contains("sold fake tickets")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn admins_find_shops_by_text_and_without_a_verification_filter() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let all = page_items(get_ok(&app, &admin, "/api/v1/admin/shops").await);
    assert_eq!(all.len(), 1, "{all:?}");
    let name = all[0]["name"].as_str().unwrap().to_string();
    for q in [name.to_uppercase(), "OWNER@UNI".to_string()] {
        let hit = page_items(get_ok(&app, &admin, &format!("/api/v1/admin/shops?q={q}")).await);
        assert_eq!(hit.len(), 1, "{q}: {hit:?}");
        assert_eq!(hit[0]["id"], m.shop_id.as_str());
    }
    let none = page_items(get_ok(&app, &admin, "/api/v1/admin/shops?q=zzz-no-such").await);
    assert!(none.is_empty());
    let pending =
        page_items(get_ok(&app, &admin, "/api/v1/admin/shops?verification=PENDING").await);
    assert!(pending.is_empty());
    let r = send(
        &app,
        Method::GET,
        &format!("/admin/shops?q={}", "x".repeat(101)),
        Some(&admin),
        None,
    )
    .await;
    assert_problem(r, 422).await;
}

#[tokio::test]
async fn admins_filter_users_by_role() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let (s1, _) = student(&app, "s1@uni.edu", &m).await;
    let runner = app.bearer("runner@uni.edu").await;
    let runner_id = user_id(&app, &runner).await;
    add_staff(&app, &m.shop_id, &runner_id).await;
    let emails = |role: &str| {
        let (app, admin) = (&app, &admin);
        let role = role.to_string();
        async move {
            let mut e: Vec<String> = page_items(
                get_ok(
                    app,
                    admin,
                    &format!("/api/v1/admin/users?role={role}&limit=100"),
                )
                .await,
            )
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect();
            e.sort();
            e
        }
    };
    assert_eq!(emails("STUDENT").await, ["s1@uni.edu"]);
    assert_eq!(emails("VENDOR").await, ["owner@uni.edu"]);
    assert_eq!(emails("RUNNER").await, ["runner@uni.edu"]);
    assert_eq!(emails("ADMIN").await, ["admin@uni.edu"]);
    // Combined with the other filters.
    let r = get_ok(&app, &admin, "/api/v1/admin/users?role=STUDENT&q=owner").await;
    assert_eq!(r["items"], json!([]));
    let r = send(
        &app,
        Method::GET,
        "/admin/users?role=OWNER",
        Some(&admin),
        None,
    )
    .await;
    assert_problem(r, 422).await;
    let r = send(
        &app,
        Method::GET,
        "/admin/users?role=ADMIN",
        Some(&s1),
        None,
    )
    .await;
    assert_problem(r, 403).await;
}
