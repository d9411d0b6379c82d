//! The batch lifecycle (SPEC §4.4–4.8): locking at the cutoff (or early),
//! claiming, dispatch, milestones, delivery with the OTP, failures,
//! rescheduling and direct deliveries. Each function is one transaction's
//! worth of work; callers run it inside `Store::write`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};

use super::orders::open_key;
use crate::audit::{self, Origin};
use crate::domain::FieldError;
use crate::domain::batch::{Batch, BatchStatus, Milestone, check_milestone, choose_batch, new_otp};
use crate::domain::money::Currency;
use crate::domain::order::{Order, OrderStatus, PaymentStatus};
use crate::domain::otp;
use crate::domain::shop::Shop;
use crate::error::Error;
use crate::notify::{self, Category, Kind, Note};
use crate::page::{Dir, Page, PageRequest};
use crate::store::{StoreError, codec, tables};

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn load_batch(txn: &WriteTransaction, id: &str) -> Result<Batch, Error> {
    codec::get(&txn.open_table(tables::BATCHES)?, id)?
        .ok_or_else(|| Error::NotFound("no such batch".into()))
}

fn save_batch(txn: &WriteTransaction, b: &Batch) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::BATCHES)?, &b.id, b)
}

/// Every order change here goes through this, so the student's live view
/// hears each one (without the OTP, which the order page fetches itself).
fn save_order(txn: &WriteTransaction, o: &Order) -> Result<(), StoreError> {
    super::order_counts::put_order(txn, o)?;
    crate::search::enqueue(txn, crate::search::Target::Order(o.id.clone()))?;
    order_event(txn, o)
}

pub fn order_event(txn: &WriteTransaction, o: &Order) -> Result<(), StoreError> {
    crate::events::emit(
        txn,
        &o.user_id,
        "order.updated",
        serde_json::json!({
            "order_id": o.id,
            "display_id": o.display_id,
            "status": o.status,
            "batch_id": o.batch_id,
        }),
    )?;
    Ok(())
}

fn batch_event(
    txn: &WriteTransaction,
    o: &Order,
    b: &Batch,
    status: BatchStatus,
) -> Result<(), StoreError> {
    crate::events::emit(
        txn,
        &o.user_id,
        "batch.updated",
        serde_json::json!({
            "batch_id": b.id,
            "order_id": o.id,
            "label": b.label,
            "status": status,
            "milestone": b.milestone,
        }),
    )?;
    Ok(())
}

fn shop_of(txn: &WriteTransaction, shop_id: &str) -> Result<Shop, Error> {
    codec::get(&txn.open_table(tables::SHOPS)?, shop_id)?
        .ok_or_else(|| Error::NotFound("no such shop".into()))
}

/// The batch and its shop, if the caller works there (or is an admin).
/// A page of a shop's batches, newest first, optionally of one status: for
/// its owner, its runners and admins (anyone else: no such shop).
pub fn shop_page(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: &str,
    is_admin: bool,
    status: Option<BatchStatus>,
    page: &PageRequest,
) -> Result<Page<Batch>, Error> {
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, shop_id)?;
    let shop = shop
        .filter(|s| is_admin || s.is_staff(user_id))
        .ok_or_else(|| Error::NotFound("no such shop".into()))?;
    let idx = txn.open_multimap_table(tables::SHOP_TO_BATCHES)?;
    let t = txn.open_table(tables::BATCHES)?;
    // Batch ids are ULIDs: the index holds them oldest first.
    let found = idx.get(shop.id.as_str())?.rev().filter_map(|bid| {
        let bid = match bid {
            Ok(b) => b.value().to_string(),
            Err(e) => return Some(Err(Error::from(e))),
        };
        if !page.is_after(&bid, Dir::Desc) {
            return None;
        }
        match codec::get::<Batch>(&t, &bid) {
            Ok(Some(b)) if status.is_none_or(|w| b.status == w) => Some(Ok((bid, b))),
            Ok(_) => None,
            Err(e) => Some(Err(Error::from(e))),
        }
    });
    page.take(found, Dir::Desc)
}

