//! What a pick list and a receipt print, loaded under the viewer's rights:
//! a batch's pick list for its shop's staff (and admins), an order's receipt
//! for whoever may see the order. Anyone else gets "not found".

use redb::ReadTransaction;

use crate::domain::batch::Batch;
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::error::Error;
use crate::market::orders;
use crate::store::{codec, tables};

/// The batch, its shop and its orders, for the shop's staff or an admin.
pub fn pick_list(
    txn: &ReadTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Shop, Batch, Vec<Order>), Error> {
    let not_found = || Error::NotFound("no such batch".into());
    let b: Batch =
        codec::get(&txn.open_table(tables::BATCHES)?, batch_id)?.ok_or_else(not_found)?;
    let shop: Shop = codec::get(&txn.open_table(tables::SHOPS)?, &b.shop_id)?
        .filter(|s: &Shop| is_admin || s.is_staff(user_id))
        .ok_or_else(not_found)?;
    let mut ids = Vec::new();
    for o in txn
        .open_multimap_table(tables::BATCH_TO_ORDERS)?
        .get(b.id.as_str())?
    {
        ids.push(o?.value().to_string());
    }
    let list = orders::load_many(txn, &ids)?;
    Ok((shop, b, list))
}

/// The order and its shop, for anyone who may see the order.
pub fn receipt(
    txn: &ReadTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Shop, Order), Error> {
    let shops = txn.open_table(tables::SHOPS)?;
    let (o, _) = orders::visible(
        &txn.open_table(tables::ORDERS)?,
        &shops,
        order_id,
        user_id,
        is_admin,
    )?;
    // Shops are only ever soft-deleted, so this is a broken store.
    let shop: Shop = codec::get(&shops, &o.shop_id)?.ok_or_else(|| {
        Error::internal(anyhow::anyhow!("order {} has no shop {}", o.id, o.shop_id))
    })?;
    Ok((shop, o))
}
