//! Checkout and the order lifecycle around it (SPEC §4.1–4.3).
//!
//! `place` is the whole checkout as one transaction: every check runs first
//! and refuses without writing; only then are stock, batch, order and
//! indexes written together.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{addresses, carts};
use crate::audit::{self, Origin};
use crate::domain::batch::{Availability, Batch, BatchStatus, ChoiceError, Slot, choose_batch};
use crate::domain::catalog::Product;
use crate::domain::money::Currency;
use crate::domain::order::{
    self, Actor, Line, Order, OrderItem, OrderStatus, PaymentMethod, PaymentStatus, Transition,
};
use crate::domain::order_filter::OrderFilter;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::domain::{FieldError, hours};
use crate::error::Error;
use crate::page::{Dir, Page, PageRequest};
use crate::store::{StoreError, cache, codec, tables};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub order_id: String,
    pub created_at: DateTime<Utc>,
}

/// How the student wants the order delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Delivery {
    /// The next batch that takes orders, else direct when offered.
    Auto,
    /// A named later batch: slot and cutoff.
    Batch {
        slot_id: String,
        cutoff_at: DateTime<Utc>,
    },
    Direct,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checkout {
    pub user_id: String,
    pub shop_id: String,
    pub lines: Vec<Line>,
    pub address_id: String,
    pub payment_method: PaymentMethod,
    pub notes: String,
    pub delivery: Delivery,
    /// The total the student was shown; a different total now is a 409
    /// naming the new prices, so nobody pays what they did not see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_total: Option<i64>,
}

impl Checkout {
    /// Identifies "the same body": what the order would be made of.
    pub fn fingerprint(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

/// The 409's text when prices moved since the student looked.
fn price_change(items: &[OrderItem], totals: &order::Totals, seen: i64, cur: Currency) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|i| format!("{} {} each", i.name, cur.amount(i.unit_price)))
        .collect();
    format!(
        "prices changed since you looked: the total is now {} (you saw {}); now {}, delivery {}, \
         platform fee {}. Nothing was ordered: check the cart and place the order again",
        cur.amount(totals.total),
        cur.amount(seen),
        lines.join(", "),
        cur.amount(totals.delivery_fee),
        cur.amount(totals.platform_fee),
    )
}

pub enum Placed {
    New(Order),
    /// The same key and body were seen before: the original order.
    Replayed(Order),
}

fn idem_key(user_id: &str, key: &str) -> String {
    format!("{user_id}/{key}")
}

/// The key's entry in `IDEMPOTENCY_EXPIRY`: creation time first, so the
/// expired keys are a prefix of the table.
pub(crate) fn idem_expiry_key(created_at: DateTime<Utc>, ikey: &str) -> String {
    format!("{:020}/{ikey}", created_at.timestamp_millis().max(0))
}

