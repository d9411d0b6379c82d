//! Registration, sign-in, sessions, API tokens and the first-admin link.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::email_tokens::{self, Purpose};
use super::password::Hasher;
use super::throttle::{LoginThrottle, SignupThrottle};
use super::token;
use crate::audit::{self, Origin};
use crate::domain::FieldError;
use crate::domain::user::{self, Email, EmailPrefsChange, User, UserStatus};
use crate::error::Error;
use crate::events::{self, Revoke, StreamCredential};
use crate::page::{self as paging, Dir, Page, PageRequest};
use crate::store::{Store, StoreError, codec, tables};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    /// Sent back in `X-CSRF-Token` on unsafe cookie-authenticated requests.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the secret, so a user can tell tokens apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SetupToken {
    expires_at: DateTime<Utc>,
}

/// What a client presented.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The session cookie's raw value.
    Session(String),
    /// An `Authorization: Bearer` value: an API token or a session token.
    Bearer(String),
}

/// How a request signed in; `key` is where the credential is stored (the
/// digest of its secret).
#[derive(Debug, Clone)]
pub enum Via {
    Session { csrf_token: String, key: String },
    ApiToken { key: String },
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

/// A session just created: the raw token goes into the cookie, once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a registration did. The HTTP answer is the same for both; this is
/// for the server's own log (the confirmation link when no SMTP is set).
#[derive(Debug, Clone)]
pub enum Registered {
    /// A new, unverified account; its confirmation link is mailed.
    New { email: String, verify_token: String },
    /// The address already has an account; `mailed` says whether a mail
    /// went out (not within a minute of the last, not to a banned account).
    Known { email: String, mailed: bool },
}

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    pub phone: Option<String>,
}

struct ValidUser {
    email: Email,
    name: String,
    password: String,
    phone: Option<String>,
}

#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hasher: Hasher,
    throttle: LoginThrottle,
    signup: SignupThrottle,
    session_ttl: Duration,
    allowed_domains: Vec<String>,
}

const SETUP_TTL_HOURS: i64 = 24;
pub const MAX_TOKENS_PER_USER: usize = 20;

fn validate(input: NewUser, allowed_domains: &[String]) -> Result<ValidUser, Error> {
    let mut errors = Vec::new();
    let email = Email::parse(&input.email).map_err(|e| errors.push(e)).ok();
    if let Some(e) = &email
        && !e.allowed_by(allowed_domains)
    {
        errors.push(FieldError::new(
            "email",
            format!(
                "registration is limited to addresses at {}",
                allowed_domains.join(", ")
            ),
        ));
    }
    let name = user::parse_name(&input.name)
        .map_err(|e| errors.push(e))
        .ok();
    let phone = user::parse_phone(input.phone.as_deref())
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if let Err(e) = user::check_new_password(&input.password) {
        errors.push(e);
    }
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => Ok(ValidUser {
            email,
            name,
            password: input.password,
            phone,
        }),
        _ => Err(Error::Invalid(errors)),
    }
}

/// Inserts a user; refuses (before writing anything) a taken email.
/// `verified`: the address counts as proven (accounts made on the server's
/// console: `uphill user create`, the demo seed, the first-admin link).
fn insert_user(
    txn: &WriteTransaction,
    v: &ValidUser,
    password_hash: &str,
    is_admin: bool,
    verified: bool,
) -> Result<User, Error> {
    let mut by_email = txn.open_table(tables::EMAIL_TO_USER)?;
    if by_email.get(v.email.key())?.is_some() {
        return Err(Error::Conflict(
            "an account with this email already exists".into(),
        ));
    }
    let now = Utc::now();
    let user = User {
        id: ulid::Ulid::new().to_string(),
        email: v.email.as_str().to_string(),
        name: v.name.clone(),
        phone: v.phone.clone(),
        password_hash: password_hash.to_string(),
        is_admin,
        status: UserStatus::Active,
        email_verified: verified,
        created_at: now,
        updated_at: now,
        email_prefs: Default::default(),
    };
    by_email.insert(v.email.key(), user.id.as_str())?;
    codec::put(&mut txn.open_table(tables::USERS)?, &user.id, &user)?;
    crate::search::enqueue(txn, crate::search::Target::User(user.id.clone()))?;
    if is_admin {
        txn.open_table(tables::ADMINS)?
            .insert(user.id.as_str(), 1)?;
    }
    Ok(user)
}

