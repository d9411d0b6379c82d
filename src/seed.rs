//! `uphill seed demo`: a believable campus to click around in — buildings,
//! categories, six shops of different kinds with slots and about sixty
//! products, students with addresses, a runner and an admin.

use chrono::Utc;

use crate::auth::AuthService;
use crate::auth::service::NewUser;
use crate::domain::batch::Slot;
use crate::domain::catalog::{Address, Building, Category, Product};
use crate::domain::shop::{Shop, ShopType, Verification};
use crate::error::Error;
use crate::settings::PlatformSettings;
use crate::store::{Store, StoreError, codec, tables};

const SEEDED_KEY: &str = "demo_seeded";

pub struct Account {
    pub role: &'static str,
    pub email: String,
}

pub struct Seeded {
    pub password: String,
    pub accounts: Vec<Account>,
}

fn id() -> String {
    ulid::Ulid::new().to_string()
}

type Catalog = &'static [(&'static str, i64, i64, u32, bool, &'static str)];

struct ShopSeed {
    owner: &'static str,
    name: &'static str,
    description: &'static str,
    location: &'static str,
    kind: ShopType,
    delivery_fee: i64,
    direct_fee: i64,
    min_order: i64,
    /// (name, price, discount, stock, veg, category)
    products: Catalog,
}