pub fn batch_key(shop_id: &str, cutoff: DateTime<Utc>) -> String {
    format!(
        "{shop_id}/{}",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

pub fn open_key(cutoff: DateTime<Utc>, batch_id: &str) -> String {
    format!(
        "{}/{batch_id}",
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

pub fn shop_slots(txn: &WriteTransaction, shop_id: &str) -> Result<Vec<Slot>, StoreError> {
    let index = txn.open_multimap_table(tables::SHOP_TO_SLOTS)?;
    let table = txn.open_table(tables::SLOTS)?;
    let mut out = Vec::new();
    for id in index.get(shop_id)? {
        if let Some(s) = codec::get::<Slot>(&table, id?.value())? {
            out.push(s);
        }
    }
    Ok(out)
}

pub fn existing_batch(
    txn: &WriteTransaction,
    shop_id: &str,
    cutoff: DateTime<Utc>,
) -> Result<Option<Batch>, StoreError> {
    let id = match txn
        .open_table(tables::BATCH_KEY_TO_BATCH)?
        .get(batch_key(shop_id, cutoff).as_str())?
    {
        Some(g) => g.value().to_string(),
        None => return Ok(None),
    };
    codec::get(&txn.open_table(tables::BATCHES)?, &id)
}

/// A shop's batches as one checkout sees them, each cutoff read once: the
/// availability check in `choose_batch` and the join that follows share the
/// read (the writer runs every order through here, so a second decode of
/// the same batch per order is measurable).
pub struct ShopBatches<'t> {
    txn: &'t WriteTransaction,
    shop_id: &'t str,
    read: std::cell::RefCell<Vec<(DateTime<Utc>, Option<Batch>)>>,
}

impl<'t> ShopBatches<'t> {
    pub fn new(txn: &'t WriteTransaction, shop_id: &'t str) -> Self {
        ShopBatches {
            txn,
            shop_id,
            read: Default::default(),
        }
    }

    /// Whether the shop's batch at `cutoff` takes one more order. A read
    /// error reads as "no batch yet" and is not remembered, so `take`
    /// reads the same key again and reports it.
    pub fn availability(&self, cutoff: DateTime<Utc>) -> Availability {
        let of = |b: &Option<Batch>| b.as_ref().map_or(Availability::Absent, Batch::availability);
        if let Some((_, b)) = self.read.borrow().iter().find(|(c, _)| *c == cutoff) {
            return of(b);
        }
        match existing_batch(self.txn, self.shop_id, cutoff) {
            Ok(b) => {
                let a = of(&b);
                self.read.borrow_mut().push((cutoff, b));
                a
            }
            Err(_) => Availability::Absent,
        }
    }

    /// The batch at `cutoff` (None: not created yet), from the earlier
    /// read when there was one.
    pub fn take(self, cutoff: DateTime<Utc>) -> Result<Option<Batch>, StoreError> {
        let mut read = self.read.into_inner();
        match read.iter().position(|(c, _)| *c == cutoff) {
            Some(i) => Ok(read.swap_remove(i).1),
            None => existing_batch(self.txn, self.shop_id, cutoff),
        }
    }
}

/// Adds one order to the shop's batch for `choice`, creating the batch (one
/// per shop and cutoff) on first use. `existing` is that batch as just read
/// in this transaction (`ShopBatches::take` or `existing_batch`). Editing a
/// slot later never changes a batch: it copies the label and limit it needs.
pub fn join_batch(
    txn: &WriteTransaction,
    shop_id: &str,
    slots: &[Slot],
    choice: &crate::domain::batch::Choice,
    existing: Option<Batch>,
    now: DateTime<Utc>,
) -> Result<Batch, StoreError> {
    let mut b = match existing {
        Some(b) => b,
        None => {
            let slot = slots.iter().find(|s| s.id == choice.slot_id);
            let b = Batch {
                id: ulid::Ulid::new().to_string(),
                shop_id: shop_id.to_string(),
                slot_id: choice.slot_id.clone(),
                label: slot.map(|s| s.label.clone()).unwrap_or_default(),
                cutoff_at: choice.cutoff_at,
                status: BatchStatus::Open,
                milestone: None,
                runner_id: None,
                max_orders: slot.and_then(|s| s.max_orders),
                order_count: 0,
                created_at: now,
                locked_at: None,
                dispatched_at: None,
                completed_at: None,
                stale_warned_at: None,
            };
            txn.open_table(tables::BATCH_KEY_TO_BATCH)?
                .insert(batch_key(shop_id, b.cutoff_at).as_str(), b.id.as_str())?;
            txn.open_table(tables::OPEN_BATCHES_BY_CUTOFF)?
                .insert(open_key(b.cutoff_at, &b.id).as_str(), b.id.as_str())?;
            txn.open_multimap_table(tables::SHOP_TO_BATCHES)?
                .insert(shop_id, b.id.as_str())?;
            b
        }
    };
    b.order_count += 1;
    codec::put(&mut txn.open_table(tables::BATCHES)?, &b.id, &b)?;
    Ok(b)
}

/// What checkout takes from the campus config.
#[derive(Debug, Clone, Copy)]
pub struct Campus {
    pub tz: Tz,
    /// Amounts in its problem texts and notifications.
    pub currency: Currency,
    pub otp_digits: u8,
}

/// Places an order. See the module comment for the transaction's shape.
/// `fingerprint` is `c.fingerprint()`, computed by the caller before the
/// write so the hash stays off the single writer thread.
pub fn place(
    txn: &WriteTransaction,
    c: &Checkout,
    fingerprint: &str,
    idempotency_key: &str,
    now: DateTime<Utc>,
    campus: Campus,
) -> Result<Placed, Error> {
    let Campus {
        tz,
        currency,
        otp_digits,
    } = campus;
    // 1. Idempotency: same key and body → the original order; other body → 422.
    let ikey = idem_key(&c.user_id, idempotency_key);
    // Tables used both to check and to write stay open between the two: an
    // open costs a lookup in redb's table tree, on the writer thread.
    let mut idempotency_t = txn.open_table(tables::IDEMPOTENCY)?;
    if let Some(rec) = codec::get::<IdempotencyRecord>(&idempotency_t, &ikey)?
        && rec.created_at > now - Duration::hours(IDEMPOTENCY_TTL_HOURS)
    {
        if rec.fingerprint != fingerprint {
            return Err(FieldError::new(
                "Idempotency-Key",
                "this key was already used for a different order; use a new key",
            )
            .into());
        }
        let o = codec::get::<Order>(&txn.open_table(tables::ORDERS)?, &rec.order_id)?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("idempotent order missing")))?;
        return Ok(Placed::Replayed(o));
    }

    // 2. The shop takes orders and is open now (campus time). The shop, its
    // slots and the settings come through the writer's cache
    // (`store::cache`): `Store::write_keeping_cache` is what lets them stay
    // decoded between orders.
    let shop = cache::cached(&c.shop_id, || {
        codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, &c.shop_id)
    })?;
    let shop = Option::as_ref(&shop)
        .filter(|s| s.is_public())
        .ok_or_else(|| Error::NotFound("no such shop".into()))?;
    if !shop.accepting_orders {
        return Err(Error::Conflict(format!(
            "{} is not accepting orders right now",
            shop.name
        )));
    }
    if !hours::is_open(shop.opens_at, shop.closes_at, hours::minute_of_day(now, tz)) {
        return Err(Error::Conflict(format!(
            "{} is closed now: it opens at {} (campus time)",
            shop.name,
            hours::clock(shop.opens_at)
        )));
    }

    // 3. Products belong to the shop, are sold, and are in stock.
    let mut products_t = txn.open_table(tables::PRODUCTS)?;
    let products = carts::check_products(&products_t, shop, &c.lines)?;
    let short: Vec<String> = products
        .iter()
        .zip(&c.lines)
        .filter(|(p, l)| p.stock < l.quantity)
        .map(|(p, l)| format!("{} (wanted {}, {} left)", p.name, l.quantity, p.stock))
        .collect();
    if !short.is_empty() {
        return Err(Error::Conflict(format!(
            "not enough stock: {}",
            short.join("; ")
        )));
    }
    let items: Vec<OrderItem> = products
        .iter()
        .zip(&c.lines)
        .map(|(p, l)| OrderItem {
            product_id: p.id.clone(),
            name: p.name.clone(),
            unit_price: p.unit_price(),
            quantity: l.quantity,
            line_total: p.unit_price() * l.quantity as i64,
        })
        .collect();

    // 4. Minimum order value.
    let item_total: i64 = items.iter().map(|i| i.line_total).sum();
    if item_total < shop.min_order_value {
        return Err(FieldError::new(
            "items",
            format!(
                "the items come to {}, below this shop's minimum order of {}",
                currency.amount(item_total),
                currency.amount(shop.min_order_value)
            ),
        )
        .into());
    }

    // 5. The address is the student's and the shop delivers there.
    let address = addresses::owned(
        &txn.open_table(tables::ADDRESSES)?,
        &c.user_id,
        &c.address_id,
    )
    .map_err(|_| Error::from(FieldError::new("address_id", "no such address of yours")))?;
    if !shop.delivers_to_building(&address.building_id) {
        return Err(FieldError::new(
            "address_id",
            format!("{} does not deliver to that building", shop.name),
        )
        .into());
    }
    let snapshot = addresses::snapshot(&txn.open_table(tables::BUILDINGS)?, &address)?;

    // 6. The batch (or direct delivery).
    let slots = cache::cached(&shop.id, || shop_slots(txn, &shop.id))?;
    let batches = ShopBatches::new(txn, &shop.id);
    let avail = |_slot_id: &str, cutoff: DateTime<Utc>| batches.availability(cutoff);
    let choice = match &c.delivery {
        Delivery::Direct => None,
        Delivery::Batch { slot_id, cutoff_at } => Some(
            choose_batch(&slots, now, tz, Some((slot_id, *cutoff_at)), avail).map_err(|_| {
                Error::from(FieldError::new(
                    "cutoff_at",
                    "that batch is not open for orders",
                ))
            })?,
        ),
        Delivery::Auto => match choose_batch(&slots, now, tz, None, avail) {
            Ok(ch) => Some(ch),
            Err(ChoiceError::NoSlot | ChoiceError::NotAvailable)
                if shop.offers_direct_delivery() =>
            {
                None
            }
            Err(_) => {
                return Err(FieldError::new(
                    "delivery",
                    format!("{} has no upcoming batch and no direct delivery", shop.name),
                )
                .into());
            }
        },
    };
    if choice.is_none() && !shop.offers_direct_delivery() {
        return Err(FieldError::new(
            "delivery",
            format!("{} does not offer direct delivery", shop.name),
        )
        .into());
    }
    let platform_fee = cache::cached("", || {
        crate::settings::read(&txn.open_table(tables::SETTINGS)?)
    })?
    .platform_fee;
    let delivery_fee = if choice.is_some() {
        shop.delivery_fee
    } else {
        shop.direct_delivery_fee
    };
    let totals = order::totals(&items, delivery_fee, platform_fee);
    if let Some(seen) = c.expected_total
        && seen != totals.total
    {
        return Err(Error::Conflict(price_change(
            &items, &totals, seen, currency,
        )));
    }

    // --- Every check passed: write. ---
    for (p, l) in products.iter().zip(&c.lines) {
        let before = p.stock;
        let mut p = p.clone();
        p.stock -= l.quantity;
        p.updated_at = now;
        codec::put(&mut products_t, &p.id, &p)?;
        if crate::search::schema::stock_change_reindexes(before, p.stock) {
            crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
        }
    }
    drop(products_t);

    let batch = match &choice {
        None => None,
        Some(ch) => {
            let existing = batches.take(ch.cutoff_at)?;
            Some(join_batch(txn, &shop.id, &slots, ch, existing, now)?)
        }
    };

    let mut display_t = txn.open_table(tables::DISPLAY_TO_ORDER)?;
    let mut display_id = order::new_display_id();
    for _ in 0..20 {
        if display_t.get(display_id.as_str())?.is_none() {
            break;
        }
        display_id = order::new_display_id();
    }
    let o = Order {
        id: ulid::Ulid::new().to_string(),
        display_id,
        user_id: c.user_id.clone(),
        shop_id: shop.id.clone(),
        batch_id: batch.as_ref().map(|b| b.id.clone()),
        cutoff_at: batch.as_ref().map(|b| b.cutoff_at),
        items,
        item_total: totals.item_total,
        delivery_fee: totals.delivery_fee,
        platform_fee: totals.platform_fee,
        total: totals.total,
        payment_method: c.payment_method,
        payment_status: PaymentStatus::Pending,
        status: OrderStatus::New,
        address: snapshot,
        notes: c.notes.clone(),
        otp: None,
        otp_failures: 0,
        otp_regenerations: 0,
        cancellation_reason: None,
        failure_reason: None,
        transitions: vec![Transition {
            status: OrderStatus::New,
            at: now,
            by: Some(c.user_id.clone()),
            note: None,
        }],
        created_at: now,
        updated_at: now,
    };
    display_t.insert(o.display_id.as_str(), o.id.as_str())?;
    drop(display_t);
    super::order_counts::put_order(txn, &o)?;
    crate::search::enqueue(txn, crate::search::Target::Order(o.id.clone()))?;
    txn.open_multimap_table(tables::USER_TO_ORDERS)?
        .insert(o.user_id.as_str(), o.id.as_str())?;
    txn.open_multimap_table(tables::SHOP_TO_ORDERS)?
        .insert(o.shop_id.as_str(), o.id.as_str())?;
    txn.open_table(tables::SHOP_ORDERS)?
        .insert(shop_order_key(&o.shop_id, &o.id).as_str(), o.id.as_str())?;
    if let Some(b) = &batch {
        txn.open_multimap_table(tables::BATCH_TO_ORDERS)?
            .insert(b.id.as_str(), o.id.as_str())?;
    }
    codec::put(
        &mut idempotency_t,
        &ikey,
        &IdempotencyRecord {
            fingerprint: fingerprint.to_string(),
            order_id: o.id.clone(),
            created_at: now,
        },
    )?;
    drop(idempotency_t);
    txn.open_table(tables::IDEMPOTENCY_EXPIRY)?
        .insert(idem_expiry_key(now, &ikey).as_str(), ikey.as_str())?;
    // The cart was checked out.
    txn.open_table(tables::CARTS)?
        .remove(carts::key(&c.user_id, &shop.id).as_str())?;
    tell_shop_of_new(txn, shop, &o, currency)?;
    // The order that fills its slot's `max_orders` locks the batch at once
    // (SPEC §3), itself included: its answer already carries the OTP.
    if let Some(b) = &batch
        && b.is_full()
    {
        super::batches::lock(txn, &b.id, now, otp_digits)?;
        let locked = codec::get::<Order>(&txn.open_table(tables::ORDERS)?, &o.id)?;
        return Ok(Placed::New(locked.unwrap_or(o)));
    }
    Ok(Placed::New(o))
}

