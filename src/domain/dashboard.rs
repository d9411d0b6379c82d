//! "Campus at a glance" (issue 22): the admin's per-day figures, counted
//! on campus days like the earnings (`domain::earnings`).
//!
//! An order counts as placed on the campus day it was made and as
//! completed (with its total as revenue) on the day it was delivered. A
//! batch counts on the day of its cutoff; it was locked late when its lock
//! came more than [`LOCK_GRACE`] after the cutoff (see docs/DECISIONS.md).

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::batch::Batch;
use super::earnings::{Range, delivered_at};
use super::order::Order;

pub const DEFAULT_DAYS: u32 = 14;
pub const MAX_DAYS: u32 = 90;

/// How long after its cutoff a batch may be locked and still be on time:
/// the closer runs every minute, so a lock within a few minutes is the
/// normal case and anything later means the closer (or the server) was
/// not running.
pub const LOCK_GRACE: Duration = Duration::minutes(5);

/// The figures of one campus day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub orders_placed: u32,
    pub orders_completed: u32,
    /// Totals of the orders completed that day, minor units.
    pub revenue: i64,
    /// Distinct students who placed an order that day.
    pub active_students: u32,
    /// Distinct shops that received an order that day.
    pub active_shops: u32,
    pub batches_on_time: u32,
    pub batches_late: u32,
    pub mail_sent: u64,
    pub mail_failed: u64,
}

/// The last `days` campus days up to and including `today`.
pub fn range(today: NaiveDate, days: u32) -> Range {
    let back = i64::from(days.clamp(1, MAX_DAYS)) - 1;
    Range {
        from: today - Duration::days(back),
        to: today,
    }
}

/// True when the batch was locked more than [`LOCK_GRACE`] after its
/// cutoff; `None` for a batch that was never locked (still open, or
/// cancelled before its cutoff).
pub fn locked_late(b: &Batch) -> Option<bool> {
    b.locked_at.map(|at| at - b.cutoff_at > LOCK_GRACE)
}

/// Counts orders, batches and mail into the days of a range.
pub struct Tally {
    range: Range,
    tz: Tz,
    days: Vec<Day>,
    students: Vec<HashSet<String>>,
    shops: Vec<HashSet<String>>,
}

impl Tally {
    pub fn new(range: Range, tz: Tz) -> Self {
        let span = (range.to - range.from).num_days().max(0) as usize + 1;
        let days: Vec<Day> = range
            .from
            .iter_days()
            .take(span)
            .map(|date| Day {
                date,
                ..Day::default()
            })
            .collect();
        Self {
            range,
            tz,
            students: vec![HashSet::new(); days.len()],
            shops: vec![HashSet::new(); days.len()],
            days,
        }
    }

    fn slot(&self, at: DateTime<Utc>) -> Option<usize> {
        let day = at.with_timezone(&self.tz).date_naive();
        self.range
            .contains(day)
            .then(|| (day - self.range.from).num_days() as usize)
    }

    pub fn order(&mut self, o: &Order) {
        if let Some(i) = self.slot(o.created_at) {
            self.days[i].orders_placed += 1;
            self.students[i].insert(o.user_id.clone());
            self.shops[i].insert(o.shop_id.clone());
        }
        if let Some(i) = delivered_at(o).and_then(|at| self.slot(at)) {
            self.days[i].orders_completed += 1;
            self.days[i].revenue += o.total;
        }
    }

    pub fn batch(&mut self, b: &Batch) {
        let (Some(late), Some(i)) = (locked_late(b), self.slot(b.cutoff_at)) else {
            return;
        };
        if late {
            self.days[i].batches_late += 1;
        } else {
            self.days[i].batches_on_time += 1;
        }
    }

    /// Mail counts of a metrics window that ended at `at`.
    pub fn mail(&mut self, at: DateTime<Utc>, sent: u64, failed: u64) {
        if let Some(i) = self.slot(at) {
            self.days[i].mail_sent += sent;
            self.days[i].mail_failed += failed;
        }
    }