const SHOPS: &[ShopSeed] = &[
    ShopSeed {
        owner: "canteen@uphill.test",
        name: "Foot Hill Canteen",
        description: "Hot snacks, chai and thalis from the market's oldest kitchen.",
        location: "Market row 1, shop 3",
        kind: ShopType::Canteen,
        delivery_fee: 1000,
        direct_fee: 3000,
        min_order: 5000,
        products: &[
            ("Masala Chai", 1500, 0, 200, true, "Beverages"),
            ("Filter Coffee", 2000, 0, 150, true, "Beverages"),
            ("Samosa (2 pcs)", 3000, 0, 80, true, "Snacks"),
            ("Paneer Roll", 7000, 1000, 40, true, "Snacks"),
            ("Egg Roll", 6000, 0, 40, false, "Snacks"),
            ("Veg Thali", 12000, 0, 30, true, "Meals"),
            ("Chicken Biryani", 18000, 2000, 25, false, "Meals"),
            ("Maggi", 4000, 0, 60, true, "Snacks"),
            ("Aloo Paratha", 5000, 0, 35, true, "Meals"),
            ("Gulab Jamun (2 pcs)", 3000, 0, 0, true, "Snacks"),
        ],
    },
    ShopSeed {
        owner: "stationery@uphill.test",
        name: "Inkwell Stationers",
        description: "Notebooks, pens, lab records and printouts.",
        location: "Market row 2, shop 7",
        kind: ShopType::Stationery,
        delivery_fee: 1500,
        direct_fee: 0,
        min_order: 0,
        products: &[
            (
                "A4 Notebook, 200 pages",
                9000,
                1000,
                100,
                true,
                "Stationery",
            ),
            ("Blue Gel Pen", 1000, 0, 500, true, "Stationery"),
            ("Lab Record Book", 12000, 0, 60, true, "Stationery"),
            ("Scientific Calculator", 95000, 5000, 10, true, "Stationery"),
            ("Graph Paper (50 sheets)", 5000, 0, 80, true, "Stationery"),
            ("Highlighter Set", 8000, 0, 45, true, "Stationery"),
            ("Stapler", 15000, 0, 20, true, "Stationery"),
            ("Sticky Notes", 4000, 0, 90, true, "Stationery"),
            ("Drawing Kit", 25000, 2500, 15, true, "Stationery"),
            ("Printout (per page)", 200, 0, 5000, true, "Stationery"),
        ],
    },
    ShopSeed {
        owner: "grocery@uphill.test",
        name: "Hilltop Provisions",
        description: "Daily groceries, fruit and late-night munchies.",
        location: "Market row 1, shop 9",
        kind: ShopType::Grocery,
        delivery_fee: 2000,
        direct_fee: 4000,
        min_order: 10000,
        products: &[
            ("Bananas (6)", 4000, 0, 50, true, "Groceries"),
            ("Milk 500 ml", 3000, 0, 80, true, "Groceries"),
            ("Bread Loaf", 4500, 0, 40, true, "Groceries"),
            ("Eggs (6)", 4800, 0, 60, false, "Groceries"),
            ("Instant Noodles (4 pack)", 6000, 500, 70, true, "Groceries"),
            ("Peanut Butter", 22000, 2000, 20, true, "Groceries"),
            ("Biscuits", 3000, 0, 120, true, "Snacks"),
            ("Apples (1 kg)", 18000, 0, 25, true, "Groceries"),
            ("Curd 400 g", 4000, 0, 40, true, "Groceries"),
            ("Chocolate Bar", 5000, 0, 0, true, "Snacks"),
        ],
    },
    ShopSeed {
        owner: "juice@uphill.test",
        name: "Squeeze Juice Bar",
        description: "Fresh juices and shakes, made to order.",
        location: "Market corner",
        kind: ShopType::Canteen,
        delivery_fee: 1000,
        direct_fee: 2500,
        min_order: 0,
        products: &[
            ("Orange Juice", 6000, 0, 50, true, "Beverages"),
            ("Watermelon Juice", 5000, 0, 50, true, "Beverages"),
            ("Mango Shake", 8000, 1000, 40, true, "Beverages"),
            ("Banana Shake", 7000, 0, 40, true, "Beverages"),
            ("Cold Coffee", 9000, 0, 40, true, "Beverages"),
            ("Lime Soda", 4000, 0, 60, true, "Beverages"),
            ("Fruit Bowl", 10000, 0, 20, true, "Snacks"),
            ("Mint Lemonade", 5000, 0, 50, true, "Beverages"),
            ("Chocolate Shake", 9000, 0, 30, true, "Beverages"),
            ("Sugarcane Juice", 4000, 0, 60, true, "Beverages"),
        ],
    },
    ShopSeed {
        owner: "bakery@uphill.test",
        name: "Crumbs Bakery",
        description: "Puffs, cakes and cookies baked every morning.",
        location: "Market row 3, shop 2",
        kind: ShopType::Other,
        delivery_fee: 1000,
        direct_fee: 0,
        min_order: 3000,
        products: &[
            ("Veg Puff", 2500, 0, 60, true, "Snacks"),
            ("Egg Puff", 3000, 0, 40, false, "Snacks"),
            ("Chocolate Muffin", 5000, 0, 30, true, "Snacks"),
            ("Butter Cookies (250 g)", 12000, 1500, 25, true, "Snacks"),
            ("Black Forest Slice", 8000, 0, 20, false, "Snacks"),
            ("Garlic Bread", 9000, 0, 20, true, "Snacks"),
            ("Croissant", 6000, 0, 25, false, "Snacks"),
            ("Brownie", 7000, 0, 30, false, "Snacks"),
            ("Bun Maska", 3500, 0, 40, true, "Snacks"),
            ("Birthday Cake (500 g)", 45000, 0, 5, false, "Snacks"),
        ],
    },
    ShopSeed {
        owner: "essentials@uphill.test",
        name: "Campus Essentials",
        description: "Toiletries, chargers, umbrellas and everything you forgot.",
        location: "Market row 2, shop 1",
        kind: ShopType::Other,
        delivery_fee: 1500,
        direct_fee: 0,
        min_order: 0,
        products: &[
            ("Toothpaste", 9000, 0, 40, true, "Essentials"),
            ("Shampoo Sachets (10)", 3000, 0, 80, true, "Essentials"),
            ("Bathing Soap", 4000, 0, 60, true, "Essentials"),
            ("USB-C Cable", 25000, 5000, 20, true, "Essentials"),
            ("Umbrella", 40000, 0, 10, true, "Essentials"),
            ("Detergent 1 kg", 15000, 0, 25, true, "Essentials"),
            ("Mosquito Repellent", 9000, 0, 30, true, "Essentials"),
            ("AA Batteries (4)", 12000, 0, 30, true, "Essentials"),
            ("Hand Sanitizer", 6000, 0, 45, true, "Essentials"),
            ("Earphones", 35000, 5000, 0, true, "Essentials"),
        ],
    },
];

