//! In-app notifications. Every domain event that tells a user something
//! calls `notify::push` inside the transaction of the change, so the
//! notification exists exactly when the change does. (Live delivery over SSE
//! and email through the outbox hook in here later.)

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::page::{Dir, PageRequest};
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

/// Ids in creation order even within one millisecond (a plain
/// `Ulid::new()` is random there), because pages are cut by id.
pub(crate) fn next_id() -> String {
    static GEN: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut g = GEN.lock().unwrap_or_else(|e| e.into_inner());
    g.generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

/// Stores a notification for `user_id` in the caller's transaction.
pub fn push(
    txn: &WriteTransaction,
    user_id: &str,
    note: Note<'_>,
) -> Result<Notification, StoreError> {
    let n = Notification {
        id: next_id(),
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
    add_unread(txn, user_id, 1, true)?;
    crate::events::emit(txn, user_id, "notification", codec_json(&n)?)?;
    Ok(n)
}

fn codec_json<T: Serialize>(v: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Codec(e.to_string()))
}

fn add_unread(txn: &WriteTransaction, user_id: &str, n: u64, up: bool) -> Result<(), StoreError> {
    let mut t = txn.open_table(tables::USER_UNREAD)?;
    let now = t.get(user_id)?.map(|g| g.value()).unwrap_or(0);
    let next = if up {
        now.saturating_add(n)
    } else {
        now.saturating_sub(n)
    };
    if next == 0 {
        t.remove(user_id)?;
    } else {
        t.insert(user_id, next)?;
    }
    Ok(())
}

pub fn unread_count(txn: &ReadTransaction, user_id: &str) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(tables::USER_UNREAD)?
        .get(user_id)?
        .map(|g| g.value())
        .unwrap_or(0))
}

pub struct Page {
    pub items: Vec<Notification>,
    pub unread_count: u64,
    /// The id to pass as `cursor` for the next (older) page.
    pub next_cursor: Option<String>,
}

