//! Order chat rules: who may write, how much and how often.
//!
//! A thread belongs to one order and is between its student and the shop's
//! staff. Limits are counted from the stored thread itself, so they hold
//! across restarts and need no in-memory limiter.

use chrono::{DateTime, Duration, Utc};

use super::FieldError;
use super::order::OrderStatus;

/// Longest message, in characters.
pub const MAX_CHARS: usize = 1000;
/// Messages one author may post to one thread per `RATE_WINDOW`.
pub const MAX_PER_WINDOW: usize = 10;
pub const RATE_WINDOW: Duration = Duration::seconds(60);
/// A thread is a conversation about one delivery, not a mailbox.
pub const MAX_PER_THREAD: usize = 500;
/// After an order ends, the thread stays open this long for follow-ups
/// ("I was charged twice", "you forgot the chutney"), then becomes read-only.
pub const OPEN_AFTER_END: Duration = Duration::days(3);

/// The message text, trimmed and bounded.
pub fn body(raw: &str) -> Result<String, FieldError> {
    super::bounded_text("body", raw, 1, MAX_CHARS, true)
}

/// Why a message may not be posted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The order ended more than `OPEN_AFTER_END` ago.
    Closed,
    /// The thread holds `MAX_PER_THREAD` messages.
    Full,
    /// Too many messages from this author; retry after this many seconds.
    TooFast { retry_after_secs: u64 },
}

/// Whether a thread still takes messages. `ended_at` is when the order
/// reached a terminal status, if it has.
pub fn is_open(status: OrderStatus, ended_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    if status.is_open() {
        return true;
    }
    ended_at.is_none_or(|t| now - t <= OPEN_AFTER_END)
}

/// Checks one new message against the thread's state. `author_recent` are
/// the times of this author's messages in the thread (any order).
pub fn may_post(
    thread_len: usize,
    author_recent: &[DateTime<Utc>],
    open: bool,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if !open {
        return Err(Refusal::Closed);
    }
    if thread_len >= MAX_PER_THREAD {
        return Err(Refusal::Full);
    }
    let window_start = now - RATE_WINDOW;
    let mut in_window: Vec<DateTime<Utc>> = author_recent
        .iter()
        .copied()
        .filter(|t| *t > window_start)
        .collect();
    if in_window.len() >= MAX_PER_WINDOW {
        // The oldest message in the window leaves it first; then one fits.
        in_window.sort();
        let frees_at = in_window[in_window.len() - MAX_PER_WINDOW] + RATE_WINDOW;
        let secs = (frees_at - now).num_milliseconds().max(0) as u64;
        return Err(Refusal::TooFast {
            retry_after_secs: secs.div_ceil(1000).max(1),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn body_is_trimmed_and_bounded() {
        assert_eq!(body("  hi \n").unwrap(), "hi");
        assert!(body("   ").is_err());
        assert!(body(&"x".repeat(MAX_CHARS)).is_ok());
        assert!(body(&"x".repeat(MAX_CHARS + 1)).is_err());
        assert!(body("line one\nline two").is_ok());
        assert!(body("bell\u{7}").is_err());
    }

    #[test]
    fn rate_limit_counts_only_the_window_and_says_when_to_retry() {
        let now = t(100);
        let recent: Vec<_> = (0..MAX_PER_WINDOW as i64).map(|i| t(50 + i)).collect();
        assert_eq!(
            may_post(10, &recent, true, now),
            Err(Refusal::TooFast {
                retry_after_secs: 10
            })
        );
        // One fewer in the window: allowed.
        assert_eq!(may_post(10, &recent[1..], true, now), Ok(()));
        // The same messages a minute later have left the window.
        assert_eq!(may_post(10, &recent, true, t(200)), Ok(()));
    }

    #[test]
    fn full_and_closed_threads_refuse() {
        assert_eq!(
            may_post(MAX_PER_THREAD, &[], true, t(0)),
            Err(Refusal::Full)
        );
        assert_eq!(may_post(0, &[], false, t(0)), Err(Refusal::Closed));
    }

    #[test]
    fn threads_close_some_days_after_the_order_ends() {
        assert!(is_open(OrderStatus::Batched, None, t(0)));
        assert!(is_open(OrderStatus::Completed, Some(t(0)), t(3600)));
        assert!(!is_open(
            OrderStatus::Completed,
            Some(t(0)),
            t(0) + OPEN_AFTER_END + Duration::seconds(1)
        ));
        assert!(!is_open(
            OrderStatus::Cancelled,
            Some(t(0)),
            t(0) + Duration::days(30)
        ));
    }
}
