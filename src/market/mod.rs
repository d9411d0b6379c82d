//! Buying: addresses, carts, checkout, orders, reviews and stock watches.
//! Functions here run inside store transactions; `http::market_api`
//! translates requests into them.

pub mod addresses;
pub mod batches;
pub mod carts;
pub mod chat;
pub mod earnings;
pub mod order_counts;
pub mod orders;
pub mod printouts;
pub mod reminders;
pub mod reviews;

use redb::{ReadTransaction, ReadableTable};

use crate::domain::shop::Shop;
use crate::error::Error;
use crate::store::{StoreError, codec, tables};

/// Reads a record by id from a table readable in either kind of transaction.
pub fn load<V: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<V>, StoreError> {
    codec::get(table, id)
}

/// The shop if the caller may see it: public, or the caller is its owner,
/// staff or an admin. Anything else looks like it does not exist.
pub fn visible_shop(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: Option<&str>,
    is_admin: bool,
) -> Result<Shop, Error> {
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, shop_id)?;
    match shop {
        Some(s)
            if s.deleted_at.is_none()
                && (s.is_public() || is_admin || user_id.is_some_and(|u| s.is_staff(u))) =>
        {
            Ok(s)
        }
        _ => Err(Error::NotFound("no such shop".into())),
    }
}
