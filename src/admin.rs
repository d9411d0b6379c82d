//! Campus administration: users, platform settings, the audit log, and the
//! admin-managed lists of buildings and categories.
//!
//! Plain functions over store transactions; the HTTP layer only translates.
//! Every write re-checks, inside its transaction, that the actor is still an
//! active admin: the request was authenticated before the write was queued,
//! and another admin may have demoted or suspended them in between.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{self, AuditEntry, Origin};
use crate::auth::service::delete_user_sessions;
use crate::domain::catalog::{Building, Category};
use crate::domain::user::{User, UserRole, UserStatus};
use crate::domain::{FieldError, bounded_text, money};
use crate::error::Error;
use crate::events::Revoke;
use crate::notify::{self, Note};
use crate::settings::{self, PlatformSettings};
use crate::store::codec::{self, RecordTable};
use crate::store::tables;

pub use crate::page::{DEFAULT_LIMIT, MAX_LIMIT};
pub const REASON_MAX: usize = 500;
pub const NAME_MAX: usize = 80;

/// Most records one listing request decodes. Filters have no index (the
/// tables are keyed by id only), so a filter that matches little would
/// otherwise read a whole table per request; past this budget the page is
/// returned short, with a cursor to continue from.
pub const SCAN_BUDGET: usize = 10_000;

type Records<'t> = Table<'t, &'static str, &'static [u8]>;

/// The caller of a write must still be an active admin when it runs.
pub fn acting_admin(txn: &WriteTransaction, origin: &Origin) -> Result<String, Error> {
    let forbidden = || Error::Forbidden("admins only".into());
    let id = origin.actor_id.as_deref().ok_or_else(forbidden)?;
    let actor: Option<User> = codec::get(&txn.open_table(tables::USERS)?, id)?;
    match actor {
        Some(u) if u.is_admin && u.status.may_sign_in() => Ok(u.id),
        _ => Err(forbidden()),
    }
}

/// Audits an admin's operation that changed no record (a search rebuild),
/// if the caller is still an active admin.
pub fn record(
    txn: &WriteTransaction,
    origin: &Origin,
    action: &str,
    target: &str,
    details: String,
) -> Result<(), Error> {
    acting_admin(txn, origin)?;
    audit::append(txn, origin, action, target, details)?;
    Ok(())
}

/// Trims an optional reason; blank means none.
pub fn parse_reason(raw: Option<&str>) -> Result<Option<String>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let s = bounded_text("reason", raw, 0, REASON_MAX, true)?;
    Ok((!s.is_empty()).then_some(s))
}

fn status_name(s: UserStatus) -> &'static str {
    match s {
        UserStatus::Active => "ACTIVE",
        UserStatus::Suspended => "SUSPENDED",
        UserStatus::Banned => "BANNED",
    }
}

// --- Users ---

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of the email or the name.
    pub q: Option<String>,
    pub status: Option<UserStatus>,
    pub role: Option<UserRole>,
    pub limit: usize,
    /// The last user id of the previous page.
    pub cursor: Option<String>,
}

pub use crate::page::Page;
use crate::page::{self as paging, Dir, PageRequest};

fn clamp_limit(limit: usize) -> usize {
    PageRequest::new(limit, None).limit()
}

