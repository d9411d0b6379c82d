//! Bearer secrets: 256 random bits from the OS-seeded CSPRNG, handed to the
//! client once and stored only as their SHA-256 digest. A digest (not a slow
//! hash) is right here: the secret has full entropy, so there is nothing to
//! brute-force, and lookups must be fast.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_TOKEN_PREFIX: &str = "uph_";

/// A fresh 256-bit secret, hex-encoded.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// The stored form of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Secrets we hand out are ASCII hex of a fixed length; anything else is
/// refused before it reaches the store.
pub fn plausible(secret: &str) -> bool {
    let body = secret.strip_prefix(API_TOKEN_PREFIX).unwrap_or(secret);
    body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_plausible_and_digested() {
        let a = random_secret();
        let b = random_secret();
        assert_ne!(a, b);
        assert!(plausible(&a));
        assert!(plausible(&new_api_token()));
        assert!(!plausible("uph_short"));
        assert!(!plausible(&"z".repeat(64)));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
    }
}
