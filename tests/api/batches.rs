//! The batch lifecycle: lock (early, by cron, after downtime), claim,
//! dispatch, milestones, OTP delivery and lockout, completion.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{ShopOpts, add_staff, market, move_cutoff, order, student, user_id};
use crate::helpers::{assert_problem, get_ok, post, spawn_app, spawn_app_with};

#[tokio::test]
async fn early_lock_batches_orders_and_shows_the_otp_only_to_the_student() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m).await;
    let o1 = order(&app, &m, &s1, &a1, "k1").await;
    let o2 = order(&app, &m, &s2, &a2, "k2").await;
    assert_eq!(o1["batch_id"], o2["batch_id"], "same cutoff, same batch");
    let batch = o1["batch_id"].as_str().unwrap();

    // Only the owner may go early; a student gets 404, a runner 403.
    assert_problem(
        post(
            &app,
            &s1,
            &format!("/api/v1/batches/{batch}/lock"),
            json!({}),
        )
        .await,
        404,
    )
    .await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/lock"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], "LOCKED");
    assert_problem(
        post(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{batch}/lock"),
            json!({}),
        )
        .await,
        409,
    )
    .await;

    let mine = get_ok(
        &app,
        &s1,
        &format!("/api/v1/orders/{}", o1["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(mine["status"], "BATCHED");
    let otp = mine["otp"].as_str().expect("the student sees the OTP");
    assert_eq!(otp.len(), 4);
    assert!(otp.chars().all(|c| c.is_ascii_digit()));
    let vendor_view = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{}", o1["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        vendor_view["otp"].is_null(),
        "the vendor never sees the OTP"
    );
    let detail = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await;
    assert_eq!(detail["orders"].as_array().unwrap().len(), 2);
    // The prep summary sums each item over both orders.
    let mut want = std::collections::BTreeMap::<String, u64>::new();
    for o in [&o1, &o2] {
        for it in o["items"].as_array().unwrap() {
            *want
                .entry(it["product_id"].as_str().unwrap().into())
                .or_default() += it["quantity"].as_u64().unwrap();
        }
    }
    let got: std::collections::BTreeMap<String, u64> = detail["prep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_str().unwrap().into(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(want.values().all(|&q| q >= 2), "each line sums two orders");
    assert!(
        detail["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["otp"].is_null())
    );
    let other = get_ok(
        &app,
        &s2,
        &format!("/api/v1/orders/{}", o2["id"].as_str().unwrap()),
    )
    .await;
    assert_ne!(
        other["otp"],
        mine["otp"].clone(),
        "a fresh OTP per order (almost surely)"
    );

    // A student can no longer cancel; the next order goes to the next batch.
    assert_problem(
        post(
            &app,
            &s1,
            &format!("/api/v1/orders/{}/cancel", o1["id"].as_str().unwrap()),
            json!({}),
        )
        .await,
        409,
    )
    .await;
    let o3 = order(&app, &m, &s1, &a1, "k3").await;
    assert_ne!(o3["batch_id"], o1["batch_id"]);
    // The slots answer names the batch an order joins now: not the locked one.
    let slots = get_ok(&app, &s1, &format!("/api/v1/shops/{}/slots", m.shop_id)).await;
    let next = &slots["items"][0]["next_cutoff_at"];
    assert_eq!(next, &o3["cutoff_at"], "{slots}");
    assert_ne!(next, &o1["cutoff_at"]);
}

#[tokio::test]
async fn otp_delivery_with_lockout_regeneration_and_batch_completion() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m).await;
    let o1 = order(&app, &m, &s1, &a1, "k1").await;
    let o2 = order(&app, &m, &s2, &a2, "k2").await;
    let (id1, id2) = (o1["id"].as_str().unwrap(), o2["id"].as_str().unwrap());
    let batch = o1["batch_id"].as_str().unwrap();
    let (appr, owner) = (&app, m.owner_token.clone());
    let deliver = |id: &str, otp: Value| {
        let path = format!("/api/v1/orders/{id}/deliver");
        let owner = owner.clone();
        async move { post(appr, &owner, &path, json!({"otp": otp})).await }
    };

    // Not before dispatch.
    assert_problem(
        post(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{batch}/dispatch"),
            json!({}),
        )
        .await,
        409,
    )
    .await;
    post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/lock"),
        json!({}),
    )
    .await;
    assert_problem(deliver(id1, json!("0000")).await, 409).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/milestone"),
        json!({"milestone": "MIDWAY"}),
    )
    .await;
    assert_problem(r, 409).await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/dispatch"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    for (ms, status) in [
        ("CLIMB_STARTED", 200),
        ("MIDWAY", 200),
        ("CLIMB_STARTED", 409),
        ("NOWHERE", 400),
    ] {
        let r = post(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{batch}/milestone"),
            json!({"milestone": ms}),
        )
        .await;
        assert_eq!(r.status().as_u16(), status, "{ms}");
    }
    let st = get_ok(&app, &s1, &format!("/api/v1/orders/{id1}")).await;
    assert_eq!(st["status"], "OUT_FOR_DELIVERY");
    // The milestone is in the order itself, so a reload shows it.
    assert_eq!(st["milestone"], "MIDWAY");
    let otp = st["otp"].as_str().unwrap().to_string();

    // The student cannot complete their own order; strangers cannot see it.
    assert_problem(
        post(
            &app,
            &s1,
            &format!("/api/v1/orders/{id1}/deliver"),
            json!({"otp": otp}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        post(
            &app,
            &s2,
            &format!("/api/v1/orders/{id1}/deliver"),
            json!({"otp": otp}),
        )
        .await,
        404,
    )
    .await;
    assert_problem(deliver(id1, json!(1234)).await, 400).await;
    assert_problem(deliver(id1, json!({})).await, 400).await;
    let owner_view = |id: &str| {
        let (owner, path) = (m.owner_token.clone(), format!("/api/v1/orders/{id}"));
        async move { get_ok(appr, &owner, &path).await }
    };
    // Blank or malformed: a 422 naming the field, and no try used.
    for bad in ["", "12a4", "123", "12345", " 123", "١٢٣٤"] {
        let p = assert_problem(deliver(id1, json!(bad)).await, 422).await;
        assert_eq!(p["errors"][0]["field"], "otp", "{bad:?}: {p}");
    }
    assert_eq!(owner_view(id1).await["otp_failures"], 0);

    // Regenerating never restores tries: two wrong, a new OTP, still two.
    let regen = |id: &str, token: &str, body: Value| {
        let (token, path) = (token.to_string(), format!("/api/v1/orders/{id}/otp"));
        async move { post(appr, &token, &path, body).await }
    };
    let otp2 = get_ok(&app, &s2, &format!("/api/v1/orders/{id2}")).await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong2 = if otp2 == "1111" { "2222" } else { "1111" };
    for left in [4, 3] {
        let p = assert_problem(deliver(id2, json!(wrong2)).await, 422).await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} tries left")),
            "{p}"
        );
    }
    let r = regen(id2, &m.owner_token, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["otp"].is_null(), "the vendor never sees the OTP");
    assert_eq!(v["otp_failures"], 2);
    assert_eq!(v["otp_regenerations"], 1);
    let otp2 = get_ok(&app, &s2, &format!("/api/v1/orders/{id2}")).await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong2 = if otp2 == "1111" { "2222" } else { "1111" };
    let p = assert_problem(deliver(id2, json!(wrong2)).await, 422).await;
    assert!(
        p["detail"].as_str().unwrap().contains("2 tries left"),
        "{p}"
    );

    // The owner may make two new OTPs per order, then only an admin, who
    // must give a reason (audited).
    assert_eq!(
        regen(id1, &m.owner_token, json!({})).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        regen(id1, &m.owner_token, json!({"reason": "lost phone"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(regen(id1, &m.owner_token, json!({})).await, 403).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let p = assert_problem(regen(id1, &admin, json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "reason");
    assert_problem(regen(id1, &admin, json!({"reason": 5})).await, 400).await;
    let r = regen(id1, &admin, json!({"reason": "student's phone died"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["otp_regenerations"], 3);
    let audit = get_ok(&app, &admin, "/api/v1/admin/audit").await;
    assert!(
        audit.to_string().contains("order.otp_regenerate"),
        "{audit}"
    );
    let notices = get_ok(&app, &s1, "/api/v1/notifications").await;
    assert_eq!(
        notices.to_string().matches("New delivery OTP").count(),
        3,
        "{notices}"
    );
    let otp = get_ok(&app, &s1, &format!("/api/v1/orders/{id1}")).await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = if otp == "1111" { "2222" } else { "1111" };

    // Four wrong tries are 422s; the fifth locks the order (423) for good.
    for left in (1..5).rev() {
        let p = assert_problem(deliver(id1, json!(wrong)).await, 422).await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} tries left")),
            "{p}"
        );
    }
    assert_problem(deliver(id1, json!(wrong)).await, 423).await;
    assert_problem(deliver(id1, json!(otp)).await, 423).await;
    assert_problem(regen(id1, &m.owner_token, json!({})).await, 423).await;
    assert_problem(regen(id1, &admin, json!({"reason": "again"})).await, 423).await;
    let still = owner_view(id1).await;
    assert_eq!(still["status"], "OUT_FOR_DELIVERY");
    assert_eq!(still["otp_failures"], 5);
    // Audited once, and one admin alert is open.
    let audit = get_ok(&app, &admin, "/api/v1/admin/audit").await;
    assert_eq!(
        audit.to_string().matches("order.otp_locked").count(),
        1,
        "{audit}"
    );
    let alerts = get_ok(&app, &admin, "/api/v1/admin/alerts").await;
    let active = alerts["active"].to_string().to_lowercase();
    assert_eq!(active.matches("otp_locked").count(), 1, "{alerts}");

    // An admin settles it: delivered, with a reason.
    let r = post(
        &app,
        &admin,
        &format!("/api/v1/admin/orders/{id1}/status"),
        json!({"status": "COMPLETED", "reason": "checked the student's ID at the door"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let locked_left = app
        .state
        .store
        .read(|txn| {
            use redb::ReadableTableMetadata;
            Ok::<_, uphill::store::StoreError>(
                txn.open_table(uphill::store::tables::OTP_LOCKED)?.len()?,
            )
        })
        .await
        .unwrap();
    assert_eq!(
        locked_left, 0,
        "a settled order no longer keeps the alert open"
    );
    assert_eq!(
        get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await["status"],
        "IN_TRANSIT"
    );

    // A failure needs a reason; then nothing is open and the batch completes.
    let p = assert_problem(
        post(
            &app,
            &m.owner_token,
            &format!("/api/v1/orders/{id2}/fail"),
            json!({"reason": "  "}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "reason");
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{id2}/fail"),
        json!({"reason": "nobody in room"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await;
    assert_eq!(b["status"], "COMPLETED");
    assert_eq!(b["milestone"], "MIDWAY");
}

#[tokio::test]
async fn twenty_runners_race_to_claim_and_one_wins() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let batch = o["batch_id"].as_str().unwrap().to_string();
    let mut runners = Vec::new();
    for i in 0..20 {
        let t = app.bearer(&format!("runner{i}@uni.edu")).await;
        add_staff(&app, &m.shop_id, &user_id(&app, &t).await).await;
        runners.push(t);
    }
    // Not claimable while open.
    assert_problem(
        post(
            &app,
            &runners[0],
            &format!("/api/v1/batches/{batch}/claim"),
            json!({}),
        )
        .await,
        409,
    )
    .await;
    post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/lock"),
        json!({}),
    )
    .await;
    let runs: Vec<Value> = crate::helpers::page_items(
        app.client()
            .get(app.url("/api/v1/me/runs"))
            .bearer_auth(&runners[3])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(runs.len(), 1, "a locked batch is claimable");

    let mut tasks = Vec::new();
    for t in runners.clone() {
        let (c, url) = (
            app.client(),
            app.url(&format!("/api/v1/batches/{batch}/claim")),
        );
        tasks.push(tokio::spawn(async move {
            (
                c.post(url).bearer_auth(&t).send().await.unwrap().status(),
                t,
            )
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (status, token) = t.await.unwrap();
        match status {
            StatusCode::OK => winners.push(token),
            StatusCode::CONFLICT => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let winner = &winners[0];
    let loser = runners.iter().find(|t| *t != winner).unwrap();
    // Only the winner (or the owner) carries it.
    assert_problem(
        post(
            &app,
            loser,
            &format!("/api/v1/batches/{batch}/dispatch"),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    let r = post(
        &app,
        winner,
        &format!("/api/v1/batches/{batch}/dispatch"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let otp = get_ok(
        &app,
        &s1,
        &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
    )
    .await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    let oid = o["id"].as_str().unwrap();
    // Another runner of the same shop cannot work the claimed batch: no
    // delivery, no milestone, no new OTP to burn the student's tries.
    for (path, body) in [
        (format!("/api/v1/orders/{oid}/deliver"), json!({"otp": otp})),
        (format!("/api/v1/orders/{oid}/otp"), json!({})),
        (
            format!("/api/v1/batches/{batch}/milestone"),
            json!({"milestone": "MIDWAY"}),
        ),
    ] {
        assert_problem(post(&app, loser, &path, body).await, 403).await;
    }
    // Runners carry; the owner decides: cancel, fail, reschedule and new
    // OTPs are refused even to the runner who claimed the batch.
    for who in [winner, loser] {
        for (path, body) in [
            (format!("/api/v1/orders/{oid}/otp"), json!({})),
            (
                format!("/api/v1/orders/{oid}/cancel"),
                json!({"reason": "no"}),
            ),
            (
                format!("/api/v1/orders/{oid}/fail"),
                json!({"reason": "no"}),
            ),
            (format!("/api/v1/orders/{oid}/reschedule"), json!({})),
        ] {
            assert_problem(post(&app, who, &path, body).await, 403).await;
        }
    }
    let untouched = get_ok(&app, &s1, &format!("/api/v1/orders/{oid}")).await;
    assert_eq!(untouched["status"], "OUT_FOR_DELIVERY");
    assert_eq!(untouched["otp"], otp.as_str());
    assert_eq!(untouched["otp_failures"], 0);
    assert_eq!(untouched["otp_regenerations"], 0);
    let r = post(
        &app,
        winner,
        &format!("/api/v1/orders/{oid}/deliver"),
        json!({"otp": otp}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // An outsider sees nothing.
    let stranger = app.bearer("stranger@uni.edu").await;
    assert_problem(
        post(
            &app,
            &stranger,
            &format!("/api/v1/batches/{batch}/claim"),
            json!({}),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn the_cron_closer_locks_a_due_batch_within_seconds() {
    let app = spawn_app_with(|c| c.batch.closer_cron = "* * * * * *".into()).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let batch = o["batch_id"].as_str().unwrap();
    move_cutoff(
        &app.state.store,
        batch,
        chrono::Utc::now() + chrono::Duration::seconds(1),
    )
    .await;
    let mut status = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await["status"]
            .clone();
        if status == "LOCKED" {
            break;
        }
    }
    assert_eq!(status, "LOCKED");
    let mine = get_ok(
        &app,
        &s1,
        &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(mine["status"], "BATCHED");
    assert!(mine["otp"].is_string());
    // The vendor and the student were told.
    let titles = get_ok(&app, &m.owner_token, "/api/v1/notifications").await["items"].clone();
    assert_eq!(titles[0]["title"], "Batch ready", "{titles}");
    let owner_id = user_id(&app, &m.owner_token).await;
    let sid = user_id(&app, &s1).await;
    let counts = app
        .state
        .store
        .read(move |txn| {
            let t = txn.open_multimap_table(uphill::store::tables::USER_TO_NOTIFICATIONS)?;
            Ok::<_, uphill::store::StoreError>((
                t.get(owner_id.as_str())?.count(),
                t.get(sid.as_str())?.count(),
            ))
        })
        .await
        .unwrap();
    // The owner: the new order, then the locked batch.
    assert_eq!(counts, (2, 1));
    assert!(
        app.state
            .closer_last_run
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

#[tokio::test]
async fn a_cutoff_missed_while_down_is_locked_at_start_and_empty_batches_cancel() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m).await;
    let kept = order(&app, &m, &s1, &a1, "k1").await;
    let batch = kept["batch_id"].as_str().unwrap().to_string();
    let cancelled = order(&app, &m, &s2, &a2, "k2").await;
    assert_eq!(cancelled["batch_id"], kept["batch_id"]);
    let r = post(
        &app,
        &s2,
        &format!(
            "/api/v1/orders/{}/cancel",
            cancelled["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let config = app.state.config.as_ref().clone();
    let store = app.state.store.clone();
    move_cutoff(
        &store,
        &batch,
        chrono::Utc::now() - chrono::Duration::hours(3),
    )
    .await;
    drop(store);
    let dir = app.stop().await;
    let app = crate::helpers::start(config, dir).await;
    let b = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await;
    assert_eq!(b["status"], "LOCKED", "locked at start, once");
    let orders = b["orders"].as_array().unwrap();
    let statuses: Vec<&str> = orders
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"BATCHED") && statuses.contains(&"CANCELLED"),
        "{statuses:?}"
    );

    // An emptied batch becomes CANCELLED when its cutoff passes.
    let (s3, a3) = student(&app, "s3@uni.edu", &m).await;
    let lone = order(&app, &m, &s3, &a3, "k3").await;
    let lone_batch = lone["batch_id"].as_str().unwrap().to_string();
    post(
        &app,
        &s3,
        &format!("/api/v1/orders/{}/cancel", lone["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    move_cutoff(
        &app.state.store,
        &lone_batch,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .await;
    let report = uphill::jobs::lock_due_batches(&app.state.job_handles(), chrono::Utc::now()).await;
    assert_eq!(report.locked, 1);
    let again = uphill::jobs::lock_due_batches(&app.state.job_handles(), chrono::Utc::now()).await;
    assert_eq!(again.locked, 0, "idempotent");
    assert_eq!(
        get_ok(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{lone_batch}")
        )
        .await["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn stale_locked_batches_warn_the_vendor_once() {
    let app = spawn_app_with(|c| c.batch.stale_after_minutes = 1).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let batch = o["batch_id"].as_str().unwrap();
    post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{batch}/lock"),
        json!({}),
    )
    .await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    let first = uphill::jobs::lock_due_batches(&app.state.job_handles(), later).await;
    let second = uphill::jobs::lock_due_batches(
        &app.state.job_handles(),
        later + chrono::Duration::minutes(5),
    )
    .await;
    assert_eq!((first.stale_warned, second.stale_warned), (1, 0));
}

#[tokio::test]
async fn direct_orders_are_accepted_with_an_otp_and_reschedules_move_batches() {
    let app = spawn_app().await;
    let m = market(
        &app,
        "owner@uni.edu",
        ShopOpts {
            direct_delivery_fee: 2000,
            ..Default::default()
        },
    )
    .await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&s1)
        .header("idempotency-key", "direct")
        .json(&json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}], "address_id": a1, "payment_method": "CASH", "delivery": "DIRECT"}))
        .send()
        .await
        .unwrap();
    let direct: Value = r.json().await.unwrap();
    let id = direct["id"].as_str().unwrap();
    assert!(direct["batch_id"].is_null());
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{id}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        post(
            &app,
            &m.owner_token,
            &format!("/api/v1/orders/{id}/accept"),
            json!({}),
        )
        .await,
        409,
    )
    .await;
    let otp = get_ok(&app, &s1, &format!("/api/v1/orders/{id}")).await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(
            &app,
            &m.owner_token,
            &format!("/api/v1/orders/{id}/deliver"),
            json!({"otp": otp})
        )
        .await
        .status(),
        StatusCode::OK
    );

    // Reschedule a batched order into the next batch.
    let o = order(&app, &m, &s1, &a1, "k2").await;
    let first = o["batch_id"].as_str().unwrap().to_string();
    post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{first}/lock"),
        json!({}),
    )
    .await;
    let r = post(
        &app,
        &m.owner_token,
        &format!("/api/v1/orders/{}/reschedule", o["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["status"], "RESCHEDULED");
    assert_ne!(moved["batch_id"].as_str().unwrap(), first);
    // When the new batch locks, the rescheduled order is batched again.
    let next = moved["batch_id"].as_str().unwrap();
    post(
        &app,
        &m.owner_token,
        &format!("/api/v1/batches/{next}/lock"),
        json!({}),
    )
    .await;
    let again = get_ok(
        &app,
        &s1,
        &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(again["status"], "BATCHED");
    assert!(again["otp"].is_string());
}

#[tokio::test]
async fn delivery_tries_are_rate_limited_per_staff_member() {
    let app = spawn_app_with(|c| c.batch.deliver_per_minute = 3).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let o = order(&app, &m, &s1, &a1, "k1").await;
    let (id, batch) = (o["id"].as_str().unwrap(), o["batch_id"].as_str().unwrap());
    for step in ["lock", "dispatch"] {
        let r = post(
            &app,
            &m.owner_token,
            &format!("/api/v1/batches/{batch}/{step}"),
            json!({}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{step}");
    }
    let otp = get_ok(&app, &s1, &format!("/api/v1/orders/{id}")).await["otp"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = if otp == "1111" { "2222" } else { "1111" };
    let path = format!("/api/v1/orders/{id}/deliver");
    for _ in 0..3 {
        assert_problem(
            post(&app, &m.owner_token, &path, json!({"otp": wrong})).await,
            422,
        )
        .await;
    }
    let r = post(&app, &m.owner_token, &path, json!({"otp": otp})).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429).await;
    let v = get_ok(&app, &m.owner_token, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(v["otp_failures"], 3, "a refused try is not counted");
    assert_eq!(v["status"], "OUT_FOR_DELIVERY");
    // The limit is per staff member: an admin still has a budget.
    let admin = app.admin_bearer("admin@uni.edu").await;
    let r = post(&app, &admin, &path, json!({"otp": otp})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// SPEC §3: a slot's `max_orders` reached, the batch locks at once — the
/// order that filled it is answered BATCHED with its OTP — and the next
/// order joins the slot's following batch.
#[tokio::test]
async fn the_order_that_fills_a_batch_locks_it_at_once() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let slots = get_ok(
        &app,
        &m.owner_token,
        &format!("/api/v1/shops/{}/slots", m.shop_id),
    )
    .await;
    let slots = slots.get("items").unwrap_or(&slots);
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let r = app
        .client()
        .patch(app.url(&format!("/api/v1/slots/{slot}")))
        .bearer_auth(&m.owner_token)
        .json(&json!({"max_orders": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (s1, a1) = student(&app, "s1@uni.edu", &m).await;
    let (s2, a2) = student(&app, "s2@uni.edu", &m).await;
    let (s3, a3) = student(&app, "s3@uni.edu", &m).await;
    let o1 = order(&app, &m, &s1, &a1, "k1").await;
    assert_eq!(o1["status"], "NEW");
    let o2 = order(&app, &m, &s2, &a2, "k2").await;
    assert_eq!(o2["batch_id"], o1["batch_id"]);
    assert_eq!(o2["status"], "BATCHED", "{o2}");
    assert!(o2["otp"].as_str().is_some_and(|otp| otp.len() == 4), "{o2}");
    let batch = o1["batch_id"].as_str().unwrap();
    let b = get_ok(&app, &m.owner_token, &format!("/api/v1/batches/{batch}")).await;
    assert_eq!(b["status"], "LOCKED");
    assert_eq!(b["order_count"], 2);
    // The first order was batched by the same lock; its student hears of it.
    let v1 = get_ok(
        &app,
        &s1,
        &format!("/api/v1/orders/{}", o1["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(v1["status"], "BATCHED");
    assert!(v1["otp"].is_string());

    let o3 = order(&app, &m, &s3, &a3, "k3").await;
    assert_ne!(
        o3["batch_id"], o1["batch_id"],
        "a full batch takes no more orders"
    );
    assert_eq!(o3["status"], "NEW");
    assert!(o3["cutoff_at"].as_str() > o1["cutoff_at"].as_str());
    // A replay of the filling order answers the order as it is now.
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&s2)
        .header("idempotency-key", "k2")
        .json(&json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}], "address_id": a2, "payment_method": "UPI"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (&again["id"], &again["status"]),
        (&o2["id"], &json!("BATCHED"))
    );
}
