//! The admins' "campus at a glance" read: orders, batches and mail of the
//! last days, each read by a key range of time within a budget of
//! records, so a busy quarter never turns one request into a walk over
//! every order.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use redb::ReadTransaction;

use crate::admin::SCAN_BUDGET;
use crate::domain::batch::Batch;
use crate::domain::dashboard::{self, Day, Tally};
use crate::domain::order::Order;
use crate::market::earnings::first_id_at;
use crate::metrics::history::Rollup;
use crate::store::{StoreError, codec, tables};

/// How long before the range an order may have been placed and still be
/// completed inside it (as for the earnings).
const PLACED_BEFORE_DELIVERY: Duration = Duration::days(14);
/// How long before its cutoff a batch may have been made (its first order).
const MADE_BEFORE_CUTOFF: Duration = Duration::days(14);
/// Metrics rollups read at most: two weeks of one-minute windows (they are
/// small, and kept only `metrics.history_days` anyway).
const ROLLUP_BUDGET: usize = 14 * 24 * 60;

pub struct Dashboard {
    pub days: Vec<Day>,
    /// The budget ran out: days before `complete_from` may be short.
    pub truncated: bool,
    /// The first day every figure is whole for (the range's first day
    /// unless truncated).
    pub complete_from: NaiveDate,
}

/// The last `days` campus days up to `now`. Records are read newest first,
/// so when the budget runs out it is the oldest days that are short.
pub fn read(
    txn: &ReadTransaction,
    now: DateTime<Utc>,
    days: u32,
    tz: Tz,
) -> Result<Dashboard, StoreError> {
    let range = dashboard::range(now.with_timezone(&tz).date_naive(), days);
    let (start, end) = (range.starts_at(tz), range.ends_at(tz));
    let mut tally = Tally::new(range, tz);
    // The earliest instant the reads below covered whole.
    let mut whole_from = start;

    let mut budget = SCAN_BUDGET;
    let orders = txn.open_table(tables::ORDERS)?;
    let (lo, hi) = (
        first_id_at(start - PLACED_BEFORE_DELIVERY),
        first_id_at(end),
    );
    for e in orders.range(lo.as_str()..hi.as_str())?.rev() {
        let (_, v) = e?;
        let o: Order = codec::decode(v.value())?;
        if budget == 0 {
            whole_from = whole_from.max(o.created_at + PLACED_BEFORE_DELIVERY);
            break;
        }
        budget -= 1;
        tally.order(&o);
    }

    let mut budget = SCAN_BUDGET;
    let batches = txn.open_table(tables::BATCHES)?;
    let (lo, hi) = (first_id_at(start - MADE_BEFORE_CUTOFF), first_id_at(end));
    for e in batches.range(lo.as_str()..hi.as_str())?.rev() {
        let (_, v) = e?;
        let b: Batch = codec::decode(v.value())?;
        if budget == 0 {
            whole_from = whole_from.max(b.created_at + MADE_BEFORE_CUTOFF);
            break;
        }
        budget -= 1;
        tally.batch(&b);
    }

    let mut budget = ROLLUP_BUDGET;
    let rollups = txn.open_table(tables::METRICS_ROLLUPS)?;
    let (lo, hi) = (
        start.timestamp_millis().max(0) as u64,
        end.timestamp_millis().max(0) as u64,
    );
    for e in rollups.range(lo..hi)?.rev() {
        let (_, v) = e?;
        let r: Rollup = codec::decode(v.value())?;
        if budget == 0 {
            whole_from = whole_from.max(r.at);
            break;
        }
        budget -= 1;
        tally.mail(r.at, r.mail_sent, r.mail_failed);
    }

    let truncated = whole_from > start;
    let complete_from = if truncated {
        // The day after the one the budget ran out in.
        (whole_from.with_timezone(&tz).date_naive() + Duration::days(1)).min(range.to)
    } else {
        range.from
    };
    Ok(Dashboard {
        days: tally.finish(),
        truncated,
        complete_from,
    })
}
