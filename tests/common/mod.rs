//! What the test binaries that run the real `uphill` executable share
//! (`tests/cli.rs`, `tests/faults.rs`, `tests/mail_cli.rs`; each has
//! `mod common;`): a clean command and a served process on loopback.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_uphill");

/// Runs the binary with no config of the machine's leaking in.
pub fn uphill(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("UPHILL_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("UPHILL_") {
            c.env_remove(k);
        }
    }
    c
}

/// Output bytes as text, for assertions and messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A served `uphill` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Every line the server logged to stdout so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(data, env, |_| {})
    }

    /// `start`, with the command adjusted first (e.g. resource limits).
    pub fn start_with(
        data: &Path,
        env: &[(&str, &str)],
        tweak: impl FnOnce(&mut Command),
    ) -> Server {
        let mut cmd = uphill(&[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        tweak(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn uphill serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        // Keeps draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.find("serving addr=") {
                    let _ = tx.send(line[i + "serving addr=".len()..].trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start within 30 s");
            }
        };
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig}");
    }

    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < limit, "did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn kill9(mut self) {
        self.signal("-KILL");
        self.wait(Duration::from_secs(10));
    }

    pub fn stop(mut self) {
        self.signal("-TERM");
        let status = self.wait(Duration::from_secs(20));
        assert!(status.success(), "clean shutdown: {status:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