/// A shop students may order from or fill a cart at (public), else 404.
pub fn public_shop(txn: &WriteTransaction, shop_id: &str) -> Result<Shop, Error> {
    codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, shop_id)?
        .filter(Shop::is_public)
        .ok_or_else(|| Error::NotFound("no such shop".into()))
}

/// Who the caller is to an order.
pub enum Relation {
    Student,
    /// The shop's owner (`owner`) or one of its runners.
    Staff {
        owner: bool,
    },
    Admin,
}

/// The order, if the user may see it, and how they relate to it.
pub fn find(
    txn: &ReadTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Order, Relation), Error> {
    let shops = txn.open_table(tables::SHOPS)?;
    visible(
        &txn.open_table(tables::ORDERS)?,
        &shops,
        order_id,
        user_id,
        is_admin,
    )
}

/// The order if the caller may see it, and how they relate to it.
pub fn visible(
    orders: &impl ReadableTable<&'static str, &'static [u8]>,
    shops: &impl ReadableTable<&'static str, &'static [u8]>,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Order, Relation), Error> {
    let not_found = || Error::NotFound("no such order".into());
    let o: Order = codec::get(orders, order_id)?.ok_or_else(not_found)?;
    if o.user_id == user_id {
        return Ok((o, Relation::Student));
    }
    let shop: Option<Shop> = codec::get(shops, &o.shop_id)?;
    if let Some(s) = shop.filter(|s| s.is_staff(user_id)) {
        return Ok((
            o,
            Relation::Staff {
                owner: s.owner_id == user_id,
            },
        ));
    }
    if is_admin {
        return Ok((o, Relation::Admin));
    }
    Err(not_found())
}