/// A page of a user's notifications, newest first. Ids are ULIDs, so id
/// order is time order.
pub fn list(
    txn: &ReadTransaction,
    user_id: &str,
    unread_only: bool,
    page: &PageRequest,
) -> Result<Page, StoreError> {
    let idx = txn.open_multimap_table(tables::USER_TO_NOTIFICATIONS)?;
    let t = txn.open_table(tables::NOTIFICATIONS)?;
    let found = idx.get(user_id)?.rev().filter_map(|id| {
        let id = match id {
            Ok(id) => id.value().to_string(),
            Err(e) => return Some(Err(StoreError::from(e))),
        };
        if !page.is_after(&id, Dir::Desc) {
            return None;
        }
        match codec::get::<Notification>(&t, &id) {
            Ok(Some(n)) if !(unread_only && n.read) => Some(Ok((id, n))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    });
    let found = page.take(found, Dir::Desc)?;
    Ok(Page {
        items: found.items,
        unread_count: unread_count(txn, user_id)?,
        next_cursor: found.next_cursor,
    })
}

/// Marks one of the user's notifications read; `None` when it is not
/// theirs (the caller answers 404 without saying whether it exists).
pub fn mark_read(
    txn: &WriteTransaction,
    user_id: &str,
    id: &str,
) -> Result<Option<Notification>, StoreError> {
    let mut t = txn.open_table(tables::NOTIFICATIONS)?;
    let Some(mut n) = codec::get::<Notification>(&t, id)?.filter(|n| n.user_id == user_id) else {
        return Ok(None);
    };
    if !n.read {
        n.read = true;
        codec::put(&mut t, id, &n)?;
        drop(t);
        add_unread(txn, user_id, 1, false)?;
    }
    Ok(Some(n))
}

/// Marks every notification of the user read; returns how many changed.
/// Walks newest first and stops once the unread counter is used up, since
/// unread notifications cluster at the recent end.
pub fn mark_all_read(txn: &WriteTransaction, user_id: &str) -> Result<u64, StoreError> {
    let mut left = txn
        .open_table(tables::USER_UNREAD)?
        .get(user_id)?
        .map(|g| g.value())
        .unwrap_or(0);
    let total = left;
    let ids: Vec<String> = {
        let idx = txn.open_multimap_table(tables::USER_TO_NOTIFICATIONS)?;
        let mut v = Vec::new();
        for id in idx.get(user_id)?.rev() {
            v.push(id?.value().to_string());
        }
        v
    };
    let mut t = txn.open_table(tables::NOTIFICATIONS)?;
    for id in ids {
        if left == 0 {
            break;
        }
        if let Some(mut n) = codec::get::<Notification>(&t, &id)?
            && !n.read
        {
            n.read = true;
            codec::put(&mut t, &id, &n)?;
            left -= 1;
        }
    }
    drop(t);
    txn.open_table(tables::USER_UNREAD)?.remove(user_id)?;
    Ok(total - left)
}

/// Who a broadcast is for. The roles follow from the shop, staff and admin
/// indexes, so nothing per user is stored; a student is a user with none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Audience {
    All,
    Students,
    Vendors,
    Runners,
    Admins,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Broadcast {
    pub id: String,
    pub title: String,
    pub message: String,
    pub audience: Audience,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The roles a user holds right now, for matching broadcast audiences.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    pub vendor: bool,
    pub runner: bool,
    pub admin: bool,
}

impl Roles {
    /// "Students" are the users who hold no other role: an admin who
    /// writes to students does not mean the vendors (who may order too).
    pub fn hears(&self, a: Audience) -> bool {
        match a {
            Audience::All => true,
            Audience::Students => !(self.vendor || self.runner || self.admin),
            Audience::Vendors => self.vendor,
            Audience::Runners => self.runner,
            Audience::Admins => self.admin,
        }
    }
}

/// Generic over the table handles so read and write transactions share it.
pub fn roles_in(
    owners: &impl ReadableTable<&'static str, &'static str>,
    staff: &impl ReadableMultimapTable<&'static str, &'static str>,
    admins: &impl ReadableTable<&'static str, u8>,
    user_id: &str,
) -> Result<Roles, StoreError> {
    Ok(Roles {
        vendor: owners.get(user_id)?.is_some(),
        runner: staff.get(user_id)?.next().is_some(),
        admin: admins.get(user_id)?.is_some(),
    })
}

pub fn roles(txn: &ReadTransaction, user_id: &str) -> Result<Roles, StoreError> {
    roles_in(
        &txn.open_table(tables::OWNER_TO_SHOP)?,
        &txn.open_multimap_table(tables::STAFF_TO_SHOPS)?,
        &txn.open_table(tables::ADMINS)?,
        user_id,
    )
}

/// Stores one broadcast, whatever the size of its audience.
/// Sends a broadcast (audited).
pub fn broadcast(
    txn: &WriteTransaction,
    origin: &crate::audit::Origin,
    title: &str,
    message: &str,
    audience: Audience,
) -> Result<Broadcast, StoreError> {
    let by = origin.actor_id.as_deref().unwrap_or_default();
    let b = Broadcast {
        id: next_id(),
        title: title.to_string(),
        message: message.to_string(),
        audience,
        created_by: by.to_string(),
        created_at: Utc::now(),
    };
    codec::put(&mut txn.open_table(tables::BROADCASTS)?, &b.id, &b)?;
    // Without `created_by`: which admin sent it is the audit log's business,
    // not every user's.
    let mut data = codec_json(&b)?;
    if let Some(o) = data.as_object_mut() {
        o.remove("created_by");
    }
    crate::events::emit_to(txn, audience, "broadcast", data)?;
    let details = format!("{:?}: {}", audience, b.title);
    crate::audit::append(txn, origin, "broadcast.create", &b.id, details)?;
    Ok(b)
}

/// A page of the broadcasts the user is in the audience of, newest first,
/// each with whether they have read it.
pub fn broadcasts_for(
    txn: &ReadTransaction,
    user_id: &str,
    page: &PageRequest,
) -> Result<crate::page::Page<(Broadcast, bool)>, StoreError> {
    let r = roles(txn, user_id)?;
    let mut read = std::collections::HashSet::new();
    for id in txn
        .open_multimap_table(tables::BROADCAST_READS)?
        .get(user_id)?
    {
        read.insert(id?.value().to_string());
    }
    let table = txn.open_table(tables::BROADCASTS)?;
    let upper = match &page.after {
        Some(c) => std::ops::Bound::Excluded(c.as_str()),
        None => std::ops::Bound::Unbounded,
    };
    // Keyed by id, a ULID: newest last.
    let found = table
        .range::<&str>((std::ops::Bound::Unbounded, upper))?
        .rev()
        .filter_map(|e| {
            let b: Broadcast = match e {
                Ok((_, v)) => match codec::decode(v.value()) {
                    Ok(b) => b,
                    Err(e) => return Some(Err(e)),
                },
                Err(e) => return Some(Err(StoreError::from(e))),
            };
            r.hears(b.audience).then(|| {
                let seen = read.contains(&b.id);
                Ok((b.id.clone(), (b, seen)))
            })
        });
    page.take(found, Dir::Desc)
}

/// How many of the newest broadcasts count toward a user's unread badge:
/// an old broadcast nobody opened does not nag forever.
pub const BROADCAST_WINDOW: usize = 100;

/// Broadcasts for the user's audience among the newest `BROADCAST_WINDOW`
/// that they have not read.
pub fn unread_broadcasts(txn: &ReadTransaction, user_id: &str) -> Result<u64, StoreError> {
    let r = roles(txn, user_id)?;
    let mut read = std::collections::HashSet::new();
    for id in txn
        .open_multimap_table(tables::BROADCAST_READS)?
        .get(user_id)?
    {
        read.insert(id?.value().to_string());
    }
    let mut n = 0;
    for e in txn
        .open_table(tables::BROADCASTS)?
        .iter()?
        .rev()
        .take(BROADCAST_WINDOW)
    {
        let (id, v) = e?;
        let b: Broadcast = codec::decode(v.value())?;
        if r.hears(b.audience) && !read.contains(id.value()) {
            n += 1;
        }
    }
    Ok(n)
}

/// Records that the user read a broadcast; `None` when there is no such
/// broadcast for them.
pub fn mark_broadcast_read(
    txn: &WriteTransaction,
    user_id: &str,
    id: &str,
) -> Result<Option<Broadcast>, StoreError> {
    let Some(b) = codec::get::<Broadcast>(&txn.open_table(tables::BROADCASTS)?, id)? else {
        return Ok(None);
    };
    let r = roles_in(
        &txn.open_table(tables::OWNER_TO_SHOP)?,
        &txn.open_multimap_table(tables::STAFF_TO_SHOPS)?,
        &txn.open_table(tables::ADMINS)?,
        user_id,
    )?;
    if !r.hears(b.audience) {
        return Ok(None);
    }
    txn.open_multimap_table(tables::BROADCAST_READS)?
        .insert(user_id, id)?;
    Ok(Some(b))
}
