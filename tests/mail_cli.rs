//! `uphill mail test ADDRESS` against a real SMTP server process on
//! loopback (aiosmtpd): success, an unreachable server, no SMTP configured,
//! a bad address; each with its exit status.

mod common;
#[path = "support/smtp.rs"]
mod smtp;

use std::process::Output;

use common::{text, uphill};
use smtp::SmtpSink;

fn mail_test(config: &str, address: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, config).unwrap();
    uphill(&["--config", cfg.to_str().unwrap(), "mail", "test", address])
        .env("UPHILL_STORAGE__DATA_DIR", dir.path().join("data"))
        .output()
        .expect("run uphill")
}

fn smtp_config(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Uphill <uphill@uni.edu>\"\n[campus]\nname = \"Hill Campus\"\n[mail]\nsend_timeout_secs = 5\n"
    )
}

#[tokio::test]
async fn mail_test_sends_through_the_configured_server() {
    let sink = SmtpSink::start();
    let out = mail_test(&smtp_config(sink.port), "ops@uni.edu");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sent a test mail to ops@uni.edu"));
    let m = sink.wait_for("ops@uni.edu", "Uphill test mail", 5).await;
    assert!(m.text.contains("Hill Campus"), "{}", m.text);
    assert!(m.from.contains("uphill@uni.edu"));
}

#[test]
fn mail_test_fails_clearly() {
    let down = SmtpSink::down();
    let out = mail_test(&smtp_config(down.port), "ops@uni.edu");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("unreachable") && err.contains(&down.port.to_string()),
        "{err}"
    );

    let sink = SmtpSink::start();
    sink.reject("gone@uni.edu", true);
    let out = mail_test(&smtp_config(sink.port), "gone@uni.edu");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("550"), "{}", text(&out.stderr));

    let out = mail_test("", "ops@uni.edu");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("smtp.host is not set"));

    let out = mail_test(&smtp_config(sink.port), "not an address");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not an email address"));
    assert!(sink.messages().is_empty());
}

fn tls_config(port: u16, mode: &str, ca: Option<&std::path::Path>) -> String {
    let mut c = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{mode}\"\nfrom = \"Uphill <uphill@uni.edu>\"\nusername = \"uphill\"\npassword = \"secret\"\n"
    );
    if let Some(ca) = ca {
        c.push_str(&format!("ca_file = {:?}\n", ca.display().to_string()));
    }
    c.push_str("[mail]\nsend_timeout_secs = 5\n");
    c
}

#[tokio::test]
async fn mail_test_speaks_starttls_and_implicit_tls_trusting_the_configured_ca() {
    for mode in ["starttls", "tls"] {
        let (sink, ca) = SmtpSink::start_tls(mode);
        // The test CA is not among the built-in roots: refused.
        let out = mail_test(&tls_config(sink.port, mode, None), "ops@uni.edu");
        assert!(
            !out.status.success(),
            "{mode}: an unknown CA must be refused"
        );
        let err = text(&out.stderr);
        assert!(err.contains("UnknownIssuer"), "{mode}: {err}");
        let out = mail_test(&tls_config(sink.port, mode, Some(&ca)), "ops@uni.edu");
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        let m = sink.wait_for("ops@uni.edu", "Uphill test mail", 5).await;
        assert!(m.text.contains("mail works"), "{mode}");
        // The sink accepts only uphill/secret: AUTH really went over TLS.
        assert_eq!(sink.messages().len(), 1, "{mode}");
    }
}
