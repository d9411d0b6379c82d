//! The cutoff reminder (SPEC §4.9): a student with a non-empty cart at a
//! shop is told once when the batch that cart would join closes soon.
//!
//! "The batch that cart would join" is exactly what checkout would pick now
//! (`choose_batch`), so the reminder never names a batch the order could
//! not go into.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::batch::{Availability, Choice, Slot, choose_batch};

/// One student's cart at the shop, as the rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartState {
    pub user_id: String,
    pub lines: usize,
    /// They already have an order in the batch (one not cancelled).
    pub ordered: bool,
    /// A reminder for this batch was already sent to them.
    pub reminded: bool,
}

/// The batch a cart at the shop would join, when it cuts off within `lead`
/// of `now` (and after `now`: a batch past its cutoff belongs to the closer).
pub fn closing_soon(
    slots: &[Slot],
    now: DateTime<Utc>,
    tz: Tz,
    lead: Duration,
    availability: impl Fn(&str, DateTime<Utc>) -> Availability,
) -> Option<Choice> {
    choose_batch(slots, now, tz, None, availability)
        .ok()
        .filter(|c| c.cutoff_at > now && c.cutoff_at - now <= lead)
}

/// Who gets reminded about a batch closing soon: a non-empty cart, no order
/// in the batch yet, not reminded about it before.
pub fn to_remind(carts: &[CartState]) -> Vec<&str> {
    carts
        .iter()
        .filter(|c| c.lines > 0 && !c.ordered && !c.reminded)
        .map(|c| c.user_id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KOLKATA: Tz = chrono_tz::Asia::Kolkata;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// 17:00 IST every day, i.e. 11:30 UTC.
    fn slot() -> Slot {
        Slot {
            id: "slot1".into(),
            shop_id: "shop1".into(),
            cutoff_minutes: 17 * 60,
            label: "5 PM Batch".into(),
            active: true,
            sort_order: 0,
            weekdays: None,
            max_orders: None,
            created_at: at("2026-11-01T00:00:00Z"),
        }
    }

    fn soon(now: &str, avail: Availability) -> Option<Choice> {
        closing_soon(
            &[slot()],
            at(now),
            KOLKATA,
            Duration::minutes(15),
            |_, _| avail,
        )
    }

    #[test]
    fn a_batch_is_closing_soon_only_inside_the_lead_time() {
        assert_eq!(soon("2026-11-22T11:10:00Z", Availability::Absent), None);
        let c = soon("2026-11-22T11:16:00Z", Availability::Open).unwrap();
        assert_eq!(c.cutoff_at, at("2026-11-22T11:30:00Z"));
        assert_eq!(c.slot_id, "slot1");
        assert!(soon("2026-11-22T11:15:00Z", Availability::Absent).is_some());
    }

    #[test]
    fn a_batch_that_takes_no_more_orders_is_not_closing_soon() {
        // Locked early or full: checkout would pick tomorrow's, a day away.
        assert_eq!(soon("2026-11-22T11:20:00Z", Availability::Closed), None);
    }

    #[test]
    fn no_active_slot_means_no_reminder() {
        let mut s = slot();
        s.active = false;
        let c = closing_soon(
            &[s],
            at("2026-11-22T11:20:00Z"),
            KOLKATA,
            Duration::minutes(15),
            |_, _| Availability::Absent,
        );
        assert_eq!(c, None);
    }

    #[test]
    fn only_non_empty_carts_without_an_order_or_a_reminder_are_reminded() {
        let cart = |id: &str, lines, ordered, reminded| CartState {
            user_id: id.into(),
            lines,
            ordered,
            reminded,
        };
        let carts = [
            cart("a", 2, false, false),
            cart("empty", 0, false, false),
            cart("ordered", 1, true, false),
            cart("told", 1, false, true),
        ];
        assert_eq!(to_remind(&carts), vec!["a"]);
    }
}
