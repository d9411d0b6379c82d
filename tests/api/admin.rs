use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, request, spawn_app};

const PW: &str = "correct horse battery";
const UNKNOWN_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

async fn call(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    request(app, method, path, Some(token), body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::GET, token, path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Response {
    call(app, Method::POST, token, path, body).await
}

async fn ok_json(r: Response) -> Value {
    let status = r.status();
    let url = r.url().to_string();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status} for {url}: {body}");
    body
}

async fn me(app: &TestApp, token: &str) -> Value {
    ok_json(get(app, token, "/api/v1/me").await).await
}

async fn user(app: &TestApp, admin: &str, id: &str) -> Value {
    ok_json(get(app, admin, &format!("/api/v1/admin/users/{id}")).await).await
}

async fn act(app: &TestApp, admin: &str, id: &str, action: &str, body: Option<Value>) -> Response {
    post(
        app,
        admin,
        &format!("/api/v1/admin/users/{id}/{action}"),
        body,
    )
    .await
}

async fn audit(app: &TestApp, admin: &str, query: &[(&str, &str)]) -> Value {
    let r = app
        .client()
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(admin)
        .query(query)
        .send()
        .await
        .unwrap();
    ok_json(r).await
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// A user signed in in a browser, with an API token too.
struct Student {
    browser: Client,
    token: String,
    id: String,
}

async fn student(app: &TestApp, email: &str) -> Student {
    let (browser, csrf) = app.signed_in_browser(email).await;
    let token = app.new_token(&browser, &csrf, "script").await;
    let id = me(app, &token).await["id"].as_str().unwrap().to_string();
    Student { browser, token, id }
}

async fn notification_titles(app: &TestApp, user_id: &str) -> Vec<String> {
    let user_id = user_id.to_string();
    app.state
        .store
        .read(move |txn| {
            let index = txn.open_multimap_table(uphill::store::tables::USER_TO_NOTIFICATIONS)?;
            let table = txn.open_table(uphill::store::tables::NOTIFICATIONS)?;
            let mut out = Vec::new();
            for id in index.get(user_id.as_str())? {
                let n: uphill::notify::Notification =
                    uphill::store::codec::get(&table, id?.value())?.unwrap();
                out.push(n.title);
            }
            Ok::<_, uphill::store::StoreError>(out)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_endpoints_refuse_anonymous_and_non_admin_callers() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "sam@uni.edu").await;
    let id = s.id.as_str();
    let b = ok_json(
        post(
            &app,
            &admin,
            "/api/v1/admin/buildings",
            Some(json!({"name": "Hostel A"})),
        )
        .await,
    )
    .await;
    let bid = b["id"].as_str().unwrap();
    let c = ok_json(
        post(
            &app,
            &admin,
            "/api/v1/admin/categories",
            Some(json!({"name": "Snacks"})),
        )
        .await,
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    let name = Some(json!({"name": "Renamed"}));
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/admin/users".into(), None),
        (Method::GET, format!("/api/v1/admin/users/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}/suspend"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}/unsuspend"),
            None,
        ),
        (Method::POST, format!("/api/v1/admin/users/{id}/ban"), None),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}/sign-out"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}/make-admin"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{id}/remove-admin"),
            None,
        ),
        (Method::GET, "/api/v1/admin/settings".into(), None),
        (
            Method::PUT,
            "/api/v1/admin/settings".into(),
            Some(json!({"platform_fee": 500})),
        ),
        (Method::GET, "/api/v1/admin/audit".into(), None),
        (Method::POST, "/api/v1/admin/buildings".into(), name.clone()),
        (
            Method::PATCH,
            format!("/api/v1/admin/buildings/{bid}"),
            name.clone(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/buildings/{bid}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/categories".into(),
            name.clone(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/categories/{cid}"),
            name.clone(),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/categories/{cid}"),
            None,
        ),
    ];
    for (method, path, body) in &cases {
        let mut r = app.client().request(method.clone(), app.url(path));
        if let Some(b) = body {
            r = r.json(b);
        }
        assert_problem(r.send().await.unwrap(), 401).await;
        let r = call(&app, method.clone(), &s.token, path, body.clone()).await;
        let p = assert_problem(r, 403).await;
        assert_eq!(p["detail"], "admins only", "{method} {path}");
    }
    // A wrong bearer token is not a sign-in either.
    assert_problem(get(&app, "uph_nope", "/api/v1/admin/users").await, 401).await;

    // Nothing the refused calls asked for happened.
    let u = user(&app, &admin, id).await;
    assert_eq!(
        (u["status"].as_str(), u["admin"].as_bool()),
        (Some("ACTIVE"), Some(false))
    );
    assert_eq!(me(&app, &s.token).await["id"], id);
    let fee = ok_json(get(&app, &admin, "/api/v1/admin/settings").await).await;
    assert_eq!(fee["platform_fee"], 0);
    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The lists stay readable without signing in.
    let r = app
        .client()
        .get(app.url("/api/v1/buildings"))
        .send()
        .await
        .unwrap();
    assert_eq!(names(ok_json(r).await), ["Hostel A"]);
    let r = app
        .client()
        .get(app.url("/api/v1/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(names(ok_json(r).await), ["Snacks"]);
    let log = audit(&app, &admin, &[]).await;
    assert_eq!(
        actions(&log),
        ["category.create", "building.create", "user.create_admin"]
    );
}

#[tokio::test]
async fn users_are_listed_searched_filtered_and_paged() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let s = student(&app, &format!("Student{i}@Uni.edu")).await;
        ids.push(s.id);
    }
    ok_json(act(&app, &admin, &ids[2], "suspend", None).await).await;
    ok_json(
        act(
            &app,
            &admin,
            &ids[4],
            "ban",
            Some(json!({"reason": "spam"})),
        )
        .await,
    )
    .await;

    let all = ok_json(get(&app, &admin, "/api/v1/admin/users").await).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "the admin and seven students");
    assert!(all["next_cursor"].is_null());
    let listed: Vec<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "id order");
    let first = &items[1];
    for key in [
        "id",
        "email",
        "name",
        "admin",
        "status",
        "email_verified",
        "created_at",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    assert!(first.get("password_hash").is_none());
    assert_eq!(items[0]["admin"], true);

    let list = |query: &'static str| {
        let app = &app;
        let admin = &admin;
        async move { ok_json(get(app, admin, &format!("/api/v1/admin/users?{query}")).await).await }
    };
    // Substring of the email, any case; the name matches too.
    let p = list("q=STUDENT3@uni").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    assert_eq!(p["items"][0]["id"], ids[3].as_str());
    assert_eq!(
        list("q=test%20stud").await["items"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        list("q=campus%20ADMIN").await["items"][0]["email"],
        "admin@uni.edu"
    );
    assert_eq!(list("q=nobody").await["items"].as_array().unwrap().len(), 0);
    let p = list("status=SUSPENDED").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    assert_eq!(p["items"][0]["id"], ids[2].as_str());
    let p = list("status=BANNED&q=student4").await;
    assert_eq!(p["items"][0]["status"], "BANNED");
    assert_eq!(
        list("status=ACTIVE").await["items"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // Paging with the cursor visits everyone once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/users?limit=3&cursor={c}"),
            None => "/api/v1/admin/users?limit=3".to_string(),
        };
        let p = ok_json(get(&app, &admin, &path).await).await;
        let page = p["items"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, listed);
    let p = list("limit=2&q=student").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 2);
    // The cursor is opaque: the key of the last user shown, hex-encoded.
    assert_eq!(p["next_cursor"], hex::encode(ids[1].as_str()));

    for bad in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "status=ASLEEP",
        "cursor=0123456789012345678901234567",
    ] {
        let r = get(&app, &admin, &format!("/api/v1/admin/users?{bad}")).await;
        let p = assert_problem(r, 422).await;
        assert_eq!(
            p["errors"][0]["field"],
            bad.split('=').next().unwrap(),
            "{p}"
        );
    }
    let long_q = "x".repeat(255);
    let r = get(&app, &admin, &format!("/api/v1/admin/users?q={long_q}")).await;
    assert_eq!(assert_problem(r, 422).await["errors"][0]["field"], "q");
    assert_problem(
        get(&app, &admin, &format!("/api/v1/admin/users/{UNKNOWN_ID}")).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn suspension_ends_sessions_blocks_sign_in_and_unsuspend_restores_access() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "sam@uni.edu").await;
    let r = ok_json(
        act(
            &app,
            &admin,
            &s.id,
            "suspend",
            Some(json!({"reason": " late payments "})),
        )
        .await,
    )
    .await;
    assert_eq!(r["user"]["status"], "SUSPENDED");
    assert_eq!(r["sessions_ended"], 1);

    // The browser session is gone; the API token is refused while suspended.
    let r = s.browser.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_problem(r, 401).await;
    let p = assert_problem(get(&app, &s.token, "/api/v1/me").await, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
    let p = assert_problem(app.login(&app.client(), "sam@uni.edu", PW).await, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
    assert_eq!(
        notification_titles(&app, &s.id).await,
        ["Account suspended"]
    );

    // Refused transitions change nothing.
    let p = assert_problem(act(&app, &admin, &s.id, "suspend", None).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("already suspended"));
    assert_eq!(user(&app, &admin, &s.id).await["status"], "SUSPENDED");

    let r = ok_json(act(&app, &admin, &s.id, "unsuspend", None).await).await;
    assert_eq!(r["user"]["status"], "ACTIVE");
    assert_eq!(r["sessions_ended"], 0);
    assert_eq!(me(&app, &s.token).await["status"], "ACTIVE");
    let b = app.browser();
    assert_eq!(
        app.login(&b, "sam@uni.edu", PW).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        b.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        notification_titles(&app, &s.id).await,
        ["Account suspended", "Account restored"]
    );

    let p = assert_problem(act(&app, &admin, &s.id, "unsuspend", None).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("not suspended"));
    assert_eq!(user(&app, &admin, &s.id).await["status"], "ACTIVE");
    assert_eq!(me(&app, &s.token).await["status"], "ACTIVE");

    let log = audit(&app, &admin, &[("target", &s.id)]).await;
    assert_eq!(actions(&log), ["user.unsuspend", "user.suspend"]);
    let details = log["items"][1]["details"].as_str().unwrap();
    assert!(details.contains("ACTIVE → SUSPENDED"), "{details}");
    assert!(details.contains("ended 1 sessions"), "{details}");
    assert!(details.contains("reason: late payments"), "{details}");
}

#[tokio::test]
async fn a_ban_is_final_and_refused_transitions_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "bob@uni.edu").await;
    ok_json(act(&app, &admin, &s.id, "suspend", None).await).await;
    let r = ok_json(act(&app, &admin, &s.id, "ban", Some(json!({"reason": "fraud"}))).await).await;
    assert_eq!(r["user"]["status"], "BANNED");
    let p = assert_problem(app.login(&app.client(), "bob@uni.edu", PW).await, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("banned"), "{p}");
    let p = assert_problem(get(&app, &s.token, "/api/v1/me").await, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("banned"), "{p}");

    for action in ["unsuspend", "suspend", "ban", "make-admin"] {
        assert_problem(act(&app, &admin, &s.id, action, None).await, 409).await;
        let u = user(&app, &admin, &s.id).await;
        assert_eq!(
            (u["status"].as_str(), u["admin"].as_bool()),
            (Some("BANNED"), Some(false))
        );
    }
    let log = audit(&app, &admin, &[("target", &s.id)]).await;
    assert_eq!(actions(&log), ["user.ban", "user.suspend"]);
    assert_eq!(
        notification_titles(&app, &s.id).await,
        ["Account suspended", "Account banned"]
    );

    // A banned admin loses the rights for good.
    let other = student(&app, "eve@uni.edu").await;
    ok_json(act(&app, &admin, &other.id, "make-admin", None).await).await;
    // A ban says why (it cannot be lifted): without a reason, nothing happens.
    assert_problem(act(&app, &admin, &other.id, "ban", None).await, 422).await;
    assert_problem(
        act(&app, &admin, &other.id, "ban", Some(json!({"reason": " "}))).await,
        422,
    )
    .await;
    let r = ok_json(
        act(
            &app,
            &admin,
            &other.id,
            "ban",
            Some(json!({"reason": "stole a bike"})),
        )
        .await,
    )
    .await;
    assert_eq!(r["user"]["admin"], false);
    assert_eq!(r["user"]["status"], "BANNED");
    let log = audit(
        &app,
        &admin,
        &[("target", &other.id), ("action", "user.ban")],
    )
    .await;
    let details = log["items"][0]["details"].as_str().unwrap();
    assert!(details.contains("admin true → false"), "{details}");
    assert_problem(
        act(&app, &admin, &other.id, "remove-admin", None).await,
        409,
    )
    .await;
}

#[tokio::test]
async fn the_last_active_admin_is_protected_and_admins_cannot_demote_themselves() {
    let app = spawn_app().await;
    let a = app.admin_bearer("a@uni.edu").await;
    let a_id = me(&app, &a).await["id"].as_str().unwrap().to_string();
    // Alone: every way of losing the last active admin is refused.
    for action in ["suspend", "ban", "remove-admin"] {
        let p = assert_problem(act(&app, &a, &a_id, action, None).await, 409).await;
        assert!(
            p["detail"].as_str().unwrap().contains("last active admin"),
            "{action}: {p}"
        );
        let u = user(&app, &a, &a_id).await;
        assert_eq!(
            (u["status"].as_str(), u["admin"].as_bool()),
            (Some("ACTIVE"), Some(true))
        );
    }

    // With a second admin, acting on yourself is still refused.
    let b = student(&app, "b@uni.edu").await;
    ok_json(act(&app, &a, &b.id, "make-admin", None).await).await;
    for action in ["suspend", "ban", "remove-admin"] {
        let p = assert_problem(act(&app, &a, &a_id, action, None).await, 409).await;
        assert!(
            p["detail"].as_str().unwrap().contains("your own"),
            "{action}: {p}"
        );
        let u = user(&app, &a, &a_id).await;
        assert_eq!(
            (u["status"].as_str(), u["admin"].as_bool()),
            (Some("ACTIVE"), Some(true))
        );
    }
    // Another admin may demote you; then you are no admin at all.
    ok_json(act(&app, &b.token, &a_id, "remove-admin", None).await).await;
    assert_problem(get(&app, &a, "/api/v1/admin/users").await, 403).await;
    let p = assert_problem(act(&app, &b.token, &b.id, "remove-admin", None).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("last active admin"));
    assert_eq!(user(&app, &b.token, &b.id).await["admin"], true);
    let log = audit(&app, &b.token, &[]).await;
    assert_eq!(
        &actions(&log)[..2],
        ["user.remove_admin", "user.make_admin"],
        "refusals are not logged as actions"
    );
}

#[tokio::test]
async fn concurrent_mutual_suspension_leaves_an_active_admin() {
    let app = spawn_app().await;
    let a = app.admin_bearer("a@uni.edu").await;
    let b = app.admin_bearer("b@uni.edu").await;
    let a_id = me(&app, &a).await["id"].as_str().unwrap().to_string();
    let b_id = me(&app, &b).await["id"].as_str().unwrap().to_string();
    let (ra, rb) = tokio::join!(
        act(&app, &a, &b_id, "suspend", None),
        act(&app, &b, &a_id, "suspend", None)
    );
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 403], "exactly one suspension wins");
    let survivor = if ra.status() == StatusCode::OK {
        &a
    } else {
        &b
    };
    let admins = ok_json(get(&app, survivor, "/api/v1/admin/users?status=ACTIVE").await).await;
    let active_admins = admins["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["admin"] == true)
        .count();
    assert_eq!(active_admins, 1);
}

