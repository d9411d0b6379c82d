//! Notifications, broadcasts and the live event stream (SSE).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uphill::notify::{Category, Kind, Note};
use uphill::store::StoreError;

use crate::fixtures::{ShopOpts, add_staff, market, user_id};
use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn push_notes(app: &TestApp, user: &str, n: usize) {
    let user = user.to_string();
    app.state
        .store
        .write(move |txn| {
            for i in 0..n {
                uphill::notify::push(
                    txn,
                    &user,
                    Note {
                        title: "Hello",
                        message: format!("note {i}"),
                        kind: Kind::Info,
                        category: Category::General,
                        action: None,
                    },
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app
        .client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn notifications_page_newest_first_with_an_unread_count_and_mark_read() {
    let app = spawn_app().await;
    let alice = app.bearer("alice@uni.edu").await;
    let bob = app.bearer("bob@uni.edu").await;
    push_notes(&app, &user_id(&app, &alice).await, 5).await;
    push_notes(&app, &user_id(&app, &bob).await, 1).await;

    let p = get(&app, &alice, "/api/v1/notifications?limit=3").await;
    assert_eq!(p["unread_count"], 5);
    let items = p["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["message"], "note 4", "newest first");
    let cursor = p["next_cursor"].as_str().unwrap();
    let p2 = get(
        &app,
        &alice,
        &format!("/api/v1/notifications?limit=3&cursor={cursor}"),
    )
    .await;
    let older: Vec<&str> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["note 1", "note 0"]);
    assert!(p2["next_cursor"].is_null());

    // Read one: the count drops once, however often it is repeated.
    let id = items[0]["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = post(
            &app,
            &alice,
            &format!("/api/v1/notifications/{id}/read"),
            json!({}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["read"], true);
    }
    let p = get(&app, &alice, "/api/v1/notifications?unread=true").await;
    assert_eq!(p["unread_count"], 4);
    assert_eq!(p["items"].as_array().unwrap().len(), 4);

    // Someone else's notification is invisible to Alice.
    let bobs = get(&app, &bob, "/api/v1/notifications").await;
    let bob_id = bobs["items"][0]["id"].as_str().unwrap();
    assert_problem(
        post(
            &app,
            &alice,
            &format!("/api/v1/notifications/{bob_id}/read"),
            json!({}),
        )
        .await,
        404,
    )
    .await;

    let r = post(&app, &alice, "/api/v1/notifications/read-all", json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["marked"], 4);
    let p = get(&app, &alice, "/api/v1/notifications").await;
    assert_eq!(p["unread_count"], 0);
    assert!(
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true)
    );
    assert_eq!(
        get(&app, &bob, "/api/v1/notifications").await["unread_count"],
        1
    );
}

#[tokio::test]
async fn notifications_need_a_signed_in_caller() {
    let app = spawn_app().await;
    let r = app
        .client()
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    let r = app
        .client()
        .post(app.url("/api/v1/notifications/read-all"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

fn titles(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn broadcasts_reach_their_audience_with_a_read_flag_each() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let student = app.bearer("student@uni.edu").await;

    for (title, audience) in [
        ("to all", "ALL"),
        ("to vendors", "VENDORS"),
        ("to runners", "RUNNERS"),
        ("to admins", "ADMINS"),
        ("to students", "STUDENTS"),
    ] {
        let r = post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": title, "message": "hello", "audience": audience}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{title}");
    }
    assert_eq!(
        titles(&get(&app, &student, "/api/v1/broadcasts").await),
        ["to students", "to all"]
    );
    assert_eq!(
        titles(&get(&app, &m.owner_token, "/api/v1/broadcasts").await),
        ["to students", "to vendors", "to all"]
    );
    assert_eq!(
        titles(&get(&app, &runner, "/api/v1/broadcasts").await),
        ["to students", "to runners", "to all"]
    );
    assert_eq!(
        titles(&get(&app, &admin, "/api/v1/broadcasts").await),
        ["to students", "to admins", "to all"]
    );

    // Read flags are per user.
    let list = get(&app, &student, "/api/v1/broadcasts").await;
    let all_id = list[1]["id"].as_str().unwrap();
    let r = post(
        &app,
        &student,
        &format!("/api/v1/broadcasts/{all_id}/read"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = get(&app, &student, "/api/v1/broadcasts").await;
    assert_eq!(
        (list[0]["read"].clone(), list[1]["read"].clone()),
        (json!(false), json!(true))
    );
    let owners = get(&app, &m.owner_token, "/api/v1/broadcasts").await;
    assert!(
        owners
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["read"] == false)
    );

    // A broadcast for another role is not there to read.
    let admins = get(&app, &admin, "/api/v1/broadcasts").await;
    let admin_only = admins[1]["id"].as_str().unwrap();
    assert_problem(
        post(
            &app,
            &student,
            &format!("/api/v1/broadcasts/{admin_only}/read"),
            json!({}),
        )
        .await,
        404,
    )
    .await;

    // The action is audited.
    let audit = get(&app, &admin, "/api/v1/admin/audit").await;
    assert!(audit.to_string().contains("broadcast.create"), "{audit}");
}

#[tokio::test]
async fn only_admins_broadcast_and_the_body_is_checked() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let ok = json!({"title": "t", "message": "m", "audience": "ALL"});
    assert_problem(
        post(&app, &student, "/api/v1/admin/broadcasts", ok).await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "t", "message": "m", "audience": "EVERYONE"}),
        )
        .await,
        400,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "", "message": "m", "audience": "ALL"}),
        )
        .await,
        422,
    )
    .await;
    assert_problem(
        post(
            &app,
            &admin,
            "/api/v1/admin/broadcasts",
            json!({"title": "x".repeat(101), "message": "m", "audience": "ALL"}),
        )
        .await,
        400,
    )
    .await;
    let r = app
        .client()
        .get(app.url("/api/v1/broadcasts"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}
