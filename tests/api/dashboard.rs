//! Campus at a glance (`getCampusDashboard`): the figures of today match
//! the orders the test places and delivers; a batch locked long after its
//! cutoff counts as late; who may read it; bad `days` (a query parameter
//! out of range is a 422 naming it, as everywhere in the API). The
//! housekeeping sweeps, run at a later "now": what is due goes, the rest
//! stays, and each sweep's last run is on show.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, lock, market, order, student};
use crate::helpers::{assert_problem, get_ok, post, request, spawn_app};

fn n(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[tokio::test]
async fn the_dashboard_counts_todays_orders_students_shops_and_revenue() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m).await;

    let empty = get_ok(&app, &admin, "/api/v1/admin/dashboard").await;
    assert_eq!(empty["days"].as_array().unwrap().len(), 14);
    assert_eq!(empty["truncated"], false);
    assert_eq!(empty["currency"], "INR");
    assert_eq!(empty["timezone"], "Asia/Kolkata");

    let first = order(&app, &m, &s1, &a1, "d1").await;
    let second = order(&app, &m, &s1, &a1, "d2").await;
    order(&app, &m, &s2, &a2, "d3").await;
    let batch = first["batch_id"].as_str().unwrap().to_string();
    lock(&app, &m, &batch).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/dispatch"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    for o in [&first, &second] {
        let id = o["id"].as_str().unwrap();
        let otp = get_ok(&app, &s1, &format!("/api/v1/orders/{id}")).await["otp"]
            .as_str()
            .unwrap()
            .to_string();
        let r = post(
            &app,
            &m.owner_token,
            &format!("/api/v1/orders/{id}/deliver"),
            json!({"otp": otp}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    let d = get_ok(&app, &admin, "/api/v1/admin/dashboard?days=3").await;
    let days = d["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let today = days.last().unwrap();
    let campus_today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .date_naive()
        .to_string();
    assert_eq!(today["date"], campus_today);
    assert_eq!(n(today, "orders_placed"), 3);
    assert_eq!(n(today, "orders_completed"), 2);
    assert_eq!(
        n(today, "revenue"),
        n(&first, "total") + n(&second, "total")
    );
    assert_eq!(n(today, "active_students"), 2);
    assert_eq!(n(today, "active_shops"), 1);
    // Locked by the owner before its cutoff: on time.
    assert_eq!(n(today, "batches_on_time"), 1);
    assert_eq!(n(today, "batches_late"), 0);
    for earlier in &days[..2] {
        assert_eq!(n(earlier, "orders_placed"), 0, "{earlier}");
    }
}

#[tokio::test]
async fn a_batch_the_closer_locks_long_after_its_cutoff_is_late() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "late").await;
    let batch = o["batch_id"].as_str().unwrap().to_string();
    // The cutoff passed an hour ago, while the closer was not running.
    let cutoff = app.state.clock.now() - chrono::Duration::hours(1);
    crate::fixtures::move_cutoff(&app.state.store, &batch, cutoff).await;
    let jobs = app.state.job_handles();
    let report = uphill::jobs::lock_due_batches(&jobs, app.state.clock.now()).await;
    assert_eq!(report.locked, 1);
    let d = get_ok(&app, &admin, "/api/v1/admin/dashboard?days=2").await;
    let late: i64 = d["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| n(day, "batches_late"))
        .sum();
    assert_eq!(late, 1, "{d}");
}

#[tokio::test]
async fn only_admins_read_the_dashboard_and_days_is_checked() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, _) = student(&app, "s1@uni.edu", &m).await;
    for who in [&s1, &m.owner_token] {
        let r = request(
            &app,
            Method::GET,
            "/api/v1/admin/dashboard",
            Some(who),
            None,
        )
        .await;
        assert_problem(r, 403).await;
    }
    let r = request(&app, Method::GET, "/api/v1/admin/dashboard", None, None).await;
    assert_problem(r, 401).await;
    for bad in ["0", "91", "-1", "many"] {
        let path = format!("/api/v1/admin/dashboard?days={bad}");
        let r = request(&app, Method::GET, &path, Some(&admin), None).await;
        let p = assert_problem(r, 422).await;
        assert_eq!(p["errors"][0]["field"], "days", "{bad}: {p}");
    }
    let d = get_ok(&app, &admin, "/api/v1/admin/dashboard?days=90").await;
    assert_eq!(d["days"].as_array().unwrap().len(), 90);
    let d = get_ok(&app, &admin, "/api/v1/admin/dashboard?days=1").await;
    assert_eq!(d["days"].as_array().unwrap().len(), 1);
}

