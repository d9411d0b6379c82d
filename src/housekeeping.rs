//! Housekeeping: read notifications past `housekeeping.notification_days`,
//! expired sessions, carts untouched for `housekeeping.cart_days`,
//! idempotency keys past 24 hours and live-stream events past
//! `events.retention_hours` are removed every 10 minutes.
//!
//! Each sweep runs in slices of at most `SLICE` records per write
//! transaction, so the store's single writer is never held for long, and
//! walks a time-ordered key (notification ids are ULIDs) or a time index
//! (`SESSION_EXPIRY`, `CART_TOUCHED`) up to its cutoff, so it reads what it
//! removes and little else. Each sweep's last run is kept for the admins'
//! dashboard.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::auth::service::Session;
use crate::config::HousekeepingConfig;
use crate::domain::housekeeping::{self as rules, READ_BUDGET, SLICE};
use crate::market::carts::Cart;
use crate::notify::Notification;
use crate::store::{Store, StoreError, codec, tables};

/// Minutes between runs (the server's periodic sweeper).
pub const EVERY_MINUTES: u32 = 10;

/// Slices one run of a sweep takes at most; the rest waits for the next run.
const MAX_SLICES: usize = 100;

pub const NOTIFICATIONS: &str = "notifications";
pub const SESSIONS: &str = "sessions";
pub const CARTS: &str = "carts";
/// Checkout idempotency keys past their 24 hours.
pub const IDEMPOTENCY_KEYS: &str = "idempotency keys";
/// Live-stream events past `events.retention_hours`.
pub const EVENTS: &str = "events";

/// One sweep's last run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastRun {
    pub at: DateTime<Utc>,
    pub removed: u64,
    /// The run stopped at `MAX_SLICES`: more is due.
    #[serde(default)]
    pub more: bool,
}

/// What one slice did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Slice {
    pub removed: usize,
    /// Where the next slice starts (exclusive); `None`: nothing more due.
    pub next: Option<String>,
}

/// Up to `SLICE` expired sessions, from their expiry index.
pub fn sweep_sessions(txn: &WriteTransaction, now: DateTime<Utc>) -> Result<Slice, StoreError> {
    let bound = rules::index_bound(now);
    let mut idx = txn.open_table(tables::SESSION_EXPIRY)?;
    let rows: Vec<(String, String)> = idx
        .range(..bound.as_str())?
        .take(SLICE)
        .map(|e| e.map(|(k, v)| (k.value().to_string(), v.value().to_string())))
        .collect::<Result<_, _>>()?;
    let mut sessions = txn.open_table(tables::SESSIONS)?;
    let mut by_user = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
    let mut removed = 0;
    for (row, key) in &rows {
        idx.remove(row.as_str())?;
        let s: Option<Session> = codec::get(&sessions, key)?;
        // Gone already (signed out), or a row of an older expiry.
        if let Some(s) = s.filter(|s| rules::session_expired(s.expires_at, now)) {
            sessions.remove(key.as_str())?;
            by_user.remove(s.user_id.as_str(), key.as_str())?;
            removed += 1;
        }
    }
    Ok(Slice {
        removed,
        next: (rows.len() == SLICE).then(String::new),
    })
}

/// Up to `SLICE` carts nobody changed since `cutoff`, from their index.
pub fn sweep_carts(txn: &WriteTransaction, cutoff: DateTime<Utc>) -> Result<Slice, StoreError> {
    let bound = rules::index_bound(cutoff);
    let mut idx = txn.open_table(tables::CART_TOUCHED)?;
    let rows: Vec<(String, String)> = idx
        .range(..bound.as_str())?
        .take(SLICE)
        .map(|e| e.map(|(k, v)| (k.value().to_string(), v.value().to_string())))
        .collect::<Result<_, _>>()?;
    let mut carts = txn.open_table(tables::CARTS)?;
    let mut removed = 0;
    for (row, key) in &rows {
        idx.remove(row.as_str())?;
        let c: Option<Cart> = codec::get(&carts, key)?;
        if c.is_some_and(|c| rules::cart_abandoned(c.updated_at, cutoff)) {
            carts.remove(key.as_str())?;
            removed += 1;
        }
    }
    Ok(Slice {
        removed,
        next: (rows.len() == SLICE).then(String::new),
    })
}

/// Up to `SLICE` read notifications made before `cutoff`, reading at most
/// `READ_BUDGET` from after `after` (ids are ULIDs: the old ones are a
/// prefix of the table). Unread ones are skipped, and the slice's `next`
/// passes them for the rest of the run.
pub fn sweep_notifications(
    txn: &WriteTransaction,
    cutoff: DateTime<Utc>,
    after: Option<&str>,
) -> Result<Slice, StoreError> {
    let end = crate::market::earnings::first_id_at(cutoff);
    let start = after.unwrap_or("");
    let mut table = txn.open_table(tables::NOTIFICATIONS)?;
    let mut gone = Vec::new();
    let mut last = None;
    let mut read = 0;
    for e in table.range(start..end.as_str())? {
        let (k, v) = e?;
        if k.value() == start {
            continue;
        }
        if read == READ_BUDGET || gone.len() == SLICE {
            break;
        }
        read += 1;
        last = Some(k.value().to_string());
        let n: Notification = codec::decode(v.value())?;
        if rules::notification_removable(n.read, n.created_at, cutoff) {
            gone.push((n.id, n.user_id));
        }
    }
    let full = read == READ_BUDGET || gone.len() == SLICE;
    let mut by_user = txn.open_multimap_table(tables::USER_TO_NOTIFICATIONS)?;
    for (id, user) in &gone {
        table.remove(id.as_str())?;
        by_user.remove(user.as_str(), id.as_str())?;
    }
    Ok(Slice {
        removed: gone.len(),
        next: if full { last } else { None },
    })
}

