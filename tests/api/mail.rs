//! Email through the outbox, against a real SMTP server process on
//! loopback (aiosmtpd, `tests/support/smtp_sink.py`): domain mails, SMTP
//! outages and restarts, dead letters and the admin outbox API, the
//! verification and password-reset flows, and alert incidents.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uphill::config::{Config, SmtpSecurity};

use crate::fixtures::{ShopOpts, add_staff, lock, market, student, user_id};
use crate::helpers::{TestApp, assert_problem, get_ok, spawn_app_with, start};
use crate::smtp::{SmtpSink, token_in};

const PW: &str = "correct horse battery";
const PUBLIC: &str = "https://uphill.test";

/// Points the app at the sink, with short retry waits so tests stay quick.
fn mail_config(c: &mut Config, sink: &SmtpSink) {
    c.smtp.host = "127.0.0.1".into();
    c.smtp.port = Some(sink.port);
    c.smtp.security = Some(SmtpSecurity::None);
    c.smtp.from = "Uphill Test <uphill@uphill.test>".into();
    c.server.public_url = PUBLIC.into();
    c.mail.retry_base_secs = 1;
    c.mail.retry_max_secs = 1;
    c.mail.max_attempts = 2;
    c.mail.send_timeout_secs = 5;
}

async fn spawn_with_sink(sink: &SmtpSink) -> TestApp {
    spawn_app_with(|c| mail_config(c, sink)).await
}