// ---------- housekeeping ----------

fn config() -> uphill::config::HousekeepingConfig {
    uphill::config::HousekeepingConfig::default()
}

async fn sweep(app: &crate::helpers::TestApp, days_ahead: i64) -> [u64; 5] {
    let now = chrono::Utc::now() + chrono::Duration::days(days_ahead);
    let events_kept = chrono::Duration::hours(72);
    uphill::housekeeping::run(&app.state.store, &config(), events_kept, now).await
}

#[tokio::test]
async fn expired_sessions_go_and_live_ones_stay() {
    let app = spawn_app().await;
    let (browser, _) = app.signed_in_browser("s1@uni.edu").await;
    let me = |b: reqwest::Client| {
        let url = app.url("/api/v1/me");
        async move { b.get(url).send().await.unwrap().status() }
    };
    assert_eq!(me(browser.clone()).await, StatusCode::OK);
    // Sessions last 30 days: a day on, nothing is due.
    assert_eq!(sweep(&app, 1).await[1], 0);
    assert_eq!(me(browser.clone()).await, StatusCode::OK);
    assert_eq!(sweep(&app, 31).await[1], 1);
    assert_eq!(me(browser).await, StatusCode::UNAUTHORIZED);
    let left = app
        .state
        .store
        .read(|txn| {
            use redb::ReadableTableMetadata;
            Ok::<_, uphill::store::StoreError>((
                txn.open_table(uphill::store::tables::SESSIONS)?.len()?,
                txn.open_table(uphill::store::tables::SESSION_EXPIRY)?
                    .len()?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(left, (0, 0));
}

#[tokio::test]
async fn untouched_carts_go_after_their_days() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, _) = student(&app, "s1@uni.edu", &m).await;
    let path = format!("/api/v1/cart/{}", m.shop_id);
    let body = json!({"items": [{"product_id": m.products[1], "quantity": 1}]});
    let r = request(&app, Method::PUT, &path, Some(&s1), Some(body.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Changed again: one index row, not two.
    let r = request(&app, Method::PUT, &path, Some(&s1), Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sweep(&app, 29).await[2], 0);
    let cart = get_ok(&app, &s1, &path).await;
    assert!(
        !cart["items"].as_array().is_none_or(Vec::is_empty),
        "{cart}"
    );
    assert_eq!(sweep(&app, 31).await[2], 1);
    let r = request(&app, Method::GET, &path, Some(&s1), None).await;
    let gone = r.status() == StatusCode::NOT_FOUND
        || r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .is_none_or(Vec::is_empty);
    assert!(gone);

    // The last runs are on show, with the settings.
    let h = get_ok(&app, &admin, "/api/v1/admin/housekeeping").await;
    let carts = h["sweeps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "carts")
        .unwrap()
        .clone();
    assert_eq!(carts["keep_days"], 30);
    assert_eq!(carts["last_removed"], 1);
    assert!(carts["last_run_at"].is_string());
    let r = request(
        &app,
        Method::GET,
        "/api/v1/admin/housekeeping",
        Some(&s1),
        None,
    )
    .await;
    assert_problem(r, 403).await;
}

#[tokio::test]
async fn old_read_notifications_go_and_unread_ones_stay() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    order(&app, &m, &s1, &a1, "n1").await;
    order(&app, &m, &s1, &a1, "n2").await;
    async fn list(app: &crate::helpers::TestApp, token: &str) -> Vec<Value> {
        crate::helpers::page_items(get_ok(app, token, "/api/v1/notifications?limit=100").await)
    }
    let before = list(&app, &m.owner_token).await;
    assert!(before.len() >= 2, "{before:?}");
    let read_id = before[0]["id"].as_str().unwrap().to_string();
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/notifications/{read_id}/read"),
        json!({}),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(sweep(&app, 89).await[0], 0);
    assert_eq!(list(&app, &m.owner_token).await.len(), before.len());
    assert_eq!(sweep(&app, 91).await[0], 1);
    let after = list(&app, &m.owner_token).await;
    assert_eq!(after.len(), before.len() - 1);
    assert!(after.iter().all(|n| n["id"] != read_id.as_str()));
}
