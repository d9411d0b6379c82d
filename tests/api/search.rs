//! Search through the real server: freshness, typos and prefixes, filters,
//! who sees what, rebuilds after the index is deleted or damaged, and bad
//! input.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{self, Market, ShopOpts, market};
use crate::helpers::{TestApp, assert_problem, expect, send, spawn_app, start};

// --- helpers ---

/// `GET /search` with raw query pairs (reqwest encodes them).
async fn search_raw(app: &TestApp, token: Option<&str>, params: &[(&str, &str)]) -> Response {
    let mut r = app.client().get(app.url("/api/v1/search")).query(params);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// The names (or display ids) of a successful search's hits, in order.
async fn names(app: &TestApp, token: Option<&str>, params: &[(&str, &str)]) -> Vec<String> {
    let body = expect(search_raw(app, token, params).await, 200).await;
    let kind = params
        .iter()
        .find(|(k, _)| *k == "kind")
        .map(|(_, v)| *v)
        .unwrap_or("products");
    let key = if kind == "orders" {
        "display_id"
    } else {
        "name"
    };
    body[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[key].as_str().unwrap().to_string())
        .collect()
}

/// Polls until `check` holds for the search's names, failing after
/// `within` (the freshness bound the spec sets is 1 s).
async fn eventually(
    app: &TestApp,
    token: Option<&str>,
    params: &[(&str, &str)],
    within: Duration,
    what: &str,
    check: impl Fn(&[String]) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = names(app, token, params).await;
        if check(&got) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: not within {within:?}; last result {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const ONE_SECOND: Duration = Duration::from_secs(1);

fn shop_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Rolls, chai and snacks by the steps.",
        "location": "Market row 3",
        "shop_type": "CANTEEN",
        "opens_at": 480,
        "closes_at": 1320,
        "upi_id": "rolls@okaxis"
    })
}

/// A shop made and verified through the API; returns its id.
async fn api_shop(app: &TestApp, admin: &str, owner: &str, name: &str, verify: bool) -> String {
    let s = expect(
        send(
            app,
            Method::POST,
            "/shops",
            Some(owner),
            Some(shop_body(name)),
        )
        .await,
        201,
    )
    .await;
    let id = s["id"].as_str().unwrap().to_string();
    if verify {
        crate::fixtures::submit_for_verification(app, owner, &id).await;
        expect(
            send(
                app,
                Method::POST,
                &format!("/admin/shops/{id}/decision"),
                Some(admin),
                Some(json!({"verification": "VERIFIED"})),
            )
            .await,
            200,
        )
        .await;
    }
    id
}

