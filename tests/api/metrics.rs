//! `/metrics` read by Prometheus' own checker, who may read it, and the
//! rollup history behind the admin charts.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// The value of the one sample of `name` carrying every label in `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.starts_with(&format!("{name}{{"))
                || (labels.is_empty() && l.starts_with(&format!("{name} ")))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied()
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let r = app.client().get(app.url("/metrics"));
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
    .send()
    .await
    .unwrap()
}

/// `promtool check metrics` on the text; panics (test fails) when promtool
/// is missing: `.ci/run` installs Debian's `prometheus` package.
fn promtool_check(text: &str, dir: &std::path::Path) {
    let path = dir.join("metrics.txt");
    std::fs::write(&path, text).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::from(file))
        .output()
        .expect("promtool is required (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- text ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_pass_promtool_and_label_requests_by_route_template() {
    let app = spawn_app().await;
    let c = app.client();
    for _ in 0..3 {
        c.get(app.url("/healthz")).send().await.unwrap();
    }
    let r = c
        .get(app.url("/api/v1/shops/01JNOSUCHSHOP0000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    c.get(app.url("/api/v1/shops/01JOTHERSHOP00000000000000"))
        .send()
        .await
        .unwrap();
    c.get(app.url("/no/such/page")).send().await.unwrap();
    // Signing up writes: the writer's counters move.
    app.bearer("writer@uni.edu").await;

    let r = scrape(&app, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    promtool_check(&text, app.dir.path());

    assert_eq!(
        sample(
            &text,
            "uphill_http_requests_total",
            &[("route", "/healthz"), ("method", "GET"), ("status", "2xx")]
        ),
        Some(3.0),
        "{text}"
    );
    // Both shop ids land on one series: the documented template, not the raw path.
    assert_eq!(
        sample(
            &text,
            "uphill_http_request_duration_seconds_count",
            &[
                ("route", "/api/v1/shops/{id}"),
                ("method", "GET"),
                ("status", "4xx")
            ]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "uphill_http_request_duration_seconds_bucket",
            &[
                ("route", "/api/v1/shops/{id}"),
                ("status", "4xx"),
                ("le", "+Inf")
            ]
        ),
        Some(2.0),
        "{text}"
    );
    let commits = sample(&text, "uphill_store_commits_total", &[]).unwrap_or(0.0);
    let commands = sample(&text, "uphill_store_commands_total", &[]).unwrap_or(0.0);
    assert!(
        commits >= 1.0 && commands >= commits,
        "{commits} {commands}\n{text}"
    );
    assert!(!text.contains("01JNOSUCHSHOP"), "raw path in a label");
    assert!(!text.contains(":param"), "poem pattern in a label");
    assert_eq!(
        sample(
            &text,
            "uphill_http_requests_total",
            &[("route", "other"), ("status", "4xx")]
        ),
        Some(1.0),
        "{text}"
    );
    for family in [
        r#"uphill_orders{status="NEW"} 0"#,
        "uphill_batches_locked_total 0",
        "uphill_closer_last_run_timestamp_seconds ",
        "uphill_sse_clients 0",
        "uphill_backup_last_success_timestamp_seconds 0",
        "uphill_store_size_bytes ",
        "uphill_search_index_size_bytes ",
        "uphill_disk_free_bytes ",
        "uphill_disk_free_ratio ",
        "uphill_mail_sent_total 0",
        "uphill_mail_failed_total 0",
        "uphill_mail_queued ",
        "uphill_mail_dead 0",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
}

#[tokio::test]
async fn without_loopback_trust_metrics_need_an_admin() {
    let app = spawn_app_with(|c| c.metrics.loopback_without_token = false).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    assert_problem(scrape(&app, None).await, 401).await;
    assert_problem(scrape(&app, Some("uph_not_a_token")).await, 401).await;
    assert_problem(scrape(&app, Some(&student)).await, 403).await;
    let r = scrape(&app, Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::OK);
    promtool_check(&r.text().await.unwrap(), app.dir.path());
}

#[tokio::test]
async fn a_loopback_peer_that_is_a_trusted_proxy_is_not_trusted_for_metrics() {
    // A reverse proxy on the same box relays everyone: its loopback
    // address says nothing about who asked.
    let app = spawn_app_with(|c| c.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    assert_problem(scrape(&app, None).await, 401).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    assert_eq!(scrape(&app, Some(&admin)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn history_serves_rollups_to_admins() {
    let app = spawn_app_with(|c| c.metrics.rollup_secs = 1).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    let c = app.client();
    for _ in 0..5 {
        c.get(app.url("/healthz")).send().await.unwrap();
    }
    let mut points = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let v: Value = c
            .get(app.url("/api/v1/admin/metrics/history?range=day"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        points = v["points"].as_array().cloned().unwrap_or_default();
        if points.iter().any(|p| p["requests"].as_u64() > Some(4)) {
            break;
        }
    }
    assert!(
        points.iter().any(|p| p["requests"].as_u64() > Some(4)),
        "no rollup counted the requests: {points:?}"
    );
    let p = &points[0];
    for key in [
        "at",
        "secs",
        "errors_5xx",
        "orders_placed",
        "batches_locked",
        "sse_clients",
    ] {
        assert!(!p[key].is_null(), "{key} missing in {p}");
    }
    assert!(
        p["disk_free_ratio"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r <= 1.0)
    );
    let recent = app.state.metrics.recent(60);
    assert!(recent.requests >= 5, "{recent:?}");
    assert_eq!(recent.errors_5xx, 0);

    let r = c
        .get(app.url("/api/v1/admin/metrics/history?range=week"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["range"], "week");
    assert!(!v["points"].as_array().unwrap().is_empty());

    let r = c
        .get(app.url("/api/v1/admin/metrics/history?range=year"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(r, 422).await["errors"][0]["field"], "range");
    let r = c
        .get(app.url("/api/v1/admin/metrics/history"))
        .bearer_auth(&student)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    let r = c
        .get(app.url("/api/v1/admin/metrics/history"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

/// `uphill_orders` comes from counts kept with every order write, not from
/// a scan of every order: placing and cancelling move them, and a restart
/// reads the same counts back.
#[tokio::test]
async fn the_order_gauge_follows_status_changes_across_a_restart() {
    use crate::fixtures::{ShopOpts, market, order, student};
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (token, address) = student(&app, "student@uni.edu", &m).await;
    let first = order(&app, &m, &token, &address, "gauge-1").await;
    order(&app, &m, &token, &address, "gauge-2").await;
    let id = first["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{id}/cancel");
    let r = crate::helpers::post(&app, &token, &path, serde_json::json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The gauge is read at start (then every `metrics.refresh_secs`).
    let dir = app.stop().await;
    let app = crate::helpers::start(crate::helpers::test_config(&dir), dir).await;
    let want = [
        ("NEW", 1.0),
        ("CANCELLED", 1.0),
        ("BATCHED", 0.0),
        ("COMPLETED", 0.0),
    ];
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&app, None).await.text().await.unwrap();
        if want
            .iter()
            .all(|(s, n)| sample(&text, "uphill_orders", &[("status", s)]) == Some(*n))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("uphill_orders never showed {want:?}:\n{text}");
}
