//! Reviews of delivered items, and stock watches on sold-out products.

use chrono::Utc;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use crate::audit::{self, Origin};
use crate::domain::catalog::{Product, Review, check_rating};
use crate::domain::order::{Order, OrderStatus};
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::domain::{FieldError, bounded_text};
use crate::error::Error;
use crate::notify::{self, Category, Kind, Note};
use crate::page::{Dir, Page, PageRequest};
use crate::store::{StoreError, codec, tables};

fn review_key(order_id: &str, product_id: &str) -> String {
    format!("{order_id}/{product_id}")
}

/// The products of an order that have a review (keys `order id/product id`).
pub fn reviewed(txn: &redb::ReadTransaction, order_id: &str) -> Result<Vec<String>, StoreError> {
    let from = format!("{order_id}/");
    // '0' follows '/': the range holds exactly this order's keys.
    let to = format!("{order_id}0");
    let mut out = Vec::new();
    for e in txn
        .open_table(tables::REVIEWS)?
        .range(from.as_str()..to.as_str())?
    {
        let (k, _) = e?;
        if let Some(p) = k.value().strip_prefix(from.as_str()) {
            out.push(p.to_string());
        }
    }
    Ok(out)
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
) -> Result<Review, Error> {
    let rating = check_rating(rating)?;
    let comment = bounded_text("comment", comment, 0, 1000, true)?;
    let o: Order = codec::get(&txn.open_table(tables::ORDERS)?, order_id)?
        .filter(|o: &Order| o.user_id == user_id)
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    if o.status != OrderStatus::Completed {
        return Err(Error::Conflict(
            "only delivered orders can be reviewed".into(),
        ));
    }
    if !o.items.iter().any(|i| i.product_id == product_id) {
        return Err(FieldError::new("product_id", "not an item of this order").into());
    }
    let key = review_key(order_id, product_id);
    let mut reviews = txn.open_table(tables::REVIEWS)?;
    if let Some(old) = codec::get::<Review>(&reviews, &key)? {
        return Err(Error::Conflict(if old.removed_at.is_some() {
            "an admin removed your review of this item; it cannot be reviewed again".into()
        } else {
            "this item is already reviewed".into()
        }));
    }
    let r = Review {
        id: ulid::Ulid::new().to_string(),
        order_id: order_id.to_string(),
        product_id: product_id.to_string(),
        user_id: user_id.to_string(),
        rating,
        comment,
        created_at: Utc::now(),
        removed_at: None,
    };
    codec::put(&mut reviews, &key, &r)?;
    drop(reviews);
    txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?
        .insert(product_id, index_value(&r, &key).as_str())?;
    let mut products = txn.open_table(tables::PRODUCTS)?;
    if let Some(mut p) = codec::get::<Product>(&products, product_id)? {
        p.rating_sum += rating as u64;
        p.review_count += 1;
        codec::put(&mut products, &p.id, &p)?;
        crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
    }
    Ok(r)
}

/// The `PRODUCT_TO_REVIEWS` value of a review: its id first, so a
/// product's reviews sort by time.
pub fn index_value(r: &Review, key: &str) -> String {
    format!("{}/{key}", r.id)
}

