//! Store-level fixtures for the ordering tests: a building, a verified shop
//! with a slot and products. (The catalog API creates these in production;
//! writing them directly keeps these tests about ordering.)

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uphill::domain::batch::Slot;
use uphill::domain::catalog::{Building, Product};
use uphill::domain::shop::{Shop, ShopType, Verification};
use uphill::store::{StoreError, codec, tables};

use crate::helpers::TestApp;

pub struct Market {
    pub building_id: String,
    pub other_building_id: String,
    pub shop_id: String,
    pub owner_token: String,
    /// Products: [tea (price 1500, discount 500, stock 10), samosa (2000, stock 5), sold-out chips (3000, stock 0)]
    pub products: Vec<String>,
}

pub struct ShopOpts {
    pub min_order_value: i64,
    pub direct_delivery_fee: i64,
    pub with_slot: bool,
    pub delivers_to_other_only: bool,
    pub verification: Verification,
    pub accepting_orders: bool,
}

impl Default for ShopOpts {
    fn default() -> Self {
        Self {
            min_order_value: 0,
            direct_delivery_fee: 0,
            with_slot: true,
            delivers_to_other_only: false,
            verification: Verification::Verified,
            accepting_orders: true,
        }
    }
}

/// The id of the token's user (asserts `GET /me` is 200).
pub async fn user_id(app: &TestApp, token: &str) -> String {
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "/api/v1/me");
    let me: Value = r.json().await.unwrap();
    me["id"].as_str().unwrap().to_string()
}