fn insert_session(
    txn: &WriteTransaction,
    user_id: &str,
    ttl: Duration,
    token: &str,
    csrf: &str,
) -> Result<NewSession, Error> {
    let now = Utc::now();
    let session = Session {
        user_id: user_id.to_string(),
        csrf_token: csrf.to_string(),
        created_at: now,
        expires_at: now + ttl,
    };
    let key = token::digest(token);
    codec::put(&mut txn.open_table(tables::SESSIONS)?, &key, &session)?;
    txn.open_multimap_table(tables::USER_TO_SESSIONS)?
        .insert(user_id, key.as_str())?;
    txn.open_table(tables::SESSION_EXPIRY)?.insert(
        crate::domain::housekeeping::index_key(session.expires_at, &key).as_str(),
        key.as_str(),
    )?;
    Ok(NewSession {
        token: token.to_string(),
        csrf_token: csrf.to_string(),
        expires_at: session.expires_at,
    })
}

/// Ends every session of a user (sign-out everywhere, suspension, ban).
pub fn delete_user_sessions(txn: &WriteTransaction, user_id: &str) -> Result<usize, StoreError> {
    let keys: Vec<String> = {
        let index = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
        let mut keys = Vec::new();
        for k in index.get(user_id)? {
            keys.push(k?.value().to_string());
        }
        keys
    };
    let mut sessions = txn.open_table(tables::SESSIONS)?;
    for k in &keys {
        sessions.remove(k.as_str())?;
    }
    txn.open_multimap_table(tables::USER_TO_SESSIONS)?
        .remove_all(user_id)?;
    Ok(keys.len())
}

/// A session's name in the API: a prefix of its stored key (itself a
/// digest of the secret), enough to tell a user's devices apart and useless
/// for signing in.
pub fn session_public_id(key: &str) -> String {
    key.chars().take(16).collect()
}

/// Ends every session of a user but `keep` (a password change).
pub fn delete_sessions_except(
    txn: &WriteTransaction,
    user_id: &str,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let keys: Vec<String> = {
        let index = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
        let mut keys = Vec::new();
        for k in index.get(user_id)? {
            let k = k?.value().to_string();
            if Some(k.as_str()) != keep {
                keys.push(k);
            }
        }
        keys
    };
    let mut sessions = txn.open_table(tables::SESSIONS)?;
    let mut index = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
    for k in &keys {
        sessions.remove(k.as_str())?;
        index.remove(user_id, k.as_str())?;
    }
    Ok(keys.len())
}

/// Revokes every API token of a user (password reset).
pub fn delete_user_tokens(txn: &WriteTransaction, user_id: &str) -> Result<usize, StoreError> {
    let keys: Vec<String> = {
        let index = txn.open_multimap_table(tables::USER_TO_API_TOKENS)?;
        let mut keys = Vec::new();
        for k in index.get(user_id)? {
            keys.push(k?.value().to_string());
        }
        keys
    };
    let mut tokens = txn.open_table(tables::API_TOKENS)?;
    for k in &keys {
        tokens.remove(k.as_str())?;
    }
    txn.open_multimap_table(tables::USER_TO_API_TOKENS)?
        .remove_all(user_id)?;
    Ok(keys.len())
}

/// A credential still valid, and when it expires (`None`: never).
pub type Rechecked = (StreamCredential, Option<DateTime<Utc>>);

