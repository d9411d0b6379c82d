//! The stored schema version and the ordered list of migrations.
//!
//! Version 0 is an empty file. Each migration moves the store from version
//! `n` to `n + 1` inside one transaction together with the version bump, so a
//! crash mid-migration leaves the previous version intact. A store written by
//! a newer binary is refused rather than misread.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};

use super::{StoreError, tables};

type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

/// Index = the version the migration starts from.
const MIGRATIONS: &[Migration] = &[
    create_initial_tables,
    create_marketplace_tables,
    create_batch_tables,
    create_live_update_tables,
    create_chat_tables,
    create_ops_tables,
    create_mail_tables,
    create_search_tables,
    create_files_tables,
    create_order_count_table,
    index_reviews_by_product,
    index_shop_orders_and_chats,
    count_products_per_shop,
    index_idempotency_expiry,
    index_sessions_and_carts_by_time,
    reencode_records,
];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const VERSION_KEY: &str = "schema_version";

/// The schema version written in a store (0 for an empty file).
pub fn stored_version(txn: &ReadTransaction) -> Result<u32, StoreError> {
    let meta = match txn.open_table(tables::META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let v = meta.get(VERSION_KEY)?.map(|g| {
        let b = g.value();
        let mut buf = [0u8; 4];
        if b.len() == 4 {
            buf.copy_from_slice(b);
        }
        u32::from_le_bytes(buf)
    });
    Ok(v.unwrap_or(0))
}

pub(super) fn run(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let current = {
        let meta = txn.open_table(tables::META)?;
        let v = meta.get(VERSION_KEY)?.map(|g| {
            let b = g.value();
            let mut buf = [0u8; 4];
            if b.len() == 4 {
                buf.copy_from_slice(b);
            }
            u32::from_le_bytes(buf)
        });
        v.unwrap_or(0)
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, migrate) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(from, to = from + 1, "migrating the store");
        migrate(&txn)?;
    }
    // Every table backups copy exists, whatever the migrations made.
    for t in tables::ALL {
        t.create(&txn)?;
    }
    {
        let mut meta = txn.open_table(tables::META)?;
        meta.insert(VERSION_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

/// Creating the tables up front lets read transactions open them without
/// a "table does not exist" case.
fn create_initial_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::USERS)?;
    txn.open_table(tables::EMAIL_TO_USER)?;
    txn.open_table(tables::ADMINS)?;
    txn.open_table(tables::SESSIONS)?;
    txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
    txn.open_table(tables::API_TOKENS)?;
    txn.open_multimap_table(tables::USER_TO_API_TOKENS)?;
    txn.open_table(tables::SETUP_TOKENS)?;
    txn.open_table(tables::AUDIT_LOG)?;
    Ok(())
}

fn create_marketplace_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    use tables::*;
    for t in [
        SETTINGS,
        BUILDINGS,
        CATEGORIES,
        SHOPS,
        PRODUCTS,
        ADDRESSES,
        ANNOUNCEMENTS,
        CARTS,
        ORDERS,
        IDEMPOTENCY,
        SLOTS,
        BATCHES,
        REVIEWS,
        NOTIFICATIONS,
    ] {
        txn.open_table(t)?;
    }
    for t in [
        OWNER_TO_SHOP,
        DISPLAY_TO_ORDER,
        BATCH_KEY_TO_BATCH,
        OPEN_BATCHES_BY_CUTOFF,
    ] {
        txn.open_table(t)?;
    }
    for t in [
        STAFF_TO_SHOPS,
        SHOP_TO_PRODUCTS,
        USER_TO_ADDRESSES,
        USER_TO_FAVORITES,
        SHOP_TO_ANNOUNCEMENTS,
        USER_TO_ORDERS,
        SHOP_TO_ORDERS,
        SHOP_TO_SLOTS,
        BATCH_TO_ORDERS,
        STOCK_WATCHES,
        USER_TO_NOTIFICATIONS,
    ] {
        txn.open_multimap_table(t)?;
    }
    Ok(())
}

fn create_batch_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_multimap_table(tables::SHOP_TO_BATCHES)?;
    txn.open_table(tables::LOCKED_BATCHES)?;
    // Batches made before this version are indexed by shop too.
    let pairs: Vec<(String, String)> = {
        let t = txn.open_table(tables::BATCHES)?;
        let mut v = Vec::new();
        for e in t.iter()? {
            let (k, val) = e?;
            let b: crate::domain::batch::Batch = super::codec::decode(val.value())?;
            v.push((b.shop_id, k.value().to_string()));
        }
        v
    };
    let mut idx = txn.open_multimap_table(tables::SHOP_TO_BATCHES)?;
    for (shop, batch) in pairs {
        idx.insert(shop.as_str(), batch.as_str())?;
    }
    Ok(())
}