/// A page of the reviews of a product of a shop students can see, newest
/// first, read through the product's index. `None` when the product is not
/// public.
pub fn of_product(
    txn: &ReadTransaction,
    product_id: &str,
    page: &PageRequest,
) -> Result<Option<Page<Review>>, StoreError> {
    let product: Option<Product> = codec::get(&txn.open_table(tables::PRODUCTS)?, product_id)?;
    let Some(product) = product.filter(|p| p.deleted_at.is_none()) else {
        return Ok(None);
    };
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, &product.shop_id)?;
    if !shop.is_some_and(|s| s.is_public()) {
        return Ok(None);
    }
    let reviews = txn.open_table(tables::REVIEWS)?;
    let index = txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?;
    // Index values are "review id/review key"; review ids are ULIDs.
    let found = index.get(product_id)?.rev().filter_map(|v| {
        let v = match v {
            Ok(v) => v.value().to_string(),
            Err(e) => return Some(Err(StoreError::from(e))),
        };
        let (id, key) = v.split_once('/').unwrap_or((v.as_str(), ""));
        if !page.is_after(id, Dir::Desc) {
            return None;
        }
        match codec::get::<Review>(&reviews, key) {
            Ok(Some(r)) => Some(Ok((id.to_string(), r))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    });
    Ok(Some(page.take(found, Dir::Desc)?))
}

/// A review as the admins' moderation list shows it.
pub struct ShopReview {
    pub review: Review,
    pub product_name: String,
    pub author_name: String,
}

/// A page of the reviews of a shop's products (deleted products left
/// out, as students no longer see them), newest first, whatever the
/// shop's state: admins moderate shops students cannot see too.
pub fn of_shop(
    txn: &ReadTransaction,
    shop_id: &str,
    page: &PageRequest,
) -> Result<Page<ShopReview>, Error> {
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, shop_id)?;
    if shop.is_none_or(|s| s.deleted_at.is_some()) {
        return Err(Error::NotFound("no such shop".into()));
    }
    let products = txn.open_table(tables::PRODUCTS)?;
    let index = txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?;
    let mut found = Vec::new();
    for pid in txn
        .open_multimap_table(tables::SHOP_TO_PRODUCTS)?
        .get(shop_id)?
    {
        let pid = pid?.value().to_string();
        let Some(p) = codec::get::<Product>(&products, &pid)?.filter(Product::is_live) else {
            continue;
        };
        for v in index.get(pid.as_str())? {
            let v = v?.value().to_string();
            let (id, key) = v.split_once('/').unwrap_or((v.as_str(), ""));
            found.push((id.to_string(), key.to_string(), p.name.clone()));
        }
    }
    let page = page.sort_and_take(found, |(id, _, _)| id.clone(), Dir::Desc);
    let reviews = txn.open_table(tables::REVIEWS)?;
    let users = txn.open_table(tables::USERS)?;
    let mut items = Vec::new();
    for (_, key, product_name) in page.items {
        if let Some(review) = codec::get::<Review>(&reviews, &key)? {
            let author_name = codec::get::<User>(&users, &review.user_id)?
                .map(|u| u.name)
                .unwrap_or_default();
            items.push(ShopReview {
                review,
                product_name,
                author_name,
            });
        }
    }
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// An admin removes a review: it leaves the product's list and rating,
/// its author is told why, and the removal is audited, all in `txn`.
/// The record stays, marked, so the same item cannot be reviewed again.
pub fn remove(
    txn: &WriteTransaction,
    origin: &Origin,
    review_id: &str,
    reason: Option<&str>,
) -> Result<Review, Error> {
    let reason = reason
        .ok_or_else(|| FieldError::new("reason", "tell the author why their review is removed"))?;
    crate::admin::acting_admin(txn, origin)?;
    let mut reviews = txn.open_table(tables::REVIEWS)?;
    // Reviews are keyed by order and product; a removal is rare enough
    // that a scan beats keeping a second index by review id.
    let mut hit = None;
    for e in reviews.iter()? {
        let (k, v) = e?;
        let r: Review = codec::decode(v.value())?;
        if r.id == review_id {
            hit = Some((k.value().to_string(), r));
            break;
        }
    }
    let Some((key, mut review)) = hit.filter(|(_, r)| r.removed_at.is_none()) else {
        return Err(Error::NotFound("no such review".into()));
    };
    review.removed_at = Some(Utc::now());
    codec::put(&mut reviews, &key, &review)?;
    drop(reviews);
    txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?
        .remove(
            review.product_id.as_str(),
            index_value(&review, &key).as_str(),
        )?;
    let mut products = txn.open_table(tables::PRODUCTS)?;
    let product: Option<Product> = codec::get(&products, &review.product_id)?;
    let product_name = match product {
        Some(mut p) => {
            p.forget_rating(review.rating);
            codec::put(&mut products, &p.id, &p)?;
            crate::search::enqueue(txn, crate::search::Target::Product(p.id.clone()))?;
            p.name
        }
        None => "a product".into(),
    };
    drop(products);
    audit::append(
        txn,
        origin,
        "review.remove",
        &review.id,
        format!(
            "removed a {}-star review of {product_name:?} by user {}: {reason}",
            review.rating, review.user_id
        ),
    )?;
    notify::push(
        txn,
        &review.user_id,
        Note {
            title: "Your review was removed",
            message: format!("A campus admin removed your review of {product_name}: {reason}"),
            kind: Kind::Warning,
            category: Category::System,
            action: Some(format!("/orders/{}", review.order_id)),
        },
    )?;
    Ok(review)
}

/// Starts watching a sold-out product of a shop the student can see.
pub fn watch(txn: &WriteTransaction, user_id: &str, product_id: &str) -> Result<(), Error> {
    let p: Product = codec::get(&txn.open_table(tables::PRODUCTS)?, product_id)?
        .filter(Product::is_live)
        .ok_or_else(|| Error::NotFound("no such product".into()))?;
    let shop: Option<Shop> = codec::get(&txn.open_table(tables::SHOPS)?, &p.shop_id)?;
    if !shop.is_some_and(|s| s.is_public()) {
        return Err(Error::NotFound("no such product".into()));
    }
    if p.stock > 0 {
        return Err(Error::Conflict(
            "this product is in stock; order it now".into(),
        ));
    }
    txn.open_multimap_table(tables::STOCK_WATCHES)?
        .insert(product_id, user_id)?;
    Ok(())
}

pub fn unwatch(txn: &WriteTransaction, user_id: &str, product_id: &str) -> Result<(), Error> {
    txn.open_multimap_table(tables::STOCK_WATCHES)?
        .remove(product_id, user_id)?;
    Ok(())
}
