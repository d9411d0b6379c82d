//! The floors under the SSE bench: the least an async Rust server can do to
//! hold the same streams and deliver the same events, measured with the
//! same client (`bench_sse`) in the same run, so Uphill's SSE figures can be
//! read as a ratio to what this machine allows, and each layer under poem
//! can be seen on its own.
//!
//! Usage: bench_sse_floor PORT_FILE [raw|http1|auto] — listens on a free
//! loopback port, writes it to PORT_FILE, and serves until killed:
//! - any `GET`: a `200` chunked `text/event-stream`, then one chunk per
//!   broadcast;
//! - any `POST`: takes the `bench-round-N` title from the body, answers
//!   `201` and hands the frame to every stream through one broadcast channel
//!   (what `events::Hub` does), encoded once.
//!
//! `raw` writes straight to the sockets (no HTTP library, no auth); `http1`
//! serves through hyper's HTTP/1 connection; `auto` through hyper-util's
//! HTTP/1-or-2 connection, which is how poem 3 serves every connection.
//!
//! Same allocator as the server (src/main.rs), so memory per stream compares.

#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

#[derive(Clone, Copy)]
enum Mode {
    Raw,
    Http1,
    Auto,
}

/// The `bench-round-N` marker in a request, or "".
fn title(text: &str) -> String {
    text.find("bench-round-")
        .map(|i| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .unwrap_or_default()
}

/// One SSE event; `raw` wraps it in HTTP/1.1 chunk framing itself.
fn event(title: &str) -> Bytes {
    Bytes::from(format!(
        "event: broadcast\ndata: {{\"title\":\"{title}\"}}\n\n"
    ))
}

/// Reads until the end of the head (and, for a POST, the body it
/// announces); returns everything read.
async fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(text.into_owned());
            }
        }
    }
}

async fn serve_raw(mut s: TcpStream, tx: broadcast::Sender<Bytes>) {
    let Some(req) = read_request(&mut s).await else {
        return;
    };
    if req.starts_with("POST") {
        let e = event(&title(&req));
        let _ = tx.send(Bytes::from(
            [format!("{:x}\r\n", e.len()).as_bytes(), &e, b"\r\n"].concat(),
        ));
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    let mut rx = tx.subscribe();
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return;
    }
    // Like hyper, keep reading so a client that hangs up ends its stream
    // now rather than at the next write.
    let (mut r, mut w) = s.split();
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            _ = r.read(&mut byte) => return,
            frame = rx.recv() => match frame {
                Ok(frame) => {
                    if w.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            },
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    tx: broadcast::Sender<Bytes>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    if req.method() == hyper::Method::POST {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let _ = tx.send(event(&title(&String::from_utf8_lossy(&body))));
        let mut res = Response::new(Empty::new().boxed());
        *res.status_mut() = hyper::StatusCode::CREATED;
        return Ok(res);
    }
    let frames = futures_util::stream::unfold(tx.subscribe(), |mut rx| async move {
        let frame = rx.recv().await.ok()?;
        Some((Ok::<_, Infallible>(Frame::data(frame)), rx))
    });
    let mut res = Response::new(BoxBody::new(StreamBody::new(Box::pin(frames))));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(res)
}

async fn serve_hyper(s: TcpStream, tx: broadcast::Sender<Bytes>, mode: Mode) {
    let service = hyper::service::service_fn(move |req| handle(req, tx.clone()));
    let io = TokioIo::new(s);
    let _ = match mode {
        Mode::Auto => {
            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(io, service)
                .await
        }
        _ => hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
            .map_err(Into::into),
    };
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_sse_floor PORT_FILE [raw|http1|auto]";
    let port_file = args.get(1).ok_or_else(|| anyhow::anyhow!(usage))?.clone();
    let mode = match args.get(2).map(String::as_str) {
        None | Some("raw") => Mode::Raw,
        Some("http1") => Mode::Http1,
        Some("auto") => Mode::Auto,
        Some(_) => anyhow::bail!(usage),
    };
    // The server's runtime shape: one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        std::fs::write(&port_file, listener.local_addr()?.port().to_string())?;
        let (tx, _) = broadcast::channel(1024);
        loop {
            let (s, _) = listener.accept().await?;
            let tx = tx.clone();
            match mode {
                Mode::Raw => tokio::spawn(serve_raw(s, tx)),
                _ => tokio::spawn(serve_hyper(s, tx, mode)),
            };
        }
    })
}
