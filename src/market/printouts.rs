//! What a pick list and a receipt print, loaded under the viewer's rights:
//! a batch's pick list for its shop's staff (and admins), an order's receipt
//! for whoever may see the order. Anyone else gets "not found".

use std::collections::HashMap;

use redb::ReadTransaction;

use crate::domain::batch::Batch;
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::error::Error;
use crate::market::orders;
use crate::store::{codec, tables};

/// A batch's pick list: the batch, its shop, its orders and their
/// students' names (user id → name).
pub struct PickList {
    pub shop: Shop,
    pub batch: Batch,
    pub orders: Vec<Order>,
    pub names: HashMap<String, String>,
}

/// The batch, its shop, its orders and their students' names, for the
/// shop's staff or an admin.
pub fn pick_list(
    txn: &ReadTransaction,
    batch_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<PickList, Error> {
    let (b, list) = super::batches::detail(txn, batch_id, user_id, is_admin)?;
    // `detail` found the shop to check the rights; shops are only ever
    // soft-deleted, so a missing one is a broken store.
    let shop: Shop = codec::get(&txn.open_table(tables::SHOPS)?, &b.shop_id)?.ok_or_else(|| {
        Error::internal(anyhow::anyhow!("batch {} has no shop {}", b.id, b.shop_id))
    })?;
    let users = txn.open_table(tables::USERS)?;
    let mut names = HashMap::new();
    for o in &list {
        if !names.contains_key(&o.user_id)
            && let Some(u) = codec::get::<User>(&users, &o.user_id)?
        {
            names.insert(o.user_id.clone(), u.name);
        }
    }
    Ok(PickList {
        shop,
        batch: b,
        orders: list,
        names,
    })
}

/// The order, its shop and its student's name, for anyone who may see the
/// order.
pub fn receipt(
    txn: &ReadTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<(Shop, Order, String), Error> {
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
    let student = codec::get::<User>(&txn.open_table(tables::USERS)?, &o.user_id)?
        .map(|u| u.name)
        .unwrap_or_default();
    Ok((shop, o, student))
}
