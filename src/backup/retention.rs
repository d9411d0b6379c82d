//! Which backups to keep: a pure function of their timestamps, so the rule
//! is tested without files or clocks.
//!
//! The rule is restic's `--keep-daily/--keep-weekly/--keep-monthly`: for
//! each of the newest N calendar days (ISO weeks, months) that have a
//! backup, keep that period's newest one. Periods without a backup do not
//! count, so a box that was off for a week still keeps 7 daily backups.
//! Days start at midnight campus time.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
            monthly: 6,
        }
    }
}

/// Indexes (into `times`) of the backups to keep.
pub fn keep(times: &[DateTime<Utc>], tz: Tz, policy: Policy) -> BTreeSet<usize> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    // Newest first; equal times keep their input order.
    order.sort_by(|&a, &b| times[b].cmp(&times[a]).then(a.cmp(&b)));
    let mut kept = BTreeSet::new();
    let mut bucket = |period: &dyn Fn(DateTime<Tz>) -> (i32, u32), n: usize| {
        let mut seen: Vec<(i32, u32)> = Vec::new();
        for &i in &order {
            if seen.len() >= n {
                break;
            }
            let p = period(times[i].with_timezone(&tz));
            if !seen.contains(&p) {
                seen.push(p);
                kept.insert(i);
            }
        }
    };
    bucket(&|t| (t.year(), t.ordinal()), policy.daily);
    bucket(
        &|t| {
            let w = t.iso_week();
            (w.year(), w.week())
        },
        policy.weekly,
    );
    bucket(&|t| (t.year(), t.month()), policy.monthly);
    kept
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    const TZ: Tz = chrono_tz::Asia::Kolkata;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_year_of_nightly_backups_keeps_7_daily_4_weekly_6_monthly() {
        let start = at(2026, 1, 1, 3);
        let times: Vec<_> = (0..365).map(|d| start + Duration::days(d)).collect();
        let kept = keep(&times, TZ, Policy::default());
        let kept_times: Vec<_> = kept.iter().map(|&i| times[i]).collect();
        // The newest 7 days.
        for d in 358..365 {
            assert!(kept.contains(&d), "day {d}");
        }
        // 2026-12-31 is a Thursday; the 4 newest ISO weeks end on the
        // Sundays before (or the newest day itself).
        for s in [
            at(2026, 12, 27, 3),
            at(2026, 12, 20, 3),
            at(2026, 12, 13, 3),
        ] {
            assert!(kept_times.contains(&s), "week ending {s}");
        }
        // Last day of each of the 6 newest months.
        for s in [
            at(2026, 11, 30, 3),
            at(2026, 10, 31, 3),
            at(2026, 9, 30, 3),
            at(2026, 8, 31, 3),
            at(2026, 7, 31, 3),
        ] {
            assert!(kept_times.contains(&s), "month ending {s}");
        }
        assert!(!kept_times.contains(&at(2026, 6, 30, 3)));
        // 7 days + 2 weeks older than them + 5 older months, nothing else.
        assert_eq!(kept.len(), 7 + 2 + 5, "{kept_times:?}");
    }

    #[test]
    fn the_newest_backup_of_a_day_wins_and_days_follow_campus_time() {
        // 20:00 UTC on the 1st is 01:30 on the 2nd in Kolkata.
        let times = vec![
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 20, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        ];
        let kept = keep(
            &times,
            TZ,
            Policy {
                daily: 7,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(kept, BTreeSet::from([1, 2]));
    }

    #[test]
    fn gaps_do_not_count_and_nothing_is_kept_with_zero_policy() {
        let times = vec![at(2026, 1, 1, 3), at(2026, 5, 1, 3), at(2026, 5, 2, 3)];
        let kept = keep(
            &times,
            TZ,
            Policy {
                daily: 7,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(kept, BTreeSet::from([0, 1, 2]));
        let none = keep(
            &times,
            TZ,
            Policy {
                daily: 0,
                weekly: 0,
                monthly: 0,
            },
        );
        assert!(none.is_empty());
        assert!(keep(&[], TZ, Policy::default()).is_empty());
    }

    #[test]
    fn monthly_keeps_the_newest_of_each_month_beyond_the_dailies() {
        let times = vec![
            at(2026, 1, 5, 3),
            at(2026, 1, 20, 3),
            at(2026, 2, 3, 3),
            at(2026, 3, 9, 3),
            at(2026, 3, 10, 3),
        ];
        let kept = keep(
            &times,
            TZ,
            Policy {
                daily: 1,
                weekly: 0,
                monthly: 6,
            },
        );
        assert_eq!(kept, BTreeSet::from([1, 2, 4]));
    }
}
