//! A real SMTP server process for the tests: `tests/support/smtp_sink.py`
//! (Python aiosmtpd) on a loopback port, writing each message it accepts
//! to a directory as JSON. A machine without aiosmtpd fails the test with
//! the command that installs it (`.ci/run` does).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");

/// A free loopback port (nothing listens on it until a sink starts there).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

fn require_aiosmtpd() {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need a real SMTP server: python3 with aiosmtpd \
         (`pip install aiosmtpd`, as .ci/run does)"
    );
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt_tos: Vec<String>,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    fn from_json(v: &Value) -> Self {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Received {
            rcpt_tos: v["rcpt_tos"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_lowercase))
                        .collect()
                })
                .unwrap_or_default(),
            to: s("to"),
            from: s("from"),
            subject: s("subject"),
            text: s("text").replace("\r\n", "\n"),
            html: s("html").replace("\r\n", "\n"),
        }
    }

    pub fn is_to(&self, address: &str) -> bool {
        self.rcpt_tos.iter().any(|r| r == &address.to_lowercase())
    }
}

/// The sink process; killed on drop. Its mail directory outlives restarts.
pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    /// `(mode, cert, key)` when the sink speaks TLS.
    tls: Option<(String, PathBuf, PathBuf)>,
    child: Option<Child>,
    _keep: Option<tempfile::TempDir>,
}

impl SmtpSink {
    /// Starts a sink on a fresh port with a fresh mail directory.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Self::stopped(free_port(), tmp.path().join("mail"));
        s._keep = Some(tmp);
        s.restart();
        s
    }

    /// A sink that is not running yet: SMTP is "down" on `port`.
    pub fn down() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Self::stopped(free_port(), tmp.path().join("mail"));
        s._keep = Some(tmp);
        s
    }

    fn stopped(port: u16, dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).expect("mail dir");
        SmtpSink {
            port,
            dir,
            tls: None,
            child: None,
            _keep: None,
        }
    }

    /// (Re)starts the server process on the same port and directory.
    pub fn restart(&mut self) {
        require_aiosmtpd();
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut cmd = Command::new("python3");
            cmd.arg(SCRIPT).arg(self.port.to_string()).arg(&self.dir);
            if let Some((mode, cert, key)) = &self.tls {
                cmd.arg(mode).arg(cert).arg(key);
            }
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start python3 tests/support/smtp_sink.py");
            let stdout = child.stdout.take().unwrap();
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            if line.trim() == "READY" {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            // The port may still be held by a sink stopped a moment ago.
            if Instant::now() > deadline {
                panic!(
                    "the SMTP sink did not start on port {}: {}",
                    self.port,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A sink that requires STARTTLS (`"starttls"`) or speaks implicit TLS
    /// (`"tls"`), with a certificate for 127.0.0.1 from a fresh test CA.
    /// Returns the sink and the CA's PEM file.
    pub fn start_tls(mode: &str) -> (Self, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl (installed by .ci/run) makes the test certificates");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Uphill Test CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "key.pem",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        let mut s = Self::stopped(free_port(), d.join("mail"));
        s.tls = Some((mode.to_string(), d.join("cert.pem"), d.join("key.pem")));
        let ca = d.join("ca.pem");
        s._keep = Some(tmp);
        s.restart();
        (s, ca)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Refuse mail to `address`: a temporary 451, or a permanent 550.
    pub fn reject(&self, address: &str, permanent: bool) {
        let name = if permanent {
            "reject_permanent"
        } else {
            "reject"
        };
        std::fs::write(self.dir.join(name), format!("{address}\n")).unwrap();
    }

    pub fn accept_all(&self) {
        for n in ["reject", "reject_permanent"] {
            let _ = std::fs::remove_file(self.dir.join(n));
        }
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        read_dir(&self.dir)
    }

    /// Messages to `address` whose subject contains `subject`.
    pub fn matching(&self, address: &str, subject: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.is_to(address) && m.subject.contains(subject))
            .collect()
    }

    /// Waits (up to `secs`) for a message to `address` whose subject
    /// contains `subject`.
    pub async fn wait_for(&self, address: &str, subject: &str, secs: u64) -> Received {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(m) = self.matching(address, subject).into_iter().next() {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "no mail to {address} with subject containing {subject:?} within {secs} s; got: {:?}",
                    self.messages()
                        .iter()
                        .map(|m| (m.rcpt_tos.clone(), m.subject.clone()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_dir(dir: &Path) -> Vec<Received> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|v| Received::from_json(&v))
        .collect()
}

/// The value of `token=` in the first link of a mail's text.
pub fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect()
}
