//! One-time tokens sent by email: address verification and password
//! reset. A token is 256 random bits, mailed once and stored only as its
//! SHA-256 digest (like API tokens); it expires, works once, and a user
//! holds at most one live token per purpose (a new one replaces the old).
//! Issuing queues the mail in the same transaction.

use chrono::{DateTime, Duration, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::domain::user::User;
use crate::mail::{self, Message};
use crate::store::{StoreError, codec, tables};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    fn key(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
        }
    }

    /// How long a mailed link works.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::hours(48),
            Purpose::PasswordReset => Duration::hours(1),
        }
    }
}

/// A new token is not issued (nor mailed) within this long of the last
/// one, so the request endpoints cannot be used to flood a mailbox.
pub const RESEND_AFTER: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailToken {
    pub user_id: String,
    pub purpose: Purpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn slot(purpose: Purpose, user_id: &str) -> String {
    format!("{}/{user_id}", purpose.key())
}

/// Issues `secret` as the user's token for `purpose` and queues its mail.
/// Returns false (and writes nothing) when the last one is too recent.
pub fn issue(
    txn: &WriteTransaction,
    user: &User,
    purpose: Purpose,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let message = match purpose {
        Purpose::VerifyEmail => Message::VerifyEmail {
            name: user.name.clone(),
            token: secret.to_string(),
        },
        Purpose::PasswordReset => Message::PasswordReset {
            name: user.name.clone(),
            token: secret.to_string(),
        },
    };
    issue_with(txn, user, purpose, secret, now, message)
}

/// [`issue`] with another mail carrying the token (e.g. "an account with
/// this address exists" with a reset link). Same rules: nothing is written
/// or mailed when the last token of `purpose` is under a minute old.
pub fn issue_with(
    txn: &WriteTransaction,
    user: &User,
    purpose: Purpose,
    secret: &str,
    now: DateTime<Utc>,
    message: Message,
) -> Result<bool, StoreError> {
    let key = slot(purpose, &user.id);
    let old = txn
        .open_table(tables::USER_EMAIL_TOKENS)?
        .get(key.as_str())?
        .map(|g| g.value().to_string());
    if let Some(old) = &old {
        let prev: Option<EmailToken> = codec::get(&txn.open_table(tables::EMAIL_TOKENS)?, old)?;
        if prev.is_some_and(|p| p.expires_at > now && now - p.created_at < RESEND_AFTER) {
            return Ok(false);
        }
    }
    store_token(txn, &user.id, purpose, secret, now)?;
    mail::enqueue(txn, &user.email, message)?;
    Ok(true)
}

/// Makes `secret` the user's one live token of `purpose` (replacing any
/// older one) without mailing it: [`issue`] mails it; the test suite uses
/// this to stand in for reading the mail.
pub fn store_token(
    txn: &WriteTransaction,
    user_id: &str,
    purpose: Purpose,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let key = slot(purpose, user_id);
    let old = txn
        .open_table(tables::USER_EMAIL_TOKENS)?
        .get(key.as_str())?
        .map(|g| g.value().to_string());
    if let Some(old) = &old {
        txn.open_table(tables::EMAIL_TOKENS)?.remove(old.as_str())?;
    }
    let digest = super::token::digest(secret);
    let record = EmailToken {
        user_id: user_id.to_string(),
        purpose,
        created_at: now,
        expires_at: now + purpose.ttl(),
    };
    codec::put(&mut txn.open_table(tables::EMAIL_TOKENS)?, &digest, &record)?;
    txn.open_table(tables::USER_EMAIL_TOKENS)?
        .insert(key.as_str(), digest.as_str())?;
    Ok(())
}

/// The user a live token of `purpose` belongs to, without using it up.
pub fn peek(
    txn: &WriteTransaction,
    secret: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let t: Option<EmailToken> = codec::get(
        &txn.open_table(tables::EMAIL_TOKENS)?,
        &super::token::digest(secret),
    )?;
    Ok(t.filter(|t| t.purpose == purpose && t.expires_at > now)
        .map(|t| t.user_id))
}

/// Whether `secret` is a live token of `purpose` (a read, to refuse early).
pub fn is_live(
    txn: &ReadTransaction,
    secret: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let t: Option<EmailToken> = codec::get(
        &txn.open_table(tables::EMAIL_TOKENS)?,
        &super::token::digest(secret),
    )?;
    Ok(t.is_some_and(|t| t.purpose == purpose && t.expires_at > now))
}

/// Uses up a token: returns its user when it was live and of `purpose`.
/// Anything else writes nothing (the caller rejects the request, and a
/// rejection must not change the store); expired tokens are replaced by
/// the next one issued.
pub fn redeem(
    txn: &WriteTransaction,
    secret: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let digest = super::token::digest(secret);
    let t: Option<EmailToken> = codec::get(&txn.open_table(tables::EMAIL_TOKENS)?, &digest)?;
    let Some(t) = t else { return Ok(None) };
    if t.purpose != purpose || t.expires_at <= now {
        return Ok(None);
    }
    txn.open_table(tables::EMAIL_TOKENS)?
        .remove(digest.as_str())?;
    txn.open_table(tables::USER_EMAIL_TOKENS)?
        .remove(slot(purpose, &t.user_id).as_str())?;
    Ok(Some(t.user_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::UserStatus;
    use crate::store::{Store, WriterOptions};

    fn user() -> User {
        let now = Utc::now();
        User {
            id: "01USER".into(),
            email: "a@uni.edu".into(),
            name: "A".into(),
            phone: None,
            password_hash: String::new(),
            is_admin: false,
            status: UserStatus::Active,
            email_verified: false,
            created_at: now,
            updated_at: now,
            email_prefs: Default::default(),
        }
    }

    fn issue_at(store: &Store, secret: &str, purpose: Purpose, at: DateTime<Utc>) -> bool {
        let (u, s) = (user(), secret.to_string());
        store
            .write_blocking(move |txn| issue(txn, &u, purpose, &s, at))
            .unwrap()
    }

    fn redeem_at(
        store: &Store,
        secret: &str,
        purpose: Purpose,
        at: DateTime<Utc>,
    ) -> Option<String> {
        let s = secret.to_string();
        store
            .write_blocking(move |txn| redeem(txn, &s, purpose, at))
            .unwrap()
    }

    #[test]
    fn tokens_expire_work_once_keep_to_their_purpose_and_replace_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        let t0 = Utc::now();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        assert!(issue_at(&store, &a, Purpose::PasswordReset, t0));
        // Too soon for another mail: nothing issued, the first stays live.
        assert!(!issue_at(
            &store,
            &b,
            Purpose::PasswordReset,
            t0 + Duration::seconds(30)
        ));
        assert_eq!(redeem_at(&store, &b, Purpose::PasswordReset, t0), None);
        assert_eq!(
            redeem_at(&store, &a, Purpose::VerifyEmail, t0),
            None,
            "wrong purpose"
        );
        let late = t0 + Purpose::PasswordReset.ttl() + Duration::seconds(1);
        assert_eq!(
            redeem_at(&store, &a, Purpose::PasswordReset, late),
            None,
            "expired"
        );
        assert_eq!(
            redeem_at(&store, &a, Purpose::PasswordReset, t0).as_deref(),
            Some("01USER"),
            "a refused redeem wrote nothing"
        );
        assert_eq!(
            redeem_at(&store, &a, Purpose::PasswordReset, t0),
            None,
            "used once"
        );

        // A newer token replaces the older one.
        let t1 = t0 + Duration::seconds(120);
        assert!(issue_at(&store, &a, Purpose::VerifyEmail, t1));
        assert!(issue_at(
            &store,
            &b,
            Purpose::VerifyEmail,
            t1 + RESEND_AFTER
        ));
        assert_eq!(
            redeem_at(&store, &a, Purpose::VerifyEmail, t1 + RESEND_AFTER),
            None
        );
        assert!(redeem_at(&store, &b, Purpose::VerifyEmail, t1 + RESEND_AFTER).is_some());
        // Each issued token queued its mail.
        let queued = store.read_blocking(crate::mail::counts).unwrap().queued;
        assert_eq!(queued, 3);
    }
}