/// A page of the orders a multimap index lists under `key`, newest first
/// (order ids are ULIDs), keeping those `keep` accepts.
fn index_page(
    txn: &ReadTransaction,
    index: &impl ReadableMultimapTable<&'static str, &'static str>,
    key: &str,
    keep: impl Fn(&Order) -> bool,
    page: &PageRequest,
) -> Result<Page<Order>, StoreError> {
    let orders = txn.open_table(tables::ORDERS)?;
    let found = index.get(key)?.rev().filter_map(|v| {
        let id = match v {
            Ok(v) => v.value().to_string(),
            Err(e) => return Some(Err(StoreError::from(e))),
        };
        if !page.is_after(&id, Dir::Desc) {
            return None;
        }
        match codec::get::<Order>(&orders, &id) {
            Ok(Some(o)) if keep(&o) => Some(Ok((id, o))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    });
    page.take(found, Dir::Desc)
}

/// A page of the student's orders, newest first.
pub fn student_page(
    txn: &ReadTransaction,
    user_id: &str,
    status: Option<OrderStatus>,
    page: &PageRequest,
) -> Result<Page<Order>, Error> {
    let index = txn.open_multimap_table(tables::USER_TO_ORDERS)?;
    let wanted = |o: &Order| status.is_none_or(|s| o.status == s);
    Ok(index_page(txn, &index, user_id, wanted, page)?)
}

/// Most index rows one page of a shop's orders looks at. A page whose
/// filters match rarely stops there, short (even empty), with a cursor
/// that continues after the last row looked at.
pub const SCAN_LIMIT: usize = 1_000;

/// The key of an order in `SHOP_ORDERS`.
pub fn shop_order_key(shop_id: &str, order_id: &str) -> String {
    format!("{shop_id}/{order_id}")
}

/// Who placed an order, as the shop's people see them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Student {
    pub name: String,
    pub phone: Option<String>,
}

/// The student of an order (an account gone reads as a blank name).
pub fn student_of(
    users: &impl ReadableTable<&'static str, &'static [u8]>,
    user_id: &str,
) -> Result<Student, StoreError> {
    Ok(codec::get::<User>(users, user_id)?
        .map(|u| Student {
            name: u.name,
            phone: u.phone,
        })
        .unwrap_or_default())
}

/// The students of `orders`, by user id, each read once.
pub fn students_of<'a>(
    users: &impl ReadableTable<&'static str, &'static [u8]>,
    orders: impl IntoIterator<Item = &'a Order>,
) -> Result<HashMap<String, Student>, StoreError> {
    let mut out = HashMap::new();
    for o in orders {
        if !out.contains_key(&o.user_id) {
            out.insert(o.user_id.clone(), student_of(users, &o.user_id)?);
        }
    }
    Ok(out)
}