fn create_live_update_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::BROADCASTS)?;
    txn.open_multimap_table(tables::BROADCAST_READS)?;
    txn.open_table(tables::EVENTS)?;
    // Notifications made before this version count towards the unread total.
    let mut unread: std::collections::BTreeMap<String, u64> = Default::default();
    for e in txn.open_table(tables::NOTIFICATIONS)?.iter()? {
        let (_, v) = e?;
        let n: crate::notify::Notification = super::codec::decode(v.value())?;
        if !n.read {
            *unread.entry(n.user_id).or_default() += 1;
        }
    }
    let mut t = txn.open_table(tables::USER_UNREAD)?;
    for (user, n) in unread {
        t.insert(user.as_str(), n)?;
    }
    Ok(())
}

fn create_chat_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::CHAT_MESSAGES)?;
    Ok(())
}

fn create_ops_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::METRICS_ROLLUPS)?;
    Ok(())
}

fn create_mail_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    use tables::*;
    for t in [OUTBOX, EMAIL_TOKENS, INCIDENTS] {
        txn.open_table(t)?;
    }
    for t in [OUTBOX_DUE, OUTBOX_DEAD, USER_EMAIL_TOKENS, OPEN_INCIDENTS] {
        txn.open_table(t)?;
    }
    Ok(())
}

/// The search queue. Records made before it are indexed by the rebuild that
/// a missing index triggers at start, so nothing is enqueued here.
fn create_search_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::SEARCH_QUEUE)?;
    txn.open_table(tables::SEARCH_SEQ)?;
    Ok(())
}

fn create_files_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::UPLOADS)?;
    Ok(())
}

/// Orders by status, counted once here from the orders already stored and
/// kept in step by every order write after.
fn create_order_count_table(txn: &WriteTransaction) -> Result<(), StoreError> {
    crate::market::order_counts::recount(txn)
}

/// Reviews by product, so a product's reviews are read without a scan of
/// every review; filled here from the reviews already stored.
fn index_reviews_by_product(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut entries = Vec::new();
    for e in txn.open_table(tables::REVIEWS)?.iter()? {
        let (k, v) = e?;
        let r: crate::domain::catalog::Review = super::codec::decode(v.value())?;
        if r.removed_at.is_some() {
            continue;
        }
        entries.push((
            r.product_id.clone(),
            crate::market::reviews::index_value(&r, k.value()),
        ));
    }
    let mut idx = txn.open_multimap_table(tables::PRODUCT_TO_REVIEWS)?;
    for (product, value) in entries {
        idx.insert(product.as_str(), value.as_str())?;
    }
    Ok(())
}

/// A shop's orders as one key range and its chat threads by latest
/// activity (the vendor's orders desk and inbox), filled here from the
/// orders and messages already stored.
fn index_shop_orders_and_chats(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut pairs = Vec::new();
    for e in txn.open_multimap_table(tables::SHOP_TO_ORDERS)?.iter()? {
        let (shop, orders) = e?;
        for o in orders {
            pairs.push((shop.value().to_string(), o?.value().to_string()));
        }
    }
    let mut t = txn.open_table(tables::SHOP_ORDERS)?;
    for (shop, order) in pairs {
        t.insert(
            crate::market::orders::shop_order_key(&shop, &order).as_str(),
            order.as_str(),
        )?;
    }
    drop(t);
    crate::market::chat::reindex_threads(txn)
}

/// Live products per shop, so creating a product reads one count
/// instead of decoding the shop's whole catalogue on the writer.
fn count_products_per_shop(txn: &WriteTransaction) -> Result<(), StoreError> {
    crate::catalog::recount_products(txn)
}

/// Idempotency keys by creation time, so the sweep reads only the
/// expired ones instead of decoding the whole table on the writer.
fn index_idempotency_expiry(txn: &WriteTransaction) -> Result<(), StoreError> {
    crate::market::orders::index_idempotency_expiry(txn)
}