#[tokio::test]
async fn make_and_remove_admin_switch_admin_access() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "sam@uni.edu").await;
    assert_problem(get(&app, &s.token, "/api/v1/admin/users").await, 403).await;
    let r = ok_json(act(&app, &admin, &s.id, "make-admin", Some(json!({}))).await).await;
    assert_eq!(r["user"]["admin"], true);
    assert_eq!(me(&app, &s.token).await["admin"], true);
    ok_json(get(&app, &s.token, "/api/v1/admin/users").await).await;
    assert_eq!(
        notification_titles(&app, &s.id).await,
        ["You are now an admin"]
    );
    let p = assert_problem(act(&app, &admin, &s.id, "make-admin", None).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("already an admin"));

    ok_json(act(&app, &admin, &s.id, "remove-admin", None).await).await;
    assert_problem(get(&app, &s.token, "/api/v1/admin/users").await, 403).await;
    let p = assert_problem(act(&app, &admin, &s.id, "remove-admin", None).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("not an admin"));
    assert_eq!(user(&app, &admin, &s.id).await["admin"], false);

    // Only an active user is made an admin.
    ok_json(act(&app, &admin, &s.id, "suspend", None).await).await;
    assert_problem(act(&app, &admin, &s.id, "make-admin", None).await, 409).await;
    assert_eq!(user(&app, &admin, &s.id).await["admin"], false);

    let log = audit(&app, &admin, &[("target", &s.id)]).await;
    assert_eq!(
        actions(&log),
        ["user.suspend", "user.remove_admin", "user.make_admin"]
    );
}