/// Runs one sweep slice by slice, each its own write, and keeps its last run.
async fn run_one<F>(store: &Store, name: &'static str, now: DateTime<Utc>, slice: F) -> u64
where
    F: Fn(&WriteTransaction, Option<&str>) -> Result<Slice, StoreError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let mut removed = 0u64;
    let mut after: Option<String> = None;
    let mut more = false;
    for n in 0..MAX_SLICES {
        let (f, from) = (slice.clone(), after.clone());
        match store.write(move |txn| f(txn, from.as_deref())).await {
            Ok(s) => {
                removed += s.removed as u64;
                match s.next {
                    Some(next) => {
                        after = Some(next);
                        more = n + 1 == MAX_SLICES;
                    }
                    None => break,
                }
            }
            Err(e) => {
                tracing::warn!(sweep = name, error = %e, "housekeeping sweep failed");
                return removed;
            }
        }
    }
    if removed > 0 {
        tracing::info!(sweep = name, removed, "housekeeping");
    }
    let run = LastRun {
        at: now,
        removed,
        more,
    };
    let saved = store
        .write(move |txn| codec::put(&mut txn.open_table(tables::HOUSEKEEPING_RUNS)?, name, &run))
        .await;
    if let Err(e) = saved {
        tracing::warn!(sweep = name, error = %e, "could not record a housekeeping run");
    }
    removed
}

/// A sweep that removes up to `limit` records from the front of its time
/// order and says how many, as one slice.
fn counted(removed: usize) -> Slice {
    Slice {
        removed,
        next: (removed == SLICE).then(String::new),
    }
}

/// Every sweep once, as of `now` (the batch clock, which tests move);
/// live-stream events are kept for `events_kept`. Returns how many records
/// each removed: notifications, sessions, carts, idempotency keys, events.
pub async fn run(
    store: &Store,
    config: &HousekeepingConfig,
    events_kept: chrono::Duration,
    now: DateTime<Utc>,
) -> [u64; 5] {
    let notes = rules::cutoff(now, config.notification_days);
    let carts = rules::cutoff(now, config.cart_days);
    [
        run_one(store, NOTIFICATIONS, now, move |txn, after| {
            sweep_notifications(txn, notes, after)
        })
        .await,
        run_one(store, SESSIONS, now, move |txn, _| sweep_sessions(txn, now)).await,
        run_one(store, CARTS, now, move |txn, _| sweep_carts(txn, carts)).await,
        run_one(store, IDEMPOTENCY_KEYS, now, move |txn, _| {
            crate::market::orders::sweep_idempotency(txn, now, SLICE).map(counted)
        })
        .await,
        run_one(store, EVENTS, now, move |txn, _| {
            crate::events::sweep(txn, now - events_kept, SLICE).map(counted)
        })
        .await,
    ]
}

/// The last run of each sweep (by name), for the dashboard.
pub fn last_runs(txn: &ReadTransaction) -> Result<Vec<(String, Option<LastRun>)>, StoreError> {
    let t = txn.open_table(tables::HOUSEKEEPING_RUNS)?;
    [NOTIFICATIONS, SESSIONS, CARTS, IDEMPOTENCY_KEYS, EVENTS]
        .into_iter()
        .map(|name| Ok((name.to_string(), codec::get(&t, name)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::store::WriterOptions;

    fn cart(n: usize, at: DateTime<Utc>) -> (String, Cart) {
        let c = Cart {
            user_id: format!("user{n:04}"),
            shop_id: "shop1".into(),
            items: vec![],
            updated_at: at,
        };
        (crate::market::carts::key(&c.user_id, &c.shop_id), c)
    }

    /// More carts than a slice: one write removes `SLICE`, a run removes
    /// the rest slice by slice, and a fresh cart and its index row stay.
    #[tokio::test]
    async fn a_sweep_removes_in_bounded_slices_and_keeps_what_is_not_due() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let now: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().unwrap();
        let old = now - Duration::days(40);
        let total = SLICE * 2 + 50;
        store
            .write(move |txn| {
                let mut carts = txn.open_table(tables::CARTS)?;
                let mut idx = txn.open_table(tables::CART_TOUCHED)?;
                for n in 0..=total {
                    // The last one was changed yesterday.
                    let at = if n == total {
                        now - Duration::days(1)
                    } else {
                        old
                    };
                    let (k, c) = cart(n, at);
                    idx.insert(rules::index_key(at, &k).as_str(), k.as_str())?;
                    codec::put(&mut carts, &k, &c)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let cutoff = rules::cutoff(now, 30);
        let first = store
            .write(move |txn| sweep_carts(txn, cutoff))
            .await
            .unwrap();
        assert_eq!(first.removed, SLICE);
        assert!(first.next.is_some(), "more is due");
        let config = HousekeepingConfig::default();
        let [_, _, carts, _, _] = run(&store, &config, chrono::Duration::hours(72), now).await;
        assert_eq!(carts as usize, total - SLICE);
        let (left, rows, last) = store
            .read(|txn| {
                use redb::ReadableTableMetadata;
                Ok::<_, StoreError>((
                    txn.open_table(tables::CARTS)?.len()?,
                    txn.open_table(tables::CART_TOUCHED)?.len()?,
                    last_runs(txn)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((left, rows), (1, 1));
        let carts_run = last.iter().find(|(n, _)| n == CARTS).unwrap().1.clone();
        assert_eq!(
            carts_run,
            Some(LastRun {
                at: now,
                removed: (total - SLICE) as u64,
                more: false
            })
        );
    }
}