/// A page of a shop's orders, newest first, that pass `filter`, each with
/// its student: for its owner, its runners and admins (anyone else: no
/// such shop). The placed-on days narrow the key range read; at most
/// `SCAN_LIMIT` orders are read per page (see the constant).
pub fn shop_page(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: &str,
    is_admin: bool,
    filter: &OrderFilter,
    page: &PageRequest,
) -> Result<Page<(Order, Student)>, Error> {
    let shop = super::visible_shop(txn, shop_id, Some(user_id), is_admin)?;
    if !(is_admin || shop.is_staff(user_id)) {
        return Err(Error::NotFound("no such shop".into()));
    }
    let id_at = super::earnings::first_id_at;
    let lo = shop_order_key(&shop.id, &filter.placed_from.map(id_at).unwrap_or_default());
    // '0' follows '/': the end of the shop's range.
    let mut hi = match filter.placed_before {
        Some(t) => shop_order_key(&shop.id, &id_at(t)),
        None => format!("{}0", shop.id),
    };
    if let Some(after) = &page.after {
        hi = hi.min(shop_order_key(&shop.id, after));
    }
    let empty = || Page {
        items: vec![],
        next_cursor: None,
    };
    if lo >= hi {
        return Ok(empty());
    }
    let limit = page.limit();
    let index = txn.open_table(tables::SHOP_ORDERS)?;
    let orders = txn.open_table(tables::ORDERS)?;
    let users = txn.open_table(tables::USERS)?;
    let mut students: HashMap<String, Student> = HashMap::new();
    let mut out: Vec<(Order, Student)> = Vec::new();
    let mut last_seen: Option<String> = None;
    for (scanned, row) in index.range(lo.as_str()..hi.as_str())?.rev().enumerate() {
        let (_, id) = row?;
        let id = id.value().to_string();
        if scanned == SCAN_LIMIT {
            // Out of budget: go on from the last row read, or from the
            // page's last order when it is full.
            let next = if out.len() == limit {
                out.last().map(|(o, _)| o.id.clone())
            } else {
                last_seen
            };
            return Ok(Page {
                items: out,
                next_cursor: next,
            });
        }
        last_seen = Some(id.clone());
        let Some(o) = codec::get::<Order>(&orders, &id)? else {
            continue;
        };
        if filter.status.is_some_and(|s| o.status != s) {
            continue;
        }
        let student = match students.get(&o.user_id) {
            Some(s) => s.clone(),
            None => {
                let s = student_of(&users, &o.user_id)?;
                students.insert(o.user_id.clone(), s.clone());
                s
            }
        };
        if !filter.matches(&o, &student.name) {
            continue;
        }
        if out.len() == limit {
            // One more matches: there is a next page.
            return Ok(Page {
                next_cursor: out.last().map(|(o, _)| o.id.clone()),
                items: out,
            });
        }
        out.push((o, student));
    }
    Ok(Page {
        items: out,
        next_cursor: None,
    })
}

