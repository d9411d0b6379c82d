//! Throttling of sign-in and sign-up (GCRA via `governor`).
//!
//! Every limit that keys on a client address keys on its *network*
//! ([`client_network`]): an IPv4 address as it is, an IPv6 address by its
//! /64, since one host usually holds a whole /64 and could otherwise walk
//! through 2^64 keys.
//!
//! Sign-in: an attempt must pass the per-network limit, the limit of this
//! account *from this network*, and a higher ceiling of the account from
//! all networks together. So a stranger alone, failing from their own
//! network, uses up only their own share of the account; the owner signing
//! in from another network is not locked out. Only many networks together
//! reach the account-wide ceiling (which keeps distributed guessing slow).
//!
//! Sign-up: a per-network limit and a global one, both with a small burst.
//! A refusal says when to retry.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The key a limit uses for a client address: IPv4 (and IPv4-mapped IPv6)
/// addresses as they are, other IPv6 addresses cut to their /64.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask: u128 = !0u128 << 64;
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(nonzero(n))
}

/// `n` per hour, of which at most a tenth (at least one) at once.
fn per_hour_small_burst(n: u32) -> Quota {
    let n = nonzero(n);
    let period = Duration::from_secs(3600) / n.get();
    let burst = nonzero(n.get().div_ceil(10));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_hour(n))
        .allow_burst(burst)
}

pub struct LoginThrottle {
    per_network: DefaultKeyedRateLimiter<IpAddr>,
    per_account_network: DefaultKeyedRateLimiter<(String, IpAddr)>,
    per_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginThrottle {
    /// `per_account_network`: attempts at one account from one network;
    /// `per_account`: from all networks together (set it well above).
    pub fn new(per_ip_per_minute: u32, per_account_network: u32, per_account: u32) -> Self {
        Self {
            per_network: RateLimiter::keyed(per_minute(per_ip_per_minute)),
            per_account_network: RateLimiter::keyed(per_minute(per_account_network)),
            per_account: RateLimiter::keyed(per_minute(per_account.max(per_account_network))),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when this attempt is over any limit.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), Duration> {
        let net = client_network(ip);
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        self.per_network.check_key(&net).map_err(wait)?;
        self.per_account_network
            .check_key(&(account.to_string(), net))
            .map_err(wait)?;
        self.per_account
            .check_key(&account.to_string())
            .map_err(wait)?;
        Ok(())
    }

    /// Forgets keys whose limits have fully refilled (bounded memory).
    pub fn sweep(&self) {
        self.per_network.retain_recent();
        self.per_account_network.retain_recent();
        self.per_account.retain_recent();
    }
}

/// Registrations per client network and in total.
pub struct SignupThrottle {
    per_network: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl SignupThrottle {
    pub fn new(per_ip_per_hour: u32, per_hour: u32) -> Self {
        Self {
            per_network: RateLimiter::keyed(per_hour_small_burst(per_ip_per_hour)),
            global: RateLimiter::direct(per_hour_small_burst(per_hour)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when this registration is over either limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        self.per_network
            .check_key(&client_network(ip))
            .map_err(wait)?;
        self.global.check().map_err(wait)?;
        Ok(())
    }

    pub fn sweep(&self) {
        self.per_network.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_and_ipv4_stays_whole() {
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_network(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_ne!(
            client_network(ip("10.1.2.3")),
            client_network(ip("10.1.2.4"))
        );
        assert_eq!(client_network(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn refuses_past_the_account_limit_but_not_other_accounts() {
        let t = LoginThrottle::new(100, 3, 30);
        let ip = ip("127.0.0.1");
        for _ in 0..3 {
            assert!(t.check(ip, "a@x.edu").is_ok());
        }
        let wait = t.check(ip, "a@x.edu").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(t.check(ip, "b@x.edu").is_ok());
    }

    #[test]
    fn a_stranger_cannot_lock_the_owner_out_from_another_network() {
        let t = LoginThrottle::new(100, 3, 10);
        for _ in 0..3 {
            assert!(t.check(ip("203.0.113.9"), "a@x.edu").is_ok());
        }
        assert!(t.check(ip("203.0.113.9"), "a@x.edu").is_err());
        // Another address of the stranger's IPv6 /64 is the same network.
        for _ in 0..3 {
            assert!(t.check(ip("2001:db8::1"), "a@x.edu").is_ok());
        }
        assert!(t.check(ip("2001:db8::2"), "a@x.edu").is_err());
        // The owner, elsewhere, still gets in.
        assert!(t.check(ip("198.51.100.7"), "a@x.edu").is_ok());
        // Many networks together reach the account-wide ceiling.
        for n in 0..3 {
            let _ = t.check(ip(&format!("192.0.2.{n}")), "a@x.edu");
        }
        assert!(t.check(ip("192.0.2.200"), "a@x.edu").is_err());
    }

    #[test]
    fn refuses_past_the_ip_limit() {
        let t = LoginThrottle::new(2, 100, 100);
        assert!(t.check(ip("10.0.0.1"), "a").is_ok());
        assert!(t.check(ip("10.0.0.1"), "b").is_ok());
        assert!(t.check(ip("10.0.0.1"), "c").is_err());
        assert!(t.check(ip("10.0.0.2"), "c").is_ok());
    }

    #[test]
    fn signups_are_limited_per_network_and_in_total() {
        // 20 an hour from one network: a burst of 2.
        let t = SignupThrottle::new(20, 1000);
        assert!(t.check(ip("2001:db8::1")).is_ok());
        assert!(t.check(ip("2001:db8::2")).is_ok());
        let wait = t.check(ip("2001:db8::3")).unwrap_err();
        assert!(wait > Duration::from_secs(60) && wait <= Duration::from_secs(180));
        assert!(t.check(ip("2001:db8:0:1::1")).is_ok(), "another /64");
        // 30 an hour in total: a burst of 3, whatever the network.
        let t = SignupThrottle::new(1000, 30);
        for n in 0..3 {
            assert!(t.check(ip(&format!("10.0.0.{n}"))).is_ok());
        }
        assert!(t.check(ip("10.0.0.99")).is_err());
    }
}
