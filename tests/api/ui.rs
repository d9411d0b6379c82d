//! The embedded web UI: the committed OpenAPI snapshot the UI's client is
//! generated from, cache and encoding headers of the built assets, and the
//! SPA fallback. Needs `scripts/build-ui` (scripts/test runs it first):
//! debug builds read `ui/dist` from disk.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// The built UI; a missing build fails the test with how to make one.
fn dist() -> PathBuf {
    let d = ui_dir().join("dist");
    assert!(
        d.join("index.html").exists(),
        "ui/dist is missing: run scripts/build-ui before these tests"
    );
    d
}

/// The entry script of the build (a hashed name under assets/).
fn a_hashed_script() -> (String, PathBuf) {
    let assets = dist().join("assets");
    let mut names: Vec<String> = std::fs::read_dir(&assets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".js"))
        .collect();
    names.sort();
    let name = names
        .into_iter()
        .next()
        .expect("a .js file in ui/dist/assets");
    let path = assets.join(&name);
    (name, path)
}

#[tokio::test]
async fn the_committed_openapi_snapshot_is_what_the_server_serves() {
    let app = spawn_app().await;
    let served: Value = app.openapi().await;
    let text = std::fs::read_to_string(ui_dir().join("openapi.json")).expect("ui/openapi.json");
    let snapshot: Value = serde_json::from_str(&text).expect("ui/openapi.json is JSON");
    assert!(
        served == snapshot,
        "ui/openapi.json differs from the document the server serves: the API changed. \
         Run scripts/gen-openapi and commit ui/openapi.json (the UI's client types come from it)."
    );
}

#[tokio::test]
async fn index_is_revalidated_and_hashed_assets_are_immutable() {
    let dist = dist();
    let app = spawn_app().await;
    let c = app.client();

    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert_eq!(body, std::fs::read(dist.join("index.html")).unwrap());

    // Revalidation costs no body.
    let r = c
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    let (name, path) = a_hashed_script();
    let r = c
        .get(app.url(&format!("/assets/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().await.unwrap(), std::fs::read(&path).unwrap());

    let r = c.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );

    // The setup page's own files still live under /assets/.
    let r = c.get(app.url("/assets/setup.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // A hashed name that does not exist is a plain 404, never the app shell
    // (a cached HTML page under a script's name would break the app).
    let r = c
        .get(app.url("/assets/index-00000000.js"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn precompressed_variants_follow_accept_encoding() {
    let (name, path) = a_hashed_script();
    let plain = std::fs::read(&path).unwrap();
    let app = spawn_app().await;
    let c = app.client();
    let url = app.url(&format!("/assets/{name}"));

    let r = c
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let br = r.bytes().await.unwrap();
    assert_eq!(br, std::fs::read(format!("{}.br", path.display())).unwrap());
    assert!(br.len() < plain.len());

    let r = c
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
    assert_eq!(out, plain, "the .gz is the same file");

    let r = c
        .get(&url)
        .header("accept-encoding", "br;q=0, gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().await.unwrap(), plain);

    let r = c
        .get(app.url("/"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(r.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn client_routes_get_the_app_and_server_routes_keep_their_answers() {
    let index = std::fs::read(dist().join("index.html")).unwrap();
    let app = spawn_app().await;
    let c = app.client();
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    for path in [
        "/orders/01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "/vendor/batches/x",
        "/admin/users",
    ] {
        let r = c
            .get(app.url(path))
            .header("accept", html)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        assert_eq!(r.bytes().await.unwrap(), index, "{path}");
    }
    // Not a page load: no HTML in Accept, or not a GET.
    let r = c
        .get(app.url("/orders/x"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(app.url("/orders/x"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);

    // The API's misses stay problem+json, even for a browser.
    let r = c
        .get(app.url("/api/v1/nothing-here"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_ne!(r.bytes().await.unwrap(), index);
    let r = c
        .get(app.url("/api/v1/shops/nope"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // The server's own pages are untouched.
    for path in ["/healthz", "/docs", "/api/openapi.json"] {
        let r = c
            .get(app.url(path))
            .header("accept", html)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_ne!(r.bytes().await.unwrap(), index, "{path}");
    }
    // The build's compressed copies are not files of their own.
    let r = c
        .get(app.url("/sw.js.gz"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), index);
}

#[tokio::test]
async fn fees_are_public_and_follow_the_platform_setting() {
    let app = spawn_app().await;
    let c = app.client();
    let fees = || async {
        let r = c.get(app.url("/api/v1/fees")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    // No sign-in needed: the cart shows it before checkout.
    assert_eq!(
        fees().await,
        json!({"platform_fee": 0, "currency": "INR", "timezone": "Asia/Kolkata"})
    );

    let admin = app.admin_bearer("admin@uni.edu").await;
    let r = c
        .put(app.url("/api/v1/admin/settings"))
        .bearer_auth(&admin)
        .json(&json!({"platform_fee": 350}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fees().await["platform_fee"], 350);

    // Read-only: changing it here is refused and changes nothing.
    let r = c
        .put(app.url("/api/v1/fees"))
        .bearer_auth(&admin)
        .json(&json!({"platform_fee": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 405).await;
    // Only admins change it through the settings.
    let student = app.bearer("student@uni.edu").await;
    let r = c
        .put(app.url("/api/v1/admin/settings"))
        .bearer_auth(&student)
        .json(&json!({"platform_fee": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    assert_eq!(fees().await["platform_fee"], 350);
}