/// Checks again, in `txn`, the credential a request signed in with: the
/// credential an event stream follows, and when it expires; `None` when it
/// is gone, expired, or its user may no longer sign in. An event stream
/// calls this in the snapshot it starts from, so a revocation is either
/// seen here or logged after that snapshot (and so reaches the stream).
pub fn recheck(
    txn: &ReadTransaction,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Option<Rechecked>, StoreError> {
    let (user_id, cred, expires) = match &principal.via {
        Via::Session { key, .. } => {
            let Some(s) = codec::get::<Session>(&txn.open_table(tables::SESSIONS)?, key)? else {
                return Ok(None);
            };
            (
                s.user_id,
                StreamCredential::Session(key.clone()),
                Some(s.expires_at),
            )
        }
        Via::ApiToken { key } => {
            let Some(t) = codec::get::<ApiToken>(&txn.open_table(tables::API_TOKENS)?, key)? else {
                return Ok(None);
            };
            (
                t.user_id,
                StreamCredential::Token(key.clone()),
                t.expires_at,
            )
        }
    };
    if user_id != principal.user.id || expires.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let active = find_user(txn, &user_id)?.is_some_and(|u| u.status.may_sign_in());
    Ok(active.then_some((cred, expires)))
}

pub fn find_user(txn: &ReadTransaction, user_id: &str) -> Result<Option<User>, StoreError> {
    codec::get(&txn.open_table(tables::USERS)?, user_id)
}

fn find_user_by_email(txn: &ReadTransaction, email_key: &str) -> Result<Option<User>, StoreError> {
    let id = match txn.open_table(tables::EMAIL_TO_USER)?.get(email_key)? {
        Some(g) => g.value().to_string(),
        None => return Ok(None),
    };
    find_user(txn, &id)
}

pub fn admin_exists(txn: &ReadTransaction) -> Result<bool, StoreError> {
    Ok(txn.open_table(tables::ADMINS)?.first()?.is_some())
}

fn find_user_in(txn: &WriteTransaction, user_id: &str) -> Result<Option<User>, StoreError> {
    codec::get(&txn.open_table(tables::USERS)?, user_id)
}

fn bad_email_token() -> Error {
    FieldError::new(
        "token",
        "this link is invalid, already used or expired; ask for a new one",
    )
    .into()
}

fn inactive(status: UserStatus) -> Error {
    Error::Forbidden(match status {
        UserStatus::Banned => "this account is banned".into(),
        _ => "this account is suspended; contact a campus admin".into(),
    })
}

impl AuthService {
    pub fn new(
        store: Store,
        hasher: Hasher,
        throttle: LoginThrottle,
        signup: SignupThrottle,
        session_ttl_hours: u64,
        allowed_domains: Vec<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                hasher,
                throttle,
                signup,
                session_ttl: Duration::hours(session_ttl_hours as i64),
                allowed_domains,
            }),
        }
    }

    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    /// Forgets throttle keys whose limits have refilled (bounded memory).
    pub fn sweep_throttles(&self) {
        self.inner.throttle.sweep();
        self.inner.signup.sweep();
    }

    /// Registers a student account, answering a known address exactly like
    /// a new one: both cost one password hash and one store write, and
    /// the caller says "check your mail" either way. A new address gets an
    /// unverified account and a confirmation link (which signs it in, see
    /// [`Self::confirm_verification`]); a known one gets a mail saying an
    /// account exists, with a password-reset link (at most one a minute,
    /// none to a banned account). No session is created here. Throttled per
    /// client network and in total before any hashing.
    pub async fn register(&self, input: NewUser, ip: IpAddr) -> Result<Registered, Error> {
        let v = validate(input, &self.inner.allowed_domains)?;
        if let Err(wait) = self.inner.signup.check(ip) {
            return Err(Error::TooMany {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        // Hashed for a known address too (and then thrown away), so the
        // answer takes as long whether or not the address has an account.
        let hash = self
            .inner
            .hasher
            .hash(v.password.clone())
            .await
            .map_err(Error::internal)?;
        let secret = token::random_secret();
        self.inner
            .store
            .write(move |txn| {
                let now = Utc::now();
                let existing = {
                    let id = txn
                        .open_table(tables::EMAIL_TO_USER)?
                        .get(v.email.key())?
                        .map(|g| g.value().to_string());
                    match id {
                        Some(id) => find_user_in(txn, &id)?,
                        None => None,
                    }
                };
                if let Some(user) = existing {
                    let mailed = user.status != UserStatus::Banned
                        && email_tokens::issue_with(
                            txn,
                            &user,
                            Purpose::PasswordReset,
                            &secret,
                            now,
                            crate::mail::Message::AccountExists {
                                name: user.name.clone(),
                                token: secret.clone(),
                            },
                        )?;
                    return Ok(Registered::Known {
                        email: user.email,
                        mailed,
                    });
                }
                let user = insert_user(txn, &v, &hash, false, false)?;
                email_tokens::issue(txn, &user, Purpose::VerifyEmail, &secret, now)?;
                Ok::<_, Error>(Registered::New {
                    email: user.email,
                    verify_token: secret.clone(),
                })
            })
            .await
    }

    /// Mails the signed-in user a new verification link. Returns false when
    /// the last one went out less than a minute ago (nothing is sent).
    pub async fn request_verification(&self, user_id: &str) -> Result<bool, Error> {
        let user_id = user_id.to_string();
        let secret = token::random_secret();
        self.inner
            .store
            .write(move |txn| {
                let user = find_user_in(txn, &user_id)?
                    .ok_or_else(|| Error::Unauthenticated("sign in first".into()))?;
                if user.email_verified {
                    return Err(Error::Conflict("your email is already verified".into()));
                }
                Ok(email_tokens::issue(
                    txn,
                    &user,
                    Purpose::VerifyEmail,
                    &secret,
                    Utc::now(),
                )?)
            })
            .await
    }

    /// Marks the address of the token's user verified and signs them in:
    /// the link reached the mailbox, which is what a password proves too.
    /// The token is used up; a suspended or banned account is refused (403)
    /// and its token stays as it was.
    pub async fn confirm_verification(&self, secret: &str) -> Result<(User, NewSession), Error> {
        if !token::plausible(secret) {
            return Err(bad_email_token());
        }
        let secret = secret.to_string();
        let ttl = self.inner.session_ttl;
        let (session_token, csrf) = (token::random_secret(), token::random_secret());
        self.inner
            .store
            .write(move |txn| {
                let now = Utc::now();
                let Some(user_id) = email_tokens::peek(txn, &secret, Purpose::VerifyEmail, now)?
                else {
                    return Err(bad_email_token());
                };
                let mut user = find_user_in(txn, &user_id)?.ok_or_else(bad_email_token)?;
                if !user.status.may_sign_in() {
                    return Err(inactive(user.status));
                }
                email_tokens::redeem(txn, &secret, Purpose::VerifyEmail, now)?
                    .ok_or_else(bad_email_token)?;
                user.email_verified = true;
                user.updated_at = now;
                codec::put(&mut txn.open_table(tables::USERS)?, &user.id, &user)?;
                let session = insert_session(txn, &user.id, ttl, &session_token, &csrf)?;
                Ok((user, session))
            })
            .await
    }

    /// Mails a reset link when the address belongs to an account that is not
    /// banned. The answer is the same either way (no account enumeration),
    /// and both cases go through one store write, so they take about as long.
    pub async fn request_password_reset(&self, email: &str, ip: IpAddr) -> Result<(), Error> {
        let key = email.trim().to_lowercase();
        if key.is_empty() || key.len() > Email::MAX_LEN {
            return Err(FieldError::new("email", "must be an email address").into());
        }
        if let Err(wait) = self.inner.throttle.check(ip, &format!("reset:{key}")) {
            return Err(Error::TooMany {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        let secret = token::random_secret();
        self.inner
            .store
            .write(move |txn| {
                let id = txn
                    .open_table(tables::EMAIL_TO_USER)?
                    .get(key.as_str())?
                    .map(|g| g.value().to_string());
                let user = match id {
                    Some(id) => find_user_in(txn, &id)?,
                    None => None,
                };
                if let Some(user) = user
                    && user.status != UserStatus::Banned
                {
                    email_tokens::issue(txn, &user, Purpose::PasswordReset, &secret, Utc::now())?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    /// Sets a new password with a mailed token: the token is used up, every
    /// session and API token ends (with the event streams they opened), and
    /// the address counts as verified (the link reached it).
    pub async fn reset_password(
        &self,
        secret: &str,
        password: String,
        origin: Origin,
    ) -> Result<(), Error> {
        user::check_new_password(&password)?;
        if !token::plausible(secret) {
            return Err(bad_email_token());
        }
        // Refuse dead tokens before paying for a hash.
        let (probe, now) = (secret.to_string(), Utc::now());
        let live = self
            .inner
            .store
            .read(move |txn| {
                Ok::<_, Error>(email_tokens::is_live(
                    txn,
                    &probe,
                    Purpose::PasswordReset,
                    now,
                )?)
            })
            .await?;
        if !live {
            return Err(bad_email_token());
        }
        let hash = self
            .inner
            .hasher
            .hash(password)
            .await
            .map_err(Error::internal)?;
        let secret = secret.to_string();
        self.inner
            .store
            .write(move |txn| {
                let now = Utc::now();
                let Some(user_id) =
                    email_tokens::redeem(txn, &secret, Purpose::PasswordReset, now)?
                else {
                    return Err(bad_email_token());
                };
                let mut user = find_user_in(txn, &user_id)?.ok_or_else(bad_email_token)?;
                user.password_hash = hash.clone();
                user.email_verified = true;
                user.updated_at = now;
                codec::put(&mut txn.open_table(tables::USERS)?, &user.id, &user)?;
                // Whoever knew the old password may have made tokens with it.
                let ended = delete_user_sessions(txn, &user.id)?;
                let tokens = delete_user_tokens(txn, &user.id)?;
                events::revoke(txn, &user.id, &Revoke::User)?;
                let mut origin = origin.clone();
                origin.actor_id = Some(user.id.clone());
                audit::append(
                    txn,
                    &origin,
                    "user.password_reset",
                    &user.id,
                    format!(
                        "password reset by email link; {ended} sessions ended, \
                         {tokens} API tokens revoked"
                    ),
                )?;
                Ok(())
            })
            .await
    }

    /// Signs in. A wrong password and an unknown email get the same answer
    /// and take the same time.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        ip: IpAddr,
    ) -> Result<(User, NewSession), Error> {
        let unauthorized = || Error::Unauthenticated("wrong email or password".into());
        let key = email.trim().to_lowercase();
        if key.is_empty() || key.len() > Email::MAX_LEN || password.chars().count() > 128 {
            return Err(unauthorized());
        }
        if let Err(wait) = self.inner.throttle.check(ip, &key) {
            return Err(Error::TooMany {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        let user = self
            .inner
            .store
            .read(move |txn| Ok::<_, Error>(find_user_by_email(txn, &key)?))
            .await?;
        let ok = self
            .inner
            .hasher
            .verify(user.as_ref().map(|u| u.password_hash.clone()), password)
            .await;
        let user = match user {
            Some(u) if ok => u,
            _ => return Err(unauthorized()),
        };
        if !user.status.may_sign_in() {
            return Err(inactive(user.status));
        }
        let ttl = self.inner.session_ttl;
        let (token, csrf) = (token::random_secret(), token::random_secret());
        let user_id = user.id.clone();
        let session = self
            .inner
            .store
            .write(move |txn| insert_session(txn, &user_id, ttl, &token, &csrf))
            .await?;
        Ok((user, session))
    }

    /// Resolves a credential to its user: 401 when unknown or expired, 403
    /// when the account is no longer active.
    pub async fn authenticate(&self, cred: Credential) -> Result<Principal, Error> {
        let unauthorized = || Error::Unauthenticated("sign in first".into());
        let secret = match &cred {
            Credential::Session(s) | Credential::Bearer(s) => s.clone(),
        };
        if !token::plausible(&secret) {
            return Err(unauthorized());
        }
        let key = token::digest(&secret);
        let is_api_token = secret.starts_with(token::API_TOKEN_PREFIX);
        let now = Utc::now();
        // Two point reads of small, hot tables take microseconds, less than
        // the hop to the blocking pool and back that `Store::read` costs
        // every request (on two cores, each hop may wait for a core).
        let found =
            self.inner
                .store
                .read_blocking(move |txn| -> Result<Option<(User, Via)>, Error> {
                    let (user_id, via) = if is_api_token {
                        let Some(t) =
                            codec::get::<ApiToken>(&txn.open_table(tables::API_TOKENS)?, &key)?
                        else {
                            return Ok(None);
                        };
                        if t.expires_at.is_some_and(|e| e <= now) {
                            return Ok(None);
                        }
                        (t.user_id, Via::ApiToken { key })
                    } else {
                        let Some(s) =
                            codec::get::<Session>(&txn.open_table(tables::SESSIONS)?, &key)?
                        else {
                            return Ok(None);
                        };
                        if s.expires_at <= now {
                            return Ok(None);
                        }
                        (
                            s.user_id,
                            Via::Session {
                                csrf_token: s.csrf_token,
                                key,
                            },
                        )
                    };
                    Ok(find_user(txn, &user_id)?.map(|u| (u, via)))
                })?;
        let Some((user, via)) = found else {
            return Err(unauthorized());
        };
        // An API token is a bearer credential; a cookie is a session.
        if matches!(cred, Credential::Session(_)) && matches!(via, Via::ApiToken { .. }) {
            return Err(unauthorized());
        }
        if !user.status.may_sign_in() {
            return Err(inactive(user.status));
        }
        Ok(Principal { user, via })
    }

    pub async fn logout(&self, principal: &Principal) -> Result<(), Error> {
        if let Via::Session { key, .. } = &principal.via {
            let key = key.clone();
            let user_id = principal.user.id.clone();
            self.inner
                .store
                .write(move |txn| {
                    txn.open_table(tables::SESSIONS)?.remove(key.as_str())?;
                    txn.open_multimap_table(tables::USER_TO_SESSIONS)?
                        .remove(user_id.as_str(), key.as_str())?;
                    events::revoke(txn, &user_id, &Revoke::Session { key: key.clone() })?;
                    Ok::<_, Error>(())
                })
                .await?;
        }
        Ok(())
    }

    /// Changes the password of the signed-in user, who proves the current
    /// one. Every other session ends, with the event streams it opened; the
    /// one asking stays signed in, and API tokens stay (they were made by the
    /// owner on purpose; a reset, which suggests a stolen password, ends them).
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
        ip: IpAddr,
        origin: Origin,
    ) -> Result<usize, Error> {
        user::check_new_password(&new)?;
        let key = principal.user.email.to_lowercase();
        if let Err(wait) = self.inner.throttle.check(ip, &key) {
            return Err(Error::TooMany {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        if current.chars().count() > 128
            || !self
                .inner
                .hasher
                .verify(Some(principal.user.password_hash.clone()), current)
                .await
        {
            return Err(FieldError::new("current_password", "is not your current password").into());
        }
        let hash = self.inner.hasher.hash(new).await.map_err(Error::internal)?;
        let user_id = principal.user.id.clone();
        let keep = match &principal.via {
            Via::Session { key, .. } => Some(key.clone()),
            Via::ApiToken { .. } => None,
        };
        self.inner
            .store
            .write(move |txn| {
                let mut user = find_user_in(txn, &user_id)?
                    .ok_or_else(|| Error::Unauthenticated("sign in first".into()))?;
                user.password_hash = hash.clone();
                user.updated_at = Utc::now();
                codec::put(&mut txn.open_table(tables::USERS)?, &user.id, &user)?;
                let ended = delete_sessions_except(txn, &user.id, keep.as_deref())?;
                events::revoke(txn, &user.id, &Revoke::Sessions { keep: keep.clone() })?;
                audit::append(
                    txn,
                    &origin,
                    "user.password_change",
                    &user.id,
                    format!("password changed; {ended} other sessions ended"),
                )?;
                Ok(ended)
            })
            .await
    }

    /// Changes the user's own name and phone: only what is given (an empty
    /// phone removes it). Audited; the shops the user orders from see the
    /// new name on orders placed from now on (orders keep their snapshot).
    pub async fn update_profile(
        &self,
        user_id: &str,
        name: Option<String>,
        phone: Option<String>,
        emails: EmailPrefsChange,
        origin: Origin,
    ) -> Result<User, Error> {
        let mut errors = Vec::new();
        let name = name
            .map(|n| user::parse_name(&n))
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(e);
                None
            });
        let phone = phone
            .map(|p| user::parse_phone(Some(&p)))
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(e);
                None
            });
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let user_id = user_id.to_string();
        self.inner
            .store
            .write(move |txn| {
                let mut user = find_user_in(txn, &user_id)?
                    .ok_or_else(|| Error::Unauthenticated("sign in first".into()))?;
                let mut changed = Vec::new();
                if let Some(n) = name.clone().filter(|n| *n != user.name) {
                    user.name = n;
                    changed.push("name");
                }
                if let Some(p) = phone.clone().filter(|p| *p != user.phone) {
                    user.phone = p;
                    changed.push("phone");
                }
                let prefs = emails.apply(user.email_prefs);
                if prefs != user.email_prefs {
                    user.email_prefs = prefs;
                    changed.push("email preferences");
                }
                if changed.is_empty() {
                    return Ok(user);
                }
                user.updated_at = Utc::now();
                codec::put(&mut txn.open_table(tables::USERS)?, &user.id, &user)?;
                audit::append(
                    txn,
                    &origin,
                    "user.profile_change",
                    &user.id,
                    format!("changed {}", changed.join(" and ")),
                )?;
                Ok(user)
            })
            .await
    }

    /// A page of the user's sessions (signed-in devices), newest first.
    pub async fn list_sessions(
        &self,
        user_id: &str,
        page: PageRequest,
    ) -> Result<Page<(String, Session)>, Error> {
        let user_id = user_id.to_string();
        let now = Utc::now();
        self.inner
            .store
            .read(move |txn| {
                let index = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
                let table = txn.open_table(tables::SESSIONS)?;
                let mut out = Vec::new();
                for k in index.get(user_id.as_str())? {
                    let k = k?.value().to_string();
                    if let Some(s) = codec::get::<Session>(&table, &k)?
                        && s.expires_at > now
                    {
                        out.push((k, s));
                    }
                }
                // The cursor names a session by its public id, never its key.
                let key = |(k, s): &(String, Session)| {
                    paging::key(&[
                        &paging::num(s.created_at.timestamp_micros()),
                        &session_public_id(k),
                    ])
                };
                Ok::<_, Error>(page.sort_and_take(out, key, Dir::Desc))
            })
            .await
    }

    /// Ends one of the user's sessions, named by `session_public_id`, with
    /// the event streams it opened.
    pub async fn end_session(&self, user_id: &str, public_id: &str) -> Result<(), Error> {
        let (user_id, public_id) = (user_id.to_string(), public_id.to_string());
        self.inner
            .store
            .write(move |txn| {
                let key = {
                    let index = txn.open_multimap_table(tables::USER_TO_SESSIONS)?;
                    let mut found = None;
                    for k in index.get(user_id.as_str())? {
                        let k = k?.value().to_string();
                        if session_public_id(&k) == public_id {
                            found = Some(k);
                            break;
                        }
                    }
                    found
                };
                let key = key.ok_or_else(|| Error::NotFound("no such session".into()))?;
                txn.open_table(tables::SESSIONS)?.remove(key.as_str())?;
                txn.open_multimap_table(tables::USER_TO_SESSIONS)?
                    .remove(user_id.as_str(), key.as_str())?;
                events::revoke(txn, &user_id, &Revoke::Session { key })?;
                Ok::<_, Error>(())
            })
            .await
    }

    pub async fn list_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>, Error> {
        let user_id = user_id.to_string();
        self.inner
            .store
            .read(move |txn| {
                let index = txn.open_multimap_table(tables::USER_TO_API_TOKENS)?;
                let table = txn.open_table(tables::API_TOKENS)?;
                let mut out = Vec::new();
                for k in index.get(user_id.as_str())? {
                    if let Some(t) = codec::get::<ApiToken>(&table, k?.value())? {
                        out.push(t);
                    }
                }
                out.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(out)
            })
            .await
    }

    /// Creates a personal API token; the secret is returned once and only
    /// its digest is kept.
    pub async fn create_token(
        &self,
        user_id: &str,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<(ApiToken, String), Error> {
        let name = crate::domain::bounded_text("name", name, 1, 60, false)?;
        if let Some(d) = expires_in_days
            && !(1..=3650).contains(&d)
        {
            return Err(FieldError::new("expires_in_days", "must be between 1 and 3650").into());
        }
        let secret = token::new_api_token();
        let now = Utc::now();
        let record = ApiToken {
            id: ulid::Ulid::new().to_string(),
            user_id: user_id.to_string(),
            name,
            hint: secret[..token::API_TOKEN_PREFIX.len() + 6].to_string(),
            created_at: now,
            expires_at: expires_in_days.map(|d| now + Duration::days(d as i64)),
        };
        let key = token::digest(&secret);
        let rec = record.clone();
        self.inner
            .store
            .write(move |txn| {
                let mut index = txn.open_multimap_table(tables::USER_TO_API_TOKENS)?;
                if index.get(rec.user_id.as_str())?.count() >= MAX_TOKENS_PER_USER {
                    return Err(Error::Conflict(format!(
                        "at most {MAX_TOKENS_PER_USER} tokens per user; revoke one first"
                    )));
                }
                codec::put(&mut txn.open_table(tables::API_TOKENS)?, &key, &rec)?;
                index.insert(rec.user_id.as_str(), key.as_str())?;
                Ok(())
            })
            .await?;
        Ok((record, secret))
    }

    /// Revokes one of the user's own tokens, ending the event streams it
    /// opened; another user's id is a 404.
    pub async fn revoke_token(&self, user_id: &str, token_id: &str) -> Result<(), Error> {
        let (user_id, token_id) = (user_id.to_string(), token_id.to_string());
        self.inner
            .store
            .write(move |txn| {
                let mut index = txn.open_multimap_table(tables::USER_TO_API_TOKENS)?;
                let mut table = txn.open_table(tables::API_TOKENS)?;
                let mut found = None;
                for k in index.get(user_id.as_str())? {
                    let k = k?.value().to_string();
                    if codec::get::<ApiToken>(&table, &k)?.is_some_and(|t| t.id == token_id) {
                        found = Some(k);
                        break;
                    }
                }
                let Some(k) = found else {
                    return Err(Error::NotFound("no such token".into()));
                };
                table.remove(k.as_str())?;
                index.remove(user_id.as_str(), k.as_str())?;
                events::revoke(txn, &user_id, &Revoke::Token { key: k })?;
                Ok(())
            })
            .await
    }

    /// When no admin exists yet, replaces any earlier setup link with a new
    /// one-time token (valid 24 h) and returns it.
    pub async fn first_admin_token(&self) -> Result<Option<String>, Error> {
        // Read first: once an admin exists, starting needs no write, so a
        // server restarted on a disk below the write reserve still comes up
        // (read-only, `/readyz` red) instead of failing to start.
        let has_admin = self
            .inner
            .store
            .read(|txn| Ok::<_, Error>(txn.open_table(tables::ADMINS)?.first()?.is_some()))
            .await?;
        if has_admin {
            return Ok(None);
        }
        let secret = token::random_secret();
        let key = token::digest(&secret);
        let expires_at = Utc::now() + Duration::hours(SETUP_TTL_HOURS);
        self.inner
            .store
            .write(move |txn| {
                if txn.open_table(tables::ADMINS)?.first()?.is_some() {
                    return Ok(None);
                }
                let mut t = txn.open_table(tables::SETUP_TOKENS)?;
                t.retain(|_, _| false)?;
                codec::put(&mut t, &key, &SetupToken { expires_at })?;
                Ok(Some(secret.clone()))
            })
            .await
    }

    /// Creates the first admin from the one-time link, and signs them in.
    pub async fn complete_setup(
        &self,
        setup_token: &str,
        input: NewUser,
        origin: Origin,
    ) -> Result<(User, NewSession), Error> {
        let invalid = || Error::Forbidden("this setup link is invalid or already used".into());
        if !token::plausible(setup_token) {
            return Err(invalid());
        }
        let v = validate(input, &[])?;
        let hash = self
            .inner
            .hasher
            .hash(v.password.clone())
            .await
            .map_err(Error::internal)?;
        let key = token::digest(setup_token);
        let ttl = self.inner.session_ttl;
        let (token, csrf) = (token::random_secret(), token::random_secret());
        self.inner
            .store
            .write(move |txn| {
                let valid = codec::get::<SetupToken>(&txn.open_table(tables::SETUP_TOKENS)?, &key)?
                    .is_some_and(|t| t.expires_at > Utc::now());
                if !valid || txn.open_table(tables::ADMINS)?.first()?.is_some() {
                    return Err(invalid());
                }
                let user = insert_user(txn, &v, &hash, true, true)?;
                txn.open_table(tables::SETUP_TOKENS)?.retain(|_, _| false)?;
                let mut origin = origin.clone();
                origin.actor_id = Some(user.id.clone());
                audit::append(
                    txn,
                    &origin,
                    "admin.setup",
                    &user.id,
                    "first admin created from the setup link",
                )?;
                let session = insert_session(txn, &user.id, ttl, &token, &csrf)?;
                Ok((user, session))
            })
            .await
    }

    /// `uphill user create`: runs on the server's console, off the executor.
    pub fn create_user_blocking(
        store: &Store,
        input: NewUser,
        is_admin: bool,
    ) -> Result<User, Error> {
        let v = validate(input, &[])?;
        let hash = super::password::hash_blocking(&v.password).map_err(Error::internal)?;
        store.write_blocking(move |txn| {
            let user = insert_user(txn, &v, &hash, is_admin, true)?;
            let action = if is_admin {
                "user.create_admin"
            } else {
                "user.create"
            };
            audit::append(
                txn,
                &Origin::default(),
                action,
                &user.id,
                "created with `uphill user create`",
            )?;
            Ok(user)
        })
    }
}