/// A batch and its orders, for the shop's owner, its runners and admins
/// (anyone else: no such batch).
pub fn detail(
    txn: &ReadTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Batch, Vec<Order>), Error> {
    let not_found = || Error::NotFound("no such batch".into());
    let b: Batch =
        codec::get(&txn.open_table(tables::BATCHES)?, batch_id)?.ok_or_else(not_found)?;
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, &b.shop_id)?;
    if !(is_admin || shop.is_some_and(|s| s.is_staff(user_id))) {
        return Err(not_found());
    }
    let t = txn.open_table(tables::ORDERS)?;
    let mut orders = Vec::new();
    for oid in txn
        .open_multimap_table(tables::BATCH_TO_ORDERS)?
        .get(b.id.as_str())?
    {
        if let Some(o) = codec::get::<Order>(&t, oid?.value())? {
            orders.push(o);
        }
    }
    Ok((b, orders))
}

/// How many of each shop's newest batches `runs` looks at: a batch to run
/// is a recent one.
pub const RUNS_WINDOW: usize = 50;

/// A page of the batches a runner can claim or has claimed (locked or in
/// transit, unclaimed or theirs) across the shops they work for, newest
/// first.
pub fn runs(
    txn: &ReadTransaction,
    user_id: &str,
    page: &PageRequest,
) -> Result<Page<Batch>, Error> {
    let mut shops: Vec<String> = Vec::new();
    for s in txn
        .open_multimap_table(tables::STAFF_TO_SHOPS)?
        .get(user_id)?
    {
        shops.push(s?.value().to_string());
    }
    if let Some(own) = txn.open_table(tables::OWNER_TO_SHOP)?.get(user_id)? {
        shops.push(own.value().to_string());
    }
    let idx = txn.open_multimap_table(tables::SHOP_TO_BATCHES)?;
    let t = txn.open_table(tables::BATCHES)?;
    let mut out = Vec::new();
    for shop in shops {
        for bid in idx.get(shop.as_str())?.rev().take(RUNS_WINDOW) {
            if let Some(b) = codec::get::<Batch>(&t, bid?.value())? {
                let mine_or_free = b.runner_id.as_deref().is_none_or(|r| r == user_id);
                if matches!(b.status, BatchStatus::Locked | BatchStatus::InTransit) && mine_or_free
                {
                    out.push(b);
                }
            }
        }
    }
    Ok(page.sort_and_take(out, |b| b.id.clone(), Dir::Desc))
}

pub fn staff_batch(
    txn: &WriteTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Batch, Shop), Error> {
    let b = load_batch(txn, batch_id)?;
    let shop = shop_of(txn, &b.shop_id)?;
    if !(is_admin || shop.is_staff(user_id)) {
        return Err(Error::NotFound("no such batch".into()));
    }
    Ok((b, shop))
}

pub(super) fn batch_orders(
    txn: &WriteTransaction,
    batch_id: &str,
) -> Result<Vec<Order>, StoreError> {
    let ids: Vec<String> = {
        let idx = txn.open_multimap_table(tables::BATCH_TO_ORDERS)?;
        let mut v = Vec::new();
        for id in idx.get(batch_id)? {
            v.push(id?.value().to_string());
        }
        v
    };
    let t = txn.open_table(tables::ORDERS)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(o) = codec::get::<Order>(&t, &id)? {
            out.push(o);
        }
    }
    Ok(out)
}

fn tell(
    txn: &WriteTransaction,
    user: &str,
    title: &str,
    message: String,
    kind: Kind,
    action: String,
) -> Result<(), StoreError> {
    notify::push(
        txn,
        user,
        Note {
            title,
            message,
            kind,
            category: Category::Order,
            action: Some(action),
        },
    )?;
    Ok(())
}

