//! The durable "(re)index this record" queue.
//!
//! Every write of a product, shop, order, user or category calls
//! [`enqueue`] in its own transaction, so a queue row exists exactly when
//! the change does: a crash can lose neither. The indexer applies rows,
//! commits tantivy with the last applied sequence number as the commit
//! payload, and only then deletes the rows it covered ([`clear_through`]).
//! At start, rows at or below the payload were applied before the crash and
//! are dropped; newer ones are applied again.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use crate::store::{StoreError, tables};

/// What to (re)index. Shops, users and categories fan out to the documents
/// that carry their names or depend on their visibility (see `indexer`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Product(String),
    Shop(String),
    Order(String),
    User(String),
    Category(String),
}

impl Target {
    /// The queue's text form, `p:<id>` and so on.
    pub fn encode(&self) -> String {
        let (k, id) = match self {
            Target::Product(id) => ("p", id),
            Target::Shop(id) => ("s", id),
            Target::Order(id) => ("o", id),
            Target::User(id) => ("u", id),
            Target::Category(id) => ("c", id),
        };
        format!("{k}:{id}")
    }

    pub fn decode(raw: &str) -> Option<Target> {
        let (k, id) = raw.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let id = id.to_string();
        Some(match k {
            "p" => Target::Product(id),
            "s" => Target::Shop(id),
            "o" => Target::Order(id),
            "u" => Target::User(id),
            "c" => Target::Category(id),
            _ => return None,
        })
    }
}

const NEXT: &str = "next";

/// Records that `target` must be (re)indexed, in the caller's transaction.
pub fn enqueue(txn: &WriteTransaction, target: Target) -> Result<(), StoreError> {
    let mut seq_t = txn.open_table(tables::SEARCH_SEQ)?;
    let seq = seq_t.get(NEXT)?.map(|g| g.value()).unwrap_or(1);
    seq_t.insert(NEXT, seq + 1)?;
    txn.open_table(tables::SEARCH_QUEUE)?
        .insert(seq, target.encode().as_str())?;
    Ok(())
}

/// The highest sequence number handed out so far (0: none).
pub fn last_seq(txn: &ReadTransaction) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(tables::SEARCH_SEQ)?
        .get(NEXT)?
        .map(|g| g.value().saturating_sub(1))
        .unwrap_or(0))
}

/// Up to `max` queue rows after `after`, in order. Rows that do not decode
/// (written by a newer binary) are returned as `None` so their sequence
/// still advances.
pub fn pending(
    txn: &ReadTransaction,
    after: u64,
    max: usize,
) -> Result<Vec<(u64, Option<Target>)>, StoreError> {
    let t = txn.open_table(tables::SEARCH_QUEUE)?;
    let mut out = Vec::new();
    for row in t.range(after.saturating_add(1)..)? {
        let (k, v) = row?;
        out.push((k.value(), Target::decode(v.value())));
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// How many rows wait (for readiness and metrics).
pub fn backlog(txn: &ReadTransaction, after: u64) -> Result<u64, StoreError> {
    let t = txn.open_table(tables::SEARCH_QUEUE)?;
    let mut n = 0;
    for row in t.range(after.saturating_add(1)..)? {
        row?;
        n += 1;
    }
    Ok(n)
}

/// Deletes the rows up to and including `seq`: they are in a committed index.
pub fn clear_through(txn: &WriteTransaction, seq: u64) -> Result<u64, StoreError> {
    let mut t = txn.open_table(tables::SEARCH_QUEUE)?;
    let mut n = 0;
    t.retain_in(..=seq, |_, _| {
        n += 1;
        false
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_garbage_is_refused() {
        for t in [
            Target::Product("01A".into()),
            Target::Shop("01B".into()),
            Target::Order("01C".into()),
            Target::User("01D".into()),
            Target::Category("01E".into()),
        ] {
            assert_eq!(Target::decode(&t.encode()), Some(t));
        }
        assert_eq!(Target::decode("x:1"), None);
        assert_eq!(Target::decode("p:"), None);
        assert_eq!(Target::decode("p"), None);
    }
}
