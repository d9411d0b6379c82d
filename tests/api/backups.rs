//! Backups: a restore round trip under load, verification of damaged
//! archives, refusals while a server runs, the admin API, the schedule.
//! `uphill backup …` runs as the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uphill::store::{StoreError, tables};

use crate::fixtures::{Market, ShopOpts, market, set_stock, student};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, start, test_config};

const BIN: &str = env!("CARGO_BIN_EXE_uphill");

/// Runs `uphill --config <empty> --data-dir <dir> args…` with no UPHILL_
/// variables of the machine leaking in.
fn uphill(data_dir: &Path, args: &[&str]) -> Output {
    let cfg = data_dir
        .parent()
        .unwrap_or(data_dir)
        .join("backup-test.toml");
    std::fs::write(&cfg, "").unwrap();
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("UPHILL_") {
            c.env_remove(k);
        }
    }
    c.output().expect("run uphill")
}

/// `uphill` right after a server on `data_dir` stopped: the store file may
/// be released a moment later (its last connections close), as
/// `helpers::start` knows too.
async fn uphill_after_stop(data_dir: &Path, args: &[&str]) -> Output {
    let mut out = uphill(data_dir, args);
    for _ in 0..100 {
        let err = text(&out.stderr);
        if out.status.success()
            || !(err.contains("server is running") || err.contains("holds the store"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        out = uphill(data_dir, args);
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn create_backup(app: &TestApp, admin: &str) -> Value {
    let r = app
        .client()
        .post(app.url("/api/v1/admin/backups"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

fn data_dir(app: &TestApp) -> PathBuf {
    app.state.config.storage.data_dir.clone()
}

/// One acknowledged order and when its request ran.
struct Placed {
    id: String,
    sent: Instant,
    acked: Instant,
}

/// Each buyer places one-unit orders back to back until `stop`.
fn order_load(
    app: &TestApp,
    m: &Market,
    buyers: Vec<(String, String)>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Placed>>> {
    let mut load = Vec::new();
    let run = ulid::Ulid::new();
    for (i, (token, address)) in buyers.into_iter().enumerate() {
        let (client, url, stop) = (app.client(), app.url("/api/v1/orders"), stop.clone());
        let body = json!({"shop_id": m.shop_id, "address_id": address, "payment_method": "CASH",
                          "items": [{"product_id": m.products[0], "quantity": 1}]});
        load.push(tokio::spawn(async move {
            let mut placed = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("idempotency-key", format!("{run}-{i}-{n}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let v: Value = r.json().await.unwrap();
                placed.push(Placed {
                    id: v["id"].as_str().unwrap().to_string(),
                    sent,
                    acked: Instant::now(),
                });
            }
            placed
        }));
    }
    load
}

/// The write pause a backup causes on a larger store (BENCHMARKS.md):
/// `cargo test --release --test api backups::write_pause -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, not a check; run by hand"]
async fn write_pause_during_a_backup_of_a_large_store() {
    let seeded: usize = std::env::var("SEED_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    set_stock(&app, &m.products[0], 10_000_000).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let mut buyers = Vec::new();
    for i in 0..16 {
        buyers.push(student(&app, &format!("buyer{i}@uni.edu"), &m).await);
    }
    // One real order, copied under fresh ids to make the store large.
    let stop = Arc::new(AtomicBool::new(false));
    let first = order_load(&app, &m, buyers[..1].to_vec(), &stop);
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let template = first.into_iter().next().unwrap().await.unwrap()[0]
        .id
        .clone();
    let bytes: Vec<u8> = app
        .state
        .store
        .read(move |txn| {
            let t = txn.open_table(tables::ORDERS)?;
            Ok::<_, StoreError>(t.get(template.as_str())?.unwrap().value().to_vec())
        })
        .await
        .unwrap();
    for _ in 0..seeded.div_ceil(10_000) {
        let bytes = bytes.clone();
        app.state
            .store
            .write(move |txn| {
                let mut t = txn.open_table(tables::ORDERS)?;
                for _ in 0..10_000 {
                    t.insert(ulid::Ulid::new().to_string().as_str(), bytes.as_slice())?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let store_mb = std::fs::metadata(app.state.store.path()).unwrap().len() >> 20;

    let stop = Arc::new(AtomicBool::new(false));
    let load = order_load(&app, &m, buyers, &stop);
    let load_started = Instant::now();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let backup_started = Instant::now();
    let created = create_backup(&app, &admin).await;
    let backup_done = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut placed = Vec::new();
    for t in load {
        placed.extend(t.await.unwrap());
    }
    let lat = |f: &dyn Fn(&Placed) -> bool| {
        let mut v: Vec<Duration> = placed
            .iter()
            .filter(|p| f(p))
            .map(|p| p.acked - p.sent)
            .collect();
        v.sort();
        let p99 = v.get(v.len() * 99 / 100).copied().unwrap_or_default();
        (v.len(), p99, v.last().copied().unwrap_or_default())
    };
    let warm = load_started + Duration::from_millis(500);
    let before = lat(&|p| p.sent > warm && p.acked < backup_started);
    let during = lat(&|p| p.sent < backup_done && p.acked > backup_started);
    let secs = |a: Instant, b: Instant| (b - a).as_secs_f64();
    eprintln!(
        "store {store_mb} MiB ({seeded} seeded orders), archive {} KiB, backup {:.2} s\n\
         before: {} orders in {:.2} s, p99 {:?}, max {:?}\n\
         during: {} orders in {:.2} s, p99 {:?}, max {:?}",
        created["size"].as_u64().unwrap() >> 10,
        secs(backup_started, backup_done),
        before.0,
        secs(warm, backup_started),
        before.1,
        before.2,
        during.0,
        secs(backup_started, backup_done),
        during.1,
        during.2,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_round_trip_keeps_every_order_acknowledged_before_the_backup() {
    let app = spawn_app().await;
    let m = market(&app, "owner@uni.edu", ShopOpts::default()).await;
    set_stock(&app, &m.products[0], 1_000_000).await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let mut buyers = Vec::new();
    for i in 0..8 {
        buyers.push(student(&app, &format!("buyer{i}@uni.edu"), &m).await);
    }

    // A steady load of order placements until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let load = order_load(&app, &m, buyers, &stop);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let backup_started = Instant::now();
    let created = create_backup(&app, &admin).await;
    let backup_done = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut placed = Vec::new();
    for t in load {
        placed.extend(t.await.unwrap());
    }
    let before: Vec<&Placed> = placed.iter().filter(|p| p.acked < backup_started).collect();
    assert!(before.len() >= 20, "load too small: {}", before.len());
    let during: Vec<Duration> = placed
        .iter()
        .filter(|p| p.sent < backup_done && p.acked > backup_started)
        .map(|p| p.acked - p.sent)
        .collect();
    let worst = during.iter().max().copied().unwrap_or_default();
    let after = placed.iter().filter(|p| p.sent > backup_done).count();
    eprintln!(
        "backup took {:?}; {} orders before it, {} placed while it ran (worst latency {:?}), {} after",
        backup_done - backup_started,
        before.len(),
        during.len(),
        worst,
        after
    );
    assert!(
        !during.is_empty(),
        "no order was placed while the backup ran"
    );
    assert!(worst < Duration::from_secs(2), "writes paused {worst:?}");

    let name = created["name"].as_str().unwrap().to_string();
    assert_eq!(created["kind"], "manual");
    let archive = data_dir(&app).join("backups").join(&name);
    assert_eq!(
        std::fs::metadata(&archive).unwrap().len(),
        created["size"].as_u64().unwrap()
    );
    let root = app.stop().await;

    let fresh = root.path().join("restored");
    let out = uphill(&fresh, &["backup", "verify", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("OK"), "{}", text(&out.stdout));
    let out = uphill(&fresh, &["backup", "restore", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restored"),
        "{}",
        text(&out.stdout)
    );

    let mut config = test_config(&root);
    config.storage.data_dir = fresh.clone();
    let app = start(config, root.clone()).await;
    let ids: Vec<String> = placed.iter().map(|p| p.id.clone()).collect();
    let present: Vec<bool> = app
        .state
        .store
        .read(move |txn| {
            let t = txn.open_table(tables::ORDERS)?;
            ids.iter()
                .map(|id| Ok(t.get(id.as_str())?.is_some()))
                .collect::<Result<Vec<bool>, StoreError>>()
        })
        .await
        .unwrap();
    for (p, here) in placed.iter().zip(&present) {
        if p.acked < backup_started {
            assert!(
                here,
                "order {} acknowledged before the backup is missing",
                p.id
            );
        }
        if p.sent > backup_done {
            assert!(!here, "order {} placed after the backup is in it", p.id);
        }
    }
    // Through the API too, with the admin token the snapshot carried.
    let r = app
        .client()
        .get(app.url(&format!("/api/v1/orders/{}", before[0].id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let root = app.stop().await;
    // The restored dir verifies again from the binary's point of view.
    let out = uphill(&fresh, &["backup", "verify", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    drop(root);
}

/// Flips one byte of a copy of `archive` at `at` (a fraction of its length).
fn damaged_copy(archive: &Path, at: f64, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(archive).unwrap();
    let i = ((bytes.len() as f64) * at) as usize;
    bytes[i] ^= 0x01;
    let p = dir.join(format!("damaged-{at}.tar.gz"));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[tokio::test]
async fn backup_now_on_a_stopped_server_verifies_and_a_flipped_byte_fails() {
    let app = spawn_app().await;
    market(&app, "owner@uni.edu", ShopOpts::default()).await;
    app.admin_bearer("admin@uni.edu").await;
    let dir = data_dir(&app);
    let root = app.stop().await;

    let out = uphill_after_stop(&dir, &["backup", "now"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = uphill(&dir, &["backup", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("manual"), "{listed}");
    let archive: PathBuf = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-manual.tar.gz"))
        .expect("an archive");
    let out = uphill(&dir, &["backup", "verify", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    for at in [0.02, 0.5, 0.98] {
        let bad = damaged_copy(&archive, at, root.path());
        let out = uphill(&dir, &["backup", "verify", bad.to_str().unwrap()]);
        assert!(
            !out.status.success(),
            "a flipped byte at {at} passed verification"
        );
        let err = text(&out.stderr);
        assert!(err.contains("FAILED verification"), "{err}");
        // A damaged archive is never restored.
        let out = uphill(
            &root.path().join("elsewhere"),
            &["backup", "restore", bad.to_str().unwrap()],
        );
        assert!(!out.status.success());
        assert!(!root.path().join("elsewhere/uphill.redb").exists());
    }
    // Cut short: no manifest.
    let bytes = std::fs::read(&archive).unwrap();
    let cut = root.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = uphill(&dir, &["backup", "verify", cut.to_str().unwrap()]);
    assert!(!out.status.success());
    let out = uphill(&dir, &["backup", "verify", "/no/such/file.tar.gz"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such file"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn restore_and_backup_now_refuse_while_the_server_runs() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let created = create_backup(&app, &admin).await;
    let dir = data_dir(&app);
    let archive = dir.join("backups").join(created["name"].as_str().unwrap());

    let out = uphill(&dir, &["backup", "restore", archive.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("server is running"), "{err}");
    let out = uphill(&dir, &["backup", "now"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("/api/v1/admin/backups"), "{err}");
    // Nothing was moved aside and the server still answers.
    let moved = std::fs::read_dir(&dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("before-restore")
    });
    assert!(!moved);
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Stopped, the same restore works and keeps what it replaced; the
    // search index directory is dropped for a rebuild.
    std::fs::create_dir_all(dir.join("search")).unwrap();
    std::fs::create_dir_all(dir.join("files/ab")).unwrap();
    std::fs::write(dir.join("files/ab/new.webp"), b"after the backup").unwrap();
    let _root = app.stop().await;
    let out = uphill_after_stop(&dir, &["backup", "restore", archive.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("uphill.redb.before-restore-")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("files.before-restore-")),
        "{names:?}"
    );
    assert!(!dir.join("search").exists());
    assert!(!dir.join("files/ab/new.webp").exists());
}

#[tokio::test]
async fn the_backup_api_is_for_admins_and_names_are_strict() {
    let app = spawn_app().await;
    let admin = app.admin_bearer("admin@uni.edu").await;
    let student = app.bearer("student@uni.edu").await;
    std::fs::create_dir_all(data_dir(&app).join("files/aa")).unwrap();
    std::fs::write(data_dir(&app).join("files/aa/pic.webp"), b"image bytes").unwrap();
    let c = app.client();

    for (method, path) in [
        ("GET", "/api/v1/admin/backups"),
        ("POST", "/api/v1/admin/backups"),
        (
            "GET",
            "/api/v1/admin/backups/uphill-20261130T030000.000Z-manual.tar.gz",
        ),
    ] {
        let req = |t: Option<&str>| {
            let r = c.request(method.parse().unwrap(), app.url(path));
            match t {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        };
        assert_problem(req(None).send().await.unwrap(), 401).await;
        assert_problem(req(Some(&student)).send().await.unwrap(), 403).await;
    }
    assert!(
        std::fs::read_dir(data_dir(&app).join("backups")).is_err(),
        "a refused POST made a backup"
    );

    let created = create_backup(&app, &admin).await;
    let name = created["name"].as_str().unwrap();
    let list: Value = c
        .get(app.url("/api/v1/admin/backups"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["name"], name);
    assert_eq!(list["items"][0]["kind"], "manual");
    assert!(list["status"]["last_success"].is_string(), "{list}");
    assert_eq!(list["status"]["failing"], false);
    assert!(list["status"]["next_due"].is_string(), "{list}");

    let r = c
        .get(app.url(&format!("/api/v1/admin/backups/{name}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(name)
    );
    let body = r.bytes().await.unwrap();
    let on_disk = std::fs::read(data_dir(&app).join("backups").join(name)).unwrap();
    assert_eq!(body.as_ref(), on_disk.as_slice());
    // The download is an archive that verifies. A file that belongs to no
    // upload record stays out (tests/api/uploads.rs shows the files of a
    // referenced upload go in).
    let copy = app.dir.path().join("downloaded.tar.gz");
    std::fs::write(&copy, &body).unwrap();
    let (manifest, _) = uphill::backup::verify(&copy).unwrap();
    assert!(
        !manifest.members.is_empty()
            && !manifest
                .members
                .iter()
                .any(|m| m.path.starts_with("files/")),
        "{:?}",
        manifest.members
    );

    for bad in [
        "..%2F..%2Fuphill.redb",
        "..%2Fbackups%2F..%2Fuphill.redb",
        "uphill.redb",
        "%2Fetc%2Fpasswd",
        ".tmp-x",
        "uphill-20261130T030000.000Z-manual.tar.gz%00",
    ] {
        let r = c
            .get(app.url(&format!("/api/v1/admin/backups/{bad}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
        assert_ne!(r.status(), StatusCode::OK);
    }
    let missing = "uphill-20200101T000000.000Z-manual.tar.gz";
    let r = c
        .get(app.url(&format!("/api/v1/admin/backups/{missing}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404).await;
    let r = c
        .get(app.url("/api/v1/admin/backups/uphill.redb"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
}

#[tokio::test]
async fn scheduled_backups_run_on_the_cron_and_retention_prunes() {
    let app = spawn_app_with(|c| {
        c.backup.cron = "*/1 * * * * *".into();
        c.backup.keep_daily = 1;
        c.backup.keep_weekly = 0;
        c.backup.keep_monthly = 0;
    })
    .await;
    let dir = data_dir(&app).join("backups");
    let state = app.state.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = std::collections::BTreeSet::new();
    while Instant::now() < deadline && seen.len() < 3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(name) = state.backups.status().last_success_name {
            assert!(name.ends_with("-scheduled.tar.gz"), "{name}");
            seen.insert(name);
        }
    }
    assert!(seen.len() >= 2, "scheduled backups did not run: {seen:?}");
    // Stopping waits for a backup in progress.
    let _root = app.stop().await;
    let s = state.backups.status();
    assert!(!s.failing(), "{:?}", s.last_error);
    assert!(s.next_due.is_some());
    // Keep one a day: only the newest is left.
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| uphill::backup::parse_name(n).is_some())
        .collect();
    assert_eq!(files, vec![s.last_success_name.clone().unwrap()]);
}
