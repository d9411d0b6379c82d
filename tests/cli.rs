//! The real `uphill` binary: its commands, and a served process that is
//! stopped with SIGTERM and killed with SIGKILL.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use common::{Server, text, uphill};

const PW: &str = "correct horse battery";

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run uphill")
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&mut uphill(&["version"]));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("uphill {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn openapi_prints_the_committed_snapshot() {
    let out = run(&mut uphill(&["openapi"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(printed["info"]["title"], "Uphill API");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/openapi.json");
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("ui/openapi.json")).unwrap();
    assert!(
        printed == snapshot,
        "ui/openapi.json is not what `uphill openapi` prints: run scripts/gen-openapi \
         and commit ui/openapi.json"
    );
}

#[test]
fn check_names_a_bad_key_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[server]\nbind = \"127.0.0.1:8080\"\nbnid = 1\n").unwrap();
    let out = run(&mut uphill(&["--config", cfg.to_str().unwrap(), "check"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("bnid"), "{}", text(&out.stderr));

    std::fs::write(&cfg, "[smtp]\nhost = \"mail.uni.edu\"\n").unwrap();
    let out = run(uphill(&["--config", cfg.to_str().unwrap(), "check"])
        .env("UPHILL_SMTP__PASSWORD", "s3cret-value")
        .env("UPHILL_SERVER__BIND", "127.0.0.1:9999"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("127.0.0.1:9999"), "env applies: {stdout}");
    assert!(stdout.contains("mail.uni.edu"));
    assert!(stdout.contains("<redacted>"));
    assert!(!stdout.contains("s3cret-value"));

    let out = run(uphill(&["--config", cfg.to_str().unwrap(), "check"])
        .env("UPHILL_STORAGE__MAX_GROUP", "lots"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("storage.max_group"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn init_writes_a_config_that_checks_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("uphill.toml");
    let data = dir.path().join("data");
    let out = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "init",
        "--output",
        cfg.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(data.is_dir());
    assert!(std::fs::read_to_string(&cfg).unwrap().contains("[server]"));
    let out = run(&mut uphill(&["--config", cfg.to_str().unwrap(), "check"]));
    assert!(out.status.success());
    let again = run(&mut uphill(&["init", "--output", cfg.to_str().unwrap()]));
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("--force"));
}

#[test]
fn check_reports_the_data_dir_disk_and_smtp() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    // An SMTP "server" that accepts connections.
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = smtp.local_addr().unwrap().port();
    std::fs::write(
        &cfg,
        format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n"),
    )
    .unwrap();
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "check",
    ];
    let out = run(&mut uphill(&args));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for want in [
        "ok   data directory",
        "disk space",
        "% free",
        "ok   smtp: 127.0.0.1",
    ] {
        assert!(stdout.contains(want), "{want} missing:\n{stdout}");
    }
    drop(smtp);
    let out = run(&mut uphill(&args));
    assert!(
        out.status.success(),
        "an unreachable SMTP server only warns"
    );
    assert!(
        text(&out.stdout).contains("WARN smtp"),
        "{}",
        text(&out.stdout)
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(&mut uphill(&args));
    assert!(
        !out.status.success(),
        "a world-writable data dir must fail the check"
    );
    assert!(
        text(&out.stdout).contains("world-writable"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn created_admin_signs_in_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut create = uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "user",
        "create",
        "--admin",
        "--email",
        "root@uni.edu",
        "--name",
        "Root",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PW}\n").as_bytes())
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin root@uni.edu"));

    // The same email again (other case) is refused.
    let out = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "user",
        "create",
        "--email",
        "ROOT@uni.edu",
        "--name",
        "Again",
    ]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists"));

    let mut s = Server::start(&data, &[]);
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({"email": "root@uni.edu", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["admin"], true);

    s.signal("-TERM");
    let status = s.wait(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    let logs: Vec<_> = std::fs::read_dir(data.join("logs")).unwrap().collect();
    assert!(!logs.is_empty(), "daily log file written");
}

#[tokio::test]
async fn without_smtp_the_confirmation_link_is_in_the_log_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(format!("{}/api/v1/auth/register", s.base))
        .json(&json!({"email": "new@uni.edu", "name": "New", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut token = None;
    for _ in 0..50 {
        token = s.lines().iter().find_map(|l| {
            l.split("verify-email?token=")
                .nth(1)
                .map(|t| t[..64].to_string())
        });
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = token.expect("the confirmation link is logged when no SMTP host is set");
    let r = c
        .post(format!("{}/api/v1/auth/verify-email/confirm", s.base))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = c
        .get(format!("{}/api/v1/me", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "new@uni.edu");
    assert_eq!(me["email_verified"], true);
}

#[tokio::test]
async fn an_acknowledged_registration_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start(&data, &[]);
    let c = reqwest::Client::new();
    let mut emails = Vec::new();
    for i in 0..5 {
        let email = format!("k{i}@uni.edu");
        let r = c
            .post(format!("{}/api/v1/auth/register", s.base))
            .json(&json!({"email": email, "name": "K", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        emails.push(email);
    }
    s.signal("-KILL");
    s.wait(Duration::from_secs(10));
    drop(s);
    let s = Server::start(&data, &[]);
    for email in emails {
        let r = c
            .post(format!("{}/api/v1/auth/login", s.base))
            .json(&json!({"email": email, "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{email} lost");
    }
}

#[tokio::test]
async fn seed_demo_runs_once_and_its_accounts_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "seed",
        "demo",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let password = stdout
        .split("(shown once): ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .expect("password printed")
        .trim()
        .to_string();
    assert!(stdout.contains("asha@uphill.test"));
    assert!(stdout.contains("runner@uphill.test"));
    let again = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "seed",
        "demo",
    ]));
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("already"));

    let s = Server::start(&data, &[]);
    let c = reqwest::Client::new();
    for email in [
        "asha@uphill.test",
        "admin@uphill.test",
        "canteen@uphill.test",
    ] {
        let r = c
            .post(format!("{}/api/v1/auth/login", s.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{email}");
    }
}

/// `uphill files gc`: the dry run lists an upload unreferenced for longer
/// than the grace period and keeps it; the real run removes it.
#[tokio::test]
async fn files_gc_dry_run_lists_and_the_real_run_removes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = uphill::config::Config::default();
    config.storage.data_dir = data.clone();
    let (old, fresh) = {
        let store = uphill::app::open_store(&config).unwrap();
        let files = uphill::files::Files::open(&data, config.files.clone()).unwrap();
        let png = |w: u32| {
            let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(w, 8));
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Png).unwrap();
            out.into_inner()
        };
        let (old, _) = files.ingest(&store, "someone", png(8)).await.unwrap();
        let (fresh, _) = files.ingest(&store, "someone", png(9)).await.unwrap();
        // Unreferenced since two days ago.
        let id = old.id.clone();
        store
            .write(move |txn| {
                let mut t = txn.open_table(uphill::store::tables::UPLOADS)?;
                let mut u: uphill::files::Upload = uphill::store::codec::get(&t, &id)?.unwrap();
                u.unreferenced_since = Some(chrono::Utc::now() - chrono::Duration::hours(48));
                uphill::store::codec::put(&mut t, &id, &u)?;
                Ok::<_, uphill::store::StoreError>(())
            })
            .await
            .unwrap();
        (old.id, fresh.id)
    };
    let old_dir = data.join("files").join(&old[..2]).join(&old);
    assert!(old_dir.exists());
    // The store is released once the handles above are dropped.
    let mut out = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "files",
        "gc",
        "--dry-run",
    ]));
    for _ in 0..50 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        out = run(&mut uphill(&[
            "--data-dir",
            data.to_str().unwrap(),
            "files",
            "gc",
            "--dry-run",
        ]));
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("would remove {old}")), "{stdout}");
    assert!(!stdout.contains(&fresh), "{stdout}");
    assert!(old_dir.exists(), "a dry run removes nothing");

    let out = run(&mut uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "files",
        "gc",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("removed {old}")));
    assert!(!old_dir.exists());
    assert!(data.join("files").join(&fresh[..2]).join(&fresh).exists());
}

/// `uphill openapi | head -c 100` (or `check | grep -q`): a reader that closes
/// the pipe early ends the command quietly, as it would any Unix tool.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::Read;
    let mut child = uphill(&["openapi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn uphill");
    let mut first = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the first bytes");
    // The read end is dropped here; the document is larger than a pipe holds.
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "nothing on stderr");
}

/// `uphill compact` on a stopped server's store: a store whose records the
/// migration rewrote gives pages back, and still opens with its data.
#[test]
fn compact_gives_free_pages_back_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v14.redb");
    std::fs::copy(fixture, data.join("uphill.redb")).unwrap();
    let d = data.to_str().unwrap();
    // Opening migrates (every record rewritten); the demo data is there.
    let out = run(&mut uphill(&["--data-dir", d, "seed", "demo"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&mut uphill(&["--data-dir", d, "compact"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let sizes: Vec<u64> = said
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let [.., before, after] = sizes[..] else {
        panic!("{said}")
    };
    assert!(after < before, "{said}");
    assert_eq!(
        std::fs::metadata(data.join("uphill.redb")).unwrap().len(),
        after
    );

    let out = run(&mut uphill(&["--data-dir", d, "seed", "demo"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already"),
        "{}",
        text(&out.stdout)
    );
}
