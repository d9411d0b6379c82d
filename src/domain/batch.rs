//! Batch slots and batches: the cutoff rule, batch choice, OTPs.
//!
//! Where is the cutoff rule? Here: `cutoff_on` turns a slot's "minutes from
//! midnight, campus time" into an instant (DST-safe), `next_cutoff` finds a
//! slot's next one, and `choose_batch` picks the batch an order joins.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::order::{Order, OrderStatus};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    pub id: String,
    pub shop_id: String,
    /// 0–1439, minutes from midnight in `campus.timezone`.
    pub cutoff_minutes: u16,
    pub label: String,
    pub active: bool,
    pub sort_order: i32,
    /// ISO weekdays (1 = Monday … 7 = Sunday); None means every day.
    pub weekdays: Option<Vec<u8>>,
    /// A batch that reaches this many orders locks at once.
    pub max_orders: Option<u32>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BatchStatus {
    Open,
    Locked,
    InTransit,
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Milestone {
    Packing,
    ClimbStarted,
    Midway,
    Arrived,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    pub shop_id: String,
    pub slot_id: String,
    /// The slot's label when the batch was made; slot edits never change it.
    pub label: String,
    pub cutoff_at: DateTime<Utc>,
    pub status: BatchStatus,
    pub milestone: Option<Milestone>,
    pub runner_id: Option<String>,
    pub max_orders: Option<u32>,
    pub order_count: u32,
    pub created_at: DateTime<Utc>,
    pub locked_at: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub stale_warned_at: Option<DateTime<Utc>>,
}

pub const MAX_CUTOFF_MINUTES: u16 = 1439;

/// The instant of `minutes` past local midnight on `date` in `tz`.
/// In a DST gap (the local time does not exist) the cutoff moves to the end
/// of the gap; in an overlap (it exists twice) the earlier instant is used,
/// so a batch never closes later than its label says.
pub fn cutoff_on(date: NaiveDate, minutes: u16, tz: Tz) -> DateTime<Utc> {
    let minutes = minutes.min(MAX_CUTOFF_MINUTES) as u32;
    let time = NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN);
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        chrono::LocalResult::None => {
            // Walk forward minute by minute to the first local time that exists.
            let mut probe = local;
            for _ in 0..(3 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

fn runs_on(slot: &Slot, date: NaiveDate) -> bool {
    match &slot.weekdays {
        None => true,
        Some(days) => days.contains(&(date.weekday().number_from_monday() as u8)),
    }
}

/// The slot's cutoffs strictly after `now`, soonest first, over the next
/// `days` local days.
pub fn upcoming_cutoffs(slot: &Slot, now: DateTime<Utc>, tz: Tz, days: u32) -> Vec<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    (0..days as i64)
        .filter_map(|d| today.checked_add_signed(Duration::days(d)))
        .filter(|date| runs_on(slot, *date))
        .map(|date| cutoff_on(date, slot.cutoff_minutes, tz))
        .filter(|c| *c > now)
        .collect()
}

pub fn next_cutoff(slot: &Slot, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    upcoming_cutoffs(slot, now, tz, 8).into_iter().next()
}

/// Whether an existing batch can take one more order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// No batch yet: the order creates it.
    Absent,
    Open,
    /// Locked early, full, dispatched…: never takes new orders.
    Closed,
}

impl Batch {
    /// Its slot's `max_orders` reached: the batch locks at once.
    pub fn is_full(&self) -> bool {
        self.max_orders.is_some_and(|m| self.order_count >= m)
    }

    /// Whether this batch takes one more order: open and below its limit.
    pub fn availability(&self) -> Availability {
        if self.status == BatchStatus::Open && !self.is_full() {
            Availability::Open
        } else {
            Availability::Closed
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub slot_id: String,
    pub cutoff_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceError {
    /// The shop has no active slot with a cutoff ahead.
    NoSlot,
    /// The batch the student named is not one they can join.
    NotAvailable,
}

/// Picks the batch an order joins: the earliest upcoming cutoff of the
/// shop's active slots whose batch still takes orders (ties broken by the
/// slots' sort order), or — when the student names one — that later batch
/// if it is a real upcoming cutoff that still takes orders.
pub fn choose_batch(
    slots: &[Slot],
    now: DateTime<Utc>,
    tz: Tz,
    requested: Option<(&str, DateTime<Utc>)>,
    availability: impl Fn(&str, DateTime<Utc>) -> Availability,
) -> Result<Choice, ChoiceError> {
    let mut candidates: Vec<(DateTime<Utc>, i32, &Slot)> = slots
        .iter()
        .filter(|s| s.active)
        .flat_map(|s| {
            upcoming_cutoffs(s, now, tz, 8)
                .into_iter()
                .map(move |c| (c, s.sort_order, s))
        })
        .collect();
    if candidates.is_empty() {
        return Err(ChoiceError::NoSlot);
    }
    candidates.sort_by(|a, b| (a.0, a.1, &a.2.id).cmp(&(b.0, b.1, &b.2.id)));
    let takes = |slot: &Slot, c: DateTime<Utc>| availability(&slot.id, c) != Availability::Closed;
    if let Some((slot_id, cutoff)) = requested {
        return candidates
            .iter()
            .find(|(c, _, s)| s.id == slot_id && *c == cutoff)
            .filter(|(c, _, s)| takes(s, *c))
            .map(|(c, _, s)| Choice {
                slot_id: s.id.clone(),
                cutoff_at: *c,
            })
            .ok_or(ChoiceError::NotAvailable);
    }
    candidates
        .iter()
        .find(|(c, _, s)| takes(s, *c))
        .map(|(c, _, s)| Choice {
            slot_id: s.id.clone(),
            cutoff_at: *c,
        })
        .ok_or(ChoiceError::NoSlot)
}

/// A delivery OTP of `digits` digits from the OS-seeded CSPRNG.
pub fn new_otp(digits: u8) -> String {
    let digits = digits.clamp(4, 8);
    let mut rng = rand::rng();
    (0..digits)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Batch status changes the vendor or runner may make.
impl BatchStatus {
    pub fn can_become(self, next: BatchStatus) -> bool {
        use BatchStatus::*;
        matches!(
            (self, next),
            (Open, Locked)
                | (Open, Cancelled)
                | (Locked, InTransit)
                | (Locked, Cancelled)
                | (InTransit, Completed)
        )
    }
}

/// Milestones only move forward; the climb ones need the batch on its way.
pub fn check_milestone(
    status: BatchStatus,
    current: Option<Milestone>,
    next: Milestone,
) -> Result<(), String> {
    if current.is_some_and(|c| next <= c) {
        return Err(format!(
            "the batch is already at {:?}",
            current.unwrap_or(next)
        ));
    }
    match (status, next) {
        (BatchStatus::Locked | BatchStatus::InTransit, Milestone::Packing) => Ok(()),
        (BatchStatus::InTransit, _) => Ok(()),
        (s, m) => Err(format!(
            "a {s:?} batch cannot be at {m:?}; dispatch it first"
        )),
    }
}

/// Whether an order is on its batch's pick list: `BATCHED` and
/// `OUT_FOR_DELIVERY` orders always; `NEW` and `RESCHEDULED` ones only while
/// the batch is still `OPEN` (a preview before the cutoff — locking turns
/// them into `BATCHED`). Delivered, failed and cancelled orders are not
/// carried, nor is an order of another batch or shop that was passed in.
pub fn to_carry(batch: &Batch, o: &Order) -> bool {
    let status_ok = match o.status {
        OrderStatus::Batched | OrderStatus::OutForDelivery => true,
        OrderStatus::New | OrderStatus::Rescheduled => batch.status == BatchStatus::Open,
        OrderStatus::Completed | OrderStatus::DeliveryFailed | OrderStatus::Cancelled => false,
    };
    status_ok && o.batch_id.as_deref() == Some(batch.id.as_str()) && o.shop_id == batch.shop_id
}

/// One line of a batch's prep summary: a product and how many of it the
/// batch's carried orders hold, for packing before the climb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepLine {
    pub product_id: String,
    /// The name on the first order that holds it (a snapshot, like the orders').
    pub name: String,
    pub quantity: u32,
}

/// Each item summed over the orders [`to_carry`] keeps, most first, then by
/// name: what the vendor packs for this batch.
pub fn prep(batch: &Batch, orders: &[Order]) -> Vec<PrepLine> {
    let mut lines: Vec<PrepLine> = Vec::new();
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for it in orders
        .iter()
        .filter(|o| to_carry(batch, o))
        .flat_map(|o| &o.items)
    {
        match at.get(it.product_id.as_str()) {
            Some(&i) => lines[i].quantity = lines[i].quantity.saturating_add(it.quantity),
            None => {
                at.insert(&it.product_id, lines.len());
                lines.push(PrepLine {
                    product_id: it.product_id.clone(),
                    name: it.name.clone(),
                    quantity: it.quantity,
                });
            }
        }
    }
    lines.sort_by(|a, b| {
        b.quantity
            .cmp(&a.quantity)
            .then_with(|| a.name.cmp(&b.name))
    });
    lines
}

#[cfg(test)]
pub mod test_support {
    use super::*;
    use crate::domain::order::test_support::at;

    /// A batch of `shop1` cut off at 23:59 campus time on 22 Nov 2026.
    pub fn batch(status: BatchStatus) -> Batch {
        Batch {
            id: "batch1".into(),
            shop_id: "shop1".into(),
            slot_id: "slot1".into(),
            label: "Night batch".into(),
            cutoff_at: at("2026-11-22T18:29:00Z"),
            status,
            milestone: None,
            runner_id: None,
            max_orders: None,
            order_count: 0,
            created_at: at("2026-11-22T08:00:00Z"),
            locked_at: None,
            dispatched_at: None,
            completed_at: None,
            stale_warned_at: None,
        }
    }
}

#[cfg(test)]
mod prep_tests {
    use super::test_support::batch;
    use super::*;
    use crate::domain::order::test_support::{item, order};

    #[test]
    fn prep_sums_each_item_over_the_orders_still_to_carry() {
        let mut a = order("UP-A", "Hostel A", "101", OrderStatus::Batched);
        a.items = vec![item("Samosa", 2000, 3), item("Masala Tea", 1000, 1)];
        let mut b = order("UP-B", "Hostel B", "7", OrderStatus::Batched);
        b.items = vec![item("Masala Tea", 1000, 4)];
        // Neither of these is packed: one is cancelled, one of another batch.
        let mut gone = order("UP-C", "Hostel A", "102", OrderStatus::Cancelled);
        gone.items = vec![item("Samosa", 2000, 50)];
        let mut other = order("UP-D", "Hostel A", "103", OrderStatus::Batched);
        other.batch_id = Some("batch2".into());
        let lines = prep(&batch(BatchStatus::Locked), &[a, b, gone, other]);
        let got: Vec<(&str, u32)> = lines
            .iter()
            .map(|l| (l.name.as_str(), l.quantity))
            .collect();
        assert_eq!(got, [("Masala Tea", 5), ("Samosa", 3)]);
        assert_eq!(lines[0].product_id, "p-Masala Tea");
    }

    #[test]
    fn an_open_batch_previews_its_new_orders_and_a_locked_one_does_not() {
        let n = order("UP-N", "Hostel A", "1", OrderStatus::New);
        assert_eq!(
            prep(&batch(BatchStatus::Open), std::slice::from_ref(&n)).len(),
            2
        );
        assert!(prep(&batch(BatchStatus::Locked), &[n]).is_empty());
        assert!(prep(&batch(BatchStatus::Open), &[]).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: &str, minutes: u16) -> Slot {
        Slot {
            id: id.into(),
            shop_id: "s".into(),
            cutoff_minutes: minutes,
            label: format!("{id} batch"),
            active: true,
            sort_order: 0,
            weekdays: None,
            max_orders: None,
            created_at: Utc::now(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const KOLKATA: Tz = chrono_tz::Asia::Kolkata;

    #[test]
    fn cutoff_is_campus_local_time() {
        // 17:00 IST is 11:30 UTC.
        let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(cutoff_on(d, 17 * 60, KOLKATA), at("2026-11-22T11:30:00Z"));
    }

    #[test]
    fn cutoff_across_dst_changes() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 02:30 does not exist in New York: moves to 03:00 EDT.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(cutoff_on(gap, 150, ny), at("2026-03-08T07:00:00Z"));
        // 2026-11-01 01:30 happens twice: the earlier (EDT) one is used.
        let overlap = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(cutoff_on(overlap, 90, ny), at("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn next_cutoff_rolls_past_midnight_and_skips_other_weekdays() {
        let s = slot("a", 17 * 60);
        // 18:00 IST: today's cutoff passed, tomorrow's is next.
        assert_eq!(
            next_cutoff(&s, at("2026-11-22T12:30:00Z"), KOLKATA),
            Some(at("2026-11-23T11:30:00Z"))
        );
        // A cutoff exactly now has passed: orders go to the next one.
        assert_eq!(
            next_cutoff(&s, at("2026-11-22T11:30:00Z"), KOLKATA),
            Some(at("2026-11-23T11:30:00Z"))
        );
        let mut weekly = s.clone();
        weekly.weekdays = Some(vec![3]); // Wednesdays; 2026-11-22 is a Sunday
        assert_eq!(
            next_cutoff(&weekly, at("2026-11-22T00:00:00Z"), KOLKATA),
            Some(at("2026-11-25T11:30:00Z"))
        );
        let mut never = s;
        never.weekdays = Some(vec![]);
        assert_eq!(
            next_cutoff(&never, at("2026-11-22T00:00:00Z"), KOLKATA),
            None
        );
    }

    #[test]
    fn choose_the_earliest_open_batch() {
        let slots = vec![slot("noon", 12 * 60), slot("five", 17 * 60)];
        let now = at("2026-11-22T05:00:00Z"); // 10:30 IST
        let all_open = |_: &str, _: DateTime<Utc>| Availability::Absent;
        let c = choose_batch(&slots, now, KOLKATA, None, all_open).unwrap();
        assert_eq!(
            (c.slot_id.as_str(), c.cutoff_at),
            ("noon", at("2026-11-22T06:30:00Z"))
        );

        // The noon batch was locked early: the order goes to 5 PM.
        let noon_locked = |id: &str, _: DateTime<Utc>| {
            if id == "noon" {
                Availability::Closed
            } else {
                Availability::Open
            }
        };
        let c = choose_batch(&slots, now, KOLKATA, None, noon_locked).unwrap();
        assert_eq!(c.slot_id, "five");

        // The last slot of the day has passed: tomorrow's noon.
        let late = at("2026-11-22T13:00:00Z");
        let c = choose_batch(&slots, late, KOLKATA, None, all_open).unwrap();
        assert_eq!(c.cutoff_at, at("2026-11-23T06:30:00Z"));
    }

    #[test]
    fn a_named_later_batch_must_be_real_and_open() {
        let slots = vec![slot("noon", 12 * 60), slot("five", 17 * 60)];
        let now = at("2026-11-22T05:00:00Z");
        let open = |_: &str, _: DateTime<Utc>| Availability::Open;
        let five = at("2026-11-22T11:30:00Z");
        let c = choose_batch(&slots, now, KOLKATA, Some(("five", five)), open).unwrap();
        assert_eq!(c.cutoff_at, five);
        // Not a cutoff of that slot.
        assert_eq!(
            choose_batch(
                &slots,
                now,
                KOLKATA,
                Some(("five", five + Duration::minutes(1))),
                open
            ),
            Err(ChoiceError::NotAvailable)
        );
        // Real, but locked.
        let closed = |_: &str, _: DateTime<Utc>| Availability::Closed;
        assert_eq!(
            choose_batch(&slots, now, KOLKATA, Some(("five", five)), closed),
            Err(ChoiceError::NotAvailable)
        );
    }

    #[test]
    fn no_active_slot_means_no_batch() {
        let mut s = slot("a", 600);
        s.active = false;
        let open = |_: &str, _: DateTime<Utc>| Availability::Open;
        assert_eq!(
            choose_batch(&[s], Utc::now(), KOLKATA, None, open),
            Err(ChoiceError::NoSlot)
        );
        assert_eq!(
            choose_batch(&[], Utc::now(), KOLKATA, None, open),
            Err(ChoiceError::NoSlot)
        );
    }

    #[test]
    fn otps_have_the_configured_digits() {
        assert_eq!(new_otp(4).len(), 4);
        assert_eq!(new_otp(6).len(), 6);
        assert!(new_otp(4).chars().all(|c| c.is_ascii_digit()));
        assert_eq!(new_otp(1).len(), 4, "never fewer than 4");
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    #[test]
    fn batch_status_machine() {
        use BatchStatus::*;
        assert!(Open.can_become(Locked));
        assert!(Locked.can_become(InTransit));
        assert!(InTransit.can_become(Completed));
        assert!(!Open.can_become(InTransit), "lock before dispatch");
        assert!(!Completed.can_become(Open));
        assert!(!Locked.can_become(Open));
    }

    #[test]
    fn milestones_move_forward_only() {
        use Milestone::*;
        assert!(check_milestone(BatchStatus::Locked, None, Packing).is_ok());
        assert!(check_milestone(BatchStatus::Locked, Some(Packing), ClimbStarted).is_err());
        assert!(check_milestone(BatchStatus::InTransit, Some(Packing), ClimbStarted).is_ok());
        assert!(check_milestone(BatchStatus::InTransit, Some(Midway), ClimbStarted).is_err());
        assert!(check_milestone(BatchStatus::InTransit, Some(Arrived), Arrived).is_err());
        assert!(check_milestone(BatchStatus::Open, None, Packing).is_err());
    }
}