#[tokio::test]
async fn force_sign_out_ends_every_session_but_keeps_api_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "sam@uni.edu").await;
    let second = app.browser();
    assert_eq!(
        app.login(&second, "sam@uni.edu", PW).await.status(),
        StatusCode::OK
    );
    let r = ok_json(act(&app, &admin, &s.id, "sign-out", None).await).await;
    assert_eq!(r["sessions_ended"], 2);
    assert_eq!(r["user"]["status"], "ACTIVE");
    for b in [&s.browser, &second] {
        assert_problem(b.get(app.url("/api/v1/me")).send().await.unwrap(), 401).await;
    }
    assert_eq!(me(&app, &s.token).await["id"], s.id.as_str());
    let r = ok_json(act(&app, &admin, &s.id, "sign-out", None).await).await;
    assert_eq!(r["sessions_ended"], 0);
    let log = audit(&app, &admin, &[("action", "user.sign_out")]).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2);
    assert!(
        log["items"][1]["details"]
            .as_str()
            .unwrap()
            .contains("ended 2 sessions")
    );
    assert!(notification_titles(&app, &s.id).await.is_empty());
}

#[tokio::test]
async fn user_actions_validate_ids_and_bodies() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let s = student(&app, "sam@uni.edu").await;
    for action in [
        "suspend",
        "unsuspend",
        "ban",
        "sign-out",
        "make-admin",
        "remove-admin",
    ] {
        assert_problem(act(&app, &admin, UNKNOWN_ID, action, None).await, 404).await;
        let long = "0".repeat(27);
        assert_problem(act(&app, &admin, &long, action, None).await, 400).await;
    }
    let bad_bodies: Vec<(Value, u16)> = vec![
        (json!({"reason": 5}), 400),
        (json!({"reason": ["x"]}), 400),
        (json!({"reason": "x".repeat(501)}), 400),
        (json!({"why": "x"}), 400),
        (json!([1]), 400),
        (json!("spam"), 400),
        (json!({"reason": "bell\u{7}"}), 422),
    ];
    for (body, status) in bad_bodies {
        let p = assert_problem(
            act(&app, &admin, &s.id, "suspend", Some(body.clone())).await,
            status,
        )
        .await;
        if status == 422 {
            assert_eq!(p["errors"][0]["field"], "reason", "{p}");
        }
    }
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/users/{}/suspend", s.id)))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/users/{}/suspend", s.id)))
        .bearer_auth(&admin)
        .body("no content type")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // None of that touched the user.
    assert_eq!(user(&app, &admin, &s.id).await["status"], "ACTIVE");
    assert_eq!(me(&app, &s.token).await["status"], "ACTIVE");
    assert!(
        audit(&app, &admin, &[("target", &s.id)]).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The body is optional: absent, empty, `null`, `{}` and a null reason all work.
    ok_json(act(&app, &admin, &s.id, "sign-out", None).await).await;
    for body in [
        json!(null),
        json!({}),
        json!({"reason": null}),
        json!({"reason": "  "}),
    ] {
        ok_json(act(&app, &admin, &s.id, "sign-out", Some(body)).await).await;
    }
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/users/{}/sign-out", s.id)))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    ok_json(r).await;
    let log = audit(&app, &admin, &[("target", &s.id)]).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 6);
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["details"].as_str().unwrap().contains("reason"))
    );
}

