use std::sync::Arc;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use uphill::app::{AppState, Application};
use uphill::config::Config;

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    pub setup_link: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the data directory outlives the server.
    pub dir: Arc<TempDir>,
}

pub fn test_config(dir: &TempDir) -> Config {
    let mut c = Config::default();
    c.server.bind = "127.0.0.1:0".into();
    c.storage.data_dir = dir.path().join("data");
    // Tests sign many users up from 127.0.0.1; the sign-up limits have
    // their own tests, with these set low.
    c.auth.registrations_per_ip_per_hour = 100_000;
    c.auth.registrations_per_hour = 100_000;
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut config = test_config(&dir);
    tweak(&mut config);
    start(config, dir).await
}

pub async fn start(config: Config, dir: Arc<TempDir>) -> TestApp {
    // A server stopped a moment ago may still be releasing the store file.
    let mut tries = 0;
    let app = loop {
        match Application::build(config.clone()).await {
            Ok(app) => break app,
            Err(e) if tries < 100 && e.to_string().contains("another process") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("build app: {e:#}"),
        }
    };
    let addr = app.local_addr();
    let state = app.state();
    let setup_link = app.first_admin_link();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        state,
        setup_link,
        stop: Some(tx),
        server: Some(server),
        dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and waits until it has released the store.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task").expect("server result");
        }
        self.dir.clone()
    }

    /// The served OpenAPI document (asserts 200).
    pub async fn openapi(&self) -> Value {
        let r = self
            .client()
            .get(self.url("/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "/api/openapi.json");
        r.json().await.unwrap()
    }

    /// A client with its own cookie jar (a browser).
    pub fn browser(&self) -> Client {
        Client::builder().cookie_store(true).build().unwrap()
    }

    /// A client without cookies (a script).
    pub fn client(&self) -> Client {
        Client::new()
    }

    pub async fn register(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "name": "Test Student", "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Follows the confirmation link of `email`'s account in `client`, as
    /// the mailed link would: a fresh verification token is stored in
    /// process (standing in for reading the mail) and redeemed through the
    /// real `POST /auth/verify-email/confirm`, which signs the client in.
    /// Returns that answer's body (`user`, `csrf_token`).
    pub async fn confirm_email(&self, client: &Client, email: &str) -> Value {
        use redb::ReadableTable;
        use uphill::auth::email_tokens::{self, Purpose};
        let secret = uphill::auth::token::random_secret();
        let key = uphill::domain::user::Email::parse(email)
            .expect("an email")
            .key()
            .to_string();
        let s = secret.clone();
        self.state
            .store
            .write(move |txn| {
                let id = txn
                    .open_table(uphill::store::tables::EMAIL_TO_USER)?
                    .get(key.as_str())?
                    .expect("a registered address")
                    .value()
                    .to_string();
                email_tokens::store_token(txn, &id, Purpose::VerifyEmail, &s, chrono::Utc::now())
            })
            .await
            .expect("store a verification token");
        let r = client
            .post(self.url("/api/v1/auth/verify-email/confirm"))
            .json(&json!({ "token": secret }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "confirm {email}");
        r.json().await.unwrap()
    }

    /// Registers a user and confirms their address in a fresh browser,
    /// which is then signed in; returns the browser and its CSRF token.
    pub async fn signed_in_browser(&self, email: &str) -> (Client, String) {
        let b = self.browser();
        let r = self.register(&b, email, "correct horse battery").await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "register {email}");
        let body = self.confirm_email(&b, email).await;
        (b, body["csrf_token"].as_str().unwrap().to_string())
    }

    /// Registers a user and returns a personal API token for them.
    pub async fn bearer(&self, email: &str) -> String {
        let (b, csrf) = self.signed_in_browser(email).await;
        self.new_token(&b, &csrf, "tests").await
    }

    /// Makes a personal API token named `name` from a signed-in browser.
    pub async fn new_token(&self, browser: &Client, csrf: &str, name: &str) -> String {
        let r = browser
            .post(self.url("/api/v1/me/tokens"))
            .header("x-csrf-token", csrf)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        body["secret"].as_str().unwrap().to_string()
    }
}

impl TestApp {
    /// Creates an admin the way `uphill user create --admin` does and
    /// returns a personal API token for them.
    pub async fn admin_bearer(&self, email: &str) -> String {
        let store = self.state.store.clone();
        let email_owned = email.to_string();
        tokio::task::spawn_blocking(move || {
            uphill::auth::AuthService::create_user_blocking(
                &store,
                uphill::auth::service::NewUser {
                    email: email_owned,
                    name: "Campus Admin".into(),
                    password: "correct horse battery".into(),
                    phone: None,
                },
                true,
            )
        })
        .await
        .unwrap()
        .expect("create admin");
        let b = self.browser();
        let r = self.login(&b, email, "correct horse battery").await;
        assert_eq!(r.status(), StatusCode::OK);
        let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        self.new_token(&b, &csrf, "admin tests").await
    }
}

/// Asserts an RFC 9457 problem response with this status; returns its body.
pub async fn assert_problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for {}", r.url());
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"].as_u64(), Some(status as u64), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Sends `method path` with a bearer token and a JSON body when given.
pub async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = app.client().request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// `request` under `/api/v1`: `send(app, Method::GET, "/shops", …)`.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    request(app, method, &format!("/api/v1{path}"), token, body).await
}

/// Asserts the status and returns the JSON body (`Null` when empty).
pub async fn expect(r: Response, status: u16) -> Value {
    let url = r.url().to_string();
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{url}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// The items of a list's only page: asserts the answer is a page
/// `{items, next_cursor}` with nothing after it. Anything else is returned
/// as it is.
pub fn whole_page(v: Value) -> Value {
    match v.as_object() {
        Some(o) if o.contains_key("items") && o.contains_key("next_cursor") => {
            assert!(v["next_cursor"].is_null(), "more than one page: {v}");
            v["items"].clone()
        }
        _ => v,
    }
}

/// The items of a list's only page, as a vector.
pub fn page_items(v: Value) -> Vec<Value> {
    whole_page(v).as_array().expect("a page's items").clone()
}

/// GETs `path` with a bearer token, asserts 200 and returns the JSON body.
pub async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let r = request(app, Method::GET, path, Some(token), None).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// POSTs a JSON body to `path` with a bearer token.
pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Response {
    request(app, Method::POST, path, Some(token), Some(body)).await
}
