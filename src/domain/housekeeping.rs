//! Which records the housekeeping sweeps remove, and the keys of the time
//! indexes they walk. A sweep walks an index oldest first and stops at the
//! first key past its cutoff, so these keys must sort in time order.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// Records one write transaction of a sweep removes at most: the store has
/// one writer, and a slice this size commits in milliseconds.
pub const SLICE: usize = 300;

/// Records a notification slice reads at most: old unread notifications are
/// kept, so a slice may read more than it removes, but not without bound.
pub const READ_BUDGET: usize = 2_000;

/// Key of a record in a time index: a fixed-width UTC time (so key order
/// is time order), then the record's key to keep keys unique.
pub fn index_key(at: DateTime<Utc>, record: &str) -> String {
    format!(
        "{}/{record}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// An exclusive upper bound of the keys stamped before `at`: every key
/// stamped at `at` itself continues past the `/` and sorts after it.
pub fn index_bound(at: DateTime<Utc>) -> String {
    format!("{}/", at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The instant before which a record untouched for `days` is swept.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(days.into())
}

/// A session is removed once it has expired: it can no longer sign in.
pub fn session_expired(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at <= now
}

/// A cart is removed when nobody changed it since the cutoff. A deleted
/// shop's carts cannot be changed any more, so they age out the same way.
pub fn cart_abandoned(updated_at: DateTime<Utc>, cutoff: DateTime<Utc>) -> bool {
    updated_at < cutoff
}

/// Only notifications the user has read go: an unread one still has
/// something to say, however old.
pub fn notification_removable(
    read: bool,
    created_at: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> bool {
    read && created_at < cutoff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn index_keys_sort_in_time_order_and_the_bound_splits_them() {
        let a = index_key(at("2026-12-01T09:00:00Z"), "zzz");
        let b = index_key(at("2026-12-01T09:00:00.001Z"), "aaa");
        let c = index_key(at("2026-12-01T10:00:00Z"), "mmm");
        assert!(a < b && b < c);
        let bound = index_bound(at("2026-12-01T09:00:00.001Z"));
        assert!(a < bound && bound < b, "{a} {bound} {b}");
    }

    #[test]
    fn what_each_sweep_removes() {
        let now = at("2026-12-02T12:00:00Z");
        assert!(session_expired(at("2026-12-02T12:00:00Z"), now));
        assert!(!session_expired(at("2026-12-02T12:00:01Z"), now));
        let c = cutoff(now, 30);
        assert_eq!(c, at("2026-11-02T12:00:00Z"));
        assert!(cart_abandoned(at("2026-11-01T00:00:00Z"), c));
        assert!(!cart_abandoned(at("2026-11-20T00:00:00Z"), c));
        let c = cutoff(now, 90);
        let old = at("2026-08-01T00:00:00Z");
        assert!(notification_removable(true, old, c));
        assert!(!notification_removable(false, old, c), "unread stays");
        assert!(!notification_removable(true, now, c), "fresh stays");
    }
}