#[tokio::test]
async fn platform_fee_round_trips_and_is_validated() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let admin_id = me(&app, &admin).await["id"].as_str().unwrap().to_string();
    let s = ok_json(get(&app, &admin, "/api/v1/admin/settings").await).await;
    assert_eq!(s["platform_fee"], 0);
    assert!(s["updated_by"].is_null());

    let put = |body: Value| {
        call(
            &app,
            Method::PUT,
            &admin,
            "/api/v1/admin/settings",
            Some(body),
        )
    };
    let s = ok_json(put(json!({"platform_fee": 2500})).await).await;
    assert_eq!(s["platform_fee"], 2500);
    assert_eq!(s["updated_by"], admin_id.as_str());
    assert!(s["updated_at"].is_string());
    let s = ok_json(get(&app, &admin, "/api/v1/admin/settings").await).await;
    assert_eq!(s["platform_fee"], 2500);
    assert_eq!(s["updated_by"], admin_id.as_str());
    ok_json(put(json!({"platform_fee": 100_000_000})).await).await;
    ok_json(put(json!({"platform_fee": 0})).await).await;
    ok_json(put(json!({"platform_fee": 2500})).await).await;

    for bad in [
        json!({"platform_fee": -1}),
        json!({"platform_fee": 100_000_001}),
        json!({"platform_fee": "100"}),
        json!({"platform_fee": 1.5}),
        json!({"platform_fee": null}),
        json!({}),
        json!({"platform_fee": 10, "currency": "INR"}),
        json!([10]),
    ] {
        assert_problem(put(bad.clone()).await, 400).await;
        let s = ok_json(get(&app, &admin, "/api/v1/admin/settings").await).await;
        assert_eq!(s["platform_fee"], 2500, "after {bad}");
    }
    let log = audit(&app, &admin, &[("action", "settings.update")]).await;
    let details: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "platform fee ₹0.00 → ₹25.00",
            "platform fee ₹1000000.00 → ₹0.00",
            "platform fee ₹25.00 → ₹1000000.00",
            "platform fee ₹0.00 → ₹25.00",
        ]
    );
    assert_eq!(log["items"][0]["target"], "platform");
    assert_eq!(log["items"][0]["actor_id"], admin_id.as_str());
}

