//! The cutoff reminder's storage side: which shops have carts, and one
//! transaction per shop that notifies the students `domain::reminder`
//! picks and remembers that it did.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::carts::{self, Cart};
use super::orders::{ShopBatches, shop_slots};
use crate::domain::hours;
use crate::domain::order::OrderStatus;
use crate::domain::reminder::{CartState, closing_soon, to_remind};
use crate::domain::shop::Shop;
use crate::notify::{self, Category, Kind, Note};
use crate::store::{StoreError, codec, tables};

/// Markers older than this are swept: their batch closed long ago.
const KEEP_MARKERS: i64 = 2;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn marker(cutoff: DateTime<Utc>, shop_id: &str, user_id: &str) -> String {
    format!("{}/{shop_id}/{user_id}", stamp(cutoff))
}

/// Shop id → the users with a non-empty cart there.
pub fn carts_by_shop(txn: &ReadTransaction) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in txn.open_table(tables::CARTS)?.iter()? {
        let cart: Cart = codec::decode(e?.1.value())?;
        if !cart.items.is_empty() {
            out.entry(cart.shop_id).or_default().push(cart.user_id);
        }
    }
    Ok(out)
}

/// Reminds the shop's `users` whose cart's batch closes within `lead`;
/// returns how many were reminded. Reads each cart again here, so a cart
/// emptied or an order placed since the scan counts.
pub fn remind_shop(
    txn: &WriteTransaction,
    shop_id: &str,
    users: &[String],
    now: DateTime<Utc>,
    tz: Tz,
    lead: Duration,
) -> Result<usize, StoreError> {
    let Some(shop) = codec::get::<Shop>(&txn.open_table(tables::SHOPS)?, shop_id)? else {
        return Ok(0);
    };
    // A closed shop refuses the order the reminder asks for; once it opens
    // (still before the cutoff) a later run reminds.
    let open = hours::is_open(shop.opens_at, shop.closes_at, hours::minute_of_day(now, tz));
    if !shop.is_orderable() || !open {
        return Ok(0);
    }
    let slots = shop_slots(txn, shop_id)?;
    let batches = ShopBatches::new(txn, shop_id);
    let Some(choice) = closing_soon(&slots, now, tz, lead, |_, c| batches.availability(c)) else {
        return Ok(0);
    };
    let ordered: Vec<String> = match batches.take(choice.cutoff_at)? {
        Some(b) => super::batches::batch_orders(txn, &b.id)?
            .into_iter()
            .filter(|o| o.status != OrderStatus::Cancelled)
            .map(|o| o.user_id)
            .collect(),
        None => Vec::new(),
    };
    let mut states = Vec::with_capacity(users.len());
    {
        let cart_t = txn.open_table(tables::CARTS)?;
        let sent = txn.open_table(tables::CART_REMINDERS)?;
        for u in users {
            let lines =
                codec::get::<Cart>(&cart_t, &carts::key(u, shop_id))?.map_or(0, |c| c.items.len());
            states.push(CartState {
                user_id: u.clone(),
                lines,
                ordered: ordered.contains(u),
                reminded: sent
                    .get(marker(choice.cutoff_at, shop_id, u).as_str())?
                    .is_some(),
            });
        }
    }
    let label = slots
        .iter()
        .find(|s| s.id == choice.slot_id)
        .map_or("batch", |s| s.label.as_str());
    let closes = choice.cutoff_at.with_timezone(&tz).format("%H:%M");
    let who = to_remind(&states);
    for u in &who {
        notify::push(
            txn,
            u,
            Note {
                title: "Your batch closes soon",
                message: format!(
                    "{}'s {label} closes at {closes}. Your cart is waiting: order now to make it.",
                    shop.name
                ),
                kind: Kind::Info,
                category: Category::Order,
                action: Some(format!("/checkout/{shop_id}")),
            },
        )?;
        txn.open_table(tables::CART_REMINDERS)?.insert(
            marker(choice.cutoff_at, shop_id, u).as_str(),
            stamp(now).as_str(),
        )?;
    }
    Ok(who.len())
}

/// Whether `sweep` has anything to drop: checked first, so an idle tick
/// costs a read, not a write.
pub fn has_old(txn: &ReadTransaction, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let upper = stamp(now - Duration::days(KEEP_MARKERS));
    Ok(txn
        .open_table(tables::CART_REMINDERS)?
        .range(..upper.as_str())?
        .next()
        .is_some())
}

/// Drops the markers of batches that closed days ago; returns how many.
pub fn sweep(txn: &WriteTransaction, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let upper = stamp(now - Duration::days(KEEP_MARKERS));
    let mut t = txn.open_table(tables::CART_REMINDERS)?;
    let old: Vec<String> = t
        .range(..upper.as_str())?
        .map(|e| e.map(|(k, _)| k.value().to_string()))
        .collect::<Result<_, _>>()?;
    for k in &old {
        t.remove(k.as_str())?;
    }
    Ok(old.len())
}
