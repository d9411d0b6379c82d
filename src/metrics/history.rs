//! One-minute rollups stored in redb for the admin charts, and the jobs
//! that make them and recount orders by status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::config::MetricsConfig;
use crate::events::Hub;
use crate::store::{Store, StoreError, codec, tables};

/// What the rollup job and the order recount use; `app` hands it over.
pub struct Handles {
    pub store: Store,
    /// `rollup_secs`, `refresh_secs`, `history_days`.
    pub config: MetricsConfig,
    pub metrics: Arc<Metrics>,
    /// Open event streams, a gauge of each rollup.
    pub events: Arc<Hub>,
    /// The data directory, whose file system's free share each rollup keeps.
    pub data_dir: PathBuf,
    /// Mail sent and failed since start; each rollup keeps the change.
    pub mail: Arc<crate::mail::MailStats>,
    /// The mail totals at the last rollup.
    pub mail_seen: std::sync::Mutex<(u64, u64)>,
}

/// One rollup window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rollup {
    /// End of the window.
    pub at: DateTime<Utc>,
    /// Length of the window in seconds.
    pub secs: u64,
    pub requests: u64,
    pub errors_5xx: u64,
    /// 95th percentile latency in ms (upper bound within 25 %).
    pub p95_ms: Option<f64>,
    pub orders_placed: u64,
    pub batches_locked: u64,
    pub sse_clients: u64,
    pub disk_free_ratio: Option<f64>,
    /// Mails the SMTP server accepted in the window (the dashboard's mail
    /// chart; the outbox forgets sent mail).
    #[serde(default)]
    pub mail_sent: u64,
    /// Sends that failed in the window.
    #[serde(default)]
    pub mail_failed: u64,
}

/// ULIDs start with their millisecond time, so the smallest ULID of a
/// millisecond bounds a key range of "ids made from then on".
fn ulid_floor(t: DateTime<Utc>) -> String {
    ulid::Ulid::from_parts(t.timestamp_millis().max(0) as u64, 0).to_string()
}

/// Orders placed in `[from, to)`: a key range, since order ids are ULIDs.
pub fn orders_placed(
    txn: &ReadTransaction,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let t = txn.open_table(tables::ORDERS)?;
    let (a, b) = (ulid_floor(from), ulid_floor(to));
    let mut n = 0;
    for e in t.range(a.as_str()..b.as_str())? {
        e?;
        n += 1;
    }
    Ok(n)
}

/// Stores a rollup and drops those older than `keep_from`.
pub fn save(
    txn: &WriteTransaction,
    r: &Rollup,
    keep_from: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut t = txn.open_table(tables::METRICS_ROLLUPS)?;
    let key = r.at.timestamp_millis().max(0) as u64;
    t.insert(key, codec::encode(r)?.as_slice())?;
    let cut = keep_from.timestamp_millis().max(0) as u64;
    let old: Vec<u64> = t
        .range(..cut)?
        .take(10_000)
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for k in old {
        t.remove(k)?;
    }
    Ok(())
}

/// Rollups from `from` on, oldest first.
pub fn since(txn: &ReadTransaction, from: DateTime<Utc>) -> Result<Vec<Rollup>, StoreError> {
    let t = txn.open_table(tables::METRICS_ROLLUPS)?;
    let mut out = Vec::new();
    for e in t.range(from.timestamp_millis().max(0) as u64..)? {
        out.push(codec::decode(e?.1.value())?);
    }
    Ok(out)
}

/// Merges consecutive rollups into groups of `step` (a week of minutes
/// is too many points for a chart): counts add up, p95 takes the worst
/// window, gauges take the last one.
pub fn downsample(points: Vec<Rollup>, step: chrono::Duration) -> Vec<Rollup> {
    let step_ms = step.num_milliseconds().max(1);
    let mut out: Vec<Rollup> = Vec::new();
    for p in points {
        let slot = p.at.timestamp_millis().div_euclid(step_ms);
        match out.last_mut() {
            Some(last) if last.at.timestamp_millis().div_euclid(step_ms) == slot => {
                last.secs += p.secs;
                last.requests += p.requests;
                last.errors_5xx += p.errors_5xx;
                last.p95_ms = match (last.p95_ms, p.p95_ms) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                last.orders_placed += p.orders_placed;
                last.batches_locked += p.batches_locked;
                last.sse_clients = p.sse_clients;
                last.disk_free_ratio = p.disk_free_ratio.or(last.disk_free_ratio);
                last.mail_sent += p.mail_sent;
                last.mail_failed += p.mail_failed;
                last.at = p.at;
            }
            _ => out.push(p),
        }
    }
    out
}