/// Tells the shop's owner of a new order (a notification) and every one of
/// its people (a `shop.order` live event), in the checkout's transaction.
fn tell_shop_of_new(
    txn: &WriteTransaction,
    shop: &Shop,
    o: &Order,
    currency: Currency,
) -> Result<(), StoreError> {
    let items: Vec<String> = o
        .items
        .iter()
        .map(|i| format!("{} × {}", i.quantity, i.name))
        .collect();
    let (title, waits) = if o.batch_id.is_none() {
        ("New direct order", " It waits for you to accept it.")
    } else {
        ("New order", "")
    };
    crate::notify::push(
        txn,
        &shop.owner_id,
        crate::notify::Note {
            title,
            message: format!(
                "{}: {}, {}.{waits}",
                o.display_id,
                items.join(", "),
                currency.amount(o.total)
            ),
            kind: crate::notify::Kind::Info,
            category: crate::notify::Category::Order,
            action: Some(format!("/vendor/orders/{}", o.id)),
        },
    )?;
    shop_event(txn, shop, o)
}

/// `shop.order`: one of the shop's orders was placed or changed, for its
/// owner and every runner (a hint to read the order again).
pub fn shop_event(txn: &WriteTransaction, shop: &Shop, o: &Order) -> Result<(), StoreError> {
    let data = serde_json::json!({
        "order_id": o.id,
        "display_id": o.display_id,
        "status": o.status,
        "batch_id": o.batch_id,
    });
    let mut people = vec![shop.owner_id.clone()];
    people.extend(shop.staff.iter().cloned());
    people.sort();
    people.dedup();
    for p in &people {
        crate::events::emit(txn, p, "shop.order", data.clone())?;
    }
    Ok(())
}

pub fn load_many(txn: &ReadTransaction, ids: &[String]) -> Result<Vec<Order>, StoreError> {
    let t = txn.open_table(tables::ORDERS)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(o) = codec::get::<Order>(&t, id)? {
            out.push(o);
        }
    }
    Ok(out)
}

/// Gives an order's items back to stock (cancellation), notifying watchers
/// of products that come back from zero.
fn restore_stock(txn: &WriteTransaction, o: &Order, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut t = txn.open_table(tables::PRODUCTS)?;
    let mut restocked = Vec::new();
    for i in &o.items {
        if let Some(mut p) = codec::get::<Product>(&t, &i.product_id)? {
            let was = p.stock;
            p.stock = p.stock.saturating_add(i.quantity);
            p.updated_at = now;
            codec::put(&mut t, &p.id, &p)?;
            if crate::search::schema::stock_change_reindexes(was, p.stock) {
                crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
            }
            if was == 0 && p.stock > 0 && p.is_live() {
                restocked.push(p);
            }
        }
    }
    drop(t);
    for p in &restocked {
        crate::catalog::notify_restock(txn, p)?;
    }
    Ok(())
}

fn leave_batch(txn: &WriteTransaction, o: &Order) -> Result<(), StoreError> {
    if let Some(bid) = &o.batch_id {
        let mut t = txn.open_table(tables::BATCHES)?;
        if let Some(mut b) = codec::get::<Batch>(&t, bid)? {
            b.order_count = b.order_count.saturating_sub(1);
            codec::put(&mut t, &b.id, &b)?;
        }
    }
    Ok(())
}

/// Cancels an order (SPEC §4.3) and restores its stock, in one transaction.
pub fn cancel(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Order, Error> {
    let (mut o, rel) = visible(
        &txn.open_table(tables::ORDERS)?,
        &txn.open_table(tables::SHOPS)?,
        order_id,
        user_id,
        is_admin,
    )?;
    let actor = match rel {
        Relation::Student => Actor::Student,
        Relation::Staff { owner: true } => Actor::Vendor,
        // An admin who is also a runner cancels as an admin.
        Relation::Staff { owner: false } if is_admin => Actor::Admin,
        Relation::Staff { owner: false } => {
            return Err(Error::Forbidden(
                "only the shop's owner or an admin cancels an order".into(),
            ));
        }
        Relation::Admin => Actor::Admin,
    };
    order::may_cancel(o.status, actor).map_err(Error::Conflict)?;
    if actor != Actor::Student && reason.is_none() {
        return Err(
            FieldError::new("reason", "a shop or admin cancellation needs a reason").into(),
        );
    }
    o.transition(OrderStatus::Cancelled, now, Some(user_id), reason.clone())
        .map_err(Error::Conflict)?;
    o.cancellation_reason = reason.or_else(|| Some("cancelled by the student".into()));
    o.otp = None;
    restore_stock(txn, &o, now)?;
    leave_batch(txn, &o)?;
    super::order_counts::put_order(txn, &o)?;
    crate::search::enqueue(txn, crate::search::Target::Order(o.id.clone()))?;
    super::batches::order_event(txn, &o)?;
    if let Some(b) = &o.batch_id {
        super::batches::complete_if_done(txn, b, now)?;
    }
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, &o.shop_id)?;
    if let Some(shop) = &shop {
        shop_event(txn, shop, &o)?;
        if actor == Actor::Student {
            crate::notify::push(
                txn,
                &shop.owner_id,
                crate::notify::Note {
                    title: "Order cancelled by the student",
                    message: format!(
                        "{} was cancelled by the student; its stock is back.",
                        o.display_id
                    ),
                    kind: crate::notify::Kind::Warning,
                    category: crate::notify::Category::Order,
                    action: Some(format!("/vendor/orders/{}", o.id)),
                },
            )?;
        }
    }
    if actor != Actor::Student {
        crate::notify::push(
            txn,
            &o.user_id,
            crate::notify::Note {
                title: "Order cancelled",
                message: format!(
                    "{} was cancelled: {}",
                    o.display_id,
                    o.cancellation_reason.clone().unwrap_or_default()
                ),
                kind: crate::notify::Kind::Warning,
                category: crate::notify::Category::Order,
                action: Some(format!("/orders/{}", o.id)),
            },
        )?;
    }
    Ok(o)
}