/// A batch with its orders, for the shop's staff and admins (404 for
/// anyone else).
pub struct BatchDetail {
    pub batch: Batch,
    pub orders: Vec<Order>,
    /// What the open and completed orders add up to, minor units.
    pub total: i64,
    /// Each item summed over the orders still to carry, for packing.
    pub prep: Vec<crate::domain::batch::PrepLine>,
    /// The orders' students, by user id.
    pub students: std::collections::HashMap<String, super::orders::Student>,
}

pub fn batch_detail(
    txn: &ReadTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<BatchDetail, Error> {
    let (b, orders) = detail(txn, batch_id, user_id, is_admin)?;
    let total = orders
        .iter()
        .filter(|o| o.status.is_open() || o.status == OrderStatus::Completed)
        .map(|o| o.total)
        .sum();
    let prep = crate::domain::batch::prep(&b, &orders);
    let students = super::orders::students_of(&txn.open_table(tables::USERS)?, &orders)?;
    Ok(BatchDetail {
        batch: b,
        orders,
        total,
        prep,
        students,
    })
}

/// Ids of OPEN batches whose cutoff is at or before `now`.
pub fn due(txn: &ReadTransaction, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let upper = format!("{}/~", stamp(now));
    let t = txn.open_table(tables::OPEN_BATCHES_BY_CUTOFF)?;
    let mut out = Vec::new();
    for e in t.range(..=upper.as_str())? {
        out.push(e?.1.value().to_string());
    }
    Ok(out)
}

/// A batch locked before its cutoff: only the shop's owner (or an admin)
/// may do that; a runner works batches but does not close them.
pub fn lock_early(
    txn: &WriteTransaction,
    batch_id: &str,
    user_id: &str,
    admin: bool,
    now: DateTime<Utc>,
    otp_digits: u8,
) -> Result<Batch, Error> {
    let (_, shop) = staff_batch(txn, batch_id, user_id, admin)?;
    if !(admin || shop.owner_id == user_id) {
        return Err(Error::Forbidden(
            "only the shop's owner locks a batch early".into(),
        ));
    }
    lock(txn, batch_id, now, otp_digits)
}

/// Locks a batch: orders waiting for it become `BATCHED` with a fresh OTP
/// each, the vendor and every student are told. A batch whose orders were
/// all cancelled is `CANCELLED` instead. Refuses (409) a batch that is not
/// open, so running it twice changes nothing.
pub fn lock(
    txn: &WriteTransaction,
    batch_id: &str,
    now: DateTime<Utc>,
    otp_digits: u8,
) -> Result<Batch, Error> {
    let mut b = load_batch(txn, batch_id)?;
    if b.status != BatchStatus::Open {
        return Err(Error::Conflict(format!(
            "the batch is already {:?}",
            b.status
        )));
    }
    let shop = shop_of(txn, &b.shop_id)?;
    let mut batched = 0;
    for mut o in batch_orders(txn, &b.id)? {
        if !o.status.awaits_batch() {
            continue;
        }
        o.transition(
            OrderStatus::Batched,
            now,
            None,
            Some(format!("{} locked", b.label)),
        )
        .map_err(Error::Conflict)?;
        o.otp = Some(new_otp(otp_digits));
        save_order(txn, &o)?;
        batched += 1;
        tell(
            txn,
            &o.user_id,
            "Your batch is locked",
            format!(
                "{}: {} has your order in its {}. Your delivery OTP is ready; read it out only after you get your items.",
                o.display_id, shop.name, b.label
            ),
            Kind::Info,
            format!("/orders/{}", o.id),
        )?;
        batch_event(txn, &o, &b, BatchStatus::Locked)?;
        crate::mail::enqueue_if_wanted(
            txn,
            &o.user_id,
            |p| p.batch_locked,
            crate::mail::Message::OrderBatched {
                shop_name: shop.name.clone(),
                order_id: o.id.clone(),
                display_id: o.display_id.clone(),
                label: b.label.clone(),
            },
        )?;
    }
    txn.open_table(tables::OPEN_BATCHES_BY_CUTOFF)?
        .remove(open_key(b.cutoff_at, &b.id).as_str())?;
    b.locked_at = Some(now);
    if batched == 0 {
        b.status = BatchStatus::Cancelled;
        b.completed_at = Some(now);
    } else {
        b.status = BatchStatus::Locked;
        txn.open_table(tables::LOCKED_BATCHES)?
            .insert(b.id.as_str(), stamp(now).as_str())?;
        tell(
            txn,
            &shop.owner_id,
            "Batch ready",
            format!("Batch ready: {batched} orders in {}", b.label),
            Kind::Success,
            format!("/vendor/batches/{}", b.id),
        )?;
        mail_staff(
            txn,
            &shop,
            &crate::mail::Message::BatchReady {
                shop_name: shop.name.clone(),
                batch_id: b.id.clone(),
                label: b.label.clone(),
                order_count: batched,
                cutoff_at: b.cutoff_at,
            },
        )?;
    }
    save_batch(txn, &b)?;
    Ok(b)
}

/// LOCKED batches idle since before `now - after` that have not warned yet.
pub fn stale(
    txn: &ReadTransaction,
    now: DateTime<Utc>,
    after: Duration,
) -> Result<Vec<String>, StoreError> {
    let limit = stamp(now - after);
    let mut out = Vec::new();
    for e in txn.open_table(tables::LOCKED_BATCHES)?.iter()? {
        let (id, at) = e?;
        if at.value() <= limit.as_str() {
            out.push(id.value().to_string());
        }
    }
    Ok(out)
}

/// Warns the vendor once that a locked batch is waiting.
pub fn warn_stale(
    txn: &WriteTransaction,
    batch_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let mut b = load_batch(txn, batch_id)?;
    if b.status != BatchStatus::Locked || b.stale_warned_at.is_some() {
        return Ok(false);
    }
    let shop = shop_of(txn, &b.shop_id)?;
    b.stale_warned_at = Some(now);
    save_batch(txn, &b)?;
    tell(
        txn,
        &shop.owner_id,
        "Orders waiting!",
        format!(
            "{} locked at {} and has not left yet: {} orders are waiting.",
            b.label,
            b.locked_at.map(stamp).unwrap_or_default(),
            b.order_count
        ),
        Kind::Warning,
        format!("/vendor/batches/{}", b.id),
    )?;
    mail_staff(
        txn,
        &shop,
        &crate::mail::Message::StaleBatch {
            shop_name: shop.name.clone(),
            batch_id: b.id.clone(),
            label: b.label.clone(),
            order_count: b.order_count,
            locked_at: b.locked_at,
        },
    )?;
    Ok(true)
}

/// Mails the shop's owner and runners: they pack and carry the batch.
fn mail_staff(
    txn: &WriteTransaction,
    shop: &Shop,
    message: &crate::mail::Message,
) -> Result<(), StoreError> {
    for user in std::iter::once(&shop.owner_id).chain(shop.staff.iter()) {
        crate::mail::enqueue_to_user(txn, user, message.clone())?;
    }
    Ok(())
}

/// First claim wins; the same runner claiming again is a no-op.
pub fn claim(
    txn: &WriteTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Batch, Error> {
    let (mut b, _) = staff_batch(txn, batch_id, user_id, is_admin)?;
    if b.status != BatchStatus::Locked {
        return Err(Error::Conflict(format!(
            "only a LOCKED batch can be claimed; this one is {:?}",
            b.status
        )));
    }
    match &b.runner_id {
        Some(r) if r == user_id => return Ok(b),
        Some(_) => {
            return Err(Error::Conflict(
                "another runner claimed this batch first".into(),
            ));
        }
        None => {}
    }
    b.runner_id = Some(user_id.to_string());
    save_batch(txn, &b)?;
    Ok(b)
}

/// The owner, an admin, or the runner who claimed the batch. A runner
/// dispatching a batch nobody claimed claims it (`claims_if_free`); no other
/// runner works a batch another runner claimed.
fn may_work(
    b: &Batch,
    shop: &Shop,
    user_id: &str,
    is_admin: bool,
    claims_if_free: bool,
) -> Result<(), Error> {
    if is_admin || shop.owner_id == user_id {
        return Ok(());
    }
    match b.runner_id.as_deref() {
        Some(r) if r == user_id => Ok(()),
        None if claims_if_free => Ok(()),
        None => Err(Error::Forbidden(
            "claim this batch before working it".into(),
        )),
        Some(_) => Err(Error::Forbidden("another runner claimed this batch".into())),
    }
}

pub fn dispatch(
    txn: &WriteTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
    now: DateTime<Utc>,
) -> Result<Batch, Error> {
    let (mut b, shop) = staff_batch(txn, batch_id, user_id, is_admin)?;
    may_work(&b, &shop, user_id, is_admin, true)?;
    if !b.status.can_become(BatchStatus::InTransit) {
        return Err(Error::Conflict(format!(
            "a {:?} batch cannot be dispatched",
            b.status
        )));
    }
    for mut o in batch_orders(txn, &b.id)? {
        if o.status != OrderStatus::Batched {
            continue;
        }
        o.transition(OrderStatus::OutForDelivery, now, Some(user_id), None)
            .map_err(Error::Conflict)?;
        save_order(txn, &o)?;
        tell(
            txn,
            &o.user_id,
            "On the way up",
            format!("{} left the market with {}.", o.display_id, b.label),
            Kind::Info,
            format!("/orders/{}", o.id),
        )?;
        batch_event(txn, &o, &b, BatchStatus::InTransit)?;
    }
    b.status = BatchStatus::InTransit;
    b.dispatched_at = Some(now);
    if b.runner_id.is_none() && shop.owner_id != user_id && !is_admin {
        b.runner_id = Some(user_id.to_string());
    }
    txn.open_table(tables::LOCKED_BATCHES)?
        .remove(b.id.as_str())?;
    save_batch(txn, &b)?;
    Ok(b)
}

pub fn milestone(
    txn: &WriteTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
    m: Milestone,
) -> Result<Batch, Error> {
    let (mut b, shop) = staff_batch(txn, batch_id, user_id, is_admin)?;
    may_work(&b, &shop, user_id, is_admin, false)?;
    check_milestone(b.status, b.milestone, m).map_err(Error::Conflict)?;
    b.milestone = Some(m);
    save_batch(txn, &b)?;
    let text = match m {
        Milestone::Packing => "is being packed",
        Milestone::ClimbStarted => "has started the climb",
        Milestone::Midway => "is halfway up the hill",
        Milestone::Arrived => "has arrived at the hostels",
    };
    for o in batch_orders(txn, &b.id)? {
        if o.status.is_open() {
            tell(
                txn,
                &o.user_id,
                "Batch update",
                format!("{}: {} {text}.", o.display_id, b.label),
                Kind::Info,
                format!("/orders/{}", o.id),
            )?;
            batch_event(txn, &o, &b, b.status)?;
        }
    }
    Ok(b)
}

/// When no order of an in-transit batch is still open, the batch is done.
pub fn complete_if_done(
    txn: &WriteTransaction,
    batch_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(mut b) = codec::get::<Batch>(&txn.open_table(tables::BATCHES)?, batch_id)? else {
        return Ok(());
    };
    if b.status != BatchStatus::InTransit {
        return Ok(());
    }
    if batch_orders(txn, batch_id)?
        .iter()
        .any(|o| o.status.is_open())
    {
        return Ok(());
    }
    b.status = BatchStatus::Completed;
    b.completed_at = Some(now);
    save_batch(txn, &b)
}

/// Who a member of the staff is to an order's shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StaffRole {
    Owner,
    Admin,
    Runner,
}

/// An order as one of its shop's staff may handle it.
fn staff_order(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Order, Shop, StaffRole), Error> {
    let o: Order = codec::get(&txn.open_table(tables::ORDERS)?, order_id)?
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    let shop = shop_of(txn, &o.shop_id)?;
    if shop.owner_id == user_id {
        return Ok((o, shop, StaffRole::Owner));
    }
    if is_admin {
        return Ok((o, shop, StaffRole::Admin));
    }
    if shop.is_staff(user_id) {
        return Ok((o, shop, StaffRole::Runner));
    }
    if o.user_id == user_id {
        return Err(Error::Forbidden(
            "only the shop's staff do this; read your OTP to them instead".into(),
        ));
    }
    Err(Error::NotFound("no such order".into()))
}

/// An order only its shop's owner (or an admin) may change: cancel, fail,
/// reschedule, accept, a new OTP. Runners carry; they do not decide.
fn owner_order(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Order, Shop, StaffRole), Error> {
    let (o, shop, role) = staff_order(txn, order_id, user_id, is_admin)?;
    if role == StaffRole::Runner {
        return Err(Error::Forbidden(
            "only the shop's owner or an admin does this".into(),
        ));
    }
    Ok((o, shop, role))
}

pub enum Delivered {
    Done(Box<Order>),
    /// Wrong OTP; this many tries are left (recorded, so it is committed).
    Wrong {
        left: u8,
    },
}

/// Completes an order with the OTP the student reads out. Wrong tries are
/// counted per order and never reset; the last one locks the order (423),
/// audited, with one admin alert. A malformed OTP uses no try.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    otp: &str,
    max_attempts: u8,
    origin: &Origin,
    now: DateTime<Utc>,
    currency: Currency,
) -> Result<Delivered, Error> {
    let (mut o, shop, role) = staff_order(txn, order_id, user_id, is_admin)?;
    if role == StaffRole::Runner {
        let claimed = match &o.batch_id {
            Some(b) => load_batch(txn, b)?.runner_id.as_deref() == Some(user_id),
            None => false,
        };
        if !claimed {
            return Err(Error::Forbidden(
                "runners deliver only the orders of a batch they claimed".into(),
            ));
        }
    }
    if o.status != OrderStatus::OutForDelivery {
        return Err(Error::Conflict(format!(
            "an order that is {:?} cannot be delivered",
            o.status
        )));
    }
    let expected = o.otp.clone().unwrap_or_default();
    let attempt = otp::attempt(&expected, otp, o.otp_failures, max_attempts);
    match attempt {
        otp::Attempt::Locked => Err(locked()),
        otp::Attempt::Wrong { failures, left } => {
            o.otp_failures = failures;
            save_order(txn, &o)?;
            if attempt.locks_now() {
                lock_out(txn, &o, origin, now)?;
            }
            Ok(Delivered::Wrong { left })
        }
        otp::Attempt::Right => {
            o.transition(OrderStatus::Completed, now, Some(user_id), None)
                .map_err(Error::Conflict)?;
            o.payment_status = PaymentStatus::Paid;
            o.otp = None;
            let message = format!("{} is delivered. Enjoy!", o.display_id);
            settle(txn, &o, now, "Delivered", message, Kind::Success)?;
            crate::mail::enqueue_if_wanted(
                txn,
                &o.user_id,
                |p| p.delivered,
                crate::mail::Message::OrderDelivered {
                    shop_name: shop.name.clone(),
                    order_id: o.id.clone(),
                    display_id: o.display_id.clone(),
                    total: currency.amount(o.total),
                },
            )?;
            Ok(Delivered::Done(Box::new(o)))
        }
    }
}