async fn api_product(app: &TestApp, owner: &str, shop: &str, body: Value) -> String {
    let p = expect(
        send(
            app,
            Method::POST,
            &format!("/shops/{shop}/products"),
            Some(owner),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    p["id"].as_str().unwrap().to_string()
}

async fn category(app: &TestApp, admin: &str, name: &str) -> String {
    let c = expect(
        send(
            app,
            Method::POST,
            "/admin/categories",
            Some(admin),
            Some(json!({"name": name})),
        )
        .await,
        201,
    )
    .await;
    c["id"].as_str().unwrap().to_string()
}

/// A student with an address in the market's building places one order;
/// returns (student token, order display id).
async fn order(app: &TestApp, m: &Market, email: &str, name: &str) -> (String, String) {
    let b = app.browser();
    let r = b
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "name": name, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let csrf = app.confirm_email(&b, email).await["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let t = app.new_token(&b, &csrf, "t").await;
    let a = expect(
        send(
            app,
            Method::POST,
            "/me/addresses",
            Some(&t),
            Some(json!({"label": "Room", "building_id": m.building_id, "room": "B-214"})),
        )
        .await,
        201,
    )
    .await;
    let o = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&t)
        .header("idempotency-key", ulid::Ulid::new().to_string())
        .json(&json!({
            "shop_id": m.shop_id,
            "items": [{"product_id": m.products[1], "quantity": 1}],
            "address_id": a["id"],
            "payment_method": "CASH"
        }))
        .send()
        .await
        .unwrap();
    let o = expect(o, 201).await;
    (t, o["display_id"].as_str().unwrap().to_string())
}

fn orders(q: &str) -> Vec<(&'static str, String)> {
    vec![("q", q.to_string()), ("kind", "orders".to_string())]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

// --- freshness ---

#[tokio::test]
async fn api_writes_are_searchable_within_a_second() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("owner@uni.edu").await;
    let shop = api_shop(&app, &admin, &owner, "Hilltop Rolls", true).await;

    let id = api_product(
        &app,
        &owner,
        &shop,
        json!({"name": "Paneer Roll", "price": 6000, "stock": 5, "veg": true}),
    )
    .await;
    let took = eventually(&app, None, &[("q", "paneer")], ONE_SECOND, "create", |n| {
        n == ["Paneer Roll"]
    })
    .await;
    eprintln!("created product searchable after {took:?}");

    expect(
        send(
            &app,
            Method::PATCH,
            &format!("/products/{id}"),
            Some(&owner),
            Some(json!({"name": "Cheese Roll"})),
        )
        .await,
        200,
    )
    .await;
    eventually(&app, None, &[("q", "cheese")], ONE_SECOND, "rename", |n| {
        n == ["Cheese Roll"]
    })
    .await;
    assert!(names(&app, None, &[("q", "paneer")]).await.is_empty());

    expect(
        send(
            &app,
            Method::DELETE,
            &format!("/products/{id}"),
            Some(&owner),
            None,
        )
        .await,
        204,
    )
    .await;
    eventually(&app, None, &[("q", "cheese")], ONE_SECOND, "delete", |n| {
        n.is_empty()
    })
    .await;
}

// --- matching ---

#[tokio::test]
async fn typos_prefixes_and_filters() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("owner@uni.edu").await;
    let other_owner = app.bearer("other@uni.edu").await;
    let shop = api_shop(&app, &admin, &owner, "Hilltop Kitchen", true).await;
    let other = api_shop(&app, &admin, &other_owner, "Stationery Corner", true).await;
    let snacks = category(&app, &admin, "Snacks").await;
    let drinks = category(&app, &admin, "Drinks").await;
    api_product(
        &app,
        &owner,
        &shop,
        json!({"name": "Paneer Roll", "price": 6000, "stock": 5, "veg": true, "category_id": snacks}),
    )
    .await;
    api_product(
        &app,
        &owner,
        &shop,
        json!({"name": "Chicken Roll", "price": 8000, "stock": 0, "veg": false, "category_id": snacks}),
    )
    .await;
    api_product(
        &app,
        &owner,
        &shop,
        json!({"name": "Masala Chai", "price": 1500, "stock": 40, "veg": true, "category_id": drinks, "description": "Ginger and cardamom"}),
    )
    .await;
    api_product(
        &app,
        &other_owner,
        &other,
        json!({"name": "Paper Roll", "price": 2000, "stock": 9, "veg": true}),
    )
    .await;
    eventually(
        &app,
        None,
        &[("q", "paper roll")],
        ONE_SECOND,
        "indexing",
        |n| !n.is_empty(),
    )
    .await;

    // Typos: "panner" is one edit from "paneer"; the last word is a prefix.
    assert_eq!(
        names(&app, None, &[("q", "panner r")]).await,
        ["Paneer Roll"]
    );
    assert_eq!(names(&app, None, &[("q", "chay")]).await, ["Masala Chai"]);
    assert_eq!(names(&app, None, &[("q", "chai")]).await, ["Masala Chai"]);
    assert_eq!(names(&app, None, &[("q", "CHAI")]).await, ["Masala Chai"]);
    // Prefix while typing, but not once the word is finished.
    assert_eq!(names(&app, None, &[("q", "masa")]).await, ["Masala Chai"]);
    assert!(names(&app, None, &[("q", "masa ")]).await.is_empty());
    // Description, category and shop names are searched too.
    assert_eq!(
        names(&app, None, &[("q", "cardamom")]).await,
        ["Masala Chai"]
    );
    assert_eq!(names(&app, None, &[("q", "drinks")]).await, ["Masala Chai"]);
    let mut hilltop = names(&app, None, &[("q", "hilltop")]).await;
    hilltop.sort();
    assert_eq!(hilltop, ["Chicken Roll", "Masala Chai", "Paneer Roll"]);
    // Every word must match somewhere.
    assert!(names(&app, None, &[("q", "chai roll")]).await.is_empty());
    // The exact word ranks above a typo match ("paper" is one edit from "paneer").
    let ranked = names(&app, None, &[("q", "paneer")]).await;
    assert_eq!(
        ranked.first().map(String::as_str),
        Some("Paneer Roll"),
        "{ranked:?}"
    );

    // Filters.
    let mut rolls = names(&app, None, &[("q", "roll")]).await;
    rolls.sort();
    assert_eq!(rolls, ["Chicken Roll", "Paneer Roll", "Paper Roll"]);
    let mut veg = names(&app, None, &[("q", "roll"), ("veg", "true")]).await;
    veg.sort();
    assert_eq!(veg, ["Paneer Roll", "Paper Roll"]);
    assert_eq!(
        names(&app, None, &[("q", "roll"), ("veg", "false")]).await,
        ["Chicken Roll"]
    );
    assert_eq!(
        names(&app, None, &[("q", "roll"), ("in_stock", "false")]).await,
        ["Chicken Roll"]
    );
    assert_eq!(
        names(&app, None, &[("q", "roll"), ("shop_id", &other)]).await,
        ["Paper Roll"]
    );
    let mut in_cat = names(&app, None, &[("q", "roll"), ("category_id", &snacks)]).await;
    in_cat.sort();
    assert_eq!(in_cat, ["Chicken Roll", "Paneer Roll"]);
    assert!(
        names(&app, None, &[("q", "roll"), ("category_id", &drinks)])
            .await
            .is_empty()
    );

    // Hits carry what a result list shows.
    let body = expect(search_raw(&app, None, &[("q", "panner r")]).await, 200).await;
    let hit = &body["products"][0];
    assert_eq!(hit["shop_name"], "Hilltop Kitchen");
    assert_eq!(hit["category_name"], "Snacks");
    assert_eq!(hit["unit_price"], 6000);
    assert_eq!(hit["in_stock"], true);
    assert!(body["next_offset"].is_null());

    // Paging: one per page.
    let body = expect(
        search_raw(&app, None, &[("q", "roll"), ("limit", "1")]).await,
        200,
    )
    .await;
    assert_eq!(body["products"].as_array().unwrap().len(), 1);
    assert_eq!(body["next_offset"], 1);
    let last = expect(
        search_raw(
            &app,
            None,
            &[("q", "roll"), ("limit", "1"), ("offset", "2")],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(last["products"].as_array().unwrap().len(), 1);
    assert!(last["next_offset"].is_null());

    // Shops: by name prefix, type and location.
    assert_eq!(
        names(&app, None, &[("q", "hillt"), ("kind", "shops")]).await,
        ["Hilltop Kitchen"]
    );
    let mut canteens = names(&app, None, &[("q", "market row"), ("kind", "shops")]).await;
    canteens.sort();
    assert_eq!(canteens, ["Hilltop Kitchen", "Stationery Corner"]);

    // A category rename reaches the products that carry it.
    expect(
        send(
            &app,
            Method::PATCH,
            &format!("/admin/categories/{drinks}"),
            Some(&admin),
            Some(json!({"name": "Beverages"})),
        )
        .await,
        200,
    )
    .await;
    eventually(
        &app,
        None,
        &[("q", "beverages")],
        ONE_SECOND,
        "category rename",
        |n| n == ["Masala Chai"],
    )
    .await;
}

// --- visibility ---

#[tokio::test]
async fn only_what_the_caller_may_see() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("owner@uni.edu").await;
    let hidden_owner = app.bearer("hidden@uni.edu").await;
    let shop = api_shop(&app, &admin, &owner, "Hilltop Rolls", true).await;
    let hidden = api_shop(&app, &admin, &hidden_owner, "Secret Kitchen", false).await;
    api_product(
        &app,
        &hidden_owner,
        &hidden,
        json!({"name": "Samosa Secret", "price": 1000, "stock": 3}),
    )
    .await;
    api_product(
        &app,
        &owner,
        &shop,
        json!({"name": "Samosa Plain", "price": 1000, "stock": 3}),
    )
    .await;
    // The later write is visible, so the earlier one was indexed too.
    eventually(
        &app,
        None,
        &[("q", "samosa")],
        ONE_SECOND,
        "indexing",
        |n| n.contains(&"Samosa Plain".to_string()),
    )
    .await;
    for token in [
        None,
        Some(owner.as_str()),
        Some(admin.as_str()),
        Some(hidden_owner.as_str()),
    ] {
        assert_eq!(
            names(&app, token, &[("q", "samosa")]).await,
            ["Samosa Plain"]
        );
        assert!(
            names(&app, token, &[("q", "secret"), ("kind", "shops")])
                .await
                .is_empty()
        );
    }
    // Verifying the shop makes its products appear; suspending it hides them.
    crate::fixtures::submit_for_verification(&app, &hidden_owner, &hidden).await;
    expect(
        send(
            &app,
            Method::POST,
            &format!("/admin/shops/{hidden}/decision"),
            Some(&admin),
            Some(json!({"verification": "VERIFIED"})),
        )
        .await,
        200,
    )
    .await;
    eventually(
        &app,
        None,
        &[("q", "samosa secret")],
        ONE_SECOND,
        "verified",
        |n| n == ["Samosa Secret"],
    )
    .await;
    expect(
        send(
            &app,
            Method::PATCH,
            &format!("/shops/{hidden}"),
            Some(&hidden_owner),
            Some(json!({"active": false})),
        )
        .await,
        200,
    )
    .await;
    eventually(
        &app,
        None,
        &[("q", "samosa secret")],
        ONE_SECOND,
        "deactivated",
        |n| n.is_empty(),
    )
    .await;

    // Orders: each vendor sees their own shop's, admins all; students none.
    let a = market(&app, "vendor-a@uni.edu", ShopOpts::default()).await;
    let b = market(&app, "vendor-b@uni.edu", ShopOpts::default()).await;
    let (student, order_a) = order(&app, &a, "asha@uni.edu", "Asha Rao").await;
    let (_, order_b) = order(&app, &b, "ravi@uni.edu", "Ravi Kumar").await;
    let q_b = orders(&order_b);
    eventually(
        &app,
        Some(&admin),
        &pairs(&q_b),
        ONE_SECOND,
        "orders",
        |n| n == [order_b.clone()],
    )
    .await;
    // Vendor A finds their order by display id and by a misspelt student name.
    assert_eq!(
        names(&app, Some(&a.owner_token), &pairs(&orders(&order_a))).await,
        [order_a.as_str()]
    );
    assert_eq!(
        names(&app, Some(&a.owner_token), &pairs(&orders("asha rau"))).await,
        [order_a.as_str()]
    );
    // ... but never B's, by id or by name.
    assert!(
        names(&app, Some(&a.owner_token), &pairs(&q_b))
            .await
            .is_empty()
    );
    assert!(
        names(&app, Some(&a.owner_token), &pairs(&orders("ravi")))
            .await
            .is_empty()
    );
    let r = search_raw(
        &app,
        Some(&a.owner_token),
        &[("q", "ravi"), ("kind", "orders"), ("shop_id", &b.shop_id)],
    )
    .await;
    assert_problem(r, 403).await;
    // A runner of B finds B's order.
    let runner = app.bearer("runner@uni.edu").await;
    let runner_id = fixtures::user_id(&app, &runner).await;
    fixtures::add_staff(&app, &b.shop_id, &runner_id).await;
    assert_eq!(
        names(&app, Some(&runner), &pairs(&orders("ravi"))).await,
        [order_b.as_str()]
    );
    // Admins search every order, and filter by status.
    assert_eq!(
        names(&app, Some(&admin), &pairs(&orders("asha"))).await,
        [order_a.as_str()]
    );
    let new_q = orders("up");
    let mut new_ones = pairs(&new_q);
    new_ones.push(("order_status", "CANCELLED"));
    assert!(names(&app, Some(&admin), &new_ones).await.is_empty());
    // Students and visitors may not search orders or users.
    assert_problem(
        search_raw(&app, Some(&student), &[("q", "asha"), ("kind", "orders")]).await,
        403,
    )
    .await;
    assert_problem(
        search_raw(&app, Some(&student), &[("q", "asha"), ("kind", "users")]).await,
        403,
    )
    .await;
    assert_problem(
        search_raw(
            &app,
            Some(&a.owner_token),
            &[("q", "asha"), ("kind", "users")],
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        search_raw(&app, None, &[("q", "asha"), ("kind", "users")]).await,
        401,
    )
    .await;
    assert_problem(
        search_raw(&app, None, &[("q", "asha"), ("kind", "orders")]).await,
        401,
    )
    .await;
    // Admins find users by name (with a typo) or email.
    let body = expect(
        search_raw(&app, Some(&admin), &[("q", "ashaa"), ("kind", "users")]).await,
        200,
    )
    .await;
    assert_eq!(body["users"][0]["email"], "asha@uni.edu", "{body}");
    assert_eq!(body["users"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        names(&app, Some(&admin), &[("q", "ravi@uni"), ("kind", "users")]).await,
        ["Ravi Kumar"]
    );
}

// --- rebuilds ---

async fn seeded_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let owner = app.bearer("owner@uni.edu").await;
    let shop = api_shop(&app, &admin, &owner, "Hilltop Rolls", true).await;
    for name in ["Paneer Roll", "Masala Chai", "Veg Momos"] {
        api_product(
            &app,
            &owner,
            &shop,
            json!({"name": name, "price": 5000, "stock": 5}),
        )
        .await;
    }
    eventually(&app, None, &[("q", "momos")], ONE_SECOND, "indexing", |n| {
        n == ["Veg Momos"]
    })
    .await;
    (app, admin)
}

async fn restart(app: TestApp) -> TestApp {
    let config = app.state.config.as_ref().clone();
    let dir = app.stop().await;
    start(config, dir).await
}

async fn ready(app: &TestApp) -> Value {
    let r = app.client().get(app.url("/readyz")).send().await.unwrap();
    r.json().await.unwrap()
}

fn index_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let dir = app.state.config.storage.data_dir.join("search/index");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect()
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_from_the_store() {
    let (app, _) = seeded_app().await;
    let data = app.state.config.storage.data_dir.clone();
    let config = app.state.config.as_ref().clone();
    let dir = app.stop().await;
    std::fs::remove_dir_all(data.join("search")).unwrap();
    let app = start(config, dir).await;
    assert_eq!(ready(&app).await["search"]["ok"], true);
    assert_eq!(
        names(&app, None, &[("q", "panner r")]).await,
        ["Paneer Roll"]
    );
    assert_eq!(names(&app, None, &[("q", "chai")]).await, ["Masala Chai"]);
    // And it keeps following writes after the rebuild.
    let restarted = restart(app).await;
    assert_eq!(
        names(&restarted, None, &[("q", "momo")]).await,
        ["Veg Momos"]
    );
}

#[tokio::test]
async fn a_damaged_index_is_rebuilt_from_the_store() {
    let (app, _) = seeded_app().await;
    let app = restart(app).await;
    let files = index_files(&app);
    assert!(files.iter().any(|p| p.ends_with("meta.json")));
    let config = app.state.config.as_ref().clone();

    // Segment files garbled, meta.json intact: found by the checksums.
    let dir = app.stop().await;
    let mut garbled = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name == "meta.json" || name.starts_with(".tantivy") {
            continue;
        }
        let len = std::fs::metadata(f).unwrap().len() as usize;
        std::fs::write(f, vec![0xA5u8; len.max(1)]).unwrap();
        garbled += 1;
    }
    assert!(garbled > 0, "no segment files in {files:?}");
    let app = start(config.clone(), dir).await;
    eventually(
        &app,
        None,
        &[("q", "panner r")],
        Duration::from_secs(10),
        "after garbled segments",
        |n| n == ["Paneer Roll"],
    )
    .await;
    assert_eq!(ready(&app).await["search"]["ok"], true);

    // Every file, meta.json included, overwritten with garbage.
    let files = index_files(&app);
    let dir = app.stop().await;
    for f in &files {
        std::fs::write(f, b"\x00garbage{{{not an index").unwrap();
    }
    let app = start(config, dir).await;
    eventually(
        &app,
        None,
        &[("q", "masala")],
        Duration::from_secs(10),
        "after garbage",
        |n| n == ["Masala Chai"],
    )
    .await;
    assert_eq!(ready(&app).await["search"]["ok"], true);
}

#[tokio::test]
async fn admins_rebuild_a_running_index_and_others_may_not() {
    let (app, admin) = seeded_app().await;
    let student = app.bearer("asha@uni.edu").await;
    assert_problem(
        send(
            &app,
            Method::POST,
            "/admin/search/reindex",
            Some(&student),
            None,
        )
        .await,
        403,
    )
    .await;
    let r = expect(
        send(
            &app,
            Method::POST,
            "/admin/search/reindex",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["products"], 3);
    assert_eq!(r["shops"], 1);
    assert_eq!(
        names(&app, None, &[("q", "panner r")]).await,
        ["Paneer Roll"]
    );
}

// --- bad input ---

#[tokio::test]
async fn bad_queries_are_problems_never_server_errors() {
    let (app, admin) = seeded_app().await;
    let long = "a".repeat(10_000);
    let just_over = "b".repeat(201);
    for (params, status) in [
        (vec![("q", long.as_str())], 422),
        (vec![("q", just_over.as_str())], 422),
        (vec![("q", "")], 422),
        (vec![], 422),
        (vec![("q", "   ")], 422),
        (vec![("q", r#"" : ( * ) ~ ^"#)], 422),
        (vec![("q", "*")], 422),
        (vec![("q", r#"\"#)], 422),
        (vec![("q", "chai"), ("limit", "0")], 422),
        (vec![("q", "chai"), ("limit", "51")], 422),
        (vec![("q", "chai"), ("limit", "ten")], 422),
        (vec![("q", "chai"), ("offset", "-1")], 422),
        (vec![("q", "chai"), ("offset", "1001")], 422),
        (vec![("q", "chai"), ("kind", "everything")], 422),
        (vec![("q", "chai"), ("veg", "maybe")], 422),
        (vec![("q", "chai"), ("in_stock", "2")], 422),
        (vec![("q", "chai"), ("shop_id", &"x".repeat(27))], 422),
    ] {
        let r = search_raw(&app, Some(&admin), &params).await;
        let body = assert_problem(r, status).await;
        assert!(body["status"].as_u64().unwrap() < 500, "{params:?}: {body}");
        // A parameter that does not parse is named, like a body's field.
        let named = params.last().map_or("q", |(k, _)| *k);
        assert_eq!(body["errors"][0]["field"], named, "{params:?}: {body}");
    }
    // Query syntax mixed with words is plain text, never parsed.
    for q in [
        r#""paneer" roll"#,
        "name:paneer",
        "(paneer OR chai)",
        "panee*",
        "paneer~2",
        "paneer^10",
        "paneer)",
        r#"paneer\"#,
    ] {
        let r = search_raw(&app, None, &[("q", q)]).await;
        assert_eq!(r.status(), StatusCode::OK, "{q}");
    }
    assert_eq!(
        names(&app, None, &[("q", "name:paneer")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(&app, None, &[("q", r#""paneer" roll"#)]).await,
        ["Paneer Roll"]
    );
    assert_eq!(
        names(&app, None, &[("q", "(paneer)")]).await,
        ["Paneer Roll"]
    );
    // A 200-character query of real words is fine.
    let words = "chai ".repeat(40);
    assert_eq!(words.chars().count(), 200);
    assert_eq!(names(&app, None, &[("q", &words)]).await, ["Masala Chai"]);
}
