//! Background jobs on tokio-cron-scheduler. Each tick only calls an
//! idempotent function that does everything due at `now`; the same function
//! runs once at start, so cutoffs missed while the server was down are
//! locked then. Schedules are in UTC: the campus time zone belongs to the
//! slot arithmetic (`domain::batch`), not to the cron expression.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::error::Error;
use crate::market::batches;

/// What the batch closer uses; `app` hands it over.
pub struct Handles {
    pub store: crate::store::Store,
    /// `closer_cron`, `otp_digits`, `stale_after_minutes`.
    pub batch: crate::config::BatchConfig,
    /// Counts the batches locked.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// "Now" for the scheduled runs.
    pub clock: Arc<crate::clock::Clock>,
    /// Unix seconds of the closer's last completed run (0: never), which
    /// the closer sets and the alerts and `/metrics` read.
    pub closer_last_run: Arc<AtomicI64>,
    /// `campus.timezone`: slot cutoffs are campus-local.
    pub tz: chrono_tz::Tz,
}

/// What one closer run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CloserReport {
    pub locked: usize,
    pub failed: usize,
    pub stale_warned: usize,
    pub reminded: usize,
}

/// Batch locks in flight at once. Each is still its own unit of work (one
/// failure does not stop the others), but in flight together they share
/// the group commit's fsyncs instead of paying one each, back to back.
const CONCURRENT_LOCKS: usize = 32;

/// Locks every OPEN batch whose cutoff is at or before `now`, one
/// write per batch so one failure does not stop the others, then warns
/// about stale LOCKED batches once each.
pub async fn lock_due_batches(state: &Handles, now: DateTime<Utc>) -> CloserReport {
    let mut report = CloserReport::default();
    let due = match state
        .store
        .read(move |txn| Ok::<_, Error>(batches::due(txn, now)?))
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "closer could not list due batches");
            return report;
        }
    };
    let digits = state.batch.otp_digits;
    let mut locks = futures_util::stream::iter(due)
        .map(|id| async move {
            let bid = id.clone();
            let r = state
                .store
                .write(move |txn| batches::lock(txn, &bid, now, digits))
                .await;
            (id, r)
        })
        .buffer_unordered(CONCURRENT_LOCKS);
    while let Some((id, r)) = locks.next().await {
        match r {
            Ok(b) => {
                report.locked += 1;
                state.metrics.batches_locked.inc();
                tracing::info!(batch = %b.id, status = ?b.status, orders = b.order_count, "batch closed at cutoff");
            }
            // Someone locked it early between our read and this write.
            Err(Error::Conflict(_)) => {}
            Err(e) => {
                report.failed += 1;
                tracing::error!(batch = %id, error = %e, "closer could not lock a batch");
            }
        }
    }
    let after = Duration::minutes(state.batch.stale_after_minutes as i64);
    if let Ok(stale) = state
        .store
        .read(move |txn| Ok::<_, Error>(batches::stale(txn, now, after)?))
        .await
    {
        for id in stale {
            if let Ok(true) = state
                .store
                .write(move |txn| batches::warn_stale(txn, &id, now))
                .await
            {
                report.stale_warned += 1;
            }
        }
    }
    report.reminded = remind_carts(state, now).await;
    state
        .closer_last_run
        .store(Utc::now().timestamp(), Ordering::Relaxed);
    report
}

/// Reminds students whose cart's batch closes within
/// `batch.reminder_lead_minutes` (SPEC §4.9), one write per shop. Which
/// reminders went out is stored with them, so running it again, or after a
/// restart, sends none twice; one missed while the server was down goes out
/// at start if the batch is still open. Returns how many were sent.
pub async fn remind_carts(state: &Handles, now: DateTime<Utc>) -> usize {
    use crate::market::reminders;
    let shops = match state
        .store
        .read(|txn| Ok::<_, Error>(reminders::carts_by_shop(txn)?))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "reminder could not list carts");
            return 0;
        }
    };
    let lead = Duration::minutes(state.batch.reminder_lead_minutes.into());
    let tz = state.tz;
    let mut sent = 0;
    for (shop, users) in shops {
        match state
            .store
            .write(move |txn| {
                Ok::<_, Error>(reminders::remind_shop(txn, &shop, &users, now, tz, lead)?)
            })
            .await
        {
            Ok(n) => sent += n,
            Err(e) => tracing::error!(error = %e, "reminder could not notify a shop's carts"),
        }
    }
    let old = state
        .store
        .read(move |txn| Ok::<_, Error>(reminders::has_old(txn, now)?))
        .await;
    if matches!(old, Ok(true))
        && let Err(e) = state
            .store
            .write(move |txn| Ok::<_, Error>(reminders::sweep(txn, now)?))
            .await
    {
        tracing::warn!(error = %e, "reminder sweep failed");
    }
    sent
}

/// Starts the scheduler with the closer job, which runs while the caller
/// keeps `state` alive.
pub async fn start(state: &Arc<Handles>) -> anyhow::Result<JobScheduler> {
    let sched = JobScheduler::new().await?;
    // A weak handle: the scheduler's tasks may outlive `shutdown`, and must
    // not keep the store open after the server stops.
    let job_state = Arc::downgrade(state);
    let job = Job::new_async(state.batch.closer_cron.as_str(), move |_, _| {
        let state = job_state.upgrade();
        Box::pin(async move {
            if let Some(state) = state {
                lock_due_batches(&state, state.clock.now()).await;
            }
        })
    })?;
    sched.add(job).await?;
    sched.start().await?;
    Ok(sched)
}
