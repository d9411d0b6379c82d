//! Seeds a store with N products (direct store writes, 100 verified shops),
//! times the search index rebuild over them, then times the search function
//! itself in-process (p50/p99 over a mix of typo, prefix and multi-word
//! queries). Leaves the data directory behind so `scripts/bench-search.py`
//! can serve it and measure `GET /api/v1/search` over HTTP.
//!
//! `cargo run --release --example bench_search -- DATA_DIR [products] [queries]`

// The server binary's allocator (src/main.rs): in-process figures would
// otherwise measure musl's much slower malloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use chrono::Utc;
use uphill::domain::catalog::{Category, Product};
use uphill::domain::shop::{Shop, ShopType, Verification};
use uphill::search::{Filters, Kind, Search, indexer, query};
use uphill::store::{Store, StoreError, WriterOptions, codec, tables};

const ADJECTIVES: &[&str] = &[
    "Masala", "Paneer", "Cheese", "Spicy", "Classic", "Crispy", "Cold", "Hot", "Sweet", "Tandoori",
    "Butter", "Garlic", "Mint", "Lemon", "Ginger", "Honey", "Chilli", "Smoky", "Herb", "Royal",
];
const FOODS: &[&str] = &[
    "Roll", "Chai", "Coffee", "Momos", "Samosa", "Maggi", "Sandwich", "Burger", "Pizza", "Paratha",
    "Dosa", "Idli", "Vada", "Biryani", "Noodles", "Pasta", "Lassi", "Shake", "Juice", "Brownie",
    "Notebook", "Pen", "Pencil", "Eraser", "Stapler", "Folder", "Marker", "Biscuits", "Chips",
    "Soap",
];

/// Queries a hungry student types: typos, half words, several words.
pub const QUERIES: &[&str] = &[
    "panner r",
    "masala ch",
    "chay",
    "cofee",
    "momo",
    "veg samosa",
    "cheese sandwhich",
    "tandori",
    "ginger lemon",
    "notebok",
    "pen",
    "crispy dosa 42",
    "butter nan",
    "cold coffee",
    "biryani",
    "st",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = std::path::PathBuf::from(
        args.first()
            .ok_or_else(|| anyhow::anyhow!("usage: bench_search DATA_DIR [products] [queries]"))?,
    );
    let products: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let queries: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5_000);

    let store = Store::open(&data, WriterOptions::default())?;
    let seeded = Instant::now();
    seed(&store, products)?;
    let seed_ms = seeded.elapsed().as_millis();

    let dir = uphill::search::search_dir(&data);
    let r = indexer::rebuild(&dir, &store, 256_000_000)?;
    assert_eq!(r.products as usize, products);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let search = Search::start(
        store.clone(),
        &data,
        indexer::Options {
            commit_interval: Duration::from_millis(250),
            writer_heap_bytes: 20_000_000,
            rebuild_heap_bytes: 256_000_000,
        },
    )?;
    assert!(rt.block_on(search.wait_ready(Duration::from_secs(30))));
    let parsed: Vec<_> = QUERIES
        .iter()
        .map(|q| query::normalize(q))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let none = Filters::default();
    // Warm the page cache and the term dictionaries once.
    for q in &parsed {
        search.search(Kind::Products, q, &none, 20, 0)?;
    }
    let mut times = Vec::with_capacity(queries);
    let mut per_query = vec![Vec::new(); parsed.len()];
    let mut hits = 0usize;
    for i in 0..queries {
        let q = &parsed[i % parsed.len()];
        let t = Instant::now();
        let page = search.search(Kind::Products, q, &none, 20, 0)?;
        times.push(t.elapsed());
        per_query[i % parsed.len()].push(t.elapsed());
        hits += page.ids.len();
    }
    search.shutdown();
    let pct = |times: &mut Vec<Duration>, p: f64| {
        times.sort();
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_micros()
    };
    // Which queries make the tail: each one's median, slowest first.
    let mut medians: Vec<(u128, &str)> = per_query
        .iter_mut()
        .zip(QUERIES)
        .map(|(t, q)| (pct(t, 0.5), *q))
        .collect();
    medians.sort_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = medians
        .iter()
        .take(5)
        .map(|(us, q)| format!("\"{q}\":{us}"))
        .collect();
    println!(
        "{{\"products\":{products},\"seed_ms\":{seed_ms},\"rebuild_ms\":{},\"queries\":{queries},\
         \"avg_hits\":{:.1},\"inprocess_p50_us\":{},\"inprocess_p99_us\":{},\
         \"slowest_median_us\":{{{}}}}}",
        r.millis,
        hits as f64 / queries as f64,
        pct(&mut times, 0.50),
        pct(&mut times, 0.99),
        slowest.join(",")
    );
    Ok(())
}

/// 100 verified shops sharing the products; a few categories. Written in
/// large transactions straight into the store: the rebuild indexes them.
fn seed(store: &Store, products: usize) -> Result<(), StoreError> {
    let now = Utc::now();
    let shops: Vec<Shop> = (0..100)
        .map(|i| Shop {
            id: ulid::Ulid::new().to_string(),
            owner_id: format!("owner-{i}"),
            name: format!("{} Corner {i}", FOODS[i % FOODS.len()]),
            description: "A bench shop".into(),
            location: format!("Market row {}", i % 7),
            shop_type: if i % 3 == 0 {
                ShopType::Stationery
            } else {
                ShopType::Canteen
            },
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
            delivery_fee: 0,
            direct_delivery_fee: 0,
            delivers_to: vec![],
            staff: vec![],
            deleted_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let categories: Vec<Category> = ["Snacks", "Drinks", "Meals", "Stationery", "Grocery"]
        .iter()
        .map(|n| Category {
            id: ulid::Ulid::new().to_string(),
            name: n.to_string(),
            created_at: now,
        })
        .collect();
    {
        let (shops, categories) = (shops.clone(), categories.clone());
        store.write_blocking(move |txn| {
            for s in &shops {
                codec::put(&mut txn.open_table(tables::SHOPS)?, &s.id, s)?;
            }
            for c in &categories {
                codec::put(&mut txn.open_table(tables::CATEGORIES)?, &c.id, c)?;
            }
            Ok::<_, StoreError>(())
        })?;
    }
    const CHUNK: usize = 10_000;
    let mut start = 0;
    while start < products {
        let end = (start + CHUNK).min(products);
        let batch: Vec<Product> = (start..end)
            .map(|i| {
                let adj = ADJECTIVES[i % ADJECTIVES.len()];
                let food = FOODS[(i / ADJECTIVES.len()) % FOODS.len()];
                let shop = &shops[i % shops.len()];
                Product {
                    id: ulid::Ulid::new().to_string(),
                    shop_id: shop.id.clone(),
                    name: format!("{adj} {food} {}", i % 97),
                    description: format!("Freshly made {} {} from {}", adj, food, shop.name),
                    category_id: Some(categories[i % categories.len()].id.clone()),
                    price: 1000 + (i % 500) as i64 * 10,
                    discount: 0,
                    stock: (i % 11) as u32,
                    is_veg: i % 4 != 0,
                    image: None,
                    rating_sum: 0,
                    review_count: 0,
                    deleted_at: None,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        store.write_blocking(move |txn| {
            let mut t = txn.open_table(tables::PRODUCTS)?;
            let mut idx = txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?;
            for p in &batch {
                codec::put(&mut t, &p.id, p)?;
                idx.insert(p.shop_id.as_str(), p.id.as_str())?;
            }
            Ok::<_, StoreError>(())
        })?;
        start = end;
    }
    Ok(())
}
