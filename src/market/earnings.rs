//! A shop's money and its order export, for the people who run the shop's
//! books: its owner and admins (runners carry orders; they do not see the
//! takings). Anyone else gets "not found" for a shop they cannot see and
//! "forbidden" for one they can.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use redb::ReadTransaction;

use crate::domain::earnings::{self, Earnings, Range};
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::error::Error;
use crate::store::{codec, tables};

/// How long before a range an order may have been placed and still be
/// delivered inside it: a batch order is delivered the day it locks, a
/// rescheduled one a few days later; two weeks covers every flow.
const PLACED_BEFORE_DELIVERY: Duration = Duration::days(14);

/// The shop, if the user keeps its books.
pub fn books_of(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Shop, Error> {
    let shop = super::visible_shop(txn, shop_id, Some(user_id), is_admin)?;
    if !(is_admin || shop.owner_id == user_id) {
        return Err(Error::Forbidden(
            "only the shop's owner and admins see its earnings and export its orders".into(),
        ));
    }
    Ok(shop)
}

/// The smallest order id (a ULID) placed at or after `at`.
pub(crate) fn first_id_at(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(ms, 0).to_string()
}

/// The shop's earnings over the range, by delivery day.
pub fn earnings(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: &str,
    is_admin: bool,
    range: Range,
    tz: Tz,
) -> Result<Earnings, Error> {
    let shop = books_of(txn, shop_id, user_id, is_admin)?;
    let first = first_id_at(range.starts_at(tz) - PLACED_BEFORE_DELIVERY);
    let end = first_id_at(range.ends_at(tz));
    let orders = txn.open_table(tables::ORDERS)?;
    let mut list = Vec::new();
    for id in txn
        .open_multimap_table(tables::SHOP_TO_ORDERS)?
        .get(shop.id.as_str())?
    {
        let id = id?;
        let id = id.value();
        if id < first.as_str() {
            continue;
        }
        if id >= end.as_str() {
            break;
        }
        if let Some(o) = codec::get::<Order>(&orders, id)? {
            list.push(o);
        }
    }
    Ok(earnings::summarize(&list, range, tz))
}

/// One row of the export: the order and its student's name.
pub struct ExportRow {
    pub order: Order,
    pub student_name: String,
}

/// Up to `limit` orders of the shop placed in the range, oldest first,
/// after the order id `after` (the last one of the previous chunk). The
/// export streams chunk by chunk, each from its own read transaction, so a
/// year of orders never sits in memory or holds one snapshot open.
pub fn export_chunk(
    txn: &ReadTransaction,
    shop_id: &str,
    range: Range,
    tz: Tz,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ExportRow>, Error> {
    let first = first_id_at(range.starts_at(tz));
    let end = first_id_at(range.ends_at(tz));
    let orders = txn.open_table(tables::ORDERS)?;
    let users = txn.open_table(tables::USERS)?;
    let mut out = Vec::new();
    for id in txn
        .open_multimap_table(tables::SHOP_TO_ORDERS)?
        .get(shop_id)?
    {
        let id = id?;
        let id = id.value();
        if id < first.as_str() || after.is_some_and(|a| id <= a) {
            continue;
        }
        if id >= end.as_str() || out.len() == limit {
            break;
        }
        let Some(order) = codec::get::<Order>(&orders, id)? else {
            continue;
        };
        let student_name = codec::get::<User>(&users, &order.user_id)?
            .map(|u| u.name)
            .unwrap_or_default();
        out.push(ExportRow {
            order,
            student_name,
        });
    }
    Ok(out)
}