/// An order leaves the trip (delivered or failed): saved, its batch
/// completed when nothing of it is open, its student told.
fn settle(
    txn: &WriteTransaction,
    o: &Order,
    now: DateTime<Utc>,
    title: &str,
    message: String,
    kind: Kind,
) -> Result<(), StoreError> {
    save_order(txn, o)?;
    if let Some(b) = &o.batch_id {
        complete_if_done(txn, b, now)?;
    }
    tell(
        txn,
        &o.user_id,
        title,
        message,
        kind,
        format!("/orders/{}", o.id),
    )
}

fn locked() -> Error {
    Error::Locked(
        "too many wrong OTPs: this order is locked; an admin settles it (mark it delivered \
         or failed, with a reason)"
            .into(),
    )
}

/// The try that used up the last one: audited, listed for the admins'
/// alert (which stays open while any order is locked and still open).
fn lock_out(
    txn: &WriteTransaction,
    o: &Order,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::append(
        txn,
        origin,
        "order.otp_locked",
        &o.id,
        format!(
            "{}: {} wrong OTPs; delivery locked",
            o.display_id, o.otp_failures
        ),
    )?;
    txn.open_table(tables::OTP_LOCKED)?
        .insert(o.id.as_str(), o.display_id.as_str())?;
    crate::alerts::apply(
        txn,
        &[crate::alerts::Transition::Open {
            rule: crate::alerts::Rule::OtpLocked,
            detail: format!(
                "order {} took {} wrong delivery OTPs and is locked; settle it from the order \
                 (status override)",
                o.display_id, o.otp_failures
            ),
        }],
        now,
    )?;
    Ok(())
}