const BUILDINGS: &[&str] = &[
    "Hostel A",
    "Hostel B",
    "Hostel C",
    "Girls' Hostel 1",
    "Library Block",
];
const CATEGORIES: &[&str] = &[
    "Beverages",
    "Snacks",
    "Meals",
    "Stationery",
    "Groceries",
    "Essentials",
];
/// (cutoff minutes, label)
const SLOTS: &[(u16, &str)] = &[
    (12 * 60 + 30, "Lunch batch"),
    (17 * 60, "5 PM batch"),
    (21 * 60, "Night batch"),
];
/// (email, name, building, room, phone)
const STUDENTS: &[(&str, &str, usize, &str, &str)] = &[
    (
        "asha@uphill.test",
        "Asha Menon",
        0,
        "A-101",
        "+91 98450 11101",
    ),
    (
        "ravi@uphill.test",
        "Ravi Kumar",
        1,
        "B-214",
        "+91 98450 22214",
    ),
    (
        "meera@uphill.test",
        "Meera Iyer",
        3,
        "G-12",
        "+91 98450 33012",
    ),
];

pub fn is_seeded(store: &Store) -> Result<bool, StoreError> {
    store.read_blocking(|txn| Ok(txn.open_table(tables::META)?.get(SEEDED_KEY)?.is_some()))
}