/// An admin sets any status, with a reason, audited. Moving into
/// `CANCELLED` restores stock like a cancellation.
pub fn override_status(
    txn: &WriteTransaction,
    order_id: &str,
    status: OrderStatus,
    reason: &str,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<Order, Error> {
    let mut o: Order = codec::get(&txn.open_table(tables::ORDERS)?, order_id)?
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    if o.status == status {
        return Err(Error::Conflict(format!("the order is already {status:?}")));
    }
    let from = o.status;
    if from == OrderStatus::Cancelled {
        return Err(Error::Conflict(
            "a cancelled order's stock was returned; place a new order instead".into(),
        ));
    }
    if status == OrderStatus::Cancelled {
        restore_stock(txn, &o, now)?;
        leave_batch(txn, &o)?;
        o.cancellation_reason = Some(reason.to_string());
    }
    if status == OrderStatus::Completed {
        o.payment_status = PaymentStatus::Paid;
    }
    o.force_status(
        status,
        now,
        origin.actor_id.as_deref(),
        Some(reason.to_string()),
    );
    super::order_counts::put_order(txn, &o)?;
    crate::search::enqueue(txn, crate::search::Target::Order(o.id.clone()))?;
    audit::append(
        txn,
        origin,
        "order.override_status",
        &o.id,
        format!("{} {from:?} -> {status:?}: {reason}", o.display_id),
    )?;
    // The student and the shop hear of it, live and as a notification.
    super::batches::order_event(txn, &o)?;
    let message = format!(
        "{} is now {} (was {}): {reason}",
        o.display_id,
        status.label().to_lowercase(),
        from.label().to_lowercase()
    );
    let note = |action: String| crate::notify::Note {
        title: "Order changed by a campus admin",
        message: message.clone(),
        kind: crate::notify::Kind::Warning,
        category: crate::notify::Category::Order,
        action: Some(action),
    };
    crate::notify::push(txn, &o.user_id, note(format!("/orders/{}", o.id)))?;
    if let Some(shop) = codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, &o.shop_id)? {
        shop_event(txn, &shop, &o)?;
        crate::notify::push(
            txn,
            &shop.owner_id,
            note(format!("/vendor/orders/{}", o.id)),
        )?;
    }
    Ok(o)
}

/// Forgets up to `limit` idempotency keys older than 24 h, reading only
/// those (the expiry index's prefix). Returns how many it forgot; fewer
/// than `limit` means none is left.
pub fn sweep_idempotency(
    txn: &WriteTransaction,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    let end = idem_expiry_key(now - Duration::hours(IDEMPOTENCY_TTL_HOURS), "");
    let mut expiry = txn.open_table(tables::IDEMPOTENCY_EXPIRY)?;
    let mut records = txn.open_table(tables::IDEMPOTENCY)?;
    let due: Vec<(String, String)> = expiry
        .range(..end.as_str())?
        .take(limit)
        .map(|e| e.map(|(k, v)| (k.value().to_string(), v.value().to_string())))
        .collect::<Result<_, _>>()?;
    for (entry, ikey) in &due {
        expiry.remove(entry.as_str())?;
        // A key used again after it expired has a newer record (and its
        // own entry further on): that one stays.
        let expired = codec::get::<IdempotencyRecord>(&records, ikey)?
            .is_some_and(|r| idem_expiry_key(r.created_at, ikey) <= *entry);
        if expired {
            records.remove(ikey.as_str())?;
        }
    }
    Ok(due.len())
}

