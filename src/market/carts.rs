//! One cart per user per shop. Carts hold product ids and quantities only;
//! prices and availability are read fresh whenever a cart is shown.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::domain::FieldError;
use crate::domain::catalog::Product;
use crate::domain::housekeeping::index_key;
use crate::domain::order::{Line, MAX_QUANTITY, Order, normalize_lines};
use crate::domain::shop::Shop;
use crate::error::Error;
use crate::page::{Dir, Page, PageRequest};
use crate::store::{StoreError, codec, tables};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CartItem {
    pub product_id: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cart {
    pub user_id: String,
    pub shop_id: String,
    pub items: Vec<CartItem>,
    pub updated_at: DateTime<Utc>,
}

pub fn key(user_id: &str, shop_id: &str) -> String {
    format!("{user_id}/{shop_id}")
}

/// A cart line as shown: fresh price and stock.
pub struct PricedLine {
    pub product: Product,
    pub quantity: u32,
    pub available: bool,
}

pub fn read(
    txn: &ReadTransaction,
    user_id: &str,
    shop_id: &str,
) -> Result<Option<Cart>, StoreError> {
    codec::get(&txn.open_table(tables::CARTS)?, &key(user_id, shop_id))
}

pub fn price(txn: &ReadTransaction, cart: &Cart) -> Result<Vec<PricedLine>, StoreError> {
    let products = txn.open_table(tables::PRODUCTS)?;
    let mut out = Vec::new();
    for i in &cart.items {
        if let Some(p) = codec::get::<Product>(&products, &i.product_id)? {
            let available = p.is_live() && p.stock >= i.quantity;
            out.push(PricedLine {
                product: p,
                quantity: i.quantity,
                available,
            });
        }
    }
    Ok(out)
}

/// Every product of `lines` must be a live product of `shop`; returns them
/// in line order. A deleted or foreign product is refused (422).
pub fn check_products(
    products: &impl ReadableTable<&'static str, &'static [u8]>,
    shop: &Shop,
    lines: &[Line],
) -> Result<Vec<Product>, Error> {
    let mut out = Vec::with_capacity(lines.len());
    let mut bad = Vec::new();
    for l in lines {
        match codec::get::<Product>(products, &l.product_id)? {
            Some(p) if p.shop_id == shop.id && p.is_live() => out.push(p),
            _ => bad.push(l.product_id.clone()),
        }
    }
    if !bad.is_empty() {
        return Err(FieldError::new(
            "items",
            format!(
                "not products of this shop (or no longer sold): {}",
                bad.join(", ")
            ),
        )
        .into());
    }
    Ok(out)
}

/// Replaces the cart's contents. An empty list deletes the cart.
pub fn replace(
    txn: &WriteTransaction,
    user_id: &str,
    shop: &Shop,
    raw: &[(String, i64)],
) -> Result<Option<Cart>, Error> {
    if raw.is_empty() {
        empty(txn, user_id, &shop.id)?;
        return Ok(None);
    }
    let k = key(user_id, &shop.id);
    let lines = normalize_lines(raw)?;
    check_products(&txn.open_table(tables::PRODUCTS)?, shop, &lines)?;
    let cart = Cart {
        user_id: user_id.to_string(),
        shop_id: shop.id.clone(),
        items: lines
            .into_iter()
            .map(|l| CartItem {
                product_id: l.product_id,
                quantity: l.quantity,
            })
            .collect(),
        updated_at: Utc::now(),
    };
    let mut carts = txn.open_table(tables::CARTS)?;
    let mut touched = txn.open_table(tables::CART_TOUCHED)?;
    if let Some(old) = codec::get::<Cart>(&carts, &k)? {
        touched.remove(index_key(old.updated_at, &k).as_str())?;
    }
    touched.insert(index_key(cart.updated_at, &k).as_str(), k.as_str())?;
    codec::put(&mut carts, &k, &cart)?;
    Ok(Some(cart))
}

/// Empties the user's cart at a shop; emptying an empty cart is no error.
pub fn empty(txn: &WriteTransaction, user_id: &str, shop_id: &str) -> Result<(), StoreError> {
    txn.open_table(tables::CARTS)?
        .remove(key(user_id, shop_id).as_str())?;
    Ok(())
}

/// Reorder: fills the student's cart at the order's shop from one of their
/// past orders, each item capped at the current stock; products no longer
/// sold or out of stock are skipped. Returns the shop and the skipped ids.
pub fn reorder(
    txn: &WriteTransaction,
    user_id: &str,
    order_id: &str,
) -> Result<(String, Vec<String>), Error> {
    let o: Order = codec::get(&txn.open_table(tables::ORDERS)?, order_id)?
        .filter(|o: &Order| o.user_id == user_id)
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    let shop = super::orders::public_shop(txn, &o.shop_id)?;
    let products = txn.open_table(tables::PRODUCTS)?;
    let mut raw = Vec::new();
    let mut skipped = Vec::new();
    for item in &o.items {
        let pid = &item.product_id;
        match codec::get::<Product>(&products, pid)? {
            Some(p) if p.is_live() && p.shop_id == shop.id && p.stock > 0 => {
                let q = item.quantity.min(p.stock).min(MAX_QUANTITY);
                raw.push((pid.clone(), q as i64));
            }
            _ => skipped.push(pid.clone()),
        }
    }
    drop(products);
    replace(txn, user_id, &shop, &raw)?;
    Ok((o.shop_id, skipped))
}

/// A page of the user's carts, by shop id.
pub fn list_for_user(
    txn: &ReadTransaction,
    user_id: &str,
    page: &PageRequest,
) -> Result<Page<Cart>, StoreError> {
    let prefix = format!("{user_id}/");
    let start = match &page.after {
        Some(shop_id) => key(user_id, shop_id),
        None => prefix.clone(),
    };
    let table = txn.open_table(tables::CARTS)?;
    let found = table
        .range(start.as_str()..)?
        .map_while(|entry| match entry {
            Ok((k, v)) => {
                let shop_id = k.value().strip_prefix(&prefix)?.to_string();
                Some(codec::decode::<Cart>(v.value()).map(|c| (shop_id, c)))
            }
            Err(e) => Some(Err(StoreError::from(e))),
        });
    page.take(found, Dir::Asc)
}