/// A new OTP for an order on its way: the owner at most
/// `otp::OWNER_REGENERATIONS` times, then only an admin with a reason
/// (audited). The tries already used stay used.
#[allow(clippy::too_many_arguments)]
pub fn regenerate_otp(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    digits: u8,
    max_attempts: u8,
    reason: Option<&str>,
    origin: &Origin,
) -> Result<Order, Error> {
    let (mut o, _, role) = staff_order(txn, order_id, user_id, is_admin)?;
    if !matches!(o.status, OrderStatus::Batched | OrderStatus::OutForDelivery) {
        return Err(Error::Conflict(format!(
            "an order that is {:?} has no OTP",
            o.status
        )));
    }
    let who = match role {
        StaffRole::Owner => otp::Regenerator::Owner,
        StaffRole::Admin => otp::Regenerator::Admin,
        StaffRole::Runner => otp::Regenerator::Runner,
    };
    otp::may_regenerate(
        who,
        o.otp_regenerations,
        o.otp_failures,
        max_attempts,
        reason,
    )
    .map_err(|r| match r {
        otp::RegenRefusal::NotAllowed(m) => Error::Forbidden(m.into()),
        otp::RegenRefusal::OwnerLimit => Error::Forbidden(format!(
            "the shop may make a new OTP {} times per order; ask a campus admin",
            otp::OWNER_REGENERATIONS
        )),
        otp::RegenRefusal::ReasonNeeded => {
            FieldError::new("reason", "an admin making a new OTP gives a reason").into()
        }
        otp::RegenRefusal::Locked => locked(),
    })?;
    o.otp = Some(new_otp(digits));
    o.otp_regenerations = o.otp_regenerations.saturating_add(1);
    save_order(txn, &o)?;
    if role == StaffRole::Admin {
        audit::append(
            txn,
            origin,
            "order.otp_regenerate",
            &o.id,
            format!(
                "{}: new OTP ({} made so far): {}",
                o.display_id,
                o.otp_regenerations,
                reason.unwrap_or_default().trim()
            ),
        )?;
    }
    tell(
        txn,
        &o.user_id,
        "New delivery OTP",
        format!(
            "{} has a new OTP; the old one no longer works.",
            o.display_id
        ),
        Kind::Warning,
        format!("/orders/{}", o.id),
    )?;
    Ok(o)
}

