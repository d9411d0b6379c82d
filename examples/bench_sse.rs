//! SSE fan-out benchmark: holds many `GET /api/v1/events` streams open
//! against a running server and measures how long an admin broadcast takes
//! to reach every one of them. Started by `scripts/bench-http.py`.
//!
//! Usage: bench_sse ADDR ADMIN_TOKEN TOKENS_FILE STREAMS ROUNDS SERVER_PID
//! (ADDR is `127.0.0.1:PORT`; TOKENS_FILE has one bearer token per line and
//! streams are spread over them round-robin.) Prints one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Opens one stream and reports, for each `broadcast` event, the round
/// number in its title and when it arrived.
async fn stream(
    addr: String,
    token: String,
    ready: mpsc::Sender<bool>,
    seen: mpsc::UnboundedSender<(u32, Instant)>,
) {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        let _ = ready.send(false).await;
        return;
    };
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        let _ = ready.send(false).await;
        return;
    }
    let mut buf = vec![0u8; 4096];
    let mut text = String::new();
    let mut announced = false;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !announced {
            if let Some(end) = text.find("\r\n\r\n") {
                let ok = text.starts_with("HTTP/1.1 200");
                let _ = ready.send(ok).await;
                announced = true;
                if !ok {
                    return;
                }
                text.drain(..end + 4);
            } else {
                continue;
            }
        }
        // Chunked framing is interleaved with the events; the title marker
        // is unique enough to find without de-chunking.
        while let Some(i) = text.find("bench-round-") {
            let rest = &text[i + 12..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == rest.len() {
                break; // the number may continue in the next read
            }
            if let Ok(round) = digits.parse() {
                let _ = seen.send((round, Instant::now()));
            }
            text.drain(..i + 12 + digits.len());
        }
        if text.len() > 64 * 1024 {
            text.clear();
        }
    }
    if !announced {
        let _ = ready.send(false).await;
    }
}

async fn broadcast(addr: &str, admin: &str, round: u32) -> bool {
    let body = format!(r#"{{"title":"bench-round-{round}","message":"fan-out","audience":"ALL"}}"#);
    let req = format!(
        "POST /api/v1/admin/broadcasts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    out.starts_with(b"HTTP/1.1 201")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        a.len() == 7,
        "usage: bench_sse ADDR ADMIN_TOKEN TOKENS_FILE STREAMS ROUNDS SERVER_PID"
    );
    let (addr, admin) = (a[1].clone(), a[2].clone());
    let tokens: Vec<String> = std::fs::read_to_string(&a[3])?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let streams: usize = a[4].parse()?;
    let rounds: u32 = a[5].parse()?;
    let pid: u32 = a[6].parse()?;
    anyhow::ensure!(!tokens.is_empty(), "no tokens");

    let rss_before = rss_kib(pid);
    let (ready_tx, mut ready_rx) = mpsc::channel(1024);
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let tokens = Arc::new(tokens);
    let t_open = Instant::now();
    for i in 0..streams {
        let token = tokens[i % tokens.len()].clone();
        tokio::spawn(stream(
            addr.clone(),
            token,
            ready_tx.clone(),
            seen_tx.clone(),
        ));
        if i % 500 == 499 {
            // Let the accept queue drain rather than overflow it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(ready_tx);
    let mut connected = 0usize;
    let mut refused = 0usize;
    while connected + refused < streams {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(true)) => connected += 1,
            Ok(Some(false)) => refused += 1,
            _ => break,
        }
    }
    let open_secs = t_open.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = rss_kib(pid);

    let mut latencies = Vec::new();
    let mut received = 0usize;
    for round in 1..=rounds {
        let sent_at = Instant::now();
        anyhow::ensure!(broadcast(&addr, &admin, round).await, "broadcast refused");
        let deadline = sent_at + Duration::from_secs(10);
        let mut got = 0usize;
        while got < connected {
            let Ok(Some((r, at))) = tokio::time::timeout_at(deadline.into(), seen_rx.recv()).await
            else {
                break;
            };
            if r == round {
                got += 1;
                latencies.push((at - sent_at).as_secs_f64() * 1000.0);
            }
        }
        received += got;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    latencies.sort_by(f64::total_cmp);
    let per_stream = if connected > 0 {
        (rss_open.saturating_sub(rss_before)) as f64 / connected as f64
    } else {
        f64::NAN
    };
    println!(
        "{{\"streams\": {streams}, \"connected\": {connected}, \"refused\": {refused}, \"open_s\": {open_secs:.2}, \"rounds\": {rounds}, \"received\": {received}, \"expected\": {}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}, \"rss_before_kib\": {rss_before}, \"rss_open_kib\": {rss_open}, \"kib_per_stream\": {per_stream:.2}}}",
        connected * rounds as usize,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    Ok(())
}
