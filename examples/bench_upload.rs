//! Upload throughput: N uploads of distinct ~1.6 MP JPEGs (1600 × 1000,
//! photo-like, quality 85) to `POST /api/v1/uploads` over loopback HTTP,
//! at most C in flight. Each upload is decoded, re-encoded (JPEG original,
//! lossless WebP 800 px and 160 px), fsynced and recorded. Reports
//! uploads/s and latency p50/p99 per run and their medians.
//!
//! The server runs in this process on its own 2-thread runtime (like the
//! machine's 2 cores); the client runs on another. The JPEGs are made
//! before the clock starts.
//!
//! `cargo run --release --example bench_upload -- [uploads] [concurrency] [runs]`

// The server binary's allocator (src/main.rs): in-process figures would
// otherwise measure musl's much slower malloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{DynamicImage, Rgb, RgbImage};
use serde_json::{Value, json};
use uphill::app::Application;
use uphill::config::Config;

const W: u32 = 1600;
const H: u32 = 1000;

/// Smooth gradients plus per-pixel noise: compresses like a phone photo
/// (hundreds of KB at quality 85), unlike a flat test card.
fn photo(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let img = RgbImage::from_fn(W, H, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 24) as u8;
        Rgb([
            ((x * 255 / W) as u8).wrapping_add(n),
            ((y * 255 / H) as u8).wrapping_add(n / 2),
            (((x + y + seed) / 7) as u8).wrapping_add(n),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&DynamicImage::ImageRgb8(img))
        .expect("encode");
    out.into_inner()
}

fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let b = "bench-boundary-1d9f0c";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Run {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn vendor_token(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "bench@uphill.test", "name": "Bench Vendor", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 202, "register");
    // Registration signs nobody in; a password sign-in does.
    let r = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "bench@uphill.test", "password": "correct horse battery"}))
        .send()
        .await
        .expect("login");
    let csrf = r.json::<Value>().await.expect("json")["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_string();
    let r = c
        .post(format!("{base}/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .expect("token");
    let token = r.json::<Value>().await.expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/shops"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench Shop", "shop_type": "CANTEEN", "opens_at": 0, "closes_at": 0}))
        .send()
        .await
        .expect("shop");
    assert_eq!(r.status(), 201, "create shop");
    token
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let n = args.first().copied().unwrap_or(200);
    let conc = args.get(1).copied().unwrap_or(4);
    let runs = args.get(2).copied().unwrap_or(3);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");

    let t = Instant::now();
    let images: Vec<Arc<(String, Vec<u8>)>> = (0..n * runs)
        .map(|i| Arc::new(multipart(&photo(i as u32 + 1))))
        .collect();
    let avg_kb = images.iter().map(|b| b.1.len()).sum::<usize>() / images.len() / 1024;
    eprintln!(
        "made {} JPEGs of {W}x{H} (~{avg_kb} KiB each) in {:.1}s",
        images.len(),
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.storage.data_dir = dir.path().join("data");
    config.log.level = "warn".into();
    // The bench measures decoding, not the per-user quotas: one vendor
    // uploads every image, from a shop nobody verified.
    config.uploads.per_user_per_hour = 10_000;
    config.uploads.per_user_bytes_per_day = 64 << 30;
    config.uploads.unverified_shop_max_images = 1_000;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let base = server_rt.block_on(async {
        let app = Application::build(config).await.expect("build");
        let base = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until(async {
            let _ = stop_rx.await;
        }));
        base
    });

    let mut results = Vec::new();
    client_rt.block_on(async {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        let token = vendor_token(&client, &base).await;
        let client = reqwest::Client::new();
        for run in 0..runs {
            let batch = images[run * n..(run + 1) * n].to_vec();
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let started = Instant::now();
            let mut workers = Vec::new();
            for _ in 0..conc {
                let (client, token, base, batch, next) = (
                    client.clone(),
                    token.clone(),
                    base.clone(),
                    batch.clone(),
                    next.clone(),
                );
                workers.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = batch.get(i) else { break };
                        let t = Instant::now();
                        let r = client
                            .post(format!("{base}/api/v1/uploads"))
                            .bearer_auth(&token)
                            .header("content-type", &item.0)
                            .body(item.1.clone())
                            .send()
                            .await
                            .expect("upload");
                        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    lat
                }));
            }
            let mut lat = Vec::new();
            for w in workers {
                lat.extend(w.await.expect("worker"));
            }
            let secs = started.elapsed().as_secs_f64();
            lat.sort_by(|a, b| a.total_cmp(b));
            let r = Run {
                per_s: n as f64 / secs,
                p50_ms: percentile(&lat, 0.5),
                p99_ms: percentile(&lat, 0.99),
            };
            eprintln!(
                "run {}: {:.1} uploads/s, p50 {:.0} ms, p99 {:.0} ms",
                run + 1,
                r.per_s,
                r.p50_ms,
                r.p99_ms
            );
            results.push(r);
        }
    });
    let _ = stop_tx.send(());
    let med = |f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = results.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "{}",
        json!({
            "uploads": n, "concurrency": conc, "runs": runs,
            "image": format!("{W}x{H} JPEG q85, ~{avg_kb} KiB"),
            "uploads_per_s": (med(|r| r.per_s) * 10.0).round() / 10.0,
            "p50_ms": med(|r| r.p50_ms).round(),
            "p99_ms": med(|r| r.p99_ms).round(),
        })
    );
    drop(server_rt);
}