async fn outbox(app: &TestApp, admin: &str, query: &str) -> Value {
    let r = app
        .client()
        .get(app.url(&format!("/api/v1/admin/mail{query}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Polls the outbox until `pred` holds (up to `secs`).
async fn outbox_until(
    app: &TestApp,
    admin: &str,
    secs: u64,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let o = outbox(app, admin, "").await;
        if pred(&o) {
            return o;
        }
        assert!(Instant::now() < deadline, "outbox never got there: {o}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers (which mails the confirmation link) and signs in with the
/// password, address still unconfirmed; returns the signed-in browser.
async fn register(app: &TestApp, email: &str) -> reqwest::Client {
    let b = app.browser();
    let r = app.register(&b, email, PW).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "register {email}");
    let r = app.login(&b, email, PW).await;
    assert_eq!(r.status(), StatusCode::OK, "login {email}");
    b
}

#[tokio::test]
async fn batch_ready_mail_reaches_the_shop_staff_with_count_and_pick_list_link() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let runner = app.bearer("runner@uni.edu").await;
    add_staff(&app, &m.shop_id, &user_id(&app, &runner).await).await;
    let mut batch = String::new();
    for (i, email) in ["s1@uni.edu", "s2@uni.edu"].iter().enumerate() {
        let (token, address) = student(&app, email, &m).await;
        let r = app
            .client()
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("k{i}"))
            .json(&json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}], "address_id": address, "payment_method": "CASH"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        batch = r.json::<Value>().await.unwrap()["batch_id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    assert!(
        sink.matching("owner@uni.edu", "Batch ready").is_empty(),
        "nothing before the lock"
    );
    lock(&app, &m, &batch).await;

    let link = format!("{PUBLIC}/api/v1/batches/{batch}/picklist.pdf");
    for staff in ["owner@uni.edu", "runner@uni.edu"] {
        let mail = sink.wait_for(staff, "Batch ready", 10).await;
        assert!(mail.subject.contains("2 orders"), "{}", mail.subject);
        assert!(mail.text.contains("2 orders"), "{}", mail.text);
        assert!(mail.text.contains(&link), "{}", mail.text);
        assert!(
            mail.html.contains(&format!("href=\"{link}\"")),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("Foot Hill Canteen"));
        assert!(mail.from.contains("uphill@uphill.test"), "{}", mail.from);
    }
    // Students are told in the app, not by a batch-ready mail.
    assert!(sink.matching("s1@uni.edu", "Batch ready").is_empty());
    // Sent mail leaves the outbox.
    let admin = app.admin_bearer("admin@uni.edu").await;
    let o = outbox_until(&app, &admin, 10, |o| o["status"]["queued"] == 0).await;
    assert!(
        o["status"]["sent_since_start"].as_u64().unwrap() >= 2,
        "{o}"
    );
}

#[tokio::test]
async fn mail_waits_while_smtp_is_down_and_goes_out_when_it_comes_up() {
    let mut sink = SmtpSink::down();
    let app = spawn_with_sink(&sink).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    register(&app, "waiting@uni.edu").await;

    // Unreachable: the mail stays queued and uses up no tries.
    let o = outbox_until(&app, &admin, 10, |o| !o["status"]["last_error"].is_null()).await;
    let item = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["to"] == "waiting@uni.edu")
        .cloned()
        .expect("the verification mail is queued");
    assert_eq!(item["state"], "QUEUED");
    assert_eq!(item["template"], "verify_email");
    assert_eq!(item["attempts"], 0);
    assert!(
        o["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{o}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let o = outbox(&app, &admin, "?state=QUEUED").await;
    assert_eq!(
        o["items"][0]["attempts"], 0,
        "an outage costs no tries: {o}"
    );
    assert_eq!(o["status"]["dead"], 0);

    sink.restart();
    let mail = sink
        .wait_for("waiting@uni.edu", "Confirm your email", 15)
        .await;
    assert!(mail.text.contains(&format!("{PUBLIC}/verify-email?token=")));
    outbox_until(&app, &admin, 10, |o| {
        o["status"]["queued"] == 0 && o["status"]["last_error"].is_null()
    })
    .await;
}

#[tokio::test]
async fn mail_survives_a_restart_while_smtp_is_down_and_is_delivered_once() {
    let mut sink = SmtpSink::down();
    let app = spawn_with_sink(&sink).await;
    let config = {
        let mut c = crate::helpers::test_config(&app.dir);
        mail_config(&mut c, &sink);
        c
    };
    register(&app, "restart@uni.edu").await;
    let queued = app.state.mail.counts(&app.state.store).await.unwrap();
    assert_eq!(queued.queued, 1);
    let dir = app.stop().await;

    let app = start(config, dir).await;
    let after = app.state.mail.counts(&app.state.store).await.unwrap();
    assert_eq!(after.queued, 1, "the outbox is on disk");
    sink.restart();
    sink.wait_for("restart@uni.edu", "Confirm your email", 15)
        .await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sink.matching("restart@uni.edu", "Confirm your email").len(),
        1
    );
    assert_eq!(
        app.state
            .mail
            .counts(&app.state.store)
            .await
            .unwrap()
            .queued,
        0
    );
}

#[tokio::test]
async fn refused_mail_is_dead_lettered_after_the_last_try_and_admin_retry_delivers_it() {
    let sink = SmtpSink::start();
    sink.reject("refused@uni.edu", false);
    let app = spawn_with_sink(&sink).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    register(&app, "refused@uni.edu").await;

    let o = outbox_until(&app, &admin, 15, |o| o["status"]["dead"] == 1).await;
    let dead = outbox(&app, &admin, "?state=DEAD").await;
    let item = &dead["items"][0];
    assert_eq!(item["to"], "refused@uni.edu");
    assert_eq!(item["state"], "DEAD");
    assert_eq!(item["attempts"], 2, "max_attempts = 2: {item}");
    assert!(
        item["last_error"].as_str().unwrap().contains("451"),
        "{item}"
    );
    assert!(item["dead_at"].is_string());
    assert!(
        item.get("data").is_none() && item.get("message").is_none(),
        "no token shown"
    );
    assert!(o["status"]["failed_attempts_since_start"].as_u64().unwrap() >= 2);
    assert!(sink.matching("refused@uni.edu", "").is_empty());
    let id = item["id"].as_str().unwrap().to_string();

    sink.accept_all();
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/mail/{id}/retry")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "QUEUED");
    assert_eq!(v["attempts"], 0);
    let mail = sink
        .wait_for("refused@uni.edu", "Confirm your email", 10)
        .await;
    assert!(mail.text.contains("verify-email?token="));
    // Sent: it is gone, so a second retry finds nothing.
    outbox_until(&app, &admin, 10, |o| {
        o["items"].as_array().unwrap().is_empty()
    })
    .await;
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/mail/{id}/retry")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    // The audit log has the retry.
    let audit: Value = get_ok(&app, &admin, "/api/v1/admin/audit?action=mail.retry").await;
    assert_eq!(audit["items"][0]["target"], id);
}

#[tokio::test]
async fn admins_discard_mail_and_everyone_else_is_refused() {
    let sink = SmtpSink::start();
    sink.reject("bounce@uni.edu", true);
    let app = spawn_with_sink(&sink).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("bounce@uni.edu").await;

    // A permanent refusal dead-letters at once.
    outbox_until(&app, &admin, 10, |o| o["status"]["dead"] == 1).await;
    let o = outbox(&app, &admin, "?state=DEAD").await;
    assert_eq!(o["items"][0]["attempts"], 1);
    assert!(
        o["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("550")
    );
    let id = o["items"][0]["id"].as_str().unwrap().to_string();

    // Not an admin, not signed in.
    let c = app.client();
    for r in [
        c.get(app.url("/api/v1/admin/mail"))
            .bearer_auth(&student)
            .send()
            .await
            .unwrap(),
        c.post(app.url(&format!("/api/v1/admin/mail/{id}/retry")))
            .bearer_auth(&student)
            .send()
            .await
            .unwrap(),
        c.delete(app.url(&format!("/api/v1/admin/mail/{id}")))
            .bearer_auth(&student)
            .send()
            .await
            .unwrap(),
        c.get(app.url("/api/v1/admin/alerts"))
            .bearer_auth(&student)
            .send()
            .await
            .unwrap(),
    ] {
        assert_problem(r, 403).await;
    }
    assert_problem(
        c.get(app.url("/api/v1/admin/mail")).send().await.unwrap(),
        401,
    )
    .await;
    // Bad ids and bad queries.
    for path in [
        "/api/v1/admin/mail/01AAAAAAAAAAAAAAAAAAAAAAAA/retry".to_string(),
        "/api/v1/admin/mail/nope/retry".to_string(),
    ] {
        let r = c
            .post(app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_problem(r, 404).await;
    }
    let r = c
        .delete(app.url("/api/v1/admin/mail/01AAAAAAAAAAAAAAAAAAAAAAAA"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    for q in [
        "?state=LOST",
        "?limit=0",
        "?limit=201",
        "?limit=x",
        &format!("?cursor={}", "z".repeat(27)),
    ] {
        let r = c
            .get(app.url(&format!("/api/v1/admin/mail{q}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let p = assert_problem(r, 422).await;
        let name = q.trim_start_matches('?').split('=').next().unwrap();
        assert_eq!(p["errors"][0]["field"], name, "{p}");
    }
    let r = c
        .post(app.url(&format!("/api/v1/admin/mail/{}/retry", "A".repeat(27))))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // Nothing above changed the outbox.
    assert_eq!(outbox(&app, &admin, "").await["status"]["dead"], 1);

    // A queued mail cannot be "retried".
    sink.reject("later@uni.edu", false);
    app.bearer("later@uni.edu").await;
    let o = outbox_until(&app, &admin, 10, |o| o["status"]["queued"] == 1).await;
    let queued = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["state"] == "QUEUED")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(app.url(&format!("/api/v1/admin/mail/{queued}/retry")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409).await;

    let r = c
        .delete(app.url(&format!("/api/v1/admin/mail/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let o = outbox(&app, &admin, "?state=DEAD").await;
    assert!(
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id.as_str())
    );
    let r = c
        .delete(app.url(&format!("/api/v1/admin/mail/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    assert!(sink.matching("bounce@uni.edu", "").is_empty());
}

#[tokio::test]
async fn email_verification_works_once_through_the_mailed_link() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let (b, csrf) = {
        let b = app.browser();
        let r = app.register(&b, "Verify.Me@uni.edu", PW).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r = app.login(&b, "Verify.Me@uni.edu", PW).await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["user"]["email_verified"], false);
        (b, v["csrf_token"].as_str().unwrap().to_string())
    };
    let mail = sink
        .wait_for("verify.me@uni.edu", "Confirm your email", 10)
        .await;
    let token = token_in(&mail.text);
    assert_eq!(token.len(), 64);
    assert!(mail.html.contains(&token));

    // Bad bodies and bad tokens change nothing.
    let c = app.client();
    let confirm = |body: Value| {
        c.post(app.url("/api/v1/auth/verify-email/confirm"))
            .json(&body)
            .send()
    };
    assert_problem(confirm(json!({"token": 5})).await.unwrap(), 400).await;
    assert_problem(confirm(json!({})).await.unwrap(), 400).await;
    assert_problem(confirm(json!({"token": token, "x": 1})).await.unwrap(), 400).await;
    assert_problem(
        confirm(json!({"token": "f".repeat(65)})).await.unwrap(),
        400,
    )
    .await;
    let p = assert_problem(
        confirm(json!({"token": "0".repeat(64)})).await.unwrap(),
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "token");
    let me: Value = b
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], false);

    let r = confirm(json!({"token": token})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The link signs in whoever follows it (here a cookie-less client).
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("uphill_session=")
    );
    let signed_in = r.json::<Value>().await.unwrap();
    assert_eq!(signed_in["user"]["email_verified"], true);
    assert_eq!(signed_in["user"]["email"], "Verify.Me@uni.edu");
    let me: Value = b
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
    // Single use.
    assert_problem(confirm(json!({"token": token})).await.unwrap(), 422).await;
    // Verified: asking again is a conflict; signed out it is 401.
    let r = b
        .post(app.url("/api/v1/auth/verify-email/request"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409).await;
    let r = c
        .post(app.url("/api/v1/auth/verify-email/request"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn a_new_verification_link_replaces_the_old_one_but_not_within_a_minute() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    // Registered and signed in with the password, still unconfirmed.
    let b = app.browser();
    assert_eq!(
        app.register(&b, "again@uni.edu", PW).await.status(),
        StatusCode::ACCEPTED
    );
    let r = app.login(&b, "again@uni.edu", PW).await;
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.new_token(&b, &csrf, "t").await;
    sink.wait_for("again@uni.edu", "Confirm your email", 10)
        .await;
    let r = app
        .client()
        .post(app.url("/api/v1/auth/verify-email/request"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sink.matching("again@uni.edu", "Confirm your email").len(),
        1,
        "the first link is under a minute old: no second mail"
    );
}

#[tokio::test]
async fn password_reset_through_the_mailed_link_without_revealing_accounts() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let old_session = register(&app, "forgot@uni.edu").await;
    let c = app.client();
    let request = |email: &str| {
        c.post(app.url("/api/v1/auth/password-reset/request"))
            .json(&json!({"email": email}))
            .send()
    };
    // Unknown and known addresses get the same answer.
    let unknown = request("nobody@uni.edu").await.unwrap();
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let unknown_body = unknown.text().await.unwrap();
    let known = request("FORGOT@uni.edu").await.unwrap();
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(known.text().await.unwrap(), unknown_body);
    assert_problem(request("").await.unwrap(), 422).await;
    assert_problem(
        c.post(app.url("/api/v1/auth/password-reset/request"))
            .json(&json!({"email": ["x"]}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    let mail = sink
        .wait_for("forgot@uni.edu", "Reset your Uphill password", 10)
        .await;
    assert!(
        mail.text
            .contains(&format!("{PUBLIC}/reset-password?token="))
    );
    let token = token_in(&mail.text);
    assert!(sink.matching("nobody@uni.edu", "").is_empty());

    let confirm = |body: Value| {
        c.post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&body)
            .send()
    };
    let p = assert_problem(
        confirm(json!({"token": token, "password": "short"}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "password");
    assert_problem(
        confirm(json!({"token": "a".repeat(64), "password": "a new long password"}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_problem(confirm(json!({"token": token})).await.unwrap(), 400).await;
    // Still the old password after the rejections.
    assert_eq!(
        app.login(&app.client(), "forgot@uni.edu", PW)
            .await
            .status(),
        StatusCode::OK
    );

    let r = confirm(json!({"token": token, "password": "a new long password"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.login(&app.client(), "forgot@uni.edu", PW).await, 401).await;
    let r = app
        .login(&app.client(), "forgot@uni.edu", "a new long password")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The mailbox was reached: verified. Old sessions are over.
    assert_eq!(
        r.json::<Value>().await.unwrap()["user"]["email_verified"],
        true
    );
    assert_problem(
        old_session.get(app.url("/api/v1/me")).send().await.unwrap(),
        401,
    )
    .await;
    // The link worked once.
    assert_problem(
        confirm(json!({"token": token, "password": "yet another password"}))
            .await
            .unwrap(),
        422,
    )
    .await;
    // A verification token is not a reset token.
    let v = sink
        .wait_for("forgot@uni.edu", "Confirm your email", 10)
        .await;
    assert_problem(
        confirm(json!({"token": token_in(&v.text), "password": "yet another password"}))
            .await
            .unwrap(),
        422,
    )
    .await;
}

#[tokio::test]
async fn an_alert_mails_admins_once_per_incident_and_once_on_resolution_across_a_restart() {
    let sink = SmtpSink::start();
    sink.reject("bounce@uni.edu", true);
    let tweak = |c: &mut Config| {
        mail_config(c, &sink);
        c.alerts.interval_secs = 1;
    };
    let app = spawn_app_with(tweak).await;
    let mut config = crate::helpers::test_config(&app.dir);
    tweak(&mut config);
    let admin = app.admin_bearer("admin@uni.edu").await;
    app.bearer("bounce@uni.edu").await;

    const OPENED: &str = "[Uphill alert] Mail was dead-lettered";
    const RESOLVED: &str = "[Uphill resolved] Mail was dead-lettered";
    let mail = sink.wait_for("admin@uni.edu", OPENED, 15).await;
    assert!(mail.text.contains("dead_mail"), "{}", mail.text);
    let alerts: Value = get_ok(&app, &admin, "/api/v1/admin/alerts").await;
    let active = alerts["active"].as_array().unwrap();
    let inc = active
        .iter()
        .find(|i| i["rule"] == "DEAD_MAIL")
        .expect("banner");
    assert!(inc["resolved_at"].is_null());
    assert!(inc["detail"].as_str().unwrap().contains("1 mail"));

    // A restart during the incident mails nothing new.
    let dir = app.stop().await;
    let app = start(config, dir).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.matching("admin@uni.edu", OPENED).len(), 1);

    // Discarding the dead letter resolves it: one resolution mail.
    let o = outbox(&app, &admin, "?state=DEAD").await;
    let id = o["items"][0]["id"].as_str().unwrap();
    let r = app
        .client()
        .delete(app.url(&format!("/api/v1/admin/mail/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    sink.wait_for("admin@uni.edu", RESOLVED, 15).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.matching("admin@uni.edu", RESOLVED).len(), 1);
    assert_eq!(sink.matching("admin@uni.edu", OPENED).len(), 1);
    let alerts: Value = get_ok(&app, &admin, "/api/v1/admin/alerts").await;
    assert!(
        alerts["active"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["rule"] != "DEAD_MAIL")
    );
    let past = alerts["recent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["rule"] == "DEAD_MAIL")
        .expect("history");
    assert!(past["resolved_at"].is_string());
}

#[tokio::test]
async fn shop_decisions_are_mailed_to_the_owner() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let m = market(
        &app,
        "vendor@uni.edu",
        ShopOpts {
            verification: uphill::domain::shop::Verification::Pending,
            ..ShopOpts::default()
        },
    )
    .await;
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/admin/shops/{}/decision", m.shop_id)))
        .bearer_auth(&admin)
        .json(&json!({"verification": "REJECTED", "note": "The <QR> is blurry"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let mail = sink
        .wait_for("vendor@uni.edu", "was not verified", 10)
        .await;
    assert!(mail.text.contains("The <QR> is blurry"));
    assert!(
        mail.html.contains("The &lt;QR&gt; is blurry"),
        "{}",
        mail.html
    );
    assert!(mail.text.contains(&format!("{PUBLIC}/shops/{}", m.shop_id)));
}

#[tokio::test]
async fn registering_a_known_address_answers_alike_and_mails_the_owner_a_reset_link() {
    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let c = app.client();
    let new = app.register(&c, "owner@uni.edu", PW).await;
    assert_eq!(new.status(), StatusCode::ACCEPTED);
    let new_body = new.text().await.unwrap();
    sink.wait_for("owner@uni.edu", "Confirm your email", 10)
        .await;
    let known = app
        .register(&c, "Owner@Uni.edu", "someone elses password")
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(known.text().await.unwrap(), new_body);

    // The owner is told an account exists, with a working reset link.
    let mail = sink
        .wait_for("owner@uni.edu", "already have an Uphill account", 10)
        .await;
    assert!(
        mail.text
            .contains(&format!("{PUBLIC}/reset-password?token=")),
        "{}",
        mail.text
    );
    let token = token_in(&mail.text);
    // A second try within the minute mails nothing more (no mailbox flood).
    let again = app.register(&c, "owner@uni.edu", PW).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sink.matching("owner@uni.edu", "already have").len(),
        1,
        "one account-exists mail a minute"
    );
    assert_eq!(
        sink.matching("owner@uni.edu", "Confirm your email").len(),
        1
    );
    // The stranger's password did nothing; the link sets a new one.
    assert_problem(
        app.login(&c, "owner@uni.edu", "someone elses password")
            .await,
        401,
    )
    .await;
    let r = c
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({"token": token, "password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.login(&c, "owner@uni.edu", "a brand new password").await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me["user"]["email_verified"], true,
        "the link proved the address"
    );
}

#[tokio::test]
async fn confirmation_and_reset_mail_go_out_before_queued_bulk_mail() {
    let mut sink = SmtpSink::down();
    let app = spawn_with_sink(&sink).await;
    // A pile of bulk mail waits while SMTP is down...
    app.state
        .store
        .write(|txn| {
            for i in 0..60 {
                uphill::mail::enqueue(
                    txn,
                    &format!("bulk{i}@uni.edu"),
                    uphill::mail::Message::Test {
                        sent_at: chrono::Utc::now(),
                    },
                )?;
            }
            Ok::<_, uphill::store::StoreError>(())
        })
        .await
        .unwrap();
    // ...then someone signs up and someone else asks for a reset.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let c = app.client();
    assert_eq!(
        app.register(&c, "newbie@uni.edu", PW).await.status(),
        StatusCode::ACCEPTED
    );
    app.admin_bearer("admin@uni.edu").await;
    let r = c
        .post(app.url("/api/v1/auth/password-reset/request"))
        .json(&json!({"email": "admin@uni.edu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    sink.restart();
    sink.wait_for("bulk59@uni.edu", "", 30).await;
    let order: Vec<String> = sink.messages().into_iter().map(|m| m.to).collect();
    let at = |who: &str| {
        order
            .iter()
            .position(|to| to.contains(who))
            .unwrap_or_else(|| panic!("{who} not mailed: {order:?}"))
    };
    let first_bulk = at("bulk0@");
    assert!(at("newbie@") < first_bulk, "{order:?}");
    assert!(at("admin@") < first_bulk, "{order:?}");
    assert_eq!(order.len(), 62, "{order:?}");
}

#[tokio::test]
async fn order_mail_goes_only_to_students_who_asked_and_never_carries_the_otp() {
    use crate::fixtures::order;
    use crate::helpers::{post, send};
    use reqwest::Method;

    let sink = SmtpSink::start();
    let app = spawn_with_sink(&sink).await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (keen, keen_addr) = student(&app, "keen@uni.edu", &m).await;
    let (quiet, quiet_addr) = student(&app, "quiet@uni.edu", &m).await;
    let me = get_ok(&app, &keen, "/api/v1/me").await;
    assert_eq!(me["email_batch_locked"], false, "off unless chosen: {me}");
    assert_eq!(me["email_delivered"], false);
    let r = send(
        &app,
        Method::PATCH,
        "/me",
        Some(&keen),
        Some(json!({"email_batch_locked": true, "email_delivered": true})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = get_ok(&app, &keen, "/api/v1/me").await;
    assert_eq!(me["email_batch_locked"], true, "{me}");
    assert_eq!(me["email_delivered"], true);

    let mine = order(&app, &m, &keen, &keen_addr, "keen").await;
    let theirs = order(&app, &m, &quiet, &quiet_addr, "quiet").await;
    let batch = mine["batch_id"].as_str().unwrap();
    lock(&app, &m, batch).await;
    let locked = sink.wait_for("keen@uni.edu", "is locked", 10).await;
    let path = |what: &str| format!("/api/v1/batches/{batch}/{what}");
    let r = post(&app, &m.owner_token, &path("dispatch"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The quiet student's order is delivered first, so their mail (if any
    // were queued) would go out before the keen student's.
    let mut otps = Vec::new();
    for (token, o) in [(&quiet, &theirs), (&keen, &mine)] {
        let id = o["id"].as_str().unwrap();
        let otp = get_ok(&app, token, &format!("/api/v1/orders/{id}")).await["otp"]
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
        assert_eq!(r.status(), StatusCode::OK);
        otps.push(otp);
    }
    let delivered = sink.wait_for("keen@uni.edu", "is delivered", 10).await;
    let display = mine["display_id"].as_str().unwrap();
    assert!(locked.subject.contains(display), "{}", locked.subject);
    assert!(delivered.text.contains("₹"), "{}", delivered.text);
    let order_id = mine["id"].as_str().unwrap();
    for mail in [&locked, &delivered] {
        for otp in &otps {
            for part in [&mail.subject, &mail.text, &mail.html] {
                // Ids may hold four digits in a row by chance; an OTP may not.
                let rest = part.replace(order_id, "").replace(display, "");
                assert!(!rest.contains(otp.as_str()), "the OTP in a mail: {part}");
            }
        }
        assert!(
            mail.text
                .contains(&format!("{PUBLIC}/orders/{}", mine["id"].as_str().unwrap()))
        );
    }
    assert!(sink.matching("quiet@uni.edu", "is locked").is_empty());
    assert!(sink.matching("quiet@uni.edu", "is delivered").is_empty());
}
