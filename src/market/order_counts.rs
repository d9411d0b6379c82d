//! How many orders have each status, kept in step with every order write
//! (`put_order`) so `/metrics` reads seven numbers instead of
//! decoding every order ever placed once a minute.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::Deserialize;

use crate::domain::order::{Order, OrderStatus};
use crate::store::{StoreError, codec, tables};

/// Every status, in the order `/metrics` lists them.
pub const STATUSES: [OrderStatus; 7] = [
    OrderStatus::New,
    OrderStatus::Batched,
    OrderStatus::OutForDelivery,
    OrderStatus::Completed,
    OrderStatus::DeliveryFailed,
    OrderStatus::Cancelled,
    OrderStatus::Rescheduled,
];

/// The status's API name (`NEW`, `OUT_FOR_DELIVERY`, …): the table's key
/// and the metric's label, as search filters name it too.
fn name(s: OrderStatus) -> String {
    crate::search::schema::status_key(&s)
}

/// The status of a stored order, without decoding the rest of it.
fn status_of(bytes: &[u8]) -> Result<OrderStatus, StoreError> {
    #[derive(Deserialize)]
    struct OnlyStatus {
        status: OrderStatus,
    }
    Ok(codec::decode::<OnlyStatus>(bytes)?.status)
}

/// Writes an order and moves it between the counts when its status
/// changed. Every write of an order goes through here.
pub fn put_order(txn: &WriteTransaction, o: &Order) -> Result<(), StoreError> {
    let bytes = codec::encode(o)?;
    let before = {
        let mut t = txn.open_table(tables::ORDERS)?;
        let old = t.insert(o.id.as_str(), bytes.as_slice())?;
        old.map(|g| status_of(g.value())).transpose()?
    };
    if before == Some(o.status) {
        return Ok(());
    }
    if before == Some(OrderStatus::OutForDelivery) && o.otp_failures > 0 {
        // Settled (by an admin, or failed): no longer locked out.
        txn.open_table(tables::OTP_LOCKED)?.remove(o.id.as_str())?;
    }
    let mut counts = txn.open_table(tables::ORDER_COUNTS)?;
    if let Some(b) = before {
        let key = name(b);
        let n = counts.get(key.as_str())?.map(|g| g.value()).unwrap_or(0);
        // Never below zero, even if a count was wrong: the next recount
        // (a migration, a restore) puts it right.
        counts.insert(key.as_str(), n.saturating_sub(1))?;
    }
    let key = name(o.status);
    let n = counts.get(key.as_str())?.map(|g| g.value()).unwrap_or(0);
    counts.insert(key.as_str(), n + 1)?;
    Ok(())
}

/// Orders by status, every status listed (0 where there are none).
pub fn read(txn: &ReadTransaction) -> Result<Vec<(String, i64)>, StoreError> {
    let t = txn.open_table(tables::ORDER_COUNTS)?;
    STATUSES
        .iter()
        .map(|s| {
            let key = name(*s);
            let n = t.get(key.as_str())?.map(|g| g.value()).unwrap_or(0);
            Ok((key, i64::try_from(n).unwrap_or(i64::MAX)))
        })
        .collect()
}

/// Counts by decoding every order's status: what the table must agree
/// with. Used to fill it once (the migration that made it) and by tests.
pub fn scan(
    orders: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut counts = [0u64; STATUSES.len()];
    for e in orders.iter()? {
        let (_, v) = e?;
        let s = status_of(v.value())?;
        if let Some(i) = STATUSES.iter().position(|x| *x == s) {
            counts[i] += 1;
        }
    }
    Ok(STATUSES.iter().map(|s| name(*s)).zip(counts).collect())
}

/// Replaces the counts with a full scan of the orders.
pub fn recount(txn: &WriteTransaction) -> Result<(), StoreError> {
    let counted = scan(&txn.open_table(tables::ORDERS)?)?;
    let mut t = txn.open_table(tables::ORDER_COUNTS)?;
    for (status, n) in counted {
        t.insert(status.as_str(), n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, WriterOptions};

    fn order(id: &str, status: OrderStatus) -> Order {
        crate::domain::order::test_support::order(id, "Hostel A", "A-101", status)
    }

    #[test]
    fn counts_follow_every_write_and_agree_with_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let steps: &[(&str, OrderStatus)] = &[
            ("a", OrderStatus::New),
            ("b", OrderStatus::New),
            ("c", OrderStatus::New),
            ("a", OrderStatus::Batched),
            ("a", OrderStatus::Batched),
            ("b", OrderStatus::Cancelled),
            ("a", OrderStatus::OutForDelivery),
            ("a", OrderStatus::Completed),
            ("c", OrderStatus::Batched),
            ("c", OrderStatus::DeliveryFailed),
            ("c", OrderStatus::Rescheduled),
        ];
        for (id, status) in steps {
            let o = order(id, *status);
            store.write_blocking(move |txn| put_order(txn, &o)).unwrap();
            let (kept, scanned) = store
                .read_blocking(|txn| {
                    Ok::<_, StoreError>((read(txn)?, scan(&txn.open_table(tables::ORDERS)?)?))
                })
                .unwrap();
            let scanned: Vec<(String, i64)> =
                scanned.into_iter().map(|(s, n)| (s, n as i64)).collect();
            assert_eq!(kept, scanned, "after {id} → {status:?}");
        }
        let last = store.read_blocking(read).unwrap();
        let get = |s: &str| last.iter().find(|(k, _)| k == s).map(|(_, n)| *n);
        assert_eq!(get("COMPLETED"), Some(1));
        assert_eq!(get("CANCELLED"), Some(1));
        assert_eq!(get("RESCHEDULED"), Some(1));
        assert_eq!(get("NEW"), Some(0));
        assert_eq!(last.len(), STATUSES.len());
    }

    #[test]
    fn a_recount_repairs_counts_written_around_put_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        store
            .write_blocking(|txn| {
                // Written straight into the table, as a restore or an old
                // version would: the counts do not know about it.
                let o = order("x", OrderStatus::Completed);
                codec::put(&mut txn.open_table(tables::ORDERS)?, &o.id, &o)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let before = store.read_blocking(read).unwrap();
        assert!(before.iter().all(|(_, n)| *n == 0), "{before:?}");
        store.write_blocking(recount).unwrap();
        let after = store.read_blocking(read).unwrap();
        assert!(after.contains(&("COMPLETED".to_string(), 1)), "{after:?}");
    }
}
