//! Reviews of delivered items, and stock watches on sold-out products.

use chrono::Utc;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use crate::domain::catalog::{Product, Review, check_rating};
use crate::domain::order::{Order, OrderStatus};
use crate::domain::shop::Shop;
use crate::domain::{FieldError, bounded_text};
use crate::http::error::ApiError;
use crate::store::{StoreError, codec, tables};

fn review_key(order_id: &str, product_id: &str) -> String {
    format!("{order_id}/{product_id}")
}

/// Reviews one item of the reviewer's completed order; updates the
/// product's aggregates in the same transaction.
pub fn create(
    txn: &WriteTransaction,
    user_id: &str,
    order_id: &str,
    product_id: &str,
    rating: i64,
    comment: &str,
) -> Result<Review, ApiError> {
    let rating = check_rating(rating)?;
    let comment = bounded_text("comment", comment, 0, 1000, true)?;
    let o: Order = codec::get(&txn.open_table(tables::ORDERS)?, order_id)?
        .filter(|o: &Order| o.user_id == user_id)
        .ok_or_else(|| ApiError::NotFound("no such order".into()))?;
    if o.status != OrderStatus::Completed {
        return Err(ApiError::Conflict(
            "only delivered orders can be reviewed".into(),
        ));
    }
    if !o.items.iter().any(|i| i.product_id == product_id) {
        return Err(FieldError::new("product_id", "not an item of this order").into());
    }
    let key = review_key(order_id, product_id);
    let mut reviews = txn.open_table(tables::REVIEWS)?;
    if reviews.get(key.as_str())?.is_some() {
        return Err(ApiError::Conflict("this item is already reviewed".into()));
    }
    let r = Review {
        id: ulid::Ulid::new().to_string(),
        order_id: order_id.to_string(),
        product_id: product_id.to_string(),
        user_id: user_id.to_string(),
        rating,
        comment,
        created_at: Utc::now(),
    };
    codec::put(&mut reviews, &key, &r)?;
    let mut products = txn.open_table(tables::PRODUCTS)?;
    if let Some(mut p) = codec::get::<Product>(&products, product_id)? {
        p.rating_sum += rating as u64;
        p.review_count += 1;
        codec::put(&mut products, &p.id, &p)?;
        crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
    }
    Ok(r)
}

/// Reviews of a product, newest first. Reviews are keyed by order, so this
/// scans; a product-keyed index can come when review volume needs it.
pub fn of_product(
    txn: &ReadTransaction,
    product_id: &str,
    limit: usize,
) -> Result<Vec<Review>, StoreError> {
    let mut out: Vec<Review> = Vec::new();
    for entry in txn.open_table(tables::REVIEWS)?.iter()? {
        let (_, v) = entry?;
        let r: Review = codec::decode(v.value())?;
        if r.product_id == product_id {
            out.push(r);
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out.truncate(limit);
    Ok(out)
}

/// Starts watching a sold-out product of a shop the student can see.
pub fn watch(txn: &WriteTransaction, user_id: &str, product_id: &str) -> Result<(), ApiError> {
    let p: Product = codec::get(&txn.open_table(tables::PRODUCTS)?, product_id)?
        .filter(Product::is_live)
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, &p.shop_id)?;
    if !shop.is_some_and(|s| s.is_public()) {
        return Err(ApiError::NotFound("no such product".into()));
    }
    if p.stock > 0 {
        return Err(ApiError::Conflict(
            "this product is in stock; order it now".into(),
        ));
    }
    txn.open_multimap_table(tables::STOCK_WATCHES)?
        .insert(product_id, user_id)?;
    Ok(())
}

pub fn unwatch(txn: &WriteTransaction, user_id: &str, product_id: &str) -> Result<(), ApiError> {
    txn.open_multimap_table(tables::STOCK_WATCHES)?
        .remove(product_id, user_id)?;
    Ok(())
}
