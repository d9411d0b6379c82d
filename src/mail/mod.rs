//! Email through a persistent outbox (SPEC §6).
//!
//! Code that causes a mail calls [`enqueue`] (or [`enqueue_to_user`],
//! [`enqueue_to_admins`]) inside the `Store::write` closure of the change
//! itself, so the mail exists exactly when the change does. The worker
//! (`worker`) sends due mail through lettre, retries with backoff and
//! dead-letters what the server keeps refusing; admins list, retry and
//! discard through `/api/v1/admin/mail`. Mail is rendered when it is sent,
//! from the typed [`Message`] stored with it (`templates`).

pub mod templates;
pub mod worker;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::audit::Origin;
use crate::domain::user::{User, UserStatus};
use crate::store::{StoreError, codec, tables};

/// What a mail says; the variant picks the template, the fields fill it.
/// Stored in the outbox as JSON, so a field added later needs
/// `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "template", content = "data", rename_all = "snake_case")]
pub enum Message {
    VerifyEmail {
        name: String,
        token: String,
    },
    PasswordReset {
        name: String,
        token: String,
    },
    /// The answer to a registration for an address that has an account:
    /// it says so and carries a password-reset token.
    AccountExists {
        name: String,
        token: String,
    },
    BatchReady {
        shop_name: String,
        batch_id: String,
        label: String,
        order_count: u32,
        cutoff_at: DateTime<Utc>,
    },
    StaleBatch {
        shop_name: String,
        batch_id: String,
        label: String,
        order_count: u32,
        locked_at: Option<DateTime<Utc>>,
    },
    /// To a student who opted in (`EmailPrefs::batch_locked`). Never the
    /// OTP: mail is read on shared screens and lingers in inboxes.
    OrderBatched {
        shop_name: String,
        order_id: String,
        display_id: String,
        label: String,
    },
    /// To a student who opted in (`EmailPrefs::delivered`).
    OrderDelivered {
        shop_name: String,
        order_id: String,
        display_id: String,
        /// Already written in the campus currency ("₹30.00").
        total: String,
    },
    ShopDecision {
        shop_name: String,
        shop_id: String,
        /// `VERIFIED`, `REQUIRES_ACTION` or `REJECTED`.
        decision: String,
        note: String,
    },
    Alert {
        rule: String,
        title: String,
        detail: String,
        opened_at: DateTime<Utc>,
    },
    AlertResolved {
        rule: String,
        title: String,
        opened_at: DateTime<Utc>,
        resolved_at: DateTime<Utc>,
    },
    Test {
        sent_at: DateTime<Utc>,
    },
}

impl Message {
    /// The template name (files `assets/mail/<name>.{subject.txt,txt,html}`).
    pub fn template(&self) -> &'static str {
        match self {
            Message::VerifyEmail { .. } => "verify_email",
            Message::PasswordReset { .. } => "password_reset",
            Message::AccountExists { .. } => "account_exists",
            Message::BatchReady { .. } => "batch_ready",
            Message::StaleBatch { .. } => "stale_batch",
            Message::OrderBatched { .. } => "order_batched",
            Message::OrderDelivered { .. } => "order_delivered",
            Message::ShopDecision { .. } => "shop_decision",
            Message::Alert { .. } => "alert",
            Message::AlertResolved { .. } => "alert_resolved",
            Message::Test { .. } => "test",
        }
    }

    /// Mails whose data is a secret (a sign-in capable token): admins see
    /// that they exist, never what they say.
    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            Message::VerifyEmail { .. }
                | Message::PasswordReset { .. }
                | Message::AccountExists { .. }
        )
    }

    /// Mails someone is waiting for right now (a link to confirm an
    /// address or to reset a password): the worker sends every due one of
    /// these before any other due mail, however much bulk mail is queued.
    pub fn is_urgent(&self) -> bool {
        self.is_secret()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MailState {
    Queued,
    Dead,
}

/// One mail in the outbox. Sent mail is removed (its data may hold a
/// token); what was sent is in the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMail {
    pub id: String,
    pub to: String,
    pub message: Message,
    pub state: MailState,
    pub created_at: DateTime<Utc>,
    /// Tries the SMTP server answered with an error.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub dead_at: Option<DateTime<Utc>>,
}

fn stamp_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Key of a queued mail in `OUTBOX_DUE`: fixed-width time first, so key
/// order is due order; an urgent mail's key starts with
/// [`URGENT_PREFIX`], which sorts before every time, so urgent mail forms
/// its own due-ordered run ahead of the rest.
pub(crate) fn due_key(at: DateTime<Utc>, id: &str, urgent: bool) -> String {
    let prefix = if urgent { URGENT_PREFIX } else { "" };
    format!("{prefix}{}/{id}", stamp_ms(at))
}

