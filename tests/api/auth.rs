use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

const PW: &str = "correct horse battery";

#[tokio::test]
async fn registration_signs_nobody_in_and_the_confirmation_link_does_with_a_safe_cookie() {
    let app = spawn_app().await;
    let b = app.browser();
    let r = app.register(&b, "Asha@Uni.edu", PW).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session at sign-up"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Check your mail")
    );
    assert!(body.get("user").is_none() && body.get("csrf_token").is_none());
    assert_problem(b.get(app.url("/api/v1/me")).send().await.unwrap(), 401).await;

    // The mailed link (its token stored in process here) signs in.
    let secret = uphill::auth::token::random_secret();
    let s = secret.clone();
    app.state
        .store
        .write(move |txn| {
            use redb::ReadableTable;
            let id = txn
                .open_table(uphill::store::tables::EMAIL_TO_USER)?
                .get("asha@uni.edu")?
                .unwrap()
                .value()
                .to_string();
            uphill::auth::email_tokens::store_token(
                txn,
                &id,
                uphill::auth::email_tokens::Purpose::VerifyEmail,
                &s,
                chrono::Utc::now(),
            )
        })
        .await
        .unwrap();
    let r = b
        .post(app.url("/api/v1/auth/verify-email/confirm"))
        .json(&json!({ "token": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("uphill_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "Asha@Uni.edu");
    assert_eq!(body["user"]["email_verified"], true);
    assert_eq!(body["user"]["admin"], false);
    assert_eq!(body["user"]["status"], "ACTIVE");
    assert!(body["csrf_token"].as_str().is_some_and(|c| c.len() == 64));
    assert!(body["user"].get("password_hash").is_none());
    let me: Value = b
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "Asha@Uni.edu");
    // The link works once.
    let r = app
        .client()
        .post(app.url("/api/v1/auth/verify-email/confirm"))
        .json(&json!({ "token": secret }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422).await;
}

#[tokio::test]
async fn login_logout_round_trip_with_csrf() {
    let app = spawn_app().await;
    app.register(&app.client(), "ravi@uni.edu", PW).await;
    let b = app.browser();
    let r = app.login(&b, "RAVI@uni.EDU", PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Logging out is a change: the cookie alone is not enough.
    let r = b.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    let p = assert_problem(r, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("CSRF"));
    let r = b
        .post(app.url("/api/v1/auth/logout"))
        .header("x-csrf-token", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    assert_eq!(
        b.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK,
        "failed logouts changed nothing"
    );
    let r = b
        .post(app.url("/api/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(b.get(app.url("/api/v1/me")).send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn a_known_address_gets_the_same_answer_as_a_new_one_and_changes_nothing() {
    let app = spawn_app().await;
    let c = app.client();
    let answer = |r: reqwest::Response| async move {
        let status = r.status();
        let cookie = r.headers().get("set-cookie").cloned();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (status, cookie, ct, r.text().await.unwrap())
    };
    let new = answer(app.register(&c, "meera@uni.edu", PW).await).await;
    assert_eq!(new.0, StatusCode::ACCEPTED);
    // The same address in another case, another password: no 409, the
    // same status, headers and body as a new address.
    let known = answer(
        app.register(&c, "  MEERA@UNI.EDU ", "another password")
            .await,
    )
    .await;
    assert_eq!(known, new);
    let other_new = answer(app.register(&c, "neha@uni.edu", PW).await).await;
    assert_eq!(other_new, new);
    // The original account still signs in with its own password only.
    assert_eq!(
        app.login(&c, "meera@uni.edu", PW).await.status(),
        StatusCode::OK
    );
    assert_problem(
        app.login(&c, "meera@uni.edu", "another password").await,
        401,
    )
    .await;
}

#[tokio::test]
async fn malformed_registrations_get_problems_and_create_nothing() {
    let app = spawn_app().await;
    let c = app.client();
    let long = "x".repeat(101);
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (json!({"email": 5, "name": "A", "password": PW}), 400, None),
        (
            json!({"email": "bad1@uni.edu", "name": ["A"], "password": PW}),
            400,
            None,
        ),
        (json!({"email": "bad2@uni.edu", "password": PW}), 400, None),
        (
            json!({"email": "bad3@uni.edu", "name": "A", "password": PW, "admin": true}),
            400,
            Some("admin"),
        ),
        (
            json!({"email": "bad4@uni.edu", "name": long, "password": PW}),
            400,
            None,
        ),
        (
            json!({"email": "bad5@uni.edu", "name": "A", "password": "x".repeat(129)}),
            400,
            None,
        ),
        (
            json!({"email": "bad6@uni.edu", "name": "A", "password": "short"}),
            422,
            Some("password"),
        ),
        (
            json!({"email": "not-an-email", "name": "A", "password": PW}),
            422,
            Some("email"),
        ),
        (
            json!({"email": "bad7@uni.edu", "name": "   ", "password": PW}),
            422,
            Some("name"),
        ),
        (
            json!({"email": "bad8@uni.edu", "name": "A", "password": PW, "phone": "call me"}),
            422,
            Some("phone"),
        ),
        (
            json!({"email": "bad9@uni.edu", "name": "A\u{0007}", "password": PW}),
            422,
            Some("name"),
        ),
        (json!([1, 2, 3]), 400, None),
        (json!(null), 400, None),
    ];
    for (body, status, field) in cases {
        let r = c
            .post(app.url("/api/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(r, status).await;
        if let Some(f) = field {
            let fields: Vec<&str> = p["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("no errors list in {p}"))
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(fields.contains(&f), "{f} not named in {p}");
        }
    }
    // Not JSON at all.
    let r = c
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
    let r = c
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    // Nothing was created: none of those addresses can sign in.
    for i in 1..=9 {
        let r = app.login(&c, &format!("bad{i}@uni.edu"), PW).await;
        assert_problem(r, 401).await;
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_even_when_chunked() {
    let app = spawn_app().await;
    let c = app.client();
    let huge =
        json!({"email": "big@uni.edu", "name": "A", "password": PW, "pad": "x".repeat(200_000)});
    let r = c
        .post(app.url("/api/v1/auth/register"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_problem(r, 413).await;
    // No Content-Length: a streamed body must be cut off at the limit too.
    let bytes = serde_json::to_vec(&huge).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let r = c
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_problem(r, 413).await;
    assert_problem(app.login(&c, "big@uni.edu", PW).await, 401).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    let c = app.client();
    app.register(&c, "sam@uni.edu", PW).await;
    let a = assert_problem(app.login(&c, "sam@uni.edu", "wrong password").await, 401).await;
    let b = assert_problem(app.login(&c, "nobody@uni.edu", PW).await, 401).await;
    assert_eq!(a, b);
    let r = c
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "sam@uni.edu", "password": 12345678}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
}

#[tokio::test]
async fn login_is_throttled_per_account_with_retry_after() {
    let app = spawn_app().await;
    let c = app.client();
    app.register(&c, "tara@uni.edu", PW).await;
    for _ in 0..5 {
        assert_problem(app.login(&c, "tara@uni.edu", "nope nope").await, 401).await;
    }
    let r = app.login(&c, "tara@uni.edu", PW).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(r, 429).await;
    // Another account from the same IP is not locked out.
    app.register(&c, "uma@uni.edu", PW).await;
    assert_eq!(
        app.login(&c, "uma@uni.edu", PW).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_is_throttled_per_ip() {
    let app = spawn_app_with(|c| c.auth.login_attempts_per_ip_per_minute = 3).await;
    let c = app.client();
    for i in 0..3 {
        assert_problem(app.login(&c, &format!("x{i}@uni.edu"), PW).await, 401).await;
    }
    assert_problem(app.login(&c, "x9@uni.edu", PW).await, 429).await;
}

#[tokio::test]
async fn registration_can_be_limited_to_campus_domains() {
    let app = spawn_app_with(|c| c.campus.allowed_email_domains = vec!["uni.edu".into()]).await;
    let c = app.client();
    let p = assert_problem(app.register(&c, "out@gmail.com", PW).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "email");
    assert_eq!(
        app.register(&c, "in@cs.uni.edu", PW).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn suspended_and_banned_users_are_refused_with_403() {
    use redb::ReadableTable;
    use uphill::domain::user::{User, UserStatus};
    use uphill::store::{StoreError, codec, tables};

    let app = spawn_app().await;
    let (b, _) = app.signed_in_browser("sus@uni.edu").await;
    let token = app.bearer("ban@uni.edu").await;
    for (email, status) in [
        ("sus@uni.edu", UserStatus::Suspended),
        ("ban@uni.edu", UserStatus::Banned),
    ] {
        let email = email.to_string();
        // The admin API arrives with the marketplace issue; flip the status in
        // the store the same way it will.
        app.state
            .store
            .write(move |txn| {
                let id = txn
                    .open_table(tables::EMAIL_TO_USER)?
                    .get(email.as_str())?
                    .unwrap()
                    .value()
                    .to_string();
                let mut users = txn.open_table(tables::USERS)?;
                let mut u: User = codec::get(&users, &id)?.unwrap();
                u.status = status;
                codec::put(&mut users, &id, &u)?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let p = assert_problem(b.get(app.url("/api/v1/me")).send().await.unwrap(), 403).await;
    assert!(p["detail"].as_str().unwrap().contains("suspended"));
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("banned"));
    assert_problem(app.login(&app.client(), "sus@uni.edu", PW).await, 403).await;
    // A wrong password still says 401: status is revealed only to the owner.
    assert_problem(
        app.login(&app.client(), "ban@uni.edu", "wrong one").await,
        401,
    )
    .await;
}

#[tokio::test]
async fn bad_credentials_are_401() {
    let app = spawn_app().await;
    let c = app.client();
    for header in [
        "Bearer nope",
        "Bearer uph_0000000000000000000000000000000000000000000000000000000000000000",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "uph_x",
    ] {
        let r = c
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(r, 401).await;
    }
    let r = c
        .get(app.url("/api/v1/me"))
        .header("cookie", "uphill_session=forged")
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    // An API token is not a session cookie.
    let token = app.bearer("tok@uni.edu").await;
    let r = c
        .get(app.url("/api/v1/me"))
        .header("cookie", format!("uphill_session={token}"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn first_admin_is_created_once_from_the_link() {
    let app = spawn_app().await;
    let link = app
        .setup_link
        .clone()
        .expect("a fresh install prints a setup link");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let c = app.client();
    let page = c.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("first admin"));
    let body =
        |t: &str| json!({"token": t, "email": "admin@uni.edu", "name": "Admin", "password": PW});
    let r = c
        .post(app.url("/api/v1/auth/setup"))
        .json(&body(&"0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    let r = c
        .post(app.url("/api/v1/auth/setup"))
        .json(&body("short"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    let r = c
        .post(app.url("/api/v1/auth/setup"))
        .json(&body(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["user"]["admin"], true);
    let mut again = body(&token);
    again["email"] = json!("second@uni.edu");
    let r = c
        .post(app.url("/api/v1/auth/setup"))
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    assert_problem(app.login(&c, "second@uni.edu", PW).await, 401).await;

    // After a restart with an admin present, no new link is printed.
    let dir = app.stop().await;
    let mut config = crate::helpers::test_config(&dir);
    config.server.bind = "127.0.0.1:0".into();
    let app = crate::helpers::start(config, dir).await;
    assert!(app.setup_link.is_none());
    assert_eq!(
        app.login(&app.client(), "admin@uni.edu", PW).await.status(),
        StatusCode::OK
    );
}

/// A registration from `ip`, as a trusted proxy on loopback forwards it.
async fn register_from(app: &crate::helpers::TestApp, ip: &str, email: &str) -> reqwest::Response {
    app.client()
        .post(app.url("/api/v1/auth/register"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "name": "Test Student", "password": PW}))
        .send()
        .await
        .unwrap()
}

async fn assert_throttled(r: reqwest::Response) {
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    assert_problem(r, 429).await;
}

#[tokio::test]
async fn registration_is_limited_per_client_network_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        // Ten an hour: one at once.
        c.auth.registrations_per_ip_per_hour = 10;
    })
    .await;
    assert_eq!(
        register_from(&app, "203.0.113.5", "a1@uni.edu")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_throttled(register_from(&app, "203.0.113.5", "a2@uni.edu").await).await;
    // A known address is throttled alike (the limit comes before any look-up).
    assert_throttled(register_from(&app, "203.0.113.5", "a1@uni.edu").await).await;
    // Another address of the same IPv6 /64 is the same client network.
    assert_eq!(
        register_from(&app, "2001:db8:5:6::1", "b1@uni.edu")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_throttled(register_from(&app, "2001:db8:5:6:ffff::2", "b2@uni.edu").await).await;
    // Other networks are not held back.
    for (ip, email) in [
        ("198.51.100.1", "c1@uni.edu"),
        ("2001:db8:5:7::1", "c2@uni.edu"),
    ] {
        assert_eq!(
            register_from(&app, ip, email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    // Refusals created nothing.
    for email in ["a2@uni.edu", "b2@uni.edu"] {
        assert_problem(app.login(&app.client(), email, PW).await, 401).await;
    }
    assert_eq!(
        app.login(&app.client(), "c1@uni.edu", PW).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn registration_is_limited_in_total_whatever_the_network() {
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.auth.registrations_per_hour = 20;
    })
    .await;
    // Twenty an hour in total: two at once.
    for (i, ip) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        let r = register_from(&app, ip, &format!("t{i}@uni.edu")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = register_from(&app, "192.0.2.3", "t9@uni.edu").await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=180).contains(&retry), "one every 3 minutes: {retry}");
    assert_problem(r, 429).await;
    assert_problem(app.login(&app.client(), "t9@uni.edu", PW).await, 401).await;
}

#[tokio::test]
async fn a_stranger_failing_from_another_network_cannot_lock_the_owner_out() {
    let app = spawn_app_with(|c| c.server.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    app.signed_in_browser("owner@uni.edu").await;
    let login_from = |ip: &'static str, password: &'static str| {
        app.client()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": "owner@uni.edu", "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_problem(
            login_from("203.0.113.66", "guess guess").await.unwrap(),
            401,
        )
        .await;
    }
    // The stranger is held back, from any address of their network...
    assert_throttled(login_from("203.0.113.66", "guess again").await.unwrap()).await;
    for _ in 0..5 {
        assert_problem(
            login_from("2001:db8:66::1", "guess guess").await.unwrap(),
            401,
        )
        .await;
    }
    assert_throttled(login_from("2001:db8:66::2", "guess again").await.unwrap()).await;
    // ...while the owner, on their own network, signs in.
    let r = login_from("198.51.100.20", PW).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_suspended_account_is_not_signed_in_by_its_link_and_the_link_stays_usable() {
    use redb::ReadableTable;
    use uphill::domain::user::{User, UserStatus};
    use uphill::store::{StoreError, codec, tables};

    let app = spawn_app().await;
    let c = app.client();
    assert_eq!(
        app.register(&c, "sus2@uni.edu", PW).await.status(),
        StatusCode::ACCEPTED
    );
    let set_status = |status: UserStatus| {
        app.state.store.write(move |txn| {
            let id = txn
                .open_table(tables::EMAIL_TO_USER)?
                .get("sus2@uni.edu")?
                .unwrap()
                .value()
                .to_string();
            let mut users = txn.open_table(tables::USERS)?;
            let mut u: User = codec::get(&users, &id)?.unwrap();
            u.status = status;
            codec::put(&mut users, &id, &u)?;
            Ok::<_, StoreError>(id)
        })
    };
    let id = set_status(UserStatus::Suspended).await.unwrap();
    let secret = uphill::auth::token::random_secret();
    let s = secret.clone();
    app.state
        .store
        .write(move |txn| {
            uphill::auth::email_tokens::store_token(
                txn,
                &id,
                uphill::auth::email_tokens::Purpose::VerifyEmail,
                &s,
                chrono::Utc::now(),
            )
        })
        .await
        .unwrap();
    let confirm = || {
        c.post(app.url("/api/v1/auth/verify-email/confirm"))
            .json(&json!({ "token": secret }))
            .send()
    };
    let r = confirm().await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    let p = assert_problem(r, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
    // Refused, so nothing changed: lifted, the same link works.
    set_status(UserStatus::Active).await.unwrap();
    let r = confirm().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["user"]["email_verified"],
        true
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_and_devices_can_be_signed_out() {
    let app = spawn_app().await;
    // Device A (signed in by the confirmation link), device B by password, a token.
    let (a, csrf_a) = app.signed_in_browser("asha@uni.edu").await;
    let b = app.browser();
    let r = app.login(&b, "asha@uni.edu", PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = app.new_token(&a, &csrf_a, "cli").await;
    let me = |c: &reqwest::Client| {
        let c = c.clone();
        let url = app.url("/api/v1/me");
        async move { c.get(url).send().await.unwrap().status() }
    };
    let sessions = |c: &reqwest::Client| {
        let c = c.clone();
        let url = app.url("/api/v1/me/sessions");
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["items"].clone()
        }
    };
    let list = sessions(&a).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["current"] == true)
            .count(),
        1
    );
    let change = |body: Value| {
        let (a, csrf) = (a.clone(), csrf_a.clone());
        let url = app.url("/api/v1/me/password");
        async move {
            a.post(url)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Refusals change nothing.
    let p = assert_problem(
        change(json!({"current_password": "not it at all", "new_password": "a brand new one"}))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "current_password");
    let p = assert_problem(
        change(json!({"current_password": PW, "new_password": "short"})).await,
        422,
    )
    .await;
    assert!(p.to_string().contains("password"), "{p}");
    assert_problem(change(json!({"current_password": PW})).await, 400).await;
    assert_problem(
        app.client()
            .post(app.url("/api/v1/me/password"))
            .json(&json!({"current_password": PW, "new_password": "a brand new one"}))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(me(&b).await, StatusCode::OK);

    let r = change(json!({"current_password": PW, "new_password": "a brand new one"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sessions_ended"], 1);
    assert_eq!(me(&a).await, StatusCode::OK, "this device stays signed in");
    assert_eq!(
        me(&b).await,
        StatusCode::UNAUTHORIZED,
        "the other device is signed out"
    );
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "API tokens stay");
    assert_eq!(
        app.login(&app.browser(), "asha@uni.edu", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Sign out one device from another.
    let c = app.browser();
    assert_eq!(
        app.login(&c, "asha@uni.edu", "a brand new one")
            .await
            .status(),
        StatusCode::OK
    );
    let list = sessions(&a).await;
    let other = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone else's device is not found.
    let (x, csrf_x) = app.signed_in_browser("ravi@uni.edu").await;
    let r = x
        .delete(app.url(&format!("/api/v1/me/sessions/{other}")))
        .header("x-csrf-token", csrf_x)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    assert_eq!(me(&c).await, StatusCode::OK);
    let r = a
        .delete(app.url(&format!("/api/v1/me/sessions/{other}")))
        .header("x-csrf-token", &csrf_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&c).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sessions(&a).await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_changes_their_name_and_phone_and_bad_values_change_nothing() {
    use crate::fixtures::{ShopOpts, market, student};
    use crate::helpers::{expect, send};
    use reqwest::Method;
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    let (s, _) = student(&app, "asha@uni.edu", &m).await;
    // `/me` names the shop its user owns, so a client need not probe for one.
    let owner = expect(
        send(&app, Method::GET, "/me", Some(&m.owner_token), None).await,
        200,
    )
    .await;
    assert_eq!(owner["shop_id"], m.shop_id.as_str());
    let before = expect(send(&app, Method::GET, "/me", Some(&s), None).await, 200).await;
    assert!(before["shop_id"].is_null());

    let patch = |body: Value, token: Option<String>| {
        let app = &app;
        async move { send(app, Method::PATCH, "/me", token.as_deref(), Some(body)).await }
    };
    // Against the schema: 400; against the rules: 422; each names the field.
    for (body, status, field) in [
        (json!({"name": ""}), 422, "name"),
        (json!({"name": "x".repeat(101)}), 400, "name"),
        (json!({"phone": "call me"}), 422, "phone"),
        (json!({"phone": "12"}), 422, "phone"),
        (json!({"name": 7}), 400, "name"),
    ] {
        let p = expect(patch(body.clone(), Some(s.clone())).await, status).await;
        assert!(p.to_string().contains(field), "{body} → {p}");
    }
    assert_problem(
        patch(json!({"email": "other@uni.edu"}), Some(s.clone())).await,
        400,
    )
    .await;
    assert_problem(patch(json!({"name": "Nobody"}), None).await, 401).await;
    let same = expect(send(&app, Method::GET, "/me", Some(&s), None).await, 200).await;
    assert_eq!(same, before, "refused changes change nothing");

    let me = expect(
        patch(
            json!({"name": "Asha Menon", "phone": "+91 98765 43210"}),
            Some(s.clone()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["name"], "Asha Menon");
    assert_eq!(me["phone"], "+91 98765 43210");
    assert_eq!(me["email"], before["email"]);
    // Only what is sent changes; an empty phone removes it.
    let me = expect(patch(json!({"phone": ""}), Some(s.clone())).await, 200).await;
    assert_eq!(me["name"], "Asha Menon");
    assert!(me["phone"].is_null());
    let read = expect(send(&app, Method::GET, "/me", Some(&s), None).await, 200).await;
    assert_eq!(read["name"], "Asha Menon");
}