pub async fn market(app: &TestApp, owner_email: &str, opts: ShopOpts) -> Market {
    let owner_token = app.bearer(owner_email).await;
    let owner_id = user_id(app, &owner_token).await;
    let now = Utc::now();
    let id = |p: &str| format!("{p}{}", ulid::Ulid::new());
    let building = Building {
        id: id(""),
        name: "Hostel A".into(),
        created_at: now,
    };
    let other = Building {
        id: id(""),
        name: "Hostel B".into(),
        created_at: now,
    };
    let shop = Shop {
        id: ulid::Ulid::new().to_string(),
        owner_id,
        name: "Foot Hill Canteen".into(),
        description: "Tea and snacks".into(),
        location: "Market row 3".into(),
        shop_type: ShopType::Canteen,
        // Open all day (equal hours), so no ordering test depends on the
        // time it runs at; tests/api/setup.rs tests the hours themselves.
        opens_at: 0,
        closes_at: 0,
        image: None,
        upi_id: Some("canteen@upi".into()),
        upi_qr_image: None,
        is_active: true,
        accepting_orders: opts.accepting_orders,
        verification: opts.verification,
        verification_note: None,
        min_order_value: opts.min_order_value,
        delivery_fee: 1000,
        direct_delivery_fee: opts.direct_delivery_fee,
        delivers_to: if opts.delivers_to_other_only {
            vec![other.id.clone()]
        } else {
            vec![]
        },
        staff: vec![],
        deleted_at: None,
        created_at: now,
        updated_at: now,
    };
    let product = |name: &str, price: i64, discount: i64, stock: u32| Product {
        id: ulid::Ulid::new().to_string(),
        shop_id: shop.id.clone(),
        name: name.into(),
        description: String::new(),
        category_id: None,
        price,
        discount,
        stock,
        is_veg: true,
        image: None,
        rating_sum: 0,
        review_count: 0,
        deleted_at: None,
        created_at: now,
        updated_at: now,
    };
    let products = vec![
        product("Masala Tea", 1500, 500, 10),
        product("Samosa", 2000, 0, 5),
        product("Chips", 3000, 0, 0),
    ];
    let slot = Slot {
        id: ulid::Ulid::new().to_string(),
        shop_id: shop.id.clone(),
        // Every day at 23:59 campus time: always a cutoff ahead.
        cutoff_minutes: 1439,
        label: "Night batch".into(),
        active: true,
        sort_order: 0,
        weekdays: None,
        max_orders: None,
        created_at: now,
    };
    let m = Market {
        building_id: building.id.clone(),
        other_building_id: other.id.clone(),
        shop_id: shop.id.clone(),
        owner_token,
        products: products.iter().map(|p| p.id.clone()).collect(),
    };
    let with_slot = opts.with_slot;
    app.state
        .store
        .write(move |txn| {
            let mut b = txn.open_table(tables::BUILDINGS)?;
            codec::put(&mut b, &building.id, &building)?;
            codec::put(&mut b, &other.id, &other)?;
            drop(b);
            codec::put(&mut txn.open_table(tables::SHOPS)?, &shop.id, &shop)?;
            txn.open_table(tables::OWNER_TO_SHOP)?
                .insert(shop.owner_id.as_str(), shop.id.as_str())?;
            let mut pt = txn.open_table(tables::PRODUCTS)?;
            let mut idx = txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?;
            for p in &products {
                codec::put(&mut pt, &p.id, p)?;
                idx.insert(shop.id.as_str(), p.id.as_str())?;
            }
            // The shop's entry fans out to its products in the search index.
            uphill::search::enqueue(txn, uphill::search::Target::Shop(shop.id.clone()))?;
            if with_slot {
                codec::put(&mut txn.open_table(tables::SLOTS)?, &slot.id, &slot)?;
                txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                    .insert(shop.id.as_str(), slot.id.as_str())?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    m
}

pub async fn product(app: &TestApp, id: &str) -> Product {
    let id = id.to_string();
    app.state
        .store
        .read(move |txn| {
            Ok::<_, StoreError>(
                codec::get::<Product>(&txn.open_table(tables::PRODUCTS)?, &id)?.unwrap(),
            )
        })
        .await
        .unwrap()
}

/// Sets a product's stock directly in the store.
pub async fn set_stock(app: &TestApp, product_id: &str, stock: u32) {
    let id = product_id.to_string();
    app.state
        .store
        .write(move |txn| {
            let mut t = txn.open_table(tables::PRODUCTS)?;
            let mut p: Product = codec::get(&t, &id)?.unwrap();
            p.stock = stock;
            codec::put(&mut t, &id, &p)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Registers `email` with an API token and saves `address` for them;
/// returns (token, address id).
pub async fn student_at(app: &TestApp, email: &str, address: Value) -> (String, String) {
    let token = app.bearer(email).await;
    let r = app
        .client()
        .post(app.url("/api/v1/me/addresses"))
        .bearer_auth(&token)
        .json(&address)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    (token, a["id"].as_str().unwrap().to_string())
}

/// A student with a "Room" address, B-214 in the market's building.
pub async fn student(app: &TestApp, email: &str, m: &Market) -> (String, String) {
    student_at(
        app,
        email,
        json!({"label": "Room", "building_id": m.building_id, "room": "B-214"}),
    )
    .await
}

/// Places one unit of the market's first product (UPI) under `key`;
/// asserts 201 and returns the order.
pub async fn order(app: &TestApp, m: &Market, token: &str, address: &str, key: &str) -> Value {
    let body = json!({"shop_id": m.shop_id, "items": [{"product_id": m.products[0], "quantity": 1}], "address_id": address, "payment_method": "UPI"});
    checkout(app, token, key, body).await
}

/// Places an order with `body` under the idempotency `key`; asserts 201.
pub async fn checkout(app: &TestApp, token: &str, key: &str, body: Value) -> Value {
    let r = app
        .client()
        .post(app.url("/api/v1/orders"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// The owner locks `batch` early ("go now"); asserts 200.
pub async fn lock(app: &TestApp, m: &Market, batch: &str) {
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/batches/{batch}/lock")))
        .bearer_auth(&m.owner_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

pub async fn stock(app: &TestApp, id: &str) -> u32 {
    product(app, id).await.stock
}

pub async fn order_count(app: &TestApp) -> usize {
    app.state
        .store
        .read(|txn| {
            use redb::ReadableTableMetadata;
            Ok::<_, StoreError>(txn.open_table(tables::ORDERS)?.len()? as usize)
        })
        .await
        .unwrap()
}

/// Adds a runner to a shop's staff, as the catalog's staff endpoint does.
pub async fn add_staff(app: &TestApp, shop_id: &str, user_id: &str) {
    let (shop_id, user_id) = (shop_id.to_string(), user_id.to_string());
    app.state
        .store
        .write(move |txn| {
            let mut t = txn.open_table(tables::SHOPS)?;
            let mut s: Shop = codec::get(&t, &shop_id)?.unwrap();
            s.staff.push(user_id.clone());
            codec::put(&mut t, &shop_id, &s)?;
            uphill::search::enqueue(txn, uphill::search::Target::Shop(shop_id.clone()))?;
            txn.open_multimap_table(tables::STAFF_TO_SHOPS)?
                .insert(user_id.as_str(), shop_id.as_str())?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Moves a batch's cutoff (as if time had passed), keeping the closer's index right.
pub async fn move_cutoff(
    store: &uphill::store::Store,
    batch_id: &str,
    cutoff: chrono::DateTime<Utc>,
) {
    use uphill::domain::batch::Batch;
    let batch_id = batch_id.to_string();
    store
        .write(move |txn| {
            let mut t = txn.open_table(tables::BATCHES)?;
            let mut b: Batch = codec::get(&t, &batch_id)?.unwrap();
            let mut open = txn.open_table(tables::OPEN_BATCHES_BY_CUTOFF)?;
            open.remove(uphill::market::orders::open_key(b.cutoff_at, &b.id).as_str())?;
            b.cutoff_at = cutoff;
            open.insert(
                uphill::market::orders::open_key(cutoff, &b.id).as_str(),
                b.id.as_str(),
            )?;
            codec::put(&mut t, &batch_id, &b)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Gives a shop made through the API what verification asks for besides
/// its UPI id (SPEC: a product and an active slot), through the API too;
/// returns the product's and the slot's ids.
pub async fn checklist(app: &TestApp, token: &str, shop_id: &str) -> (String, String) {
    use crate::helpers::{expect, send};
    use reqwest::Method;
    let p = expect(
        send(
            app,
            Method::POST,
            &format!("/shops/{shop_id}/products"),
            Some(token),
            Some(json!({"name": "Checklist item", "price": 100, "stock": 1})),
        )
        .await,
        201,
    )
    .await;
    let s = expect(
        send(
            app,
            Method::POST,
            &format!("/shops/{shop_id}/slots"),
            Some(token),
            Some(json!({"cutoff_minutes": 1439, "label": "Checklist batch"})),
        )
        .await,
        201,
    )
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    (id(&p), id(&s))
}

/// Submits a shop for verification (asserting 200) with a product and a
/// slot made for the submission and deleted after it, for tests about what
/// follows, whose own products and slots are then all the shop has.
pub async fn submit_for_verification(app: &TestApp, token: &str, shop_id: &str) -> Value {
    use crate::helpers::{expect, send};
    use reqwest::Method;
    let (product, slot) = checklist(app, token, shop_id).await;
    let shop = expect(
        send(
            app,
            Method::POST,
            &format!("/shops/{shop_id}/verification"),
            Some(token),
            None,
        )
        .await,
        200,
    )
    .await;
    for path in [format!("/products/{product}"), format!("/slots/{slot}")] {
        expect(
            send(app, Method::DELETE, &path, Some(token), None).await,
            204,
        )
        .await;
    }
    shop
}
