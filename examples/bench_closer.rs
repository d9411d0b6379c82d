//! Times the batch closer: 10,000 orders in 100 due batches, locked by one
//! `lock_due_batches` call (one transaction per batch, OTP per order,
//! notifications to every student and vendor).
//!
//! `cargo run --release --example bench_closer -- [batches] [orders_per_batch] [runs]`

// The server binary's allocator (src/main.rs): in-process figures would
// otherwise measure musl's much slower malloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use chrono::{Duration, Utc};
use uphill::app::Application;
use uphill::config::Config;
use uphill::domain::batch::{Batch, BatchStatus};
use uphill::domain::catalog::AddressSnapshot;
use uphill::domain::order::{
    Order, OrderItem, OrderStatus, PaymentMethod, PaymentStatus, Transition,
};
use uphill::domain::shop::{Shop, ShopType, Verification};
use uphill::market::orders::open_key;
use uphill::store::{StoreError, codec, tables};

async fn one_run(batches: usize, per_batch: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.storage.data_dir = dir.path().join("data");
    let app = Application::build(config).await.unwrap();
    let state = app.state();
    let now = Utc::now();
    let shop = Shop {
        id: ulid::Ulid::new().to_string(),
        owner_id: "owner".into(),
        name: "Bench Canteen".into(),
        description: String::new(),
        location: String::new(),
        shop_type: ShopType::Canteen,
        opens_at: 0,
        closes_at: 0,
        image: None,
        upi_id: None,
        upi_qr_image: None,
        is_active: true,
        accepting_orders: true,
        verification: Verification::Verified,
        verification_note: None,
        min_order_value: 0,
        delivery_fee: 1000,
        direct_delivery_fee: 0,
        delivers_to: vec![],
        staff: vec![],
        deleted_at: None,
        created_at: now,
        updated_at: now,
    };
    for b in 0..batches {
        let shop = shop.clone();
        state
            .store
            .write(move |txn| {
                if b == 0 {
                    codec::put(&mut txn.open_table(tables::SHOPS)?, &shop.id, &shop)?;
                }
                let cutoff = now - Duration::minutes(1) - Duration::seconds(b as i64);
                let batch = Batch {
                    id: ulid::Ulid::new().to_string(),
                    shop_id: shop.id.clone(),
                    slot_id: "slot".into(),
                    label: format!("Batch {b}"),
                    cutoff_at: cutoff,
                    status: BatchStatus::Open,
                    milestone: None,
                    runner_id: None,
                    max_orders: None,
                    order_count: per_batch as u32,
                    created_at: now,
                    locked_at: None,
                    dispatched_at: None,
                    completed_at: None,
                    stale_warned_at: None,
                };
                let mut orders = txn.open_table(tables::ORDERS)?;
                let mut idx = txn.open_multimap_table(tables::BATCH_TO_ORDERS)?;
                for i in 0..per_batch {
                    let o = Order {
                        id: ulid::Ulid::new().to_string(),
                        display_id: format!("UP-{b:02}{i:03}"),
                        user_id: format!("student-{b}-{i}"),
                        shop_id: shop.id.clone(),
                        batch_id: Some(batch.id.clone()),
                        cutoff_at: Some(cutoff),
                        items: vec![OrderItem {
                            product_id: "p".into(),
                            name: "Tea".into(),
                            unit_price: 1000,
                            quantity: 1,
                            line_total: 1000,
                        }],
                        item_total: 1000,
                        delivery_fee: 1000,
                        platform_fee: 0,
                        total: 2000,
                        payment_method: PaymentMethod::Cash,
                        payment_status: PaymentStatus::Pending,
                        status: OrderStatus::New,
                        address: AddressSnapshot {
                            label: "Room".into(),
                            building_id: "b".into(),
                            building_name: "Hostel A".into(),
                            room: "1".into(),
                            notes: String::new(),
                        },
                        notes: String::new(),
                        otp: None,
                        otp_failures: 0,
                        otp_regenerations: 0,
                        cancellation_reason: None,
                        failure_reason: None,
                        transitions: vec![Transition {
                            status: OrderStatus::New,
                            at: now,
                            by: None,
                            note: None,
                        }],
                        created_at: now,
                        updated_at: now,
                    };
                    codec::put(&mut orders, &o.id, &o)?;
                    idx.insert(batch.id.as_str(), o.id.as_str())?;
                }
                drop((orders, idx));
                codec::put(&mut txn.open_table(tables::BATCHES)?, &batch.id, &batch)?;
                txn.open_table(tables::OPEN_BATCHES_BY_CUTOFF)?
                    .insert(open_key(cutoff, &batch.id).as_str(), batch.id.as_str())?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let t0 = Instant::now();
    let report = uphill::jobs::lock_due_batches(&state.job_handles(), Utc::now()).await;
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(report.locked, batches, "{report:?}");
    assert_eq!(report.failed, 0);
    secs
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let batches = *args.first().unwrap_or(&100);
    let per = *args.get(1).unwrap_or(&100);
    let runs = *args.get(2).unwrap_or(&3);
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(one_run(batches, per).await);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{{\"closer_batches\":{batches},\"closer_orders\":{},\"runs\":{runs},\"closer_seconds_median\":{:.3}}}",
        batches * per,
        times[times.len() / 2]
    );
}
