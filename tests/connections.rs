//! Slow clients cannot starve the server of file descriptors: the `uphill`
//! process, limited to 1,024 open files like a service under systemd's
//! default, is held by 1,024 sockets that each sent half a request head,
//! and `/healthz` still answers at once; the accept loop does not spin.
//! (The timeouts and the per-address cap in detail: tests/api/connections.rs.)

mod common;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use common::Server;

/// As many as the server may open files: with its own, more than it can hold.
const SLOW: usize = 1_024;

/// CPU seconds the process has used (user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    ticks as f64 / hz
}

async fn healthz(addr: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_many_slow_request_heads_as_open_files_leave_healthz_answering() {
    // This process holds the client ends.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    assert!(
        hard >= 2 * SLOW as u64,
        "this test needs an open-file limit above {} (hard limit: {hard})",
        2 * SLOW
    );

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        &dir.path().join("data"),
        &[
            ("UPHILL_LOG__LEVEL", "info"),
            // The slow sockets come from 127.0.0.2; loopback is exempt from
            // the per-address cap by default.
            ("UPHILL_SERVER__PER_ADDRESS_EXEMPT", "[]"),
            ("UPHILL_SERVER__HEADER_TIMEOUT_SECS", "60"),
        ],
        |cmd| {
            // systemd's default for a service: 1,024 files, soft and hard.
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    setrlimit(Resource::RLIMIT_NOFILE, 1024, 1024).map_err(std::io::Error::from)
                });
            }
        },
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let pid = server.child.id();
    let cap = 512; // server.max_connections_per_address

    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock
            .connect(addr.parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("connect #{i}: {e}"));
        // Half a request line, never finished.
        let _ = s.write_all(b"GET /api/v1/shops HTTP/1.1\r\nHost: ").await;
        slow.push(s);
    }

    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), healthz(&addr)).await;
    let answer = answer.unwrap_or_else(|_| {
        panic!(
            "/healthz did not answer within 5 s while {SLOW} slow sockets are open (server {})",
            if server.is_running() {
                "running"
            } else {
                "exited"
            }
        )
    });
    let answer = answer.expect("/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(5));

    // The sockets over the per-address cap were closed at once; the others
    // are held until the header timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (open, closed) = loop {
        let mut open = 0;
        let mut closed = 0;
        for s in &mut slow {
            let mut b = [0u8; 64];
            match s.try_read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
                _ => closed += 1,
            }
        }
        if closed >= SLOW - cap || Instant::now() > deadline {
            break (open, closed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((open, closed), (cap, SLOW - cap));

    // Nothing spins while they are held: the server is idle.
    let before = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_secs(pid) - before;
    assert!(used < 0.5, "the server used {used:.2} s of CPU in 2 s");
    let answer = tokio::time::timeout(Duration::from_secs(5), healthz(&addr))
        .await
        .expect("/healthz in time")
        .expect("/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(server.logged("over a connection cap"));
    assert!(server.is_running());
    drop(slow);
    server.stop();
}
