//! Login throttling per client IP and per account (GCRA via `governor`).
//! Both limits must allow an attempt; a refusal says when to retry.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginThrottle {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl LoginThrottle {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        Self {
            per_ip: RateLimiter::keyed(per_minute(per_ip_per_minute)),
            per_account: RateLimiter::keyed(per_minute(per_account_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when this attempt is over either limit.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), Duration> {
        if let Err(not_until) = self.per_ip.check_key(&ip) {
            return Err(not_until.wait_time_from(self.clock.now()));
        }
        if let Err(not_until) = self.per_account.check_key(&account.to_string()) {
            return Err(not_until.wait_time_from(self.clock.now()));
        }
        Ok(())
    }

    /// Forgets keys whose limits have fully refilled (bounded memory).
    pub fn sweep(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_account_limit_but_not_other_accounts() {
        let t = LoginThrottle::new(100, 3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(ip, "a@x.edu").is_ok());
        }
        let wait = t.check(ip, "a@x.edu").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(t.check(ip, "b@x.edu").is_ok());
    }

    #[test]
    fn refuses_past_the_ip_limit() {
        let t = LoginThrottle::new(2, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.check(ip, "a").is_ok());
        assert!(t.check(ip, "b").is_ok());
        assert!(t.check(ip, "c").is_err());
        assert!(t.check("10.0.0.2".parse().unwrap(), "c").is_ok());
    }
}