/// Seeds the demo campus once. Returns `None` when it was already seeded.
pub fn demo(store: &Store) -> Result<Option<Seeded>, Error> {
    if is_seeded(store)? {
        return Ok(None);
    }
    let password = crate::auth::token::random_secret()[..16].to_string();
    let mut accounts = Vec::new();
    let mut create = |role: &'static str,
                      email: &str,
                      name: &str,
                      phone: Option<&str>,
                      admin: bool|
     -> Result<String, Error> {
        let u = AuthService::create_user_blocking(
            store,
            NewUser {
                email: email.into(),
                name: name.into(),
                password: password.clone(),
                phone: phone.map(str::to_string),
            },
            admin,
        )?;
        accounts.push(Account {
            role,
            email: email.into(),
        });
        Ok(u.id)
    };
    create("admin", "admin@uphill.test", "Campus Admin", None, true)?;
    let students: Vec<String> = STUDENTS
        .iter()
        .map(|(e, n, _, _, p)| create("student", e, n, Some(p), false))
        .collect::<Result<_, _>>()?;
    let runner = create(
        "runner",
        "runner@uphill.test",
        "Deepak (runner)",
        None,
        false,
    )?;
    let owners: Vec<String> = SHOPS
        .iter()
        .map(|s| create("vendor", s.owner, &format!("{} owner", s.name), None, false))
        .collect::<Result<_, _>>()?;

    store.write_blocking(move |txn| {
        let now = Utc::now();
        let buildings: Vec<Building> = BUILDINGS
            .iter()
            .map(|n| Building {
                id: id(),
                name: n.to_string(),
                created_at: now,
            })
            .collect();
        let categories: Vec<Category> = CATEGORIES
            .iter()
            .map(|n| Category {
                id: id(),
                name: n.to_string(),
                created_at: now,
            })
            .collect();
        {
            let mut t = txn.open_table(tables::BUILDINGS)?;
            for b in &buildings {
                codec::put(&mut t, &b.id, b)?;
            }
            let mut t = txn.open_table(tables::CATEGORIES)?;
            for c in &categories {
                codec::put(&mut t, &c.id, c)?;
            }
        }
        let category = |name: &str| {
            categories
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.id.clone())
        };
        for (i, (seed, owner)) in SHOPS.iter().zip(&owners).enumerate() {
            let shop = Shop {
                id: id(),
                owner_id: owner.clone(),
                name: seed.name.into(),
                description: seed.description.into(),
                location: seed.location.into(),
                shop_type: seed.kind,
                // Open all day (equal hours): the demo, the browser tests
                // and the benchmarks order at any hour.
                opens_at: 0,
                closes_at: 0,
                image: None,
                upi_id: Some(format!("shop{i}@upi")),
                upi_qr_image: None,
                is_active: true,
                accepting_orders: true,
                verification: Verification::Verified,
                verification_note: Some("verified for the demo".into()),
                min_order_value: seed.min_order,
                delivery_fee: seed.delivery_fee,
                direct_delivery_fee: seed.direct_fee,
                delivers_to: vec![],
                staff: if i == 0 { vec![runner.clone()] } else { vec![] },
                deleted_at: None,
                created_at: now,
                updated_at: now,
            };
            codec::put(&mut txn.open_table(tables::SHOPS)?, &shop.id, &shop)?;
            crate::search::enqueue(txn, crate::search::Target::Shop(shop.id.clone()))?;
            txn.open_table(tables::OWNER_TO_SHOP)?
                .insert(owner.as_str(), shop.id.as_str())?;
            if i == 0 {
                txn.open_multimap_table(tables::STAFF_TO_SHOPS)?
                    .insert(runner.as_str(), shop.id.as_str())?;
            }
            for (n, (cutoff, label)) in SLOTS.iter().enumerate() {
                let slot = Slot {
                    id: id(),
                    shop_id: shop.id.clone(),
                    cutoff_minutes: *cutoff,
                    label: label.to_string(),
                    active: true,
                    sort_order: n as i32,
                    weekdays: None,
                    max_orders: None,
                    created_at: now,
                };
                codec::put(&mut txn.open_table(tables::SLOTS)?, &slot.id, &slot)?;
                txn.open_multimap_table(tables::SHOP_TO_SLOTS)?
                    .insert(shop.id.as_str(), slot.id.as_str())?;
            }
            for (name, price, discount, stock, veg, cat) in seed.products {
                let p = Product {
                    id: id(),
                    shop_id: shop.id.clone(),
                    name: name.to_string(),
                    description: String::new(),
                    category_id: category(cat),
                    price: *price,
                    discount: *discount,
                    stock: *stock,
                    is_veg: *veg,
                    image: None,
                    rating_sum: 0,
                    review_count: 0,
                    deleted_at: None,
                    created_at: now,
                    updated_at: now,
                };
                codec::put(&mut txn.open_table(tables::PRODUCTS)?, &p.id, &p)?;
                crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
                crate::catalog::count_product(txn, &shop.id, true)?;
                txn.open_multimap_table(tables::SHOP_TO_PRODUCTS)?
                    .insert(shop.id.as_str(), p.id.as_str())?;
            }
        }
        for ((_, _, building, room, _), uid) in STUDENTS.iter().zip(&students) {
            let a = Address {
                id: id(),
                user_id: uid.clone(),
                label: "Room".into(),
                building_id: buildings[*building].id.clone(),
                room: room.to_string(),
                notes: String::new(),
                is_default: true,
                created_at: now,
            };
            codec::put(&mut txn.open_table(tables::ADDRESSES)?, &a.id, &a)?;
            txn.open_multimap_table(tables::USER_TO_ADDRESSES)?
                .insert(uid.as_str(), a.id.as_str())?;
        }
        crate::settings::write(
            txn,
            &PlatformSettings {
                platform_fee: 200,
                updated_at: Some(now),
                updated_by: None,
            },
        )?;
        txn.open_table(tables::META)?
            .insert(SEEDED_KEY, now.to_rfc3339().as_bytes())?;
        Ok::<_, Error>(())
    })?;
    Ok(Some(Seeded { password, accounts }))
}
