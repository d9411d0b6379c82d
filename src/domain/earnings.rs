//! A vendor's earnings (SPEC §4.9): completed orders summed per campus day.
//!
//! An order counts on the campus day it was delivered (completed), because
//! that is when the money changed hands: cash and UPI are both paid on
//! delivery. The platform fee was frozen on the order at checkout; the shop
//! collects it from the student with the rest and owes it to the platform.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::FieldError;
use super::order::{Order, OrderStatus, PaymentMethod};

/// The longest range one request may sum: a quarter and a bit.
pub const MAX_DAYS: i64 = 92;

/// Money of a set of completed orders, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub orders: u32,
    /// What students paid: items, delivery and platform fees.
    pub collected: i64,
    pub items: i64,
    pub delivery_fees: i64,
    /// Collected for the platform; the shop owes it.
    pub platform_fees: i64,
    pub cash: i64,
    pub upi: i64,
}

impl Sums {
    fn add(&mut self, o: &Order) {
        self.orders += 1;
        self.collected += o.total;
        self.items += o.item_total;
        self.delivery_fees += o.delivery_fee;
        self.platform_fees += o.platform_fee;
        match o.payment_method {
            PaymentMethod::Cash => self.cash += o.total,
            PaymentMethod::Upi => self.upi += o.total,
        }
    }

    /// What stays with the shop once the platform fee is paid.
    pub fn net(&self) -> i64 {
        self.collected - self.platform_fees
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earnings {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: Sums,
    /// Every day of the range in order, days without orders included, so a
    /// chart needs no gap-filling.
    pub days: Vec<(NaiveDate, Sums)>,
}

/// A checked, inclusive range of campus days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// `from`/`to` as `YYYY-MM-DD`; either missing means `today`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
        max_days: i64,
    ) -> Result<Range, Vec<FieldError>> {
        let day = |field: &'static str, raw: Option<&str>| match raw {
            None => Ok(today),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| FieldError::new(field, "must be a date, YYYY-MM-DD")),
        };
        let (from, to) = match (day("from", from), day("to", to)) {
            (Ok(f), Ok(t)) => (f, t),
            (f, t) => return Err([f.err(), t.err()].into_iter().flatten().collect()),
        };
        if to < from {
            return Err(vec![FieldError::new("to", "must not be before from")]);
        }
        if (to - from).num_days() >= max_days {
            return Err(vec![FieldError::new(
                "to",
                format!("a range holds at most {max_days} days"),
            )]);
        }
        Ok(Range { from, to })
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The first instant of `from` on campus: orders placed before it cannot
    /// have been placed in the range.
    pub fn starts_at(&self, tz: Tz) -> DateTime<Utc> {
        campus_midnight(self.from, tz)
    }

    /// The first instant after `to` on campus.
    pub fn ends_at(&self, tz: Tz) -> DateTime<Utc> {
        campus_midnight(self.to.succ_opt().unwrap_or(self.to), tz)
    }
}

fn campus_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A midnight skipped by a DST change starts the day at its first hour.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

/// When the order was delivered, if it was.
pub fn delivered_at(o: &Order) -> Option<DateTime<Utc>> {
    if o.status != OrderStatus::Completed {
        return None;
    }
    o.transitions
        .iter()
        .rev()
        .find(|t| t.status == OrderStatus::Completed)
        .map(|t| t.at)
}

/// Sums the completed orders by the campus day they were delivered on.
pub fn summarize<'a>(
    orders: impl IntoIterator<Item = &'a Order>,
    range: Range,
    tz: Tz,
) -> Earnings {
    let span = (range.to - range.from).num_days().max(0) as usize + 1;
    let mut days: Vec<(NaiveDate, Sums)> = range
        .from
        .iter_days()
        .take(span)
        .map(|d| (d, Sums::default()))
        .collect();
    let mut total = Sums::default();
    for o in orders {
        let Some(at) = delivered_at(o) else { continue };
        let day = at.with_timezone(&tz).date_naive();
        if !range.contains(day) {
            continue;
        }
        let i = (day - range.from).num_days() as usize;
        days[i].1.add(o);
        total.add(o);
    }
    Earnings {
        from: range.from,
        to: range.to,
        total,
        days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{Transition, test_support};

    fn order(total: i64, method: PaymentMethod, delivered: Option<&str>) -> Order {
        let mut o = test_support::order("UP-1", "Hostel A", "1", OrderStatus::Batched);
        o.total = total;
        o.item_total = total - 1500;
        o.delivery_fee = 1000;
        o.platform_fee = 500;
        o.payment_method = method;
        if let Some(d) = delivered {
            o.status = OrderStatus::Completed;
            o.transitions.push(Transition {
                status: OrderStatus::Completed,
                at: test_support::at(d),
                by: None,
                note: None,
            });
        }
        o
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn orders_count_on_the_campus_day_they_were_delivered() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let range = Range {
            from: d("2026-12-01"),
            to: d("2026-12-03"),
        };
        let orders = [
            // 20:00 UTC on the 1st is 01:30 on the 2nd in Kolkata.
            order(10_000, PaymentMethod::Cash, Some("2026-12-01T20:00:00Z")),
            order(20_000, PaymentMethod::Upi, Some("2026-12-01T10:00:00Z")),
            order(5_000, PaymentMethod::Upi, None),
            // The 4th on campus: outside the range.
            order(7_000, PaymentMethod::Cash, Some("2026-12-03T19:00:00Z")),
        ];
        let e = summarize(&orders, range, tz);
        assert_eq!(e.days.len(), 3);
        assert_eq!(e.days[0].0, d("2026-12-01"));
        assert_eq!(e.days[0].1.upi, 20_000);
        assert_eq!(e.days[1].1.cash, 10_000);
        assert_eq!(e.days[2].1, Sums::default());
        assert_eq!(e.total.orders, 2);
        assert_eq!(e.total.collected, 30_000);
        assert_eq!(e.total.platform_fees, 1_000);
        assert_eq!(e.total.delivery_fees, 2_000);
        assert_eq!(e.total.items, 27_000);
        assert_eq!(e.total.net(), 29_000);
    }

    #[test]
    fn ranges_are_checked() {
        let today = d("2026-12-02");
        let r = Range::parse(None, None, today, MAX_DAYS).unwrap();
        assert_eq!((r.from, r.to), (today, today));
        let e = Range::parse(Some("2026-12-05"), Some("2026-12-01"), today, MAX_DAYS).unwrap_err();
        assert_eq!(e[0].field, "to");
        let e = Range::parse(Some("yesterday"), Some("2026-13-01"), today, MAX_DAYS).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(Range::parse(Some("2026-01-01"), Some("2026-12-31"), today, MAX_DAYS).is_err());
        assert!(Range::parse(Some("2026-01-01"), Some("2026-04-02"), today, MAX_DAYS).is_ok());
    }

    #[test]
    fn a_range_starts_at_campus_midnight() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let r = Range {
            from: d("2026-12-02"),
            to: d("2026-12-02"),
        };
        assert_eq!(r.starts_at(tz).to_rfc3339(), "2026-12-01T18:30:00+00:00");
        assert_eq!(r.ends_at(tz).to_rfc3339(), "2026-12-02T18:30:00+00:00");
    }
}
