//! Start-to-ready with a large store: fills a data directory with N
//! completed orders (1,000 per batch, indexed like real ones), then starts
//! the release binary on it several times and times `/readyz` → 200.
//!
//! `cargo run --release --example bench_start -- BIN ORDERS RUNS`
//! Prints one JSON line; the first start (which may build derived state,
//! such as a missing search index) is reported apart from the median.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use uphill::domain::batch::{Batch, BatchStatus};
use uphill::domain::catalog::AddressSnapshot;
use uphill::domain::order::{
    Order, OrderItem, OrderStatus, PaymentMethod, PaymentStatus, Transition,
};
use uphill::market::order_counts;
use uphill::store::{Store, StoreError, WriterOptions, codec, tables};

const PER_BATCH: usize = 1000;

fn order(n: usize, batch_id: &str, now: chrono::DateTime<Utc>) -> Order {
    Order {
        id: ulid::Ulid::new().to_string(),
        display_id: format!("UP-{n:07}"),
        user_id: format!("student-{}", n % 10_000),
        shop_id: format!("shop-{}", n % 100),
        batch_id: Some(batch_id.to_string()),
        cutoff_at: Some(now),
        items: vec![OrderItem {
            product_id: "p".into(),
            name: "Masala Chai".into(),
            unit_price: 1000,
            quantity: 2,
            line_total: 2000,
        }],
        item_total: 2000,
        delivery_fee: 1000,
        platform_fee: 200,
        total: 3200,
        payment_method: PaymentMethod::Upi,
        payment_status: PaymentStatus::Paid,
        status: OrderStatus::Completed,
        address: AddressSnapshot {
            label: "Room".into(),
            building_id: "b".into(),
            building_name: "Hostel A".into(),
            room: "A-101".into(),
            notes: String::new(),
        },
        notes: String::new(),
        otp: Some("4821".into()),
        otp_failures: 0,
        otp_regenerations: 0,
        cancellation_reason: None,
        failure_reason: None,
        transitions: vec![
            Transition {
                status: OrderStatus::New,
                at: now,
                by: None,
                note: None,
            },
            Transition {
                status: OrderStatus::Completed,
                at: now,
                by: None,
                note: None,
            },
        ],
        created_at: now,
        updated_at: now,
    }
}

/// Fills the store; returns how long counting orders by status takes by
/// scanning them all (what `/metrics` did every minute before session 7)
/// and by reading the kept counts, in ms.
fn fill(dir: &std::path::Path, orders: usize) -> (f64, f64) {
    let store = Store::open(dir, WriterOptions::default()).expect("open store");
    let now = Utc::now();
    let batches = orders.div_ceil(PER_BATCH);
    for b in 0..batches {
        store
            .write_blocking(move |txn| {
                let batch = Batch {
                    id: ulid::Ulid::new().to_string(),
                    shop_id: format!("shop-{}", b % 100),
                    slot_id: "slot".into(),
                    label: format!("Batch {b}"),
                    cutoff_at: now,
                    status: BatchStatus::Completed,
                    milestone: None,
                    runner_id: None,
                    max_orders: None,
                    order_count: PER_BATCH as u32,
                    created_at: now,
                    locked_at: Some(now),
                    dispatched_at: Some(now),
                    completed_at: Some(now),
                    stale_warned_at: None,
                };
                let mut by_batch = txn.open_multimap_table(tables::BATCH_TO_ORDERS)?;
                let mut by_user = txn.open_multimap_table(tables::USER_TO_ORDERS)?;
                let mut by_shop = txn.open_multimap_table(tables::SHOP_TO_ORDERS)?;
                let mut by_display = txn.open_table(tables::DISPLAY_TO_ORDER)?;
                for i in 0..PER_BATCH {
                    let o = order(b * PER_BATCH + i, &batch.id, now);
                    order_counts::put_order(txn, &o)?;
                    by_batch.insert(batch.id.as_str(), o.id.as_str())?;
                    by_user.insert(o.user_id.as_str(), o.id.as_str())?;
                    by_shop.insert(o.shop_id.as_str(), o.id.as_str())?;
                    by_display.insert(o.display_id.as_str(), o.id.as_str())?;
                }
                drop((by_batch, by_user, by_shop, by_display));
                codec::put(&mut txn.open_table(tables::BATCHES)?, &batch.id, &batch)?;
                Ok::<_, StoreError>(())
            })
            .expect("write orders");
    }
    let timed = |f: &dyn Fn(&redb::ReadTransaction) -> Result<u64, StoreError>| {
        let t = Instant::now();
        let n = store.read_blocking(f).expect("count orders");
        assert_eq!(n as usize, orders, "every order counted once");
        t.elapsed().as_secs_f64() * 1000.0
    };
    let scan_ms = timed(&|txn| {
        let counts = order_counts::scan(&txn.open_table(tables::ORDERS)?)?;
        Ok(counts.iter().map(|(_, n)| n).sum())
    });
    let kept_ms = timed(&|txn| {
        Ok(order_counts::read(txn)?
            .iter()
            .map(|(_, n)| *n as u64)
            .sum())
    });
    drop(store);
    // The writer thread closes the database after the last handle goes,
    // and closing a 2 GiB file takes a while; a server started before it
    // is done finds the file locked and exits. Wait until it can be opened.
    let path = dir.join("uphill.redb");
    let closing = Instant::now();
    let deadline = closing + Duration::from_secs(600);
    loop {
        match redb::Database::open(&path) {
            Ok(db) => {
                drop(db);
                eprintln!("the filled store closed after {:?}", closing.elapsed());
                break;
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the filled store does not open: {e}"),
        }
    }
    (scan_ms, kept_ms)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200")
}

fn start_once(bin: &str, dir: &std::path::Path) -> f64 {
    let port = free_port();
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .arg("serve")
        .env("UPHILL_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let deadline = t0 + Duration::from_secs(600);
    while !ready(port) {
        assert!(Instant::now() < deadline, "not ready within 600 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = t0.elapsed().as_secs_f64();
    // SIGTERM: a graceful stop, like systemd's.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    secs
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(a.len() == 4, "usage: bench_start BIN ORDERS RUNS");
    let (bin, orders, runs): (&str, usize, usize) = (
        &a[1],
        a[2].parse().expect("ORDERS"),
        a[3].parse().expect("RUNS"),
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let t0 = Instant::now();
    let (scan_ms, kept_ms) = fill(&dir, orders);
    let fill_s = t0.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.join("uphill.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    let first = start_once(bin, &dir);
    let mut times: Vec<f64> = (0..runs).map(|_| start_once(bin, &dir)).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"orders\": {orders}, \"store_mib\": {:.0}, \"fill_s\": {fill_s:.1}, \"first_start_ms\": {:.0}, \"start_to_ready_ms_median\": {:.0}, \"runs\": {runs}, \"status_scan_ms\": {scan_ms:.0}, \"status_counts_ms\": {kept_ms:.3}}}",
        size as f64 / 1048576.0,
        first * 1000.0,
        times[times.len() / 2] * 1000.0
    );
}
