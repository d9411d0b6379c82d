//! Faults against the real binary: `kill -9` at random moments under order
//! load, and a data directory whose disk fills up while the server runs.
//!
//! Every wait has a deadline; child processes are killed and the tmpfs is
//! unmounted by guards, so a failing test leaves nothing behind.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use common::{Server, uphill};

/// `uphill seed demo` on `data`; returns the demo accounts' password.
fn seed(data: &Path, env: &[(&str, &str)]) -> String {
    let out = uphill(&["--data-dir", data.to_str().unwrap(), "seed", "demo"])
        .envs(env.iter().copied())
        .output()
        .expect("run uphill seed demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "seed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split("(shown once): ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .expect("password printed")
        .trim()
        .to_string()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Signs in and makes a personal API token.
async fn token(base: &str, email: &str, password: &str) -> String {
    let b = Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let r = b
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login {email}");
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b
        .post(format!("{base}/api/v1/me/tokens"))
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "faults"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn get(c: &Client, url: String, token: &str) -> Value {
    let r = c.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.json().await.unwrap()
}

/// The demo campus as the tests use it: Asha orders Masala Chai from the
/// canteen (minimum order 50.00, so at least 4 cups).
#[derive(Clone)]
struct Campus {
    student: String,
    shop: String,
    product: String,
    address: String,
}

async fn campus(s: &Server, password: &str, stock: u32) -> Campus {
    let c = client();
    let student = token(&s.base, "asha@uphill.test", password).await;
    let vendor = token(&s.base, "canteen@uphill.test", password).await;
    let shops = get(&c, s.url("/api/v1/shops"), &student).await;
    let shop = shops["items"]
        .as_array()
        .or(shops.as_array())
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Foot Hill Canteen")
        .expect("the canteen")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let products = get(
        &c,
        s.url(&format!("/api/v1/shops/{shop}/products?limit=100")),
        &student,
    )
    .await;
    let product = products["items"]
        .as_array()
        .or(products.as_array())
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Masala Chai")
        .expect("chai")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let addresses = get(&c, s.url("/api/v1/me/addresses"), &student).await;
    let address = addresses
        .as_array()
        .or(addresses["items"].as_array())
        .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .patch(s.url(&format!("/api/v1/products/{product}")))
        .bearer_auth(&vendor)
        .json(&json!({ "stock": stock }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    Campus {
        student,
        shop,
        product,
        address,
    }
}

/// The order body for an idempotency key: the key travels in `notes`, so
/// every stored order names the key it was placed with.
fn order_body(cp: &Campus, key: &str, quantity: u32, pad: usize) -> Value {
    json!({
        "shop_id": cp.shop,
        "items": [{"product_id": cp.product, "quantity": quantity}],
        "address_id": cp.address,
        "payment_method": "CASH",
        "notes": format!("{key}{}", "~".repeat(pad)),
    })
}

async fn place(
    c: &Client,
    base: &str,
    cp: &Campus,
    key: &str,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    c.post(format!("{base}/api/v1/orders"))
        .bearer_auth(&cp.student)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
}

/// Every order of the student, following the cursor.
async fn all_orders(c: &Client, base: &str, cp: &Campus) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/orders?limit=200");
        if let Some(k) = &cursor {
            url.push_str(&format!("&cursor={k}"));
        }
        let page = get(c, url, &cp.student).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(k) => cursor = Some(k.to_string()),
            None => return out,
        }
    }
}

async fn stock(c: &Client, base: &str, cp: &Campus) -> i64 {
    get(
        c,
        format!("{base}/api/v1/products/{}", cp.product),
        &cp.student,
    )
    .await["stock"]
        .as_i64()
        .unwrap()
}

/// Checks the invariants over what the store holds now: each key placed at
/// most one order, acknowledged orders are there under their key, and stock
/// = initial − units of the orders that are not cancelled. Returns the
/// orders by key.
async fn check_invariants(
    c: &Client,
    base: &str,
    cp: &Campus,
    initial: i64,
    acked: &BTreeMap<String, String>,
) -> BTreeMap<String, Value> {
    let orders = all_orders(c, base, cp).await;
    let mut by_key = BTreeMap::new();
    for o in &orders {
        let key = o["notes"]
            .as_str()
            .unwrap()
            .trim_end_matches('~')
            .to_string();
        assert!(
            by_key.insert(key.clone(), o.clone()).is_none(),
            "two orders for idempotency key {key}"
        );
    }
    for (key, id) in acked {
        let o = by_key
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged order {id} (key {key}) lost"));
        assert_eq!(
            o["id"].as_str().unwrap(),
            id,
            "key {key} names another order"
        );
    }
    let sold: i64 = orders
        .iter()
        .filter(|o| o["status"] != "CANCELLED")
        .map(|o| o["items"][0]["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(
        stock(c, base, cp).await,
        initial - sold,
        "stock balances over {} orders",
        orders.len()
    );
    by_key
}

#[derive(Default)]
struct Ledger {
    /// Every key sent, with its body.
    sent: BTreeMap<String, Value>,
    /// Keys whose POST was answered 2xx, with the order id.
    acked: BTreeMap<String, String>,
    /// Orders whose cancellation was answered 2xx.
    cancelled: BTreeSet<String>,
    /// Checkouts the load itself saw acknowledged (retries not counted).
    load_acks: usize,
}

/// Places orders (and cancels some) until `stop` or until the server is gone.
async fn load(base: String, cp: Campus, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let c = client();
    while !stop.load(Ordering::Relaxed) {
        let key = ulid::Ulid::new().to_string();
        let (qty, cancel) = {
            let mut rng = rand::rng();
            (rng.random_range(4..=9u32), rng.random_range(0..5) == 0)
        };
        let body = order_body(&cp, &key, qty, 0);
        ledger
            .lock()
            .unwrap()
            .sent
            .insert(key.clone(), body.clone());
        let Ok(r) = place(&c, &base, &cp, &key, &body).await else {
            return;
        };
        assert_eq!(r.status(), StatusCode::CREATED, "checkout under load");
        let Ok(o) = r.json::<Value>().await else {
            return;
        };
        let id = o["id"].as_str().unwrap().to_string();
        {
            let mut l = ledger.lock().unwrap();
            l.acked.insert(key, id.clone());
            l.load_acks += 1;
        }
        if cancel {
            let Ok(r) = c
                .post(format!("{base}/api/v1/orders/{id}/cancel"))
                .bearer_auth(&cp.student)
                .json(&json!({}))
                .send()
                .await
            else {
                return;
            };
            if r.status() == StatusCode::OK {
                ledger.lock().unwrap().cancelled.insert(id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_order_load_loses_no_acknowledged_order() {
    const ROUNDS: usize = 4;
    const WORKERS: usize = 12;
    const INITIAL: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = seed(&data, &[]);
    let mut server = Server::start(&data, &[]);
    let cp = campus(&server, &password, INITIAL).await;
    let c = client();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                tokio::spawn(load(
                    server.base.clone(),
                    cp.clone(),
                    ledger.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let after = rand::rng().random_range(300..1500u64);
        tokio::time::sleep(Duration::from_millis(after)).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .expect("a load worker hung after the kill")
                .expect("load worker");
        }
        server = Server::start(&data, &[]);

        let (sent, mut acked, cancelled) = {
            let l = ledger.lock().unwrap();
            (l.sent.clone(), l.acked.clone(), l.cancelled.clone())
        };
        let by_key = check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
        for id in &cancelled {
            let o = by_key.values().find(|o| o["id"] == id.as_str()).unwrap();
            assert_eq!(o["status"], "CANCELLED", "acknowledged cancel of {id} lost");
        }
        // Retrying every unanswered key with its body settles it: 200 if it
        // had committed before the kill (the same order), 201 if not.
        for (key, body) in &sent {
            if acked.contains_key(key) {
                continue;
            }
            let r = place(&c, &server.base, &cp, key, body).await.unwrap();
            let status = r.status();
            let o: Value = r.json().await.unwrap();
            match status {
                StatusCode::OK => assert_eq!(
                    by_key.get(key).map(|x| &x["id"]),
                    Some(&o["id"]),
                    "a replay returns the order that committed"
                ),
                StatusCode::CREATED => {
                    assert!(
                        !by_key.contains_key(key),
                        "a stored key made a second order"
                    )
                }
                s => panic!("retry of {key}: {s} {o}"),
            }
            acked.insert(key.clone(), o["id"].as_str().unwrap().to_string());
        }
        // Acknowledged replays must also be replays, not new orders.
        for (key, id) in acked.iter().take(20) {
            let r = place(&c, &server.base, &cp, key, &sent[key]).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "replay of {key}");
            assert_eq!(r.json::<Value>().await.unwrap()["id"], id.as_str());
        }
        let by_key = check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
        assert_eq!(by_key.len(), sent.len(), "round {round}: one order per key");
        ledger.lock().unwrap().acked = acked;
    }
    let (load_acks, keys) = {
        let l = ledger.lock().unwrap();
        (l.load_acks, l.sent.len())
    };
    println!(
        "kill -9: {ROUNDS} rounds, {load_acks} checkouts acknowledged under load, {keys} keys in all"
    );
    assert!(
        load_acks > ROUNDS * 5,
        "the load placed too few orders to mean anything ({load_acks})"
    );
    server.stop();
    assert_integrity(&data.join("uphill.redb"));
}

/// Opens the store file directly and runs redb's full integrity check.
fn assert_integrity(file: &Path) {
    let mut db = redb::Database::create(file).expect("open the store file");
    assert!(
        db.check_integrity().expect("integrity check"),
        "redb found damage to repair"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mb: u32) -> Tmpfs {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount (util-linux)");
        assert!(
            out.status.success(),
            "mount tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path, _dir: dir }
    }

    fn free_bytes(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.path).unwrap();
        s.blocks_available() as u64 * s.fragment_size() as u64
    }

    /// Fills the file system until `leave` bytes are free (0: until ENOSPC).
    fn fill(&self, leave: u64) -> PathBuf {
        let file = self.path.join("filler");
        let mut f = std::fs::File::create(&file).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            let free = self.free_bytes();
            if free <= leave {
                break;
            }
            let n = (free - leave).min(chunk.len() as u64) as usize;
            match f.write_all(&chunk[..n]) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filler: {e}"),
            }
        }
        let _ = f.sync_all();
        file
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn require_root() {
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "the full-disk test mounts a tmpfs and must run as root (CI does); \
         run `sudo -E cargo test --test faults` or as root"
    );
}

async fn assert_problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert!(r.headers().contains_key("retry-after"), "Retry-After");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status);
    body
}

/// Polls until a write is accepted again, or fails after `limit`.
async fn placed_within(
    c: &Client,
    base: &str,
    cp: &Campus,
    key: &str,
    body: &Value,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let r = place(c, base, cp, key, body).await.unwrap();
        if r.status().is_success() {
            return r.json().await.unwrap();
        }
        let s = r.status().as_u16();
        assert!(s == 507 || s == 503, "while recovering: {s}");
        assert!(
            Instant::now() < deadline,
            "writes did not come back within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_and_recovers_without_restart() {
    const INITIAL: u32 = 10_000;
    let fs = Tmpfs::mount(48);
    let data = fs.path.join("data");
    // The tmpfs is smaller than the default 64 MiB reserve.
    let reserve = [("UPHILL_STORAGE__MIN_FREE_MB", "8")];
    let password = seed(&data, &reserve);
    let c = client();
    let mut acked = BTreeMap::new();

    // 1. The reserve check: below storage.min_free_mb, writes are refused
    //    before redb is touched, reads go on, and space coming back is
    //    enough to write again.
    let mut server = Server::start(&data, &reserve);
    let cp = campus(&server, &password, INITIAL).await;
    for _ in 0..3 {
        let key = ulid::Ulid::new().to_string();
        let r = place(&c, &server.base, &cp, &key, &order_body(&cp, &key, 4, 0))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        acked.insert(
            key,
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let before = check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
    let filler = fs.fill(2 * 1024 * 1024);
    let key = ulid::Ulid::new().to_string();
    let body = order_body(&cp, &key, 4, 0);
    let p = assert_problem(
        place(&c, &server.base, &cp, &key, &body).await.unwrap(),
        507,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("disk is full"),
        "{p}"
    );
    // About 4 % is still free, above the 2 % floor: only the reserve makes
    // the server say it is not ready, and it says which.
    let r = c.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["disk"]["ok"], false, "{ready}");
    assert!(
        ready["disk"]["detail"]
            .as_str()
            .unwrap()
            .contains("below the disk reserve (storage.min_free_mb)"),
        "{ready}"
    );
    // Other writes too (a cancel), and reads keep working.
    let some = acked.values().next().unwrap().clone();
    let r = c
        .post(server.url(&format!("/api/v1/orders/{some}/cancel")))
        .bearer_auth(&cp.student)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 507).await;
    let after = check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
    assert_eq!(before.len(), after.len(), "a refused write wrote nothing");
    assert!(server.is_running());
    assert!(
        !server.logged("reopen"),
        "the reserve kept ENOSPC away from redb"
    );
    std::fs::remove_file(&filler).unwrap();
    let o = placed_within(&c, &server.base, &cp, &key, &body, Duration::from_secs(5)).await;
    acked.insert(key, o["id"].as_str().unwrap().to_string());
    let r = c.get(server.url("/readyz")).send().await.unwrap();
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["disk"]["ok"], true, "space is back: {ready}");
    assert_eq!(ready["ready"], true, "{ready}");
    server.stop();

    // 2. No reserve: the disk fills under redb itself, so a commit fails
    //    with ENOSPC. The request gets a clean 507, the server reopens the
    //    store instead of exiting, and writes resume once space returns.
    let mut server = Server::start(&data, &[("UPHILL_STORAGE__MIN_FREE_MB", "0")]);
    let filler = fs.fill(0);
    let mut refused = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..5_000 {
        assert!(
            Instant::now() < deadline,
            "redb never hit ENOSPC within 60 s"
        );
        let key = ulid::Ulid::new().to_string();
        // Long notes make each order big, so the file must grow soon.
        let body = order_body(&cp, &key, 4, 450);
        let r = place(&c, &server.base, &cp, &key, &body).await.unwrap();
        if r.status() == StatusCode::CREATED {
            acked.insert(
                key,
                r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            continue;
        }
        assert_problem(r, 507).await;
        refused = Some((key, body));
        break;
    }
    let (key, body) = refused.expect("the disk never filled up");
    assert!(
        server.is_running(),
        "a failed commit must not stop the server"
    );
    // Reads work again once the store is reopened, even with the disk full.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = c
            .get(server.url(&format!("/api/v1/orders/{some}")))
            .bearer_auth(&cp.student)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "while reopening"
        );
        assert!(
            Instant::now() < deadline,
            "reads did not come back within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        server.logged("the store was reopened"),
        "the refusal came from a failed commit, and the store was reopened"
    );
    check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
    std::fs::remove_file(&filler).unwrap();
    let o = placed_within(&c, &server.base, &cp, &key, &body, Duration::from_secs(15)).await;
    acked.insert(key, o["id"].as_str().unwrap().to_string());
    assert!(server.is_running());
    server.stop();

    // 3. After a restart every acknowledged write is there, the stock
    //    balances, and redb's integrity check passes.
    assert_integrity(&data.join("uphill.redb"));
    let server = Server::start(&data, &reserve);
    let by_key = check_invariants(&c, &server.base, &cp, INITIAL.into(), &acked).await;
    assert_eq!(by_key.len(), acked.len());
    drop(server);
}
