//! argon2id password hashing at OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1). Each hash costs tens of milliseconds of CPU, so it runs on the
//! blocking pool behind a small semaphore: a burst of logins queues up
//! instead of starving every other request of the two cores. Sign-in
//! checks and new hashes (registration, reset, setup) have a semaphore
//! each, so a wave of sign-ups queues behind its own permits and sign-in
//! keeps its capacity.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Hasher {
    /// For [`Hasher::verify`] (sign-in).
    permits: Arc<Semaphore>,
    /// For [`Hasher::hash`] (new passwords).
    hash_permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so a wrong email costs
    /// the same time as a wrong password (no timing oracle). Made on first
    /// use: hashing at start would cost 19 MiB and ~50 ms before `/readyz`.
    dummy: Arc<std::sync::OnceLock<String>>,
}

fn argon() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

pub fn verify_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl Hasher {
    /// `verify_concurrency` checks at sign-in and `hash_concurrency` new
    /// hashes may run at once, each apart from the other.
    pub fn new(verify_concurrency: usize, hash_concurrency: usize) -> anyhow::Result<Self> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(verify_concurrency.max(1))),
            hash_permits: Arc::new(Semaphore::new(hash_concurrency.max(1))),
            dummy: Arc::default(),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.hash_permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no account, and then always fails.
    pub async fn verify(&self, hash: Option<String>, password: String) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let dummy = self.dummy.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let hash = match hash {
                Some(h) => h,
                // Hashing with fixed, valid parameters does not fail; if it
                // did, the empty string verifies nothing.
                None => dummy
                    .get_or_init(|| hash_blocking("uphill-dummy-password").unwrap_or_default())
                    .clone(),
            };
            verify_blocking(&hash, &password)
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_at_owasp_parameters() {
        let h = hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "correct horse"));
        assert!(!verify_blocking(&h, "Correct horse"));
        assert!(!verify_blocking("not a hash", "x"));
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        let hasher = Hasher::new(1, 1).unwrap();
        assert!(!hasher.verify(None, "uphill-dummy-password".into()).await);
    }

    #[tokio::test]
    async fn new_hashes_do_not_take_sign_in_permits() {
        let hasher = Hasher::new(1, 1).unwrap();
        // A sign-up hashing (tens of ms at least): while it runs, the
        // sign-in permit stays free.
        let h = hasher.clone();
        let signup = tokio::spawn(async move { h.hash("correct horse".into()).await });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while hasher.hash_permits.available_permits() == 1
            && hasher.permits.available_permits() == 1
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(
            hasher.hash_permits.available_permits(),
            0,
            "the sign-up hashes"
        );
        assert_eq!(
            hasher.permits.available_permits(),
            1,
            "the sign-in permit is left free"
        );
        assert!(signup.await.unwrap().is_ok());
    }
}
