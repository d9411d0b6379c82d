use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, start};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["store"]["ok"], true);
    assert_eq!(body["disk"]["ok"], true);
    assert_eq!(
        body["closer"]["ok"], true,
        "the closer ran at start: {body}"
    );
}

#[tokio::test]
async fn readiness_is_red_below_the_disk_reserve_where_writes_get_507() {
    // A reserve larger than the temp dir's whole free space: every write
    // is refused, so the server must not call itself ready. An admin made
    // first keeps the restart from needing a write (the first-admin link).
    let app = spawn_app().await;
    app.admin_bearer("root@example.edu").await;
    let mut config = app.state.config.as_ref().clone();
    config.storage.min_free_mb = 1024 * 1024;
    let dir = app.stop().await;
    let app = start(config, dir).await;
    let (avail, _) = uphill::app::disk_space(&app.state.config.storage.data_dir).unwrap();
    assert!(
        avail < 1024 * 1024 * 1024 * 1024,
        "this test needs less than 1 TiB free under the temp dir"
    );
    let c = app.client();
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["disk"]["ok"], false, "{body}");
    let detail = body["disk"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("disk reserve") && detail.contains("storage.min_free_mb"),
        "{body}"
    );
    assert_eq!(body["store"]["ok"], true, "reads still work: {body}");
    // The same answer the writer gives: a write is refused with 507.
    let r = app
        .register(&c, "reserve@example.edu", "correct horse battery")
        .await;
    let p = assert_problem(r, 507).await;
    assert!(
        p["detail"].as_str().unwrap().contains("disk is full"),
        "{p}"
    );
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let c = app.client();
    let a = c.get(app.url("/healthz")).send().await.unwrap();
    let b = c.get(app.url("/api/v1/me")).send().await.unwrap();
    for r in [&a, &b] {
        let h = r.headers();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-request-id"].len(), 26);
        assert!(
            h.get("strict-transport-security").is_none(),
            "HSTS only under TLS"
        );
    }
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let c = app.client();
    assert_problem(c.get(app.url("/api/v1/nope")).send().await.unwrap(), 404).await;
    assert_problem(c.get(app.url("/nope")).send().await.unwrap(), 404).await;
    let r = c.put(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn openapi_document_describes_auth_and_problems() {
    let app = spawn_app().await;
    let spec: Value = app.openapi().await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/me/tokens",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    let me = &spec["paths"]["/api/v1/me"]["get"];
    assert!(me["responses"]["401"]["content"]["application/problem+json"].is_object());
    // Documented bounds.
    let reg = &spec["components"]["schemas"]["RegisterRequest"]["properties"];
    assert_eq!(reg["email"]["maxLength"], 254);
}

/// What `scripts/test` lints with Redocly, checked here too so a plain
/// `cargo test` catches it: every operation has a unique `operationId` and
/// declares its `security`, the server is named, and the live event stream
/// is an operation with a schema for its events.
#[tokio::test]
async fn openapi_document_names_every_operation_and_describes_the_event_stream() {
    let app = spawn_app().await;
    let spec: Value = app.openapi().await;
    assert_eq!(spec["servers"][0]["url"], "/");
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            assert!(
                id.chars().next().unwrap().is_ascii_lowercase()
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{id} is not camelCase"
            );
            assert!(
                op["security"].is_array(),
                "{method} {path} declares no security"
            );
        }
    }
    let events = &spec["paths"]["/api/v1/events"]["get"];
    assert_eq!(events["operationId"], "streamEvents");
    assert_eq!(
        events["responses"]["200"]["content"]["text/event-stream"]["schema"]["$ref"],
        "#/components/schemas/LiveEvent"
    );
    assert_eq!(events["parameters"][0]["name"], "Last-Event-ID");
    let live = &spec["components"]["schemas"]["LiveEvent"];
    assert_eq!(live["discriminator"]["propertyName"], "event");
    for kind in [
        "notification",
        "broadcast",
        "order.updated",
        "batch.updated",
        "chat.message",
        "stream.closed",
    ] {
        assert!(live["discriminator"]["mapping"][kind].is_string(), "{kind}");
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app.client().get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(
        !html.contains("cdn."),
        "no CDN: the campus box may be offline"
    );
}