#[tokio::test]
async fn audit_log_records_actions_with_origin_and_filters_and_pages() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let admin_id = me(&app, &admin).await["id"].as_str().unwrap().to_string();
    let s = student(&app, "sam@uni.edu").await;
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/users/{}/suspend", s.id)))
        .bearer_auth(&admin)
        .header("user-agent", "admin-console/1.0")
        .json(&json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    ok_json(r).await;
    ok_json(
        call(
            &app,
            Method::PUT,
            &admin,
            "/api/v1/admin/settings",
            Some(json!({"platform_fee": 300})),
        )
        .await,
    )
    .await;
    ok_json(act(&app, &admin, &s.id, "unsuspend", None).await).await;
    ok_json(
        post(
            &app,
            &admin,
            "/api/v1/admin/buildings",
            Some(json!({"name": "Hostel A"})),
        )
        .await,
    )
    .await;

    let all = audit(&app, &admin, &[]).await;
    assert_eq!(
        actions(&all),
        [
            "building.create",
            "user.unsuspend",
            "settings.update",
            "user.suspend",
            "user.create_admin"
        ]
    );
    assert!(all["next_cursor"].is_null());
    let items = all["items"].as_array().unwrap();
    let ats: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        ats.iter().map(|a| a.parse().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    let suspend = &items[3];
    assert_eq!(suspend["actor_id"], admin_id.as_str());
    assert_eq!(suspend["target"], s.id.as_str());
    assert_eq!(suspend["ip"], "127.0.0.1");
    assert_eq!(suspend["user_agent"], "admin-console/1.0");
    // Names for the ids, read now: who did it, to whom.
    assert_eq!(suspend["actor_name"], "Campus Admin (admin@uni.edu)");
    assert_eq!(
        suspend["target_name"],
        format!(
            "{} (sam@uni.edu)",
            me(&app, &s.token).await["name"].as_str().unwrap()
        )
    );
    assert!(
        items[2]["target_name"].is_null(),
        "a setting has no name: {}",
        items[2]
    );
    assert!(
        suspend["details"]
            .as_str()
            .unwrap()
            .contains("reason: spam")
    );
    assert!(items[4]["actor_id"].is_null(), "created on the console");

    // Exact-match filters.
    assert_eq!(
        actions(&audit(&app, &admin, &[("action", "user.suspend")]).await),
        ["user.suspend"]
    );
    assert!(actions(&audit(&app, &admin, &[("action", "user.susp")]).await).is_empty());
    assert_eq!(
        actions(&audit(&app, &admin, &[("target", &s.id)]).await),
        ["user.unsuspend", "user.suspend"]
    );
    assert_eq!(
        actions(&audit(&app, &admin, &[("actor", &admin_id)]).await).len(),
        4
    );
    assert!(actions(&audit(&app, &admin, &[("actor", &s.id)]).await).is_empty());
    assert_eq!(
        actions(
            &audit(
                &app,
                &admin,
                &[("actor", &admin_id), ("target", "platform")]
            )
            .await
        ),
        ["settings.update"]
    );

    // Time range, inclusive at both ends.
    let settings_at = ats[2];
    assert_eq!(
        actions(&audit(&app, &admin, &[("from", settings_at)]).await),
        ["building.create", "user.unsuspend", "settings.update"]
    );
    assert_eq!(
        actions(&audit(&app, &admin, &[("to", settings_at)]).await),
        ["settings.update", "user.suspend", "user.create_admin"]
    );
    assert_eq!(
        actions(&audit(&app, &admin, &[("from", settings_at), ("to", settings_at)]).await),
        ["settings.update"]
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(actions(&audit(&app, &admin, &[("from", &later)]).await).is_empty());
    assert!(actions(&audit(&app, &admin, &[("to", "2001-01-01T00:00:00Z")]).await).is_empty());

    // Paging: one at a time reaches everything, in the same order.
    let mut seen = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let mut q = vec![("limit", "1".to_string())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = audit(&app, &admin, &q).await;
        seen.extend(actions(&p));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, actions(&all));

    for bad in [
        "limit=0",
        "limit=201",
        "from=yesterday",
        "to=2024-13-01T00:00:00Z",
        "cursor=x012345678901234567890123456",
    ] {
        let p = assert_problem(
            get(&app, &admin, &format!("/api/v1/admin/audit?{bad}")).await,
            422,
        )
        .await;
        assert_eq!(
            p["errors"][0]["field"],
            bad.split('=').next().unwrap(),
            "{p}"
        );
    }
    let r = app
        .client()
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(&admin)
        .query(&[
            ("from", "2030-01-02T00:00:00Z"),
            ("to", "2030-01-01T00:00:00Z"),
        ])
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "from");

    // Append-only: there is no way to change or delete an entry.
    let id = items[0]["id"].as_str().unwrap();
    for (method, path) in [
        (Method::DELETE, "/api/v1/admin/audit".to_string()),
        (Method::PUT, "/api/v1/admin/audit".to_string()),
        (Method::DELETE, format!("/api/v1/admin/audit/{id}")),
        (Method::PATCH, format!("/api/v1/admin/audit/{id}")),
    ] {
        let r = call(&app, method, &admin, &path, Some(json!({}))).await;
        assert!(matches!(r.status().as_u16(), 404 | 405), "{}", r.status());
    }
    assert_eq!(actions(&audit(&app, &admin, &[]).await), actions(&all));
}

#[tokio::test]
async fn buildings_and_categories_are_admin_managed_and_listed_publicly() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    for (plural, noun) in [("buildings", "building"), ("categories", "category")] {
        let public = format!("/api/v1/{plural}");
        let admin_path = format!("/api/v1/admin/{plural}");
        let names = || {
            let app = &app;
            let public = public.clone();
            async move {
                let r = app.client().get(app.url(&public)).send().await.unwrap();
                ok_json(r).await["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["name"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert!(names().await.is_empty());
        let mut ids = Vec::new();
        for name in ["Hostel B", " hostel a ", "Block C"] {
            let r = post(&app, &admin, &admin_path, Some(json!({"name": name}))).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["name"], name.trim());
            assert!(b["created_at"].is_string());
            ids.push(b["id"].as_str().unwrap().to_string());
        }
        let sorted = ["Block C", "hostel a", "Hostel B"];
        assert_eq!(names().await, sorted, "by name, ignoring case");

        let bad: Vec<(Value, u16)> = vec![
            (json!({"name": "HOSTEL B"}), 409),
            (json!({"name": "   "}), 422),
            (json!({"name": "x".repeat(81)}), 400),
            (json!({"name": 5}), 400),
            (json!({}), 400),
            (json!({"name": "Hostel D", "code": "D"}), 400),
        ];
        for (body, status) in &bad {
            assert_problem(
                post(&app, &admin, &admin_path, Some(body.clone())).await,
                *status,
            )
            .await;
            assert_eq!(names().await, sorted, "after {body}");
        }
        let p = assert_problem(
            post(
                &app,
                &admin,
                &admin_path,
                Some(json!({"name": "tab\there"})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "name");

        // Renames: to another entry's name is refused; a case change of its own is fine.
        let patch = async |id: &str, body: Value| {
            let path = format!("{admin_path}/{id}");
            call(&app, Method::PATCH, &admin, &path, Some(body)).await
        };
        assert_problem(patch(&ids[0], json!({"name": "HOSTEL A"})).await, 409).await;
        assert_problem(patch(&ids[0], json!({"name": ""})).await, 422).await;
        assert_problem(patch(&ids[0], json!({"name": "x".repeat(81)})).await, 400).await;
        assert_problem(patch(&ids[0], json!({"title": "x"})).await, 400).await;
        assert_problem(patch(UNKNOWN_ID, json!({"name": "Hostel Z"})).await, 404).await;
        assert_problem(
            patch(&"0".repeat(27), json!({"name": "Hostel Z"})).await,
            400,
        )
        .await;
        assert_eq!(names().await, sorted);
        let r = ok_json(patch(&ids[0], json!({"name": "HOSTEL B"})).await).await;
        assert_eq!(r["name"], "HOSTEL B");
        assert_eq!(r["id"], ids[0].as_str());
        assert_eq!(names().await, ["Block C", "hostel a", "HOSTEL B"]);

        // Deleting (even if something still names it) frees the name.
        let del = async |id: &str| {
            let path = format!("{admin_path}/{id}");
            call(&app, Method::DELETE, &admin, &path, None).await
        };
        assert_eq!(del(&ids[2]).await.status(), StatusCode::NO_CONTENT);
        assert_problem(del(&ids[2]).await, 404).await;
        assert_problem(del(UNKNOWN_ID).await, 404).await;
        assert_eq!(names().await, ["hostel a", "HOSTEL B"]);
        let r = post(&app, &admin, &admin_path, Some(json!({"name": "block c"}))).await;
        assert_eq!(r.status(), StatusCode::CREATED);

        let create = format!("{noun}.create");
        let log = audit(&app, &admin, &[("action", &create)]).await;
        assert_eq!(log["items"].as_array().unwrap().len(), 4);
        let log = audit(&app, &admin, &[("target", &ids[0])]).await;
        assert_eq!(actions(&log), [format!("{noun}.rename"), create.clone()]);
        assert_eq!(
            log["items"][0]["details"],
            "name \"Hostel B\" → \"HOSTEL B\""
        );
        let log = audit(&app, &admin, &[("target", &ids[2])]).await;
        assert_eq!(actions(&log), [format!("{noun}.delete"), create]);
    }
}

#[tokio::test]
async fn openapi_documents_the_admin_api_and_its_bounds() {
    let app = spawn_app().await;
    let spec: Value = app.openapi().await;
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}/suspend",
        "/api/v1/admin/users/{id}/make-admin",
        "/api/v1/admin/settings",
        "/api/v1/admin/audit",
        "/api/v1/admin/buildings/{id}",
        "/api/v1/buildings",
        "/api/v1/categories",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["ReasonRequest"]["properties"]["reason"]["maxLength"],
        500
    );
    assert_eq!(
        schemas["ListNameRequest"]["properties"]["name"]["maxLength"],
        80
    );
    let fee = &schemas["UpdateSettingsRequest"]["properties"]["platform_fee"];
    assert_eq!(
        (fee["minimum"].as_f64(), fee["maximum"].as_f64()),
        (Some(0.0), Some(1e8))
    );
    let suspend = &spec["paths"]["/api/v1/admin/users/{id}/suspend"]["post"];
    assert_eq!(suspend["requestBody"]["required"], false);
    assert!(suspend["responses"]["409"].is_object());
    assert!(suspend["security"].is_array(), "needs a sign-in");
    assert_eq!(
        spec["paths"]["/api/v1/buildings"]["get"]["security"],
        json!([]),
        "public: no credentials"
    );
}

#[tokio::test]
async fn admins_list_every_order_by_status_shop_building_date_and_text() {
    use crate::fixtures::{ShopOpts, market, order, student as shopper};
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let a = market(&app, "a@uni.edu", ShopOpts::default()).await;
    let b = market(&app, "b@uni.edu", ShopOpts::default()).await;
    let (s1, ad1) = shopper(&app, "kavya@uni.edu", &a).await;
    let (s2, ad2) = shopper(&app, "ravi@uni.edu", &b).await;
    let o1 = order(&app, &a, &s1, &ad1, "k1").await;
    let o2 = order(&app, &b, &s2, &ad2, "k2").await;
    let o3 = order(&app, &a, &s1, &ad1, "k3").await;
    let cancel = post(
        &app,
        &s1,
        &format!("/api/v1/orders/{}/cancel", o3["id"].as_str().unwrap()),
        Some(json!({})),
    )
    .await;
    assert_eq!(cancel.status(), StatusCode::OK);

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["display_id"].as_str().unwrap().to_string())
            .collect()
    };
    let d = |o: &Value| o["display_id"].as_str().unwrap().to_string();
    let list = |q: &str| {
        let app = &app;
        let admin = admin.clone();
        let q = q.to_string();
        async move { ok_json(get(app, &admin, &format!("/api/v1/admin/orders{q}")).await).await }
    };
    let all = list("").await;
    assert_eq!(ids(&all), [d(&o3), d(&o2), d(&o1)], "newest first");
    let first = &all["items"][2];
    assert_eq!(first["student_email"], "kavya@uni.edu");
    assert!(first["shop_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(first["otp"].is_null(), "no OTP in an admin's list");
    assert_eq!(ids(&list("?status=CANCELLED").await), [d(&o3)]);
    assert_eq!(ids(&list(&format!("?shop={}", b.shop_id)).await), [d(&o2)]);
    assert_eq!(
        ids(&list(&format!("?building={}", a.building_id)).await).len(),
        if a.building_id == b.building_id { 3 } else { 2 }
    );
    assert_eq!(ids(&list("?q=RAVI@UNI").await), [d(&o2)]);
    assert_eq!(
        ids(&list(&format!("?q={}", d(&o1).to_lowercase())).await),
        [d(&o1)]
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(ids(&list(&format!("?from={yesterday}")).await).len(), 3);
    assert_eq!(
        ids(&list(&format!("?from={yesterday}&to={yesterday}")).await).len(),
        0
    );
    // Paging: one at a time, in the same order.
    let p1 = list("?limit=2").await;
    assert_eq!(ids(&p1), [d(&o3), d(&o2)]);
    let next = p1["next_cursor"].as_str().unwrap();
    assert_eq!(
        ids(&list(&format!("?limit=2&cursor={next}")).await),
        [d(&o1)]
    );

    // Bad filters name themselves; others get nothing.
    for (q, field) in [
        ("?status=LOST", "status"),
        ("?from=2026-13-01", "from"),
        (&format!("?from={today}&to={yesterday}") as &str, "to"),
        ("?limit=0", "limit"),
    ] {
        let r = get(&app, &admin, &format!("/api/v1/admin/orders{q}")).await;
        let body = r.text().await.unwrap();
        assert!(
            body.contains(field) && body.contains("\"status\":4"),
            "{q}: {body}"
        );
    }
    assert_problem(get(&app, &s1, "/api/v1/admin/orders").await, 403).await;
}
