//! In-app notifications. Every domain event that tells a user something
//! calls `notify::push` inside the transaction of the change, so the
//! notification exists exactly when the change does. (Live delivery over SSE
//! and email through the outbox hook in here later.)

use chrono::{DateTime, Utc};
use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, codec, tables};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Info,
    Success,
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    General,
    Order,
    System,
    Announcement,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub message: String,
    pub kind: Kind,
    pub category: Category,
    /// A path in the UI, e.g. `/orders/01J…`.
    pub action: Option<String>,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

pub struct Note<'a> {
    pub title: &'a str,
    pub message: String,
    pub kind: Kind,
    pub category: Category,
    pub action: Option<String>,
}

/// Stores a notification for `user_id` in the caller's transaction.
pub fn push(
    txn: &WriteTransaction,
    user_id: &str,
    note: Note<'_>,
) -> Result<Notification, StoreError> {
    let n = Notification {
        id: ulid::Ulid::new().to_string(),
        user_id: user_id.to_string(),
        title: note.title.to_string(),
        message: note.message,
        kind: note.kind,
        category: note.category,
        action: note.action,
        read: false,
        created_at: Utc::now(),
    };
    codec::put(&mut txn.open_table(tables::NOTIFICATIONS)?, &n.id, &n)?;
    txn.open_multimap_table(tables::USER_TO_NOTIFICATIONS)?
        .insert(user_id, n.id.as_str())?;
    Ok(n)
}