pub fn fail(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Order, Error> {
    let (mut o, _, _) = owner_order(txn, order_id, user_id, is_admin)?;
    o.transition(
        OrderStatus::DeliveryFailed,
        now,
        Some(user_id),
        Some(reason.to_string()),
    )
    .map_err(Error::Conflict)?;
    o.failure_reason = Some(reason.to_string());
    o.otp = None;
    let message = format!("{}: {reason}", o.display_id);
    settle(txn, &o, now, "Delivery failed", message, Kind::Error)?;
    Ok(o)
}

/// Moves an order into the shop's next batch that takes orders.
pub fn reschedule(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Order, Error> {
    let (mut o, shop, _) = owner_order(txn, order_id, user_id, is_admin)?;
    if !o.status.can_become(OrderStatus::Rescheduled) {
        return Err(Error::Conflict(format!(
            "an order that is {:?} cannot be rescheduled",
            o.status
        )));
    }
    let slots = super::orders::shop_slots(txn, &shop.id)?;
    let batches = super::orders::ShopBatches::new(txn, &shop.id);
    let avail = |_: &str, cutoff: DateTime<Utc>| batches.availability(cutoff);
    let choice = choose_batch(&slots, now, tz, None, avail).map_err(|_| {
        Error::from(FieldError::new(
            "batch",
            "the shop has no upcoming batch to move this order into",
        ))
    })?;
    // Leave the old batch.
    let old = o.batch_id.clone();
    if let Some(old_id) = &old {
        txn.open_multimap_table(tables::BATCH_TO_ORDERS)?
            .remove(old_id.as_str(), o.id.as_str())?;
        // Bound first: a table borrowed in the `if let` would stay open in
        // its body, and redb refuses to open a table twice.
        let old_batch = codec::get::<Batch>(&txn.open_table(tables::BATCHES)?, old_id)?;
        if let Some(mut ob) = old_batch {
            ob.order_count = ob.order_count.saturating_sub(1);
            save_batch(txn, &ob)?;
        }
    }
    drop(batches);
    // Read again, not from `batches`: the old batch just changed and may be
    // the one chosen.
    let existing = super::orders::existing_batch(txn, &shop.id, choice.cutoff_at)?;
    let nb = super::orders::join_batch(txn, &shop.id, &slots, &choice, existing, now)?;
    txn.open_multimap_table(tables::BATCH_TO_ORDERS)?
        .insert(nb.id.as_str(), o.id.as_str())?;
    o.transition(
        OrderStatus::Rescheduled,
        now,
        Some(user_id),
        Some(format!("moved to {}", nb.label)),
    )
    .map_err(Error::Conflict)?;
    o.batch_id = Some(nb.id.clone());
    o.cutoff_at = Some(nb.cutoff_at);
    // Tries and regenerations stay counted: a reschedule must not become a
    // way to guess again.
    o.otp = None;
    save_order(txn, &o)?;
    if let Some(old_id) = &old {
        complete_if_done(txn, old_id, now)?;
    }
    tell(
        txn,
        &o.user_id,
        "Order rescheduled",
        format!(
            "{} moved to {} ({}).",
            o.display_id,
            nb.label,
            stamp(nb.cutoff_at)
        ),
        Kind::Warning,
        format!("/orders/{}", o.id),
    )?;
    Ok(o)
}

/// A direct-delivery order accepted by the vendor: OTP now, on its way.
pub fn accept_direct(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    digits: u8,
    now: DateTime<Utc>,
) -> Result<Order, Error> {
    let (mut o, shop, _) = owner_order(txn, order_id, user_id, is_admin)?;
    if o.batch_id.is_some() {
        return Err(Error::Conflict(
            "this order goes with its batch, not directly".into(),
        ));
    }
    o.transition(
        OrderStatus::OutForDelivery,
        now,
        Some(user_id),
        Some("accepted for direct delivery".into()),
    )
    .map_err(Error::Conflict)?;
    o.otp = Some(new_otp(digits));
    save_order(txn, &o)?;
    super::orders::shop_event(txn, &shop, &o)?;
    tell(
        txn,
        &o.user_id,
        "On the way up",
        format!(
            "{} was accepted and is coming straight to you. Your OTP is ready.",
            o.display_id
        ),
        Kind::Info,
        format!("/orders/{}", o.id),
    )?;
    Ok(o)
}
