//! Opening hours: `opens_at` and `closes_at` are minutes from midnight,
//! campus time (SPEC §3 Shop).
//!
//! The shop is open from `opens_at` up to, not including, `closes_at`; a
//! `closes_at` earlier than `opens_at` runs past midnight (18:00–02:00), and
//! `opens_at == closes_at` means open all day: a shop never open would
//! rather stop accepting orders.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// Open at `minute` (0–1439, campus time)?
pub fn is_open(opens_at: u16, closes_at: u16, minute: u16) -> bool {
    if opens_at == closes_at {
        true
    } else if opens_at < closes_at {
        (opens_at..closes_at).contains(&minute)
    } else {
        minute >= opens_at || minute < closes_at
    }
}

/// The campus minute of the day at `now`. A DST change only shifts which
/// instant a minute falls on; the hours keep their wall-clock meaning.
pub fn minute_of_day(now: DateTime<Utc>, tz: Tz) -> u16 {
    let local = now.with_timezone(&tz);
    (local.hour() * 60 + local.minute()) as u16
}

/// `HH:MM` for a minute of the day.
pub fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_range_is_half_open() {
        assert!(!is_open(480, 1320, 479));
        assert!(is_open(480, 1320, 480));
        assert!(is_open(480, 1320, 1319));
        assert!(!is_open(480, 1320, 1320));
        assert!(!is_open(480, 1320, 0));
    }

    #[test]
    fn a_range_past_midnight_wraps() {
        // 18:00–02:00
        assert!(is_open(1080, 120, 1080));
        assert!(is_open(1080, 120, 1439));
        assert!(is_open(1080, 120, 0));
        assert!(is_open(1080, 120, 119));
        assert!(!is_open(1080, 120, 120));
        assert!(!is_open(1080, 120, 720));
        assert!(!is_open(1080, 120, 1079));
    }

    #[test]
    fn equal_hours_mean_all_day() {
        for m in [0, 1, 719, 1438, 1439] {
            assert!(is_open(0, 0, m));
            assert!(is_open(600, 600, m));
        }
        // 0–1439 is not "all day": its last minute is closed.
        assert!(!is_open(0, 1439, 1439));
    }

    #[test]
    fn the_minute_is_campus_time() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        // 02:30 UTC is 08:00 in India (UTC+5:30).
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 2, 30, 0).unwrap();
        assert_eq!(minute_of_day(t, tz), 480);
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 18, 29, 59).unwrap();
        assert_eq!(minute_of_day(t, tz), 1439);
        assert_eq!(clock(480), "08:00");
        assert_eq!(clock(65), "01:05");
    }
}
