//! Measures the store's writer path: durable writes per second with group
//! commit and with one commit per write, same machine, same run.
//!
//! `cargo run --release --example bench_writer -- [writers] [seconds] [runs]`
//! Prints one JSON line per mode with the median of the runs.

// The server binary's allocator (src/main.rs): in-process figures would
// otherwise measure musl's much slower malloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redb::TableDefinition;
use uphill::store::{Store, StoreError, WriterOptions};

const T: TableDefinition<&str, &[u8]> = TableDefinition::new("bench");

async fn one_run(max_group: usize, writers: usize, secs: u64) -> (f64, f64, Vec<f64>) {
    let dir = tempfile::tempdir_in(".").expect("tempdir on the data disk");
    let store = Store::open(
        dir.path(),
        WriterOptions {
            max_group,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let before = store.writer_stats();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let value = vec![7u8; 300];
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("{w:04}-{i:010}");
                let v = value.clone();
                let t0 = Instant::now();
                store
                    .write(move |txn| {
                        txn.open_table(T)?.insert(key.as_str(), v.as_slice())?;
                        Ok::<_, StoreError>(())
                    })
                    .await
                    .unwrap();
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let stats = store.writer_stats();
    let commits = (stats.commits - before.commits) as f64;
    let writes = done.load(Ordering::Relaxed) as f64;
    (writes / elapsed, writes / commits.max(1.0), lat)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let writers = *args.first().unwrap_or(&256);
    let secs = *args.get(1).unwrap_or(&3) as u64;
    let runs = *args.get(2).unwrap_or(&3);
    for (mode, max_group) in [("grouped", 512usize), ("one_commit_per_write", 1)] {
        let mut rates = Vec::new();
        let mut per_commit = Vec::new();
        let mut p99s = Vec::new();
        let mut p50s = Vec::new();
        for _ in 0..runs {
            let (rate, pc, mut lat) = one_run(max_group, writers, secs).await;
            lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
            rates.push(rate);
            per_commit.push(pc);
            p50s.push(pct(&lat, 0.5));
            p99s.push(pct(&lat, 0.99));
        }
        println!(
            "{{\"mode\":\"{mode}\",\"writers\":{writers},\"runs\":{runs},\"writes_per_s\":{:.0},\"writes_per_commit\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
            median(rates),
            median(per_commit),
            median(p50s),
            median(p99s)
        );
    }
}
