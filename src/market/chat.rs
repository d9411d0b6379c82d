//! Order chat: one thread per order between its student and the shop's
//! staff. Admins may read any thread (disputes) but do not post in it.
//! Rules (length, rate, when a thread closes) are in `domain::chat`.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::domain::chat::{self, Refusal};
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::error::Error;
use crate::market::orders::{self, Relation};
use crate::notify::{self, Category, Kind, Note};
use crate::page::{Dir, Page, PageRequest};
use crate::store::{StoreError, codec, tables};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Sender {
    Student,
    Shop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub order_id: String,
    pub author_id: String,
    pub sender: Sender,
    /// The student's name, or the shop's name for staff: students talk to
    /// the shop, and staff names are not theirs to hand out.
    pub sender_name: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// Keys are `order id` + `/` + message id, so one thread is one key range
/// in creation order.
fn key(order_id: &str, message_id: &str) -> String {
    format!("{order_id}/{message_id}")
}

fn thread(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    order_id: &str,
) -> Result<Vec<Message>, StoreError> {
    let lo = format!("{order_id}/");
    // '0' is the character after '/', so this is exactly the thread's prefix.
    let hi = format!("{order_id}0");
    let mut out = Vec::new();
    for e in t.range(lo.as_str()..hi.as_str())? {
        out.push(codec::decode(e?.1.value())?);
    }
    Ok(out)
}

fn ended_at(o: &Order) -> Option<DateTime<Utc>> {
    (!o.status.is_open())
        .then(|| o.transitions.last().map(|t| t.at))
        .flatten()
}

/// A page of the thread of an order the caller may see, oldest first, after
/// the message id `after` if given.
pub fn list(
    txn: &ReadTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    after: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Message>, Error> {
    orders::visible(
        &txn.open_table(tables::ORDERS)?,
        &txn.open_table(tables::SHOPS)?,
        order_id,
        user_id,
        is_admin,
    )?;
    let all = thread(&txn.open_table(tables::CHAT_MESSAGES)?, order_id)?;
    let found = all
        .into_iter()
        .filter(|m| after.is_none_or(|a| m.id.as_str() > a))
        .map(|m| Ok::<_, Error>((m.id.clone(), m)));
    page.take(found, Dir::Asc)
}

/// Posts a message and tells the other side (and the author's other
/// devices) over the event stream, in one transaction.
pub fn post(
    txn: &WriteTransaction,
    order_id: &str,
    user_id: &str,
    is_admin: bool,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Message, Error> {
    let (order, relation) = orders::visible(
        &txn.open_table(tables::ORDERS)?,
        &txn.open_table(tables::SHOPS)?,
        order_id,
        user_id,
        is_admin,
    )?;
    let sender = match relation {
        Relation::Student => Sender::Student,
        Relation::Staff { .. } => Sender::Shop,
        Relation::Admin => {
            return Err(Error::Forbidden(
                "admins can read order chats but not post in them".into(),
            ));
        }
    };
    let shop: Shop = codec::get(&txn.open_table(tables::SHOPS)?, &order.shop_id)?
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    let mut table = txn.open_table(tables::CHAT_MESSAGES)?;
    let existing = thread(&table, order_id)?;
    let mine: Vec<DateTime<Utc>> = existing
        .iter()
        .filter(|m| m.author_id == user_id)
        .map(|m| m.at)
        .collect();
    let open = chat::is_open(order.status, ended_at(&order), now);
    chat::may_post(existing.len(), &mine, open, now).map_err(|r| match r {
        Refusal::Closed => {
            Error::Conflict("this order's chat is closed: it ended more than 3 days ago".into())
        }
        Refusal::Full => Error::Conflict("this order's chat is full".into()),
        Refusal::TooFast { retry_after_secs } => Error::TooMany { retry_after_secs },
    })?;
    let sender_name = match sender {
        Sender::Shop => shop.name.clone(),
        Sender::Student => codec::get::<User>(&txn.open_table(tables::USERS)?, user_id)?
            .map(|u| u.name)
            .unwrap_or_default(),
    };
    let m = Message {
        id: crate::notify::next_id(),
        order_id: order_id.to_string(),
        author_id: user_id.to_string(),
        sender,
        sender_name,
        body: body.to_string(),
        at: now,
    };
    table.insert(key(order_id, &m.id).as_str(), codec::encode(&m)?.as_slice())?;
    drop(table);
    // Without `author_id`: a student talks to the shop, and which staff
    // member wrote is not theirs to learn (SPEC §3, ChatMessage).
    let mut data = serde_json::to_value(&m).map_err(|e| Error::Internal(e.into()))?;
    if let Some(o) = data.as_object_mut() {
        o.remove("author_id");
    }
    index_thread(txn, &order, &m)?;
    if sender == Sender::Student {
        tell_shop(txn, &shop, &order, &m)?;
    } else {
        tell_student(txn, &order, &m)?;
    }
    let mut parties = vec![order.user_id.clone(), shop.owner_id.clone()];
    parties.extend(shop.staff.iter().cloned());
    parties.sort();
    parties.dedup();
    for p in &parties {
        crate::events::emit(txn, p, "chat.message", data.clone())?;
    }
    Ok(m)
}

/// The latest message of one order's thread: a row of the shop's inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thread {
    pub order_id: String,
    pub shop_id: String,
    pub display_id: String,
    pub student_id: String,
    pub last_message_id: String,
    pub last_sender: Sender,
    pub last_body: String,
    pub last_at: DateTime<Utc>,
}

fn inbox_key(shop_id: &str, message_id: &str) -> String {
    format!("{shop_id}/{message_id}")
}

/// Moves the order's thread to the top of its shop's inbox: one record
/// and one index row per thread, replaced on every message, so the inbox
/// never reads the messages themselves.
fn index_thread(txn: &WriteTransaction, order: &Order, m: &Message) -> Result<(), StoreError> {
    let mut threads = txn.open_table(tables::CHAT_THREADS)?;
    let mut inbox = txn.open_table(tables::SHOP_CHATS)?;
    if let Some(old) = codec::get::<Thread>(&threads, &order.id)? {
        inbox.remove(inbox_key(&old.shop_id, &old.last_message_id).as_str())?;
    }
    let t = Thread {
        order_id: order.id.clone(),
        shop_id: order.shop_id.clone(),
        display_id: order.display_id.clone(),
        student_id: order.user_id.clone(),
        last_message_id: m.id.clone(),
        last_sender: m.sender,
        last_body: m.body.clone(),
        last_at: m.at,
    };
    inbox.insert(
        inbox_key(&t.shop_id, &t.last_message_id).as_str(),
        t.order_id.as_str(),
    )?;
    codec::put(&mut threads, &t.order_id, &t)
}

/// The first 120 characters of a message, for a notification.
fn preview(body: &str) -> String {
    const PREVIEW: usize = 120;
    let mut p: String = body.chars().take(PREVIEW).collect();
    if body.chars().count() > PREVIEW {
        p.push('…');
    }
    p
}

/// The shop replied: the student gets a notification that opens the order,
/// so a reply is not missed when the order page is closed.
fn tell_student(txn: &WriteTransaction, order: &Order, m: &Message) -> Result<(), StoreError> {
    notify::push(
        txn,
        &order.user_id,
        Note {
            title: "The shop replied",
            message: format!(
                "{} ({}): {}",
                m.sender_name,
                order.display_id,
                preview(&m.body)
            ),
            kind: Kind::Info,
            category: Category::Order,
            action: Some(format!("/orders/{}", order.id)),
        },
    )?;
    Ok(())
}

/// A student wrote: the shop's owner and runners get a notification that
/// opens the order (the live `chat.message` reaches open pages only).
fn tell_shop(
    txn: &WriteTransaction,
    shop: &Shop,
    order: &Order,
    m: &Message,
) -> Result<(), StoreError> {
    let preview = preview(&m.body);
    let mut people = vec![shop.owner_id.clone()];
    people.extend(shop.staff.iter().cloned());
    people.sort();
    people.dedup();
    for p in &people {
        notify::push(
            txn,
            p,
            Note {
                title: "New message",
                message: format!("{} ({}): {preview}", m.sender_name, order.display_id),
                kind: Kind::Info,
                category: Category::Order,
                action: Some(format!("/vendor/orders/{}", order.id)),
            },
        )?;
    }
    Ok(())
}

/// Builds the inbox from the stored messages (the migration that made it).
pub fn reindex_threads(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut last: std::collections::BTreeMap<String, Message> = Default::default();
    for e in txn.open_table(tables::CHAT_MESSAGES)?.iter()? {
        let m: Message = codec::decode(e?.1.value())?;
        // Keys are in creation order within a thread: the last one wins.
        last.insert(m.order_id.clone(), m);
    }
    for (order_id, m) in last {
        let order = codec::get::<Order>(&txn.open_table(tables::ORDERS)?, &order_id)?;
        if let Some(order) = order {
            index_thread(txn, &order, &m)?;
        }
    }
    Ok(())
}

/// A page of a shop's chat threads, latest activity first, each with its
/// student's name: for the shop's owner, its runners and admins (anyone
/// else: no such shop). Reads one index row and one thread per item.
pub fn inbox(
    txn: &ReadTransaction,
    shop_id: &str,
    user_id: &str,
    is_admin: bool,
    page: &PageRequest,
) -> Result<Page<(Thread, String)>, Error> {
    let shop = crate::market::visible_shop(txn, shop_id, Some(user_id), is_admin)?;
    if !(is_admin || shop.is_staff(user_id)) {
        return Err(Error::NotFound("no such shop".into()));
    }
    let lo = inbox_key(&shop.id, "");
    let hi = match &page.after {
        Some(after) => inbox_key(&shop.id, after),
        None => format!("{}0", shop.id),
    };
    let index = txn.open_table(tables::SHOP_CHATS)?;
    let threads = txn.open_table(tables::CHAT_THREADS)?;
    let users = txn.open_table(tables::USERS)?;
    let found = index
        .range(lo.as_str()..hi.as_str())?
        .rev()
        .filter_map(|row| {
            let order_id = match row {
                Ok((_, v)) => v.value().to_string(),
                Err(e) => return Some(Err(Error::from(StoreError::from(e)))),
            };
            let t = match codec::get::<Thread>(&threads, &order_id) {
                Ok(Some(t)) => t,
                Ok(None) => return None,
                Err(e) => return Some(Err(e.into())),
            };
            let name = match codec::get::<User>(&users, &t.student_id) {
                Ok(u) => u.map(|u| u.name).unwrap_or_default(),
                Err(e) => return Some(Err(e.into())),
            };
            Some(Ok((t.last_message_id.clone(), (t, name))))
        });
    page.take(found, Dir::Desc)
}
