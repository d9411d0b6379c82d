//! The time the batch flow runs on: the system clock plus an offset that
//! only tests move.
//!
//! Cutoffs are decided against this clock (which batch an order joins, which
//! batches the closer locks), so a test can jump past several cutoffs and
//! watch the closer catch up without touching the machine's clock. Nothing
//! outside the process can move it (no config key, no endpoint): production
//! always runs at offset 0.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this process's "now" forward (a clock jump, as after a
    /// suspend or an NTP step). For tests; time never moves back.
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds().max(0);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_and_never_back() {
        let c = Clock::default();
        let before = c.now();
        c.advance(Duration::hours(3));
        assert!(c.now() - before >= Duration::hours(3));
        c.advance(Duration::hours(-5));
        assert!(c.now() - before >= Duration::hours(3));
    }
}
