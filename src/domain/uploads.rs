//! Upload quotas: who may upload, how often and how many bytes. Plain
//! functions over a user's recent history; the file store keeps the
//! histories in memory (`files::Files`) and the HTTP layer turns a refusal
//! into a 429 with `Retry-After`.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// What a user may upload, from their shop (if any) and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    /// Admins: campus images of any shop.
    Admin,
    /// The owner of a verified shop.
    VerifiedShop,
    /// The owner of a shop not verified yet (or rejected): a few images, so
    /// the shop can be set up before an admin looks at it.
    UnverifiedShop,
    /// Everyone else: nothing to attach an image to.
    Nobody,
}

/// The per-user limits (`[uploads]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Upload requests per rolling hour.
    pub per_hour: u32,
    /// Bytes received per rolling 24 hours.
    pub bytes_per_day: u64,
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// One user's upload requests of the last 24 hours: when, and how many
/// bytes each brought.
#[derive(Debug, Default, Clone)]
pub struct History {
    events: VecDeque<(DateTime<Utc>, u64)>,
}

/// Seconds until the request would be allowed; at least 1.
pub type RetryAfter = u64;

fn secs_until(t: DateTime<Utc>, now: DateTime<Utc>) -> RetryAfter {
    let ms = (t - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

impl History {
    /// Forgets what is older than 24 hours.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, _)) = self.events.front() {
            if now - at >= Duration::seconds(DAY) {
                self.events.pop_front();
            } else {
                break;
            }
        }
    }

    /// True when nothing of the last 24 hours is left (the history can go).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn bytes(&self) -> u64 {
        self.events.iter().map(|&(_, b)| b).sum()
    }

    /// When enough bytes will have aged out for `incoming` more to fit.
    fn bytes_free_at(
        &self,
        now: DateTime<Utc>,
        quota: &Quota,
        incoming: u64,
    ) -> Option<DateTime<Utc>> {
        let mut used = self.bytes();
        if used.saturating_add(incoming) <= quota.bytes_per_day {
            return None;
        }
        for &(at, b) in &self.events {
            used -= b;
            if used.saturating_add(incoming) <= quota.bytes_per_day {
                return Some(at + Duration::seconds(DAY));
            }
        }
        // Bigger than the whole quota: a full day (config validation keeps
        // the quota at least one upload's size, so this is only a guard).
        Some(now + Duration::seconds(DAY))
    }

    /// A new upload request at `now`: refused while the hourly count or the
    /// daily bytes are used up, otherwise counted (with 0 bytes so far).
    pub fn begin(&mut self, now: DateTime<Utc>, quota: &Quota) -> Result<(), RetryAfter> {
        self.prune(now);
        let hour_ago = now - Duration::seconds(HOUR);
        let in_hour: Vec<DateTime<Utc>> = self
            .events
            .iter()
            .map(|&(at, _)| at)
            .filter(|&at| at > hour_ago)
            .collect();
        if in_hour.len() >= quota.per_hour as usize {
            // The oldest of the hour's requests age out first.
            let at = in_hour
                .get(in_hour.len() - quota.per_hour as usize)
                .map_or(now, |&at| at)
                + Duration::seconds(HOUR);
            return Err(secs_until(at, now));
        }
        if let Some(at) = self.bytes_free_at(now, quota, 1) {
            return Err(secs_until(at, now));
        }
        self.events.push_back((now, 0));
        Ok(())
    }

    /// The request begun last brought `bytes`: refused (and not counted)
    /// when they would take the last 24 hours over the byte quota.
    pub fn add_bytes(
        &mut self,
        now: DateTime<Utc>,
        quota: &Quota,
        bytes: u64,
    ) -> Result<(), RetryAfter> {
        self.prune(now);
        if let Some(at) = self.bytes_free_at(now, quota, bytes) {
            return Err(secs_until(at, now));
        }
        if let Some(last) = self.events.back_mut() {
            last.1 += bytes;
        } else {
            self.events.push_back((now, bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    const Q: Quota = Quota {
        per_hour: 3,
        bytes_per_day: 1000,
    };

    #[test]
    fn the_hourly_count_refuses_until_the_oldest_ages_out() {
        let mut h = History::default();
        for s in [0, 10, 20] {
            h.begin(t(s), &Q).unwrap();
        }
        assert_eq!(h.begin(t(30), &Q), Err(3600 - 30));
        assert_eq!(h.begin(t(3599), &Q), Err(1));
        h.begin(t(3600), &Q).unwrap();
        assert_eq!(h.begin(t(3601), &Q), Err(9));
    }

    #[test]
    fn the_daily_bytes_refuse_until_enough_age_out() {
        let mut h = History::default();
        h.begin(t(0), &Q).unwrap();
        h.add_bytes(t(0), &Q, 600).unwrap();
        h.begin(t(HOUR * 2), &Q).unwrap();
        h.add_bytes(t(HOUR * 2), &Q, 300).unwrap();
        h.begin(t(HOUR * 3), &Q).unwrap();
        // 900 used: 200 more do not fit until the first 600 age out.
        assert_eq!(
            h.add_bytes(t(HOUR * 3), &Q, 200),
            Err((DAY - HOUR * 3) as u64)
        );
        h.add_bytes(t(HOUR * 3), &Q, 100).unwrap();
        // Full: a new request waits for the first upload to age out.
        assert_eq!(h.begin(t(HOUR * 4), &Q), Err((DAY - HOUR * 4) as u64));
        h.begin(t(DAY), &Q).unwrap();
        // Everything ages out after a day.
        h.begin(t(DAY * 3), &Q).unwrap();
        assert_eq!(h.events.len(), 1);
    }
}