/// Rewrites every JSON record as MessagePack (`codec`), a slice of keys at
/// a time so a large store is never held in memory at once.
fn reencode_records(txn: &WriteTransaction) -> Result<(), StoreError> {
    use std::ops::Bound::{Excluded, Unbounded};
    const SLICE: usize = 4096;
    for table in tables::ALL {
        match *table {
            tables::AnyTable::Records(def, _) => {
                let mut t = txn.open_table(def)?;
                let mut after: Option<String> = None;
                loop {
                    let lower = after.as_deref().map_or(Unbounded, Excluded);
                    let mut slice = Vec::new();
                    let mut last = None;
                    for e in t.range::<&str>((lower, Unbounded))?.take(SLICE) {
                        let (k, v) = e?;
                        last = Some(k.value().to_string());
                        if let Some(bytes) = super::codec::reencoded(v.value())? {
                            slice.push((k.value().to_string(), bytes));
                        }
                    }
                    for (k, bytes) in &slice {
                        t.insert(k.as_str(), bytes.as_slice())?;
                    }
                    match last {
                        Some(k) => after = Some(k),
                        None => break,
                    }
                }
            }
            tables::AnyTable::U64Records(def, _) => {
                let mut t = txn.open_table(def)?;
                let mut next = 0u64;
                loop {
                    let mut slice = Vec::new();
                    let mut last = None;
                    for e in t.range(next..)?.take(SLICE) {
                        let (k, v) = e?;
                        last = Some(k.value());
                        if let Some(bytes) = super::codec::reencoded(v.value())? {
                            slice.push((k.value(), bytes));
                        }
                    }
                    for (k, bytes) in &slice {
                        t.insert(*k, bytes.as_slice())?;
                    }
                    match last.and_then(|k| k.checked_add(1)) {
                        Some(k) => next = k,
                        None => break,
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sessions by expiry and carts by last change, for the housekeeping
/// sweeps; filled here from the sessions and carts already stored.
fn index_sessions_and_carts_by_time(txn: &WriteTransaction) -> Result<(), StoreError> {
    use crate::domain::housekeeping::index_key;
    let mut rows = Vec::new();
    for e in txn.open_table(tables::SESSIONS)?.iter()? {
        let (k, v) = e?;
        let s: crate::auth::service::Session = super::codec::decode(v.value())?;
        rows.push((index_key(s.expires_at, k.value()), k.value().to_string()));
    }
    let mut t = txn.open_table(tables::SESSION_EXPIRY)?;
    for (k, v) in rows.drain(..) {
        t.insert(k.as_str(), v.as_str())?;
    }
    drop(t);
    for e in txn.open_table(tables::CARTS)?.iter()? {
        let (k, v) = e?;
        let c: crate::market::carts::Cart = super::codec::decode(v.value())?;
        rows.push((index_key(c.updated_at, k.value()), k.value().to_string()));
    }
    let mut t = txn.open_table(tables::CART_TOUCHED)?;
    for (k, v) in rows {
        t.insert(k.as_str(), v.as_str())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions and carts stored before the time indexes get their rows.
    #[test]
    fn the_time_indexes_are_filled_from_stored_sessions_and_carts() {
        use crate::domain::housekeeping::index_key;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let db = Database::create(&path).unwrap();
        run(&db, &path).unwrap();
        let at: chrono::DateTime<chrono::Utc> = "2026-12-02T12:00:00Z".parse().unwrap();
        let txn = db.begin_write().unwrap();
        let session = crate::auth::service::Session {
            user_id: "u1".into(),
            csrf_token: "c".into(),
            created_at: at,
            expires_at: at,
        };
        super::super::codec::put(
            &mut txn.open_table(tables::SESSIONS).unwrap(),
            "s1",
            &session,
        )
        .unwrap();
        let cart = crate::market::carts::Cart {
            user_id: "u1".into(),
            shop_id: "shop1".into(),
            items: vec![],
            updated_at: at,
        };
        super::super::codec::put(
            &mut txn.open_table(tables::CARTS).unwrap(),
            "u1/shop1",
            &cart,
        )
        .unwrap();
        index_sessions_and_carts_by_time(&txn).unwrap();
        let s = txn.open_table(tables::SESSION_EXPIRY).unwrap();
        assert_eq!(
            s.get(index_key(at, "s1").as_str())
                .unwrap()
                .unwrap()
                .value(),
            "s1"
        );
        let c = txn.open_table(tables::CART_TOUCHED).unwrap();
        assert_eq!(
            c.get(index_key(at, "u1/shop1").as_str())
                .unwrap()
                .unwrap()
                .value(),
            "u1/shop1"
        );
    }

    #[test]
    fn migrates_a_new_store_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let db = Database::create(&path).unwrap();
        run(&db, &path).unwrap();
        // Idempotent: a second start finds the current version.
        run(&db, &path).unwrap();
        {
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::META)
                .unwrap()
                .insert(VERSION_KEY, (SCHEMA_VERSION + 1).to_le_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let err = run(&db, &path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("newer than this binary"));
    }
}
