//! A clock jump forward past several cutoffs: the closer catches up, locking
//! each batch exactly once, and later runs change nothing. The jump moves the
//! process's `AppState::clock`, never the machine's clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{Market, ShopOpts, market, student};
use crate::helpers::{TestApp, get_ok, spawn_app_with};

/// Places one unit of the shop's first product into the named batch.
async fn order_into(
    app: &TestApp,
    m: &Market,
    (token, address): &(String, String),
    slot: &str,
    cutoff: DateTime<Utc>,
) -> Value {
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(token)
        .header("idempotency-key", ulid::Ulid::new().to_string())
        .json(&json!({
            "shop_id": m.shop_id,
            "items": [{"product_id": m.products[0], "quantity": 1}],
            "address_id": address,
            "payment_method": "CASH",
            "delivery": "BATCH",
            "slot_id": slot,
            "cutoff_at": cutoff.to_rfc3339(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

async fn events(app: &TestApp) -> Vec<uphill::events::Event> {
    app.state
        .store
        .read(|txn| uphill::events::since(txn, 0, 100_000))
        .await
        .unwrap()
}

async fn notifications(app: &TestApp, token: &str, title: &str) -> Vec<Value> {
    let page = get_ok(app, token, "/api/v1/notifications?limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["title"] == title)
        .cloned()
        .collect()
}

/// Every order of every batch, as the owner sees it, with the student's OTP.
async fn otps(app: &TestApp, students: &[(String, String)], ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (token, _) = &students[i % students.len()];
        let o = get_ok(app, token, &format!("/api/v1/orders/{id}")).await;
        assert_eq!(o["status"], "BATCHED", "{o}");
        out.push(o["otp"].as_str().expect("otp").to_string());
    }
    out
}

#[tokio::test]
async fn a_jump_past_three_cutoffs_locks_each_batch_exactly_once() {
    let app = spawn_app_with(|c| c.batch.closer_cron = "* * * * * *".into()).await;
    let m = market(&app, "jump-owner@uni.edu", ShopOpts::default()).await;
    let students = vec![
        student(&app, "jump-a@uni.edu", &m).await,
        student(&app, "jump-b@uni.edu", &m).await,
    ];
    let slots = crate::helpers::whole_page(
        get_ok(
            &app,
            &students[0].0,
            &format!("/api/v1/shops/{}/slots", m.shop_id),
        )
        .await,
    );
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let first: DateTime<Utc> = slots[0]["next_cutoff_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The fixture's slot is daily at 23:59 in Asia/Kolkata (no DST): the
    // next three cutoffs are a day apart.
    let cutoffs: Vec<_> = (0..3).map(|d| first + chrono::Duration::days(d)).collect();

    // Two orders (one per student) in each of the three batches.
    let mut order_ids = Vec::new();
    let mut batch_of = BTreeMap::new();
    for cutoff in &cutoffs {
        for s in &students {
            let o = order_into(&app, &m, s, &slot, *cutoff).await;
            let id = o["id"].as_str().unwrap().to_string();
            batch_of.insert(id.clone(), o["batch_id"].as_str().unwrap().to_string());
            order_ids.push(id);
        }
    }
    let batches: BTreeSet<String> = batch_of.values().cloned().collect();
    assert_eq!(batches.len(), 3, "one batch per cutoff");

    // Ticks before the jump lock nothing: every cutoff is still ahead.
    let ran_before = app
        .state
        .closer_last_run
        .load(std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .state
        .closer_last_run
        .load(std::sync::atomic::Ordering::Relaxed)
        == ran_before
    {
        assert!(Instant::now() < deadline, "the closer did not tick");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for b in &batches {
        let v = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{b}")).await;
        assert_eq!(v["status"], "OPEN", "{v}");
    }
    let seq_before = events(&app).await.last().map(|e| e.seq).unwrap_or(0);

    // Jump a minute past the last cutoff.
    let jump = (*cutoffs.last().unwrap() - Utc::now()) + chrono::Duration::minutes(1);
    app.state.clock.advance(jump);

    let deadline = Instant::now() + Duration::from_secs(15);
    'wait: loop {
        assert!(
            Instant::now() < deadline,
            "the closer did not catch up within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        for b in &batches {
            let v = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{b}")).await;
            if v["status"] != "LOCKED" {
                continue 'wait;
            }
        }
        break;
    }
    let first_otps = otps(&app, &students, &order_ids).await;

    // Let a few more ticks pass, and run the closer once more by hand: it
    // must find nothing to do.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let report =
        uphill::jobs::lock_due_batches(&app.state.job_handles(), app.state.clock.now()).await;
    assert_eq!((report.locked, report.failed), (0, 0), "{report:?}");
    assert_eq!(
        otps(&app, &students, &order_ids).await,
        first_otps,
        "OTPs are made once"
    );

    // Exactly one lock event per order, naming its own batch.
    let locked: Vec<_> = events(&app)
        .await
        .into_iter()
        .filter(|e| e.seq > seq_before && e.kind == "batch.updated")
        .collect();
    let mut per_order = BTreeMap::<String, usize>::new();
    for e in &locked {
        assert_eq!(e.data["status"], "LOCKED", "{:?}", e.data);
        let order = e.data["order_id"].as_str().unwrap().to_string();
        assert_eq!(
            batch_of[&order],
            e.data["batch_id"].as_str().unwrap(),
            "event names the order's batch"
        );
        *per_order.entry(order).or_default() += 1;
    }
    assert_eq!(per_order.len(), order_ids.len(), "{per_order:?}");
    assert!(per_order.values().all(|n| *n == 1), "{per_order:?}");

    // The vendor hears "Batch ready" once per batch; each student once per order.
    let ready = notifications(&app, &m.owner_token, "Batch ready").await;
    let links: BTreeSet<String> = ready
        .iter()
        .map(|n| n["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ready.len(), 3, "{ready:?}");
    assert_eq!(
        links,
        batches
            .iter()
            .map(|b| format!("/vendor/batches/{b}"))
            .collect::<BTreeSet<_>>()
    );
    for (token, _) in &students {
        assert_eq!(
            notifications(&app, token, "Your batch is locked")
                .await
                .len(),
            3
        );
    }

    // Nothing at all was written by the runs after the catch-up.
    let seq_after = events(&app).await.last().map(|e| e.seq).unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again =
        uphill::jobs::lock_due_batches(&app.state.job_handles(), app.state.clock.now()).await;
    assert_eq!(again, uphill::jobs::CloserReport::default());
    assert_eq!(events(&app).await.last().map(|e| e.seq).unwrap(), seq_after);
}
