use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn api_tokens_are_shown_once_work_as_bearer_and_can_be_revoked() {
    let app = spawn_app().await;
    let (b, csrf) = app.signed_in_browser("dev@uni.edu").await;
    let r = b
        .post(app.url("/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "laptop", "expires_in_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["token"]["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("uph_"));
    assert!(secret.starts_with(created["token"]["hint"].as_str().unwrap()));

    let list = b
        .get(app.url("/api/v1/me/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("laptop"));
    assert!(!list.contains(&secret), "the secret is never shown again");

    // The token works without cookies, and needs no CSRF header.
    let script = app.client();
    let me: Value = script
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "dev@uni.edu");
    let r = script
        .post(app.url("/api/v1/me/tokens"))
        .bearer_auth(&secret)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // Another user cannot see or revoke it.
    let other = app.bearer("other@uni.edu").await;
    let r = script
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    let theirs = script
        .get(app.url("/api/v1/me/tokens"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!theirs.contains("laptop"));

    let r = script
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = script
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn token_requests_are_validated() {
    let app = spawn_app().await;
    let token = app.bearer("val@uni.edu").await;
    let c = app.client();
    let cases = [
        (json!({"name": ""}), 422),
        (json!({"name": "x".repeat(61)}), 400),
        (json!({"name": "ok", "expires_in_days": 0}), 400),
        (json!({"name": "ok", "expires_in_days": 4000}), 400),
        (json!({"name": "ok", "expires_in_days": -1}), 400),
        (json!({"name": "ok", "expires_in_days": "ten"}), 400),
        (json!({"name": 7}), 400),
        (json!({}), 400),
    ];
    for (body, status) in cases {
        let r = c
            .post(app.url("/api/v1/me/tokens"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(r, status).await;
    }
    let list: Vec<Value> = c
        .get(app.url("/api/v1/me/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "only the helper's token exists");
    let r = c
        .delete(app.url(&format!("/api/v1/me/tokens/{}", "Z".repeat(300))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
    let r = c.get(app.url("/api/v1/me/tokens")).send().await.unwrap();
    assert_problem(r, 401).await;
}

#[tokio::test]
async fn cookie_requests_need_the_session_csrf_token() {
    let app = spawn_app().await;
    let (b, csrf) = app.signed_in_browser("csrf@uni.edu").await;
    let (_, other_csrf) = app.signed_in_browser("csrf2@uni.edu").await;
    for header in [None, Some(other_csrf.as_str()), Some("")] {
        let mut req = b
            .post(app.url("/api/v1/me/tokens"))
            .json(&json!({"name": "x"}));
        if let Some(h) = header {
            req = req.header("x-csrf-token", h);
        }
        assert_problem(req.send().await.unwrap(), 403).await;
    }
    let list: Vec<Value> = b
        .get(app.url("/api/v1/me/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "refused requests created nothing");
    let r = b
        .post(app.url("/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}