/// Users in id (= creation) order, filtered.
pub fn list_users(txn: &ReadTransaction, query: &UserQuery) -> Result<Page<User>, Error> {
    let limit = clamp_limit(query.limit);
    let needle = query
        .q
        .as_deref()
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let table = txn.open_table(tables::USERS)?;
    let owners = txn.open_table(tables::OWNER_TO_SHOP)?;
    let staff = txn.open_multimap_table(tables::STAFF_TO_SHOPS)?;
    let role_ok = |user: &User| -> Result<bool, Error> {
        let Some(role) = query.role else {
            return Ok(true);
        };
        let owns_shop = owners.get(user.id.as_str())?.is_some();
        let on_staff = !staff.get(user.id.as_str())?.is_empty();
        Ok(role.held_by(user.is_admin, owns_shop, on_staff))
    };
    let lower = match query.cursor.as_deref() {
        Some(c) => Bound::Excluded(c),
        None => Bound::Unbounded,
    };
    let mut items = Vec::new();
    let mut last_seen = None;
    for (scanned, entry) in table.range::<&str>((lower, Bound::Unbounded))?.enumerate() {
        let (key, value) = entry?;
        if items.len() == limit || scanned == SCAN_BUDGET {
            // Something is left: the caller continues after what it saw.
            return Ok(Page {
                items,
                next_cursor: last_seen,
            });
        }
        last_seen = Some(key.value().to_string());
        let user: User = codec::decode(value.value())?;
        let status_ok = query.status.is_none_or(|s| s == user.status);
        let text_ok = needle.as_deref().is_none_or(|n| {
            user.email.to_lowercase().contains(n) || user.name.to_lowercase().contains(n)
        });
        if status_ok && text_ok && role_ok(&user)? {
            items.push(user);
        }
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

pub fn get_user(txn: &ReadTransaction, id: &str) -> Result<User, Error> {
    crate::auth::service::find_user(txn, id)?.ok_or_else(|| Error::NotFound("no such user".into()))
}

/// The campus's orders as admins filter them.
pub struct OrderQuery {
    pub status: Option<crate::domain::order::OrderStatus>,
    pub shop_id: Option<String>,
    pub building_id: Option<String>,
    /// Placed at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Placed before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive: the display id, or the student's name or email.
    pub q: Option<String>,
    pub limit: usize,
    /// The last order id of the previous page.
    pub cursor: Option<String>,
}

/// An order with the names an admin reads it by.
pub struct OrderRow {
    pub order: crate::domain::order::Order,
    pub shop_name: String,
    pub student_name: String,
    pub student_email: String,
}

/// A page of orders, newest first. Ids are ULIDs, so `to` bounds the key
/// range and `from` ends the scan; at most `SCAN_BUDGET` orders are read
/// per page (then the page ends early with a cursor to go on from).
pub fn list_orders(txn: &ReadTransaction, query: &OrderQuery) -> Result<Page<OrderRow>, Error> {
    use crate::domain::{order::Order, shop::Shop};
    let limit = clamp_limit(query.limit);
    let needle = query
        .q
        .as_deref()
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let to_key = query.to.map(|to| {
        let ms = u64::try_from(to.timestamp_millis()).unwrap_or(0);
        ulid::Ulid::from_parts(ms, 0).to_string()
    });
    let upper = match (query.cursor.as_deref(), to_key.as_deref()) {
        (Some(c), Some(t)) => Bound::Excluded(c.min(t)),
        (Some(c), None) => Bound::Excluded(c),
        (None, Some(t)) => Bound::Excluded(t),
        (None, None) => Bound::Unbounded,
    };
    let orders = txn.open_table(tables::ORDERS)?;
    let users = txn.open_table(tables::USERS)?;
    let shops = txn.open_table(tables::SHOPS)?;
    let mut names: std::collections::HashMap<String, (String, String)> = Default::default();
    let mut shop_names: std::collections::HashMap<String, String> = Default::default();
    let mut items = Vec::new();
    let mut last_seen = None;
    for (scanned, entry) in orders
        .range::<&str>((Bound::Unbounded, upper))?
        .rev()
        .enumerate()
    {
        let (key, value) = entry?;
        if items.len() == limit || scanned == SCAN_BUDGET {
            return Ok(Page {
                items,
                next_cursor: last_seen,
            });
        }
        last_seen = Some(key.value().to_string());
        let o: Order = codec::decode(value.value())?;
        if query.from.is_some_and(|f| o.created_at < f) {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        if query.status.is_some_and(|s| s != o.status)
            || query.shop_id.as_deref().is_some_and(|s| s != o.shop_id)
            || query
                .building_id
                .as_deref()
                .is_some_and(|b| b != o.address.building_id)
        {
            continue;
        }
        if !names.contains_key(&o.user_id) {
            let who = codec::get::<User>(&users, &o.user_id)?
                .map(|u| (u.name, u.email))
                .unwrap_or_default();
            names.insert(o.user_id.clone(), who);
        }
        let (student_name, student_email) = names[&o.user_id].clone();
        if let Some(n) = &needle
            && !(o.display_id.to_lowercase().contains(n)
                || student_name.to_lowercase().contains(n)
                || student_email.to_lowercase().contains(n))
        {
            continue;
        }
        if !shop_names.contains_key(&o.shop_id) {
            let name = codec::get::<Shop>(&shops, &o.shop_id)?
                .map(|s| s.name)
                .unwrap_or_default();
            shop_names.insert(o.shop_id.clone(), name);
        }
        let shop_name = shop_names[&o.shop_id].clone();
        items.push(OrderRow {
            order: o,
            shop_name,
            student_name,
            student_email,
        });
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

/// How many of a user's newest orders, and of the newest audit entries
/// that name them, the detail shows.
pub const DETAIL_ORDERS: usize = 10;
pub const DETAIL_AUDIT: usize = 20;
/// The audit log has no index by person: the detail reads this many of the
/// newest entries for the user's, so a request stays bounded.
pub const DETAIL_AUDIT_SCAN: usize = 5_000;

/// What an admin sees about one user before acting: their shop, the shops
/// they run for, how many devices are signed in, their newest orders and
/// the newest audit entries by or about them.
pub struct UserDetail {
    pub user: User,
    pub shop: Option<(String, String)>,
    pub runner_for: Vec<(String, String)>,
    pub sessions: u64,
    pub order_count: u64,
    pub recent_orders: Vec<crate::domain::order::Order>,
    pub audit: Vec<AuditEntry>,
}

pub fn user_detail(txn: &ReadTransaction, id: &str) -> Result<UserDetail, Error> {
    let user = get_user(txn, id)?;
    let shops = txn.open_table(tables::SHOPS)?;
    let named = |shop_id: &str| -> Result<Option<(String, String)>, Error> {
        Ok(codec::get::<crate::domain::shop::Shop>(&shops, shop_id)?.map(|s| (s.id, s.name)))
    };
    let shop = match txn.open_table(tables::OWNER_TO_SHOP)?.get(id)? {
        Some(g) => named(g.value())?,
        None => None,
    };
    let mut runner_for = Vec::new();
    for s in txn.open_multimap_table(tables::STAFF_TO_SHOPS)?.get(id)? {
        if let Some(n) = named(s?.value())? {
            runner_for.push(n);
        }
    }
    let sessions = txn
        .open_multimap_table(tables::USER_TO_SESSIONS)?
        .get(id)?
        .len();
    let order_ids = txn.open_multimap_table(tables::USER_TO_ORDERS)?;
    let order_count = order_ids.get(id)?.len();
    let orders = txn.open_table(tables::ORDERS)?;
    let mut recent_orders = Vec::new();
    // Order ids are ULIDs: the last ones are the newest.
    for oid in order_ids.get(id)?.rev().take(DETAIL_ORDERS) {
        if let Some(o) = codec::get(&orders, oid?.value())? {
            recent_orders.push(o);
        }
    }
    let mut audit = Vec::new();
    for e in txn
        .open_table(tables::AUDIT_LOG)?
        .iter()?
        .rev()
        .take(DETAIL_AUDIT_SCAN)
    {
        let entry: AuditEntry = codec::decode(e?.1.value())?;
        if entry.target == id || entry.actor_id.as_deref() == Some(id) {
            audit.push(entry);
            if audit.len() == DETAIL_AUDIT {
                break;
            }
        }
    }
    Ok(UserDetail {
        user,
        shop,
        runner_for,
        sessions,
        order_count,
        recent_orders,
        audit,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Suspend,
    Unsuspend,
    Ban,
    SignOut,
    MakeAdmin,
    RemoveAdmin,
}

impl UserAction {
    pub fn audit_action(self) -> &'static str {
        match self {
            UserAction::Suspend => "user.suspend",
            UserAction::Unsuspend => "user.unsuspend",
            UserAction::Ban => "user.ban",
            UserAction::SignOut => "user.sign_out",
            UserAction::MakeAdmin => "user.make_admin",
            UserAction::RemoveAdmin => "user.remove_admin",
        }
    }

    /// Actions an admin may not take against their own account.
    fn refused_on_self(self) -> Option<&'static str> {
        match self {
            UserAction::Suspend => Some("you cannot suspend your own account"),
            UserAction::Ban => Some("you cannot ban your own account"),
            UserAction::RemoveAdmin => {
                Some("you cannot remove your own admin rights; ask another admin")
            }
            _ => None,
        }
    }

    fn ends_sessions(self) -> bool {
        matches!(
            self,
            UserAction::Suspend | UserAction::Ban | UserAction::SignOut
        )
    }

    /// Which of the user's open event streams the action ends: a suspended
    /// or banned user hears nothing more, a signed-out user keeps only
    /// what their API tokens opened, a former admin stops hearing admins'
    /// broadcasts (their client opens a new stream with the rights left).
    fn ends_streams(self) -> Option<Revoke> {
        match self {
            UserAction::Suspend | UserAction::Ban => Some(Revoke::User),
            UserAction::SignOut => Some(Revoke::Sessions { keep: None }),
            UserAction::RemoveAdmin => Some(Revoke::Rights),
            UserAction::Unsuspend | UserAction::MakeAdmin => None,
        }
    }
}

/// The status and admin flag after `action`, or why it does not apply.
/// A ban is final: nothing here lifts it (a suspension is the reversible
/// measure).
pub fn next_state(action: UserAction, user: &User) -> Result<(UserStatus, bool), Error> {
    let conflict = |m: &str| Err(Error::Conflict(m.into()));
    let (status, admin) = (user.status, user.is_admin);
    match action {
        UserAction::Suspend => match status {
            UserStatus::Active => Ok((UserStatus::Suspended, admin)),
            UserStatus::Suspended => conflict("this user is already suspended"),
            UserStatus::Banned => conflict("this user is banned"),
        },
        UserAction::Unsuspend => match status {
            UserStatus::Suspended => Ok((UserStatus::Active, admin)),
            UserStatus::Active => conflict("this user is not suspended"),
            UserStatus::Banned => conflict("this user is banned; a ban cannot be lifted"),
        },
        // Admin rights of a banned account could never be used again.
        UserAction::Ban => match status {
            UserStatus::Active | UserStatus::Suspended => Ok((UserStatus::Banned, false)),
            UserStatus::Banned => conflict("this user is already banned"),
        },
        UserAction::SignOut => Ok((status, admin)),
        UserAction::MakeAdmin if admin => conflict("this user is already an admin"),
        UserAction::MakeAdmin if status != UserStatus::Active => {
            conflict("only an active user can be made an admin")
        }
        UserAction::MakeAdmin => Ok((status, true)),
        UserAction::RemoveAdmin if !admin => conflict("this user is not an admin"),
        UserAction::RemoveAdmin => Ok((status, false)),
    }
}

fn is_active_admin(u: &User) -> bool {
    u.is_admin && u.status == UserStatus::Active
}

/// Active admins other than `except`, counted from the ADMINS index.
fn other_active_admins(
    admins: &impl ReadableTable<&'static str, u8>,
    users: &Records<'_>,
    except: &str,
) -> Result<usize, Error> {
    let mut n = 0;
    for entry in admins.iter()? {
        let (id, _) = entry?;
        let id = id.value();
        if id != except
            && codec::get::<User>(users, id)?
                .as_ref()
                .is_some_and(is_active_admin)
        {
            n += 1;
        }
    }
    Ok(n)
}

#[derive(Debug, Clone)]
pub struct ActionOutcome {
    pub user: User,
    pub sessions_ended: usize,
}

/// Applies an admin action to a user, with its audit entry, session
/// ending and notification, in the caller's transaction.
pub fn act_on_user(
    txn: &WriteTransaction,
    origin: &Origin,
    action: UserAction,
    target_id: &str,
    reason: Option<&str>,
) -> Result<ActionOutcome, Error> {
    let actor_id = acting_admin(txn, origin)?;
    let mut users = txn.open_table(tables::USERS)?;
    let mut admins = txn.open_table(tables::ADMINS)?;
    let Some(mut user) = codec::get::<User>(&users, target_id)? else {
        return Err(Error::NotFound("no such user".into()));
    };
    let (status, is_admin) = next_state(action, &user)?;
    let stays_active_admin = is_admin && status == UserStatus::Active;
    // Checked before the self rule so a lone admin hears the real reason.
    if is_active_admin(&user)
        && !stays_active_admin
        && other_active_admins(&admins, &users, target_id)? == 0
    {
        return Err(Error::Conflict(
            "this is the last active admin; make another admin first".into(),
        ));
    }
    if target_id == actor_id
        && let Some(why) = action.refused_on_self()
    {
        return Err(Error::Conflict(why.into()));
    }
    // A ban cannot be lifted: the audit log says why it was made.
    if action == UserAction::Ban && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(FieldError::new("reason", "say why: a ban cannot be lifted").into());
    }

    let mut details = Vec::new();
    if status != user.status {
        details.push(format!(
            "status {} → {}",
            status_name(user.status),
            status_name(status)
        ));
    }
    if is_admin != user.is_admin {
        details.push(format!("admin {} → {}", user.is_admin, is_admin));
    }
    let changed = status != user.status || is_admin != user.is_admin;
    user.status = status;
    user.is_admin = is_admin;
    if changed {
        user.updated_at = Utc::now();
        codec::put(&mut users, &user.id, &user)?;
        crate::search::enqueue(txn, crate::search::Target::User(user.id.clone()))?;
        if is_admin {
            admins.insert(user.id.as_str(), 1)?;
        } else {
            admins.remove(user.id.as_str())?;
        }
    }
    let sessions_ended = if action.ends_sessions() {
        delete_user_sessions(txn, &user.id)?
    } else {
        0
    };
    if action.ends_sessions() {
        details.push(format!("ended {sessions_ended} sessions"));
    }
    if let Some(r) = reason {
        details.push(format!("reason: {r}"));
    }
    audit::append(
        txn,
        origin,
        action.audit_action(),
        &user.id,
        details.join("; "),
    )?;
    if let Some(note) = notice(action, reason) {
        notify::push(txn, &user.id, note)?;
    }
    // Last: the notice above still reaches the streams this ends.
    if let Some(what) = action.ends_streams() {
        crate::events::revoke(txn, &user.id, &what)?;
    }
    Ok(ActionOutcome {
        user,
        sessions_ended,
    })
}

fn notice(action: UserAction, reason: Option<&str>) -> Option<Note<'static>> {
    let because = reason.map(|r| format!(" Reason: {r}")).unwrap_or_default();
    let (title, message, kind) = match action {
        UserAction::Suspend => (
            "Account suspended",
            format!("A campus admin suspended your account.{because}"),
            notify::Kind::Warning,
        ),
        UserAction::Unsuspend => (
            "Account restored",
            format!("Your account is active again.{because}"),
            notify::Kind::Success,
        ),
        UserAction::Ban => (
            "Account banned",
            format!("A campus admin banned your account.{because}"),
            notify::Kind::Error,
        ),
        UserAction::MakeAdmin => (
            "You are now an admin",
            format!("A campus admin gave you admin rights.{because}"),
            notify::Kind::Success,
        ),
        UserAction::RemoveAdmin => (
            "Admin rights removed",
            format!("A campus admin removed your admin rights.{because}"),
            notify::Kind::Info,
        ),
        // Being signed out says it all.
        UserAction::SignOut => return None,
    };
    Some(Note {
        title,
        message,
        kind,
        category: notify::Category::System,
        action: None,
    })
}

// --- Platform settings ---

pub fn read_settings(txn: &ReadTransaction) -> Result<PlatformSettings, Error> {
    Ok(settings::read(&txn.open_table(tables::SETTINGS)?)?)
}

pub fn update_settings(
    txn: &WriteTransaction,
    origin: &Origin,
    platform_fee: i64,
    currency: money::Currency,
) -> Result<PlatformSettings, Error> {
    let platform_fee = money::parse_amount("platform_fee", platform_fee)?;
    let actor_id = acting_admin(txn, origin)?;
    let old = settings::read(&txn.open_table(tables::SETTINGS)?)?;
    let new = PlatformSettings {
        platform_fee,
        updated_at: Some(Utc::now()),
        updated_by: Some(actor_id),
    };
    settings::write(txn, &new)?;
    audit::append(
        txn,
        origin,
        "settings.update",
        "platform",
        format!(
            "platform fee {} → {}",
            currency.amount(old.platform_fee),
            currency.amount(new.platform_fee)
        ),
    )?;
    Ok(new)
}

// --- Audit log ---

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    /// The last entry id of the previous page.
    pub cursor: Option<String>,
}

/// How far an entry's id time may lag its `at` time: both are read from
/// the clock a moment apart, so only a clock step could separate them.
const ID_CLOCK_SLACK_MS: u64 = 1_000;

/// The audit log, newest first, filtered by exact matches and a time range.
/// What the ids in audit entries stand for, read now: a user as "Name
/// (email)", a shop or product by name, an order by display id. An id that
/// is none of those (a setting, a file) has no label.
pub fn audit_labels(
    txn: &ReadTransaction,
    entries: &[AuditEntry],
) -> Result<std::collections::HashMap<String, String>, Error> {
    use crate::domain::{catalog::Product, order::Order, shop::Shop};
    let users = txn.open_table(tables::USERS)?;
    let shops = txn.open_table(tables::SHOPS)?;
    let products = txn.open_table(tables::PRODUCTS)?;
    let orders = txn.open_table(tables::ORDERS)?;
    let mut out = std::collections::HashMap::new();
    let ids = entries
        .iter()
        .flat_map(|e| [e.actor_id.as_deref(), Some(e.target.as_str())])
        .flatten();
    for id in ids {
        if out.contains_key(id) || id.len() != 26 {
            continue;
        }
        let label = if let Some(u) = codec::get::<User>(&users, id)? {
            Some(format!("{} ({})", u.name, u.email))
        } else if let Some(s) = codec::get::<Shop>(&shops, id)? {
            Some(s.name)
        } else if let Some(o) = codec::get::<Order>(&orders, id)? {
            Some(o.display_id)
        } else {
            codec::get::<Product>(&products, id)?.map(|p| p.name)
        };
        if let Some(l) = label {
            out.insert(id.to_string(), l);
        }
    }
    Ok(out)
}

pub fn list_audit(txn: &ReadTransaction, query: &AuditQuery) -> Result<Page<AuditEntry>, Error> {
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(FieldError::new("from", "must not be after `to`").into());
    }
    let limit = clamp_limit(query.limit);
    // Ids are ULIDs whose time part is taken just before `at`, so `to`
    // bounds the key range and `from` ends the scan early.
    let to_key = query.to.map(|to| {
        let ms = u64::try_from(to.timestamp_millis()).unwrap_or(0);
        ulid::Ulid::from_parts(ms.saturating_add(1), 0).to_string()
    });
    let upper = match (query.cursor.as_deref(), to_key.as_deref()) {
        (Some(c), Some(t)) => Bound::Excluded(c.min(t)),
        (Some(k), None) | (None, Some(k)) => Bound::Excluded(k),
        (None, None) => Bound::Unbounded,
    };
    let stop_below_ms = query.from.map(|from| {
        u64::try_from(from.timestamp_millis())
            .unwrap_or(0)
            .saturating_sub(ID_CLOCK_SLACK_MS)
    });
    let table = txn.open_table(tables::AUDIT_LOG)?;
    let mut items = Vec::new();
    let mut last_seen = None;
    for (scanned, entry) in table
        .range::<&str>((Bound::Unbounded, upper))?
        .rev()
        .enumerate()
    {
        let (key, value) = entry?;
        let key = key.value();
        if let (Some(stop), Ok(id)) = (stop_below_ms, ulid::Ulid::from_string(key))
            && id.timestamp_ms() < stop
        {
            break;
        }
        if items.len() == limit || scanned == SCAN_BUDGET {
            return Ok(Page {
                items,
                next_cursor: last_seen,
            });
        }
        last_seen = Some(key.to_string());
        let e: AuditEntry = codec::decode(value.value())?;
        let keep = query
            .actor
            .as_deref()
            .is_none_or(|a| e.actor_id.as_deref() == Some(a))
            && query.action.as_deref().is_none_or(|a| e.action == a)
            && query.target.as_deref().is_none_or(|t| e.target == t)
            && query.from.is_none_or(|f| e.at >= f)
            && query.to.is_none_or(|t| e.at <= t);
        if keep {
            items.push(e);
        }
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

// --- Buildings and categories ---

/// An admin-managed list entry: a building or a category.
pub trait Listed: Serialize + DeserializeOwned + Send + 'static {
    const TABLE: RecordTable;
    /// Singular, lower case: used in messages and audit action names.
    const NOUN: &'static str;
    fn new(id: String, name: String, created_at: DateTime<Utc>) -> Self;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn set_name(&mut self, name: String);
    /// What the search index must redo when an entry is renamed or deleted
    /// (category names are in product documents).
    fn search_target(_id: &str) -> Option<crate::search::Target> {
        None
    }
}

impl Listed for Building {
    const TABLE: RecordTable = tables::BUILDINGS;
    const NOUN: &'static str = "building";
    fn new(id: String, name: String, created_at: DateTime<Utc>) -> Self {
        Building {
            id,
            name,
            created_at,
        }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

impl Listed for Category {
    const TABLE: RecordTable = tables::CATEGORIES;
    const NOUN: &'static str = "category";
    fn new(id: String, name: String, created_at: DateTime<Utc>) -> Self {
        Category {
            id,
            name,
            created_at,
        }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_name(&mut self, name: String) {
        self.name = name;
    }
    fn search_target(id: &str) -> Option<crate::search::Target> {
        Some(crate::search::Target::Category(id.to_string()))
    }
}

pub fn parse_list_name(raw: &str) -> Result<String, Error> {
    Ok(bounded_text("name", raw, 1, NAME_MAX, false)?)
}

/// A page of the entries, sorted by name (case-insensitively) for pickers.
pub fn list_named<T: Listed>(txn: &ReadTransaction, page: &PageRequest) -> Result<Page<T>, Error> {
    let all: Vec<T> = codec::all(&txn.open_table(T::TABLE)?)?;
    let key = |e: &T| paging::key(&[&e.name().to_lowercase().replace('\0', ""), e.id()]);
    Ok(page.sort_and_take(all, key, Dir::Asc))
}

/// Names are unique case-insensitively; the lists are short (tens of
/// entries), so a scan is cheaper than keeping an index table.
fn refuse_taken_name<T: Listed>(
    table: &Records<'_>,
    name: &str,
    except_id: Option<&str>,
) -> Result<(), Error> {
    let key = name.to_lowercase();
    for e in codec::all::<T>(table)? {
        if Some(e.id()) != except_id && e.name().to_lowercase() == key {
            return Err(Error::Conflict(format!(
                "a {} named \"{}\" already exists",
                T::NOUN,
                e.name()
            )));
        }
    }
    Ok(())
}

pub fn create_named<T: Listed>(
    txn: &WriteTransaction,
    origin: &Origin,
    name: &str,
) -> Result<T, Error> {
    acting_admin(txn, origin)?;
    let mut table = txn.open_table(T::TABLE)?;
    refuse_taken_name::<T>(&table, name, None)?;
    let entry = T::new(ulid::Ulid::new().to_string(), name.to_string(), Utc::now());
    codec::put(&mut table, entry.id(), &entry)?;
    audit::append(
        txn,
        origin,
        &format!("{}.create", T::NOUN),
        entry.id(),
        format!("name \"{name}\""),
    )?;
    Ok(entry)
}

pub fn rename_named<T: Listed>(
    txn: &WriteTransaction,
    origin: &Origin,
    id: &str,
    name: &str,
) -> Result<T, Error> {
    acting_admin(txn, origin)?;
    let mut table = txn.open_table(T::TABLE)?;
    let Some(mut entry) = codec::get::<T>(&table, id)? else {
        return Err(Error::NotFound(format!("no such {}", T::NOUN)));
    };
    refuse_taken_name::<T>(&table, name, Some(id))?;
    let details = format!("name \"{}\" → \"{name}\"", entry.name());
    entry.set_name(name.to_string());
    codec::put(&mut table, id, &entry)?;
    if let Some(t) = T::search_target(id) {
        crate::search::enqueue(txn, t)?;
    }
    audit::append(txn, origin, &format!("{}.rename", T::NOUN), id, details)?;
    Ok(entry)
}

/// Deletes an entry even if addresses or products still name it: they keep
/// their id (and orders their snapshot), and readers treat an unknown id as
/// "no longer listed".
pub fn delete_named<T: Listed>(
    txn: &WriteTransaction,
    origin: &Origin,
    id: &str,
) -> Result<(), Error> {
    acting_admin(txn, origin)?;
    let mut table = txn.open_table(T::TABLE)?;
    let Some(entry) = codec::get::<T>(&table, id)? else {
        return Err(Error::NotFound(format!("no such {}", T::NOUN)));
    };
    table.remove(id)?;
    if let Some(t) = T::search_target(id) {
        crate::search::enqueue(txn, t)?;
    }
    audit::append(
        txn,
        origin,
        &format!("{}.delete", T::NOUN),
        id,
        format!("name \"{}\"", entry.name()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(status: UserStatus, is_admin: bool) -> User {
        let now = Utc::now();
        User {
            id: "u".into(),
            email: "u@uni.edu".into(),
            name: "U".into(),
            phone: None,
            password_hash: String::new(),
            is_admin,
            status,
            email_verified: false,
            created_at: now,
            updated_at: now,
            email_prefs: Default::default(),
        }
    }

    #[test]
    fn transitions() {
        use UserAction::*;
        use UserStatus::*;
        let ok = |a, s, adm| next_state(a, &user(s, adm)).ok();
        assert_eq!(ok(Suspend, Active, false), Some((Suspended, false)));
        assert_eq!(ok(Suspend, Suspended, false), None);
        assert_eq!(ok(Suspend, Banned, false), None);
        assert_eq!(ok(Unsuspend, Suspended, true), Some((Active, true)));
        assert_eq!(ok(Unsuspend, Active, false), None);
        assert_eq!(ok(Unsuspend, Banned, false), None, "a ban is final");
        assert_eq!(ok(Ban, Suspended, false), Some((Banned, false)));
        assert_eq!(ok(Ban, Active, true), Some((Banned, false)));
        assert_eq!(ok(Ban, Banned, false), None);
        assert_eq!(ok(SignOut, Suspended, false), Some((Suspended, false)));
        assert_eq!(ok(MakeAdmin, Active, false), Some((Active, true)));
        assert_eq!(ok(MakeAdmin, Active, true), None);
        assert_eq!(ok(MakeAdmin, Suspended, false), None);
        assert_eq!(ok(RemoveAdmin, Suspended, true), Some((Suspended, false)));
        assert_eq!(ok(RemoveAdmin, Active, false), None);
    }

    #[test]
    fn reasons_are_trimmed_bounded_and_optional() {
        assert_eq!(parse_reason(None).unwrap(), None);
        assert_eq!(parse_reason(Some("  ")).unwrap(), None);
        assert_eq!(
            parse_reason(Some(" spam\nagain ")).unwrap().as_deref(),
            Some("spam\nagain")
        );
        assert!(parse_reason(Some(&"x".repeat(501))).is_err());
        assert!(parse_reason(Some("a\u{7}")).is_err());
    }

    #[test]
    fn limits_default_and_clamp() {
        assert_eq!(clamp_limit(0), DEFAULT_LIMIT);
        assert_eq!(clamp_limit(7), 7);
        assert_eq!(clamp_limit(10_000), MAX_LIMIT);
    }
}