    /// Every day of the range in order, days without activity included.
    pub fn finish(mut self) -> Vec<Day> {
        for (i, d) in self.days.iter_mut().enumerate() {
            d.active_students = self.students[i].len() as u32;
            d.active_shops = self.shops[i].len() as u32;
        }
        self.days
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::batch::{BatchStatus, test_support::batch};
    use crate::domain::order::test_support::{at, order};
    use crate::domain::order::{OrderStatus, Transition};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn placed(id: &str, user: &str, shop: &str, when: &str) -> Order {
        let mut o = order(id, "Hostel A", "1", OrderStatus::New);
        o.id = id.into();
        o.user_id = user.into();
        o.shop_id = shop.into();
        o.created_at = at(when);
        o
    }

    fn completed(mut o: Order, when: &str, total: i64) -> Order {
        o.status = OrderStatus::Completed;
        o.total = total;
        o.transitions.push(Transition {
            status: OrderStatus::Completed,
            at: at(when),
            by: None,
            note: None,
        });
        o
    }

    #[test]
    fn the_range_ends_today_and_is_clamped() {
        let r = range(d("2026-12-02"), 14);
        assert_eq!((r.from, r.to), (d("2026-11-19"), d("2026-12-02")));
        assert_eq!(range(d("2026-12-02"), 0).from, d("2026-12-02"));
        assert_eq!(range(d("2026-12-02"), 500).from, d("2026-09-04"));
    }

    #[test]
    fn orders_count_on_campus_days_and_people_once_a_day() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let mut t = Tally::new(range(d("2026-12-02"), 2), tz);
        // 20:00 UTC on the 30th is the 1st on campus; placed, then
        // delivered on the 2nd.
        t.order(&completed(
            placed("a", "s1", "shop1", "2026-11-30T20:00:00Z"),
            "2026-12-02T05:00:00Z",
            5_000,
        ));
        t.order(&placed("b", "s1", "shop1", "2026-12-01T05:00:00Z"));
        t.order(&placed("c", "s2", "shop2", "2026-12-01T06:00:00Z"));
        t.order(&placed("d", "s2", "shop1", "2026-12-02T06:00:00Z"));
        // Before the range: neither placed nor completed inside it.
        t.order(&completed(
            placed("e", "s3", "shop3", "2026-11-20T06:00:00Z"),
            "2026-11-21T06:00:00Z",
            9_999,
        ));
        let days = t.finish();
        assert_eq!(days.len(), 2);
        let (one, two) = (&days[0], &days[1]);
        assert_eq!(one.date, d("2026-12-01"));
        assert_eq!(
            (one.orders_placed, one.active_students, one.active_shops),
            (3, 2, 2)
        );
        assert_eq!((one.orders_completed, one.revenue), (0, 0));
        assert_eq!(
            (two.orders_placed, two.active_students, two.active_shops),
            (1, 1, 1)
        );
        assert_eq!((two.orders_completed, two.revenue), (1, 5_000));
    }

    #[test]
    fn a_batch_locked_past_the_grace_is_late_and_an_unlocked_one_is_not_counted() {
        let tz: Tz = "UTC".parse().unwrap();
        let mut t = Tally::new(range(d("2026-11-22"), 1), tz);
        let mut on_time = batch(BatchStatus::Locked);
        on_time.locked_at = Some(on_time.cutoff_at + Duration::minutes(1));
        let mut late = batch(BatchStatus::Locked);
        late.locked_at = Some(late.cutoff_at + Duration::minutes(6));
        let open = batch(BatchStatus::Open);
        assert_eq!(locked_late(&on_time), Some(false));
        assert_eq!(locked_late(&late), Some(true));
        assert_eq!(locked_late(&open), None);
        for b in [&on_time, &late, &open] {
            t.batch(b);
        }
        t.mail(at("2026-11-22T10:00:00Z"), 3, 1);
        t.mail(at("2026-11-22T11:00:00Z"), 2, 0);
        t.mail(at("2026-11-23T11:00:00Z"), 50, 50);
        let day = &t.finish()[0];
        assert_eq!((day.batches_on_time, day.batches_late), (1, 1));
        assert_eq!((day.mail_sent, day.mail_failed), (5, 1));
    }
}
