//! The index only proposes ids: each hit is loaded from the store and its
//! visibility checked again here, so a document a moment stale never shows
//! what the caller may not see.

use redb::ReadTransaction;

use super::Kind;
use crate::domain::catalog::{Category, Product};
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::store::{StoreError, codec, tables};

/// A hit that is still there and still visible, with the names a result
/// list shows beside it.
pub enum Hit {
    Product {
        product: Product,
        shop_name: String,
        category_name: Option<String>,
    },
    Shop(Shop),
    Order {
        order: Order,
        shop_name: String,
        student_name: String,
    },
    User(User),
}

/// The shops whose orders a user works: the one they own and those they
/// run for.
pub fn shops_worked_by(txn: &ReadTransaction, user_id: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    if let Some(s) = txn.open_table(tables::OWNER_TO_SHOP)?.get(user_id)? {
        out.push(s.value().to_string());
    }
    for s in txn
        .open_multimap_table(tables::STAFF_TO_SHOPS)?
        .get(user_id)?
    {
        let s = s?.value().to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Loads the hits in rank order, dropping any the store says are no longer
/// visible (deleted product, hidden shop, an order of a shop outside
/// `allowed_shops`) or gone.
pub fn load(
    txn: &ReadTransaction,
    kind: Kind,
    ids: &[String],
    allowed_shops: Option<&[String]>,
) -> Result<Vec<Hit>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    let shops = txn.open_table(tables::SHOPS)?;
    match kind {
        Kind::Products => {
            let products = txn.open_table(tables::PRODUCTS)?;
            let categories = txn.open_table(tables::CATEGORIES)?;
            for id in ids {
                let Some(p) = codec::get::<Product>(&products, id)? else {
                    continue;
                };
                let Some(shop) = codec::get::<Shop>(&shops, &p.shop_id)? else {
                    continue;
                };
                if !p.is_live() || !shop.is_public() {
                    continue;
                }
                let category_name = match &p.category_id {
                    Some(c) => codec::get::<Category>(&categories, c)?.map(|c| c.name),
                    None => None,
                };
                out.push(Hit::Product {
                    product: p,
                    shop_name: shop.name,
                    category_name,
                });
            }
        }
        Kind::Shops => {
            for id in ids {
                if let Some(s) = codec::get::<Shop>(&shops, id)?
                    && s.is_public()
                {
                    out.push(Hit::Shop(s));
                }
            }
        }
        Kind::Orders => {
            let orders = txn.open_table(tables::ORDERS)?;
            let users = txn.open_table(tables::USERS)?;
            for id in ids {
                let Some(o) = codec::get::<Order>(&orders, id)? else {
                    continue;
                };
                if allowed_shops.is_some_and(|a| !a.contains(&o.shop_id)) {
                    continue;
                }
                let shop_name = codec::get::<Shop>(&shops, &o.shop_id)?
                    .map(|s| s.name)
                    .unwrap_or_default();
                let student_name = codec::get::<User>(&users, &o.user_id)?
                    .map(|u| u.name)
                    .unwrap_or_default();
                out.push(Hit::Order {
                    order: o,
                    shop_name,
                    student_name,
                });
            }
        }
        Kind::Users => {
            let users = txn.open_table(tables::USERS)?;
            for id in ids {
                if let Some(u) = codec::get::<User>(&users, id)? {
                    out.push(Hit::User(u));
                }
            }
        }
    }
    Ok(out)
}