/// Starts the `OUTBOX_DUE` key of an urgent mail (`'!'` sorts before the
/// digits a time starts with).
pub(crate) const URGENT_PREFIX: &str = "!";

/// Takes a queued mail's key out of `OUTBOX_DUE`, in either form (a mail
/// queued before urgent keys existed has the plain one).
fn remove_due(txn: &WriteTransaction, m: &OutboxMail) -> Result<(), StoreError> {
    let mut t = txn.open_table(tables::OUTBOX_DUE)?;
    for urgent in [true, false] {
        t.remove(due_key(m.next_attempt_at, &m.id, urgent).as_str())?;
    }
    Ok(())
}

/// Puts a queued mail's key in `OUTBOX_DUE`.
fn insert_due(txn: &WriteTransaction, m: &OutboxMail) -> Result<(), StoreError> {
    let urgent = m.message.is_urgent();
    txn.open_table(tables::OUTBOX_DUE)?.insert(
        due_key(m.next_attempt_at, &m.id, urgent).as_str(),
        m.id.as_str(),
    )?;
    Ok(())
}

/// Ids in creation order even within one millisecond.
fn next_id() -> String {
    static GEN: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut g = GEN.lock().unwrap_or_else(|e| e.into_inner());
    g.generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

/// Puts a mail in the outbox, in the caller's transaction. `to` must be an
/// address we accepted before (a user's email, or one checked by the CLI).
pub fn enqueue(txn: &WriteTransaction, to: &str, message: Message) -> Result<String, StoreError> {
    let now = Utc::now();
    let mail = OutboxMail {
        id: next_id(),
        to: to.to_string(),
        message,
        state: MailState::Queued,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        dead_at: None,
    };
    codec::put(&mut txn.open_table(tables::OUTBOX)?, &mail.id, &mail)?;
    insert_due(txn, &mail)?;
    Ok(mail.id)
}

/// Mails a user, unless they are banned (or gone). Returns whether a mail
/// was queued.
pub fn enqueue_to_user(
    txn: &WriteTransaction,
    user_id: &str,
    message: Message,
) -> Result<bool, StoreError> {
    let user: Option<User> = codec::get(&txn.open_table(tables::USERS)?, user_id)?;
    match user {
        Some(u) if u.status != UserStatus::Banned => {
            enqueue(txn, &u.email, message)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Mails a student about their order if they asked for such mail.
pub fn enqueue_if_wanted(
    txn: &WriteTransaction,
    user_id: &str,
    wants: impl Fn(&crate::domain::user::EmailPrefs) -> bool,
    message: Message,
) -> Result<bool, StoreError> {
    let user: Option<User> = codec::get(&txn.open_table(tables::USERS)?, user_id)?;
    match user {
        Some(u) if wants(&u.email_prefs) && u.status != UserStatus::Banned => {
            enqueue(txn, &u.email, message)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Mails every admin who may sign in. Returns how many mails were queued.
pub fn enqueue_to_admins(txn: &WriteTransaction, message: &Message) -> Result<usize, StoreError> {
    let ids: Vec<String> = {
        let admins = txn.open_table(tables::ADMINS)?;
        let mut v = Vec::new();
        for e in admins.iter()? {
            v.push(e?.0.value().to_string());
        }
        v
    };
    let mut sent = 0;
    for id in ids {
        let user: Option<User> = codec::get(&txn.open_table(tables::USERS)?, &id)?;
        if let Some(u) = user
            && u.status.may_sign_in()
        {
            enqueue(txn, &u.email, message.clone())?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// How much mail waits and how much is dead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub queued: u64,
    pub dead: u64,
}

pub fn counts(txn: &ReadTransaction) -> Result<OutboxCounts, StoreError> {
    Ok(OutboxCounts {
        queued: txn.open_table(tables::OUTBOX_DUE)?.len()?,
        dead: txn.open_table(tables::OUTBOX_DEAD)?.len()?,
    })
}

/// Counters for metrics, plus a way to wake the worker early.
#[derive(Default)]
pub struct MailStats {
    sent: AtomicU64,
    failed_attempts: AtomicU64,
    /// The last error talking to the SMTP server; cleared by a success.
    last_error: Mutex<Option<String>>,
    pub(crate) wake: tokio::sync::Notify,
}

impl MailStats {
    /// Mails the SMTP server accepted since start.
    pub fn sent_total(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends that failed since start (refused, or the server unreachable).
    pub fn failed_attempts_total(&self) -> u64 {
        self.failed_attempts.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Queued and dead mail right now (a read of two table lengths).
    pub async fn counts(&self, store: &crate::store::Store) -> Result<OutboxCounts, StoreError> {
        store.read(counts).await
    }

    /// Makes the worker look at the outbox now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn record_failure(&self, error: &str) {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }
}

// --- Admin operations ---

#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    pub state: Option<MailState>,
    /// 1–200; 0 means the default (50).
    pub limit: usize,
    /// Id of the last mail of the previous page.
    pub cursor: Option<String>,
}

pub struct OutboxPage {
    pub items: Vec<OutboxMail>,
    pub next_cursor: Option<String>,
}

/// The outbox in id (creation) order, optionally one state only.
pub fn list(txn: &ReadTransaction, q: &OutboxQuery) -> Result<OutboxPage, StoreError> {
    let limit = crate::page::PageRequest::new(q.limit, None).limit();
    let t = txn.open_table(tables::OUTBOX)?;
    let mut items = Vec::new();
    let mut next_cursor = None;
    let range = match &q.cursor {
        Some(c) => t.range::<&str>((
            std::ops::Bound::Excluded(c.as_str()),
            std::ops::Bound::Unbounded,
        ))?,
        None => t.range::<&str>(..)?,
    };
    for e in range {
        let (_, v) = e?;
        let m: OutboxMail = codec::decode(v.value())?;
        if q.state.is_some_and(|s| s != m.state) {
            continue;
        }
        if items.len() == limit {
            next_cursor = items.last().map(|m: &OutboxMail| m.id.clone());
            break;
        }
        items.push(m);
    }
    Ok(OutboxPage { items, next_cursor })
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such mail")]
    NotFound,
    #[error("only a dead-lettered mail can be retried; this one is still queued")]
    NotDead,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::TableError> for AdminError {
    fn from(e: redb::TableError) -> Self {
        AdminError::Store(e.into())
    }
}

impl From<redb::StorageError> for AdminError {
    fn from(e: redb::StorageError) -> Self {
        AdminError::Store(e.into())
    }
}

impl From<AdminError> for crate::error::Error {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => Self::NotFound("no such mail".into()),
            AdminError::NotDead => Self::Conflict(e.to_string()),
            AdminError::Store(s) => Self::Store(s),
        }
    }
}

fn load(txn: &WriteTransaction, id: &str) -> Result<Option<OutboxMail>, StoreError> {
    codec::get(&txn.open_table(tables::OUTBOX)?, id)
}

/// Puts a dead letter back in the queue with a fresh set of tries, due now
/// (audited).
pub fn retry(txn: &WriteTransaction, origin: &Origin, id: &str) -> Result<OutboxMail, AdminError> {
    let mut m = load(txn, id)?.ok_or(AdminError::NotFound)?;
    if m.state != MailState::Dead {
        return Err(AdminError::NotDead);
    }
    let now = Utc::now();
    m.state = MailState::Queued;
    m.attempts = 0;
    m.next_attempt_at = now;
    m.dead_at = None;
    txn.open_table(tables::OUTBOX_DEAD)?.remove(id)?;
    insert_due(txn, &m)?;
    codec::put(&mut txn.open_table(tables::OUTBOX)?, id, &m)?;
    audit_mail(txn, origin, "mail.retry", &m)?;
    Ok(m)
}

/// Removes a mail, queued or dead, for good (audited).
pub fn discard(
    txn: &WriteTransaction,
    origin: &Origin,
    id: &str,
) -> Result<OutboxMail, AdminError> {
    let m = load(txn, id)?.ok_or(AdminError::NotFound)?;
    remove(txn, &m)?;
    audit_mail(txn, origin, "mail.discard", &m)?;
    Ok(m)
}

fn audit_mail(
    txn: &WriteTransaction,
    origin: &Origin,
    action: &str,
    m: &OutboxMail,
) -> Result<(), StoreError> {
    let details = format!("{} to {}", m.message.template(), m.to);
    crate::audit::append(txn, origin, action, &m.id, details)
}

/// Takes a mail out of the outbox and its indexes.
fn remove(txn: &WriteTransaction, m: &OutboxMail) -> Result<(), StoreError> {
    txn.open_table(tables::OUTBOX)?.remove(m.id.as_str())?;
    match m.state {
        MailState::Queued => remove_due(txn, m)?,
        MailState::Dead => {
            txn.open_table(tables::OUTBOX_DEAD)?.remove(m.id.as_str())?;
        }
    }
    Ok(())
}