/// Fills the expiry index from the keys stored (the migration that made it).
pub(crate) fn index_idempotency_expiry(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut entries = Vec::new();
    for e in txn.open_table(tables::IDEMPOTENCY)?.iter()? {
        let (k, v) = e?;
        let r: IdempotencyRecord = codec::decode(v.value())?;
        entries.push(idem_expiry_key(r.created_at, k.value()));
    }
    let mut t = txn.open_table(tables::IDEMPOTENCY_EXPIRY)?;
    for entry in entries {
        let ikey = entry.split_once('/').map_or("", |(_, k)| k).to_string();
        t.insert(entry.as_str(), ikey.as_str())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, WriterOptions};

    fn shop(owner: &str) -> Shop {
        crate::domain::shop::test_support::shop(owner)
    }

    /// Only expired keys go, a slice at a time; a key used again after it
    /// expired keeps its new record; the migration's index sweeps the same.
    #[test]
    fn the_idempotency_sweep_reads_only_expired_keys_in_slices() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let now = Utc::now();
        let (old, fresh) = (now - Duration::hours(30), now - Duration::hours(1));
        let put = move |txn: &WriteTransaction, ikey: &str, at: DateTime<Utc>, index: bool| {
            let rec = IdempotencyRecord {
                fingerprint: "f".into(),
                order_id: "o".into(),
                created_at: at,
            };
            codec::put(&mut txn.open_table(tables::IDEMPOTENCY)?, ikey, &rec)?;
            if index {
                txn.open_table(tables::IDEMPOTENCY_EXPIRY)?
                    .insert(idem_expiry_key(at, ikey).as_str(), ikey)?;
            }
            Ok::<_, StoreError>(())
        };
        store
            .write_blocking(move |txn| {
                for k in ["u/a", "u/b", "u/c", "u/e"] {
                    put(txn, k, old, true)?;
                }
                put(txn, "u/d", fresh, true)?;
                // "e" used again: a new record and a second entry.
                put(txn, "u/e", fresh, true)
            })
            .unwrap();
        let sweep = |limit| {
            store
                .write_blocking(move |txn| sweep_idempotency(txn, now, limit))
                .unwrap()
        };
        assert_eq!(sweep(3), 3);
        assert_eq!(sweep(3), 1);
        assert_eq!(sweep(3), 0);
        let kept = || {
            store
                .read_blocking(move |txn| {
                    let mut keys = Vec::new();
                    for e in txn.open_table(tables::IDEMPOTENCY)?.iter()? {
                        keys.push(e?.0.value().to_string());
                    }
                    let entries = redb::ReadableTableMetadata::len(
                        &txn.open_table(tables::IDEMPOTENCY_EXPIRY)?,
                    )?;
                    Ok::<_, StoreError>((keys, entries))
                })
                .unwrap()
        };
        assert_eq!(kept(), (vec!["u/d".to_string(), "u/e".into()], 2));

        // Keys stored before the index existed: the migration indexes them.
        store
            .write_blocking(move |txn| {
                put(txn, "v/x", old, false)?;
                put(txn, "v/y", fresh, false)?;
                txn.open_table(tables::IDEMPOTENCY_EXPIRY)?
                    .retain(|_, _| false)?;
                index_idempotency_expiry(txn)
            })
            .unwrap();
        assert_eq!(sweep(10), 1);
        assert_eq!(kept().0, ["u/d", "u/e", "v/y"]);
    }

    /// A filter that matches rarely reads at most `SCAN_LIMIT` orders per
    /// page and hands back a cursor that continues where it stopped.
    #[test]
    fn a_page_reads_a_bounded_number_of_orders_and_its_cursor_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let s = shop("owner");
        let total = SCAN_LIMIT + 5;
        let sid = s.id.clone();
        store
            .write_blocking(move |txn| {
                codec::put(&mut txn.open_table(tables::SHOPS)?, &s.id, &s)?;
                let mut orders = txn.open_table(tables::ORDERS)?;
                let mut index = txn.open_table(tables::SHOP_ORDERS)?;
                let mut generator = ulid::Generator::new();
                for i in 0..total {
                    let mut o = crate::domain::order::test_support::order(
                        "UP-AAAAA",
                        "Hostel A",
                        "1",
                        OrderStatus::Completed,
                    );
                    o.id = generator.generate().unwrap().to_string();
                    o.shop_id = s.id.clone();
                    // Only the oldest order matches the text.
                    if i == 0 {
                        o.display_id = "UP-FIRST".into();
                    }
                    codec::put(&mut orders, &o.id, &o)?;
                    index.insert(shop_order_key(&s.id, &o.id).as_str(), o.id.as_str())?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let filter = OrderFilter {
            text: Some("up-first".into()),
            ..Default::default()
        };
        let read = |after: Option<String>| {
            let (sid, filter) = (sid.clone(), filter.clone());
            store
                .read_blocking(move |txn| {
                    shop_page(
                        txn,
                        &sid,
                        "owner",
                        false,
                        &filter,
                        &PageRequest::new(10, after),
                    )
                })
                .unwrap()
        };
        let first = read(None);
        assert!(first.items.is_empty(), "the match is past the budget");
        let cursor = first.next_cursor.expect("a cursor to go on");
        let second = read(Some(cursor));
        assert_eq!(second.items.len(), 1);
        assert_eq!(second.items[0].0.display_id, "UP-FIRST");
        assert_eq!(second.next_cursor, None);
        // Without a filter, a full page stops at its limit.
        let all = store
            .read_blocking(|txn| {
                shop_page(
                    txn,
                    &sid,
                    "owner",
                    false,
                    &OrderFilter::default(),
                    &PageRequest::new(10, None),
                )
            })
            .unwrap();
        assert_eq!(all.items.len(), 10);
        assert!(all.next_cursor.is_some());
        // Someone who is not the shop's sees no such shop.
        let refused = store.read_blocking(|txn| {
            shop_page(
                txn,
                &sid,
                "stranger",
                false,
                &OrderFilter::default(),
                &PageRequest::default(),
            )
        });
        assert!(matches!(refused, Err(Error::NotFound(_))));
    }
}