/// Makes one rollup of the window that ends now.
pub async fn roll_up(state: &Handles, from: DateTime<Utc>) -> Result<Rollup, StoreError> {
    let m = &state.metrics;
    let w = m.take_window();
    let to = Utc::now();
    let placed = state
        .store
        .read(move |txn| orders_placed(txn, from, to))
        .await?;
    let locked_now = m.batches_locked.get() as i64;
    let locked_before = m
        .locked_at_last_rollup
        .swap(locked_now, std::sync::atomic::Ordering::Relaxed);
    let mail_now = (state.mail.sent_total(), state.mail.failed_attempts_total());
    let mail_before = std::mem::replace(
        &mut *state.mail_seen.lock().unwrap_or_else(|p| p.into_inner()),
        mail_now,
    );
    let r = Rollup {
        at: to,
        secs: (to - from).num_seconds().max(0) as u64,
        requests: w.requests,
        errors_5xx: w.errors_5xx,
        p95_ms: w.p95_ms(),
        orders_placed: placed,
        batches_locked: (locked_now - locked_before).max(0) as u64,
        sse_clients: state.events.open_streams() as u64,
        disk_free_ratio: crate::store::disk_free_ratio(&state.data_dir).ok(),
        mail_sent: mail_now.0.saturating_sub(mail_before.0),
        mail_failed: mail_now.1.saturating_sub(mail_before.1),
    };
    let keep_from = to - chrono::Duration::days(state.config.history_days.into());
    let saved = r.clone();
    state
        .store
        .write(move |txn| save(txn, &saved, keep_from))
        .await?;
    Ok(r)
}

/// The rollup job and the order recount, until `shutdown`.
pub async fn run(state: Handles, shutdown: CancellationToken) {
    let rollup_every = Duration::from_secs(state.config.rollup_secs);
    let refresh_every = Duration::from_secs(state.config.refresh_secs);
    let mut rollup =
        tokio::time::interval_at(tokio::time::Instant::now() + rollup_every, rollup_every);
    let mut refresh = tokio::time::interval(refresh_every);
    rollup.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut from = Utc::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = rollup.tick() => {
                match roll_up(&state, from).await {
                    Ok(r) => from = r.at,
                    Err(e) => tracing::warn!(error = %e, "metrics rollup failed"),
                }
            }
            _ = refresh.tick() => {
                match state.store.read(crate::market::order_counts::read).await {
                    Ok(c) => state.metrics.set_orders(&c),
                    Err(e) => tracing::warn!(error = %e, "counting orders for metrics failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn point(min: i64, requests: u64, p95: Option<f64>) -> Rollup {
        Rollup {
            at: Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
                + chrono::Duration::minutes(min),
            secs: 60,
            requests,
            errors_5xx: 1,
            p95_ms: p95,
            orders_placed: 2,
            batches_locked: 0,
            sse_clients: min as u64,
            disk_free_ratio: Some(0.5),
            mail_sent: 1,
            mail_failed: 0,
        }
    }

    #[test]
    fn downsampling_sums_counts_and_keeps_the_worst_p95() {
        let pts = (0..20).map(|m| point(m, 10, Some(m as f64))).collect();
        let out = downsample(pts, chrono::Duration::minutes(10));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].requests, 100);
        assert_eq!(out[0].errors_5xx, 10);
        assert_eq!(out[0].orders_placed, 20);
        assert_eq!(out[0].p95_ms, Some(9.0));
        assert_eq!(out[0].sse_clients, 9);
        assert_eq!(out[1].p95_ms, Some(19.0));
    }

    #[test]
    fn rollups_are_stored_read_back_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(dir.path(), crate::store::WriterOptions::default()).unwrap();
        let base = point(0, 1, None).at;
        for m in 0..5 {
            let p = point(m, 1, None);
            store
                .write_blocking(move |txn| save(txn, &p, base - chrono::Duration::days(7)))
                .unwrap();
        }
        let got = store.read_blocking(|txn| since(txn, base)).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[4], point(4, 1, None));
        // Keeping from minute 3 on sweeps the older ones.
        let p = point(5, 1, None);
        store
            .write_blocking(move |txn| save(txn, &p, base + chrono::Duration::minutes(3)))
            .unwrap();
        let got = store.read_blocking(|txn| since(txn, base)).unwrap();
        assert_eq!(
            got.iter().map(|r| r.sse_clients).collect::<Vec<_>>(),
            [3, 4, 5]
        );
    }
}
