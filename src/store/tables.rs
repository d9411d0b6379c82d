//! Every table of the store, in one place. Names follow `KEY_TO_VALUE`.
//!
//! Values are JSON records (see `codec`); keys are strings: ULIDs for
//! entities (so key order is creation order) and SHA-256 hex digests for
//! secrets we must look up but never store in the clear.

use redb::{MultimapTableDefinition, TableDefinition};

use super::StoreError;
use super::codec::{self, RecordTable};

/// Store-wide facts such as the schema version.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// user id → `User`
pub const USERS: RecordTable = TableDefinition::new("users");
/// lower-cased email → user id (makes email unique, case-insensitively)
pub const EMAIL_TO_USER: TableDefinition<&str, &str> = TableDefinition::new("email_to_user");

/// user id → 1 for every admin (to find "is there an admin?" and never
/// remove the last one without scanning all users)
pub const ADMINS: TableDefinition<&str, u8> = TableDefinition::new("admins");

/// sha256(session token) → `Session`
pub const SESSIONS: RecordTable = TableDefinition::new("sessions");
/// user id → sha256(session token), to sign a user out everywhere
pub const USER_TO_SESSIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_sessions");

/// sha256(api token) → `ApiToken`
pub const API_TOKENS: RecordTable = TableDefinition::new("api_tokens");
/// user id → sha256(api token)
pub const USER_TO_API_TOKENS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_api_tokens");

/// sha256(setup token) → `SetupToken`: the one-time first-admin link
pub const SETUP_TOKENS: RecordTable = TableDefinition::new("setup_tokens");

/// audit entry id (ULID, so time-ordered) → `AuditEntry`. Append-only.
pub const AUDIT_LOG: RecordTable = TableDefinition::new("audit_log");

// --- Marketplace (schema version 2) ---

/// platform setting name → JSON value (e.g. `platform` → `PlatformSettings`)
pub const SETTINGS: RecordTable = TableDefinition::new("settings");

/// building id → `Building`
pub const BUILDINGS: RecordTable = TableDefinition::new("buildings");
/// category id → `Category`
pub const CATEGORIES: RecordTable = TableDefinition::new("categories");

/// shop id → `Shop`
pub const SHOPS: RecordTable = TableDefinition::new("shops");
/// owner user id → shop id (one shop per user)
pub const OWNER_TO_SHOP: TableDefinition<&str, &str> = TableDefinition::new("owner_to_shop");
/// runner user id → shop ids they work for
pub const STAFF_TO_SHOPS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("staff_to_shops");
/// "shop id/email key" → `catalog::StaffInvite` (pending invitations)
pub const STAFF_INVITES: RecordTable = TableDefinition::new("staff_invites");
/// email key → shop ids that invited that address
pub const EMAIL_TO_INVITES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("email_to_invites");

/// product id → `Product`
pub const PRODUCTS: RecordTable = TableDefinition::new("products");
/// shop id → product ids
pub const SHOP_TO_PRODUCTS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_products");
/// shop id → how many live products it has, kept in step with every
/// create and delete so the per-shop cap costs one read, not a scan
pub const SHOP_PRODUCT_COUNTS: TableDefinition<&str, u64> =
    TableDefinition::new("shop_product_counts");

/// address id → `Address`
pub const ADDRESSES: RecordTable = TableDefinition::new("addresses");
/// user id → address ids
pub const USER_TO_ADDRESSES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_addresses");

/// user id → favourite shop ids
pub const USER_TO_FAVORITES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_favorites");

/// announcement id → `Announcement`
pub const ANNOUNCEMENTS: RecordTable = TableDefinition::new("announcements");
/// shop id → announcement ids
pub const SHOP_TO_ANNOUNCEMENTS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_announcements");

/// "user id/shop id" → `Cart`
pub const CARTS: RecordTable = TableDefinition::new("carts");

/// order id → `Order`
pub const ORDERS: RecordTable = TableDefinition::new("orders");
/// display id (e.g. UP-7K3Q9) → order id
pub const DISPLAY_TO_ORDER: TableDefinition<&str, &str> = TableDefinition::new("display_to_order");
/// user id → order ids
pub const USER_TO_ORDERS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_orders");
/// shop id → order ids
pub const SHOP_TO_ORDERS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_orders");

/// "shop id/order id" → order id: a shop's orders as one key range, so a
/// page (and a range of days, order ids being ULIDs) is a range read from
/// where the last page ended, not a walk from the newest order
pub const SHOP_ORDERS: TableDefinition<&str, &str> = TableDefinition::new("shop_orders");

/// "user id/key" → `IdempotencyRecord` (24 h)
pub const IDEMPOTENCY: RecordTable = TableDefinition::new("idempotency");
/// "created-at millis, 20 digits/user id/key" → "user id/key": idempotency
/// keys in the order they expire, so a sweep reads only the expired ones
pub const IDEMPOTENCY_EXPIRY: TableDefinition<&str, &str> =
    TableDefinition::new("idempotency_expiry");

/// slot id → `Slot`
pub const SLOTS: RecordTable = TableDefinition::new("slots");
/// shop id → slot ids
pub const SHOP_TO_SLOTS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_slots");
/// batch id → `Batch`
pub const BATCHES: RecordTable = TableDefinition::new("batches");
/// "shop id/cutoff RFC 3339" → batch id (one batch per shop and cutoff)
pub const BATCH_KEY_TO_BATCH: TableDefinition<&str, &str> =
    TableDefinition::new("batch_key_to_batch");
/// batch id → order ids
pub const BATCH_TO_ORDERS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("batch_to_orders");
/// "cutoff RFC 3339/batch id" of OPEN batches, so the closer finds due ones
/// with a range scan
pub const OPEN_BATCHES_BY_CUTOFF: TableDefinition<&str, &str> =
    TableDefinition::new("open_batches_by_cutoff");

/// "order id/product id" → `Review`
pub const REVIEWS: RecordTable = TableDefinition::new("reviews");
/// product id → "review id (ULID)/review key", newest last
pub const PRODUCT_TO_REVIEWS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("product_to_reviews");
/// product id → user ids watching it for a restock
pub const STOCK_WATCHES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("stock_watches");

/// notification id → `Notification`
pub const NOTIFICATIONS: RecordTable = TableDefinition::new("notifications");
/// user id → notification ids
pub const USER_TO_NOTIFICATIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("user_to_notifications");

// --- Batch lifecycle (schema version 3) ---

/// shop id → batch ids
pub const SHOP_TO_BATCHES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_batches");
/// batch id → locked-at (RFC 3339) of batches that are LOCKED right now,
/// so the stale-batch check never scans history
pub const LOCKED_BATCHES: TableDefinition<&str, &str> = TableDefinition::new("locked_batches");

// --- Live updates (schema version 4) ---

/// user id → how many of their notifications are unread, kept in step by
/// `notify` so the count is O(1)
pub const USER_UNREAD: TableDefinition<&str, u64> = TableDefinition::new("user_unread");
/// order status (`NEW`, …) → how many orders have it, kept in step by
/// `market::order_counts::put_order` so `/metrics` needs no scan
pub const ORDER_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("order_counts");
/// broadcast id → `Broadcast` (stored once, whatever the audience size)
pub const BROADCASTS: RecordTable = TableDefinition::new("broadcasts");
/// user id → ids of the broadcasts they have read
pub const BROADCAST_READS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("broadcast_reads");
/// sequence number → `events::Event`, the log SSE clients replay from;
/// the next number lives in `META` under `event_seq`
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

// --- Order chat (schema version 5) ---

/// `order id/message id` → `market::chat::Message`; a thread is one key range
pub const CHAT_MESSAGES: RecordTable = TableDefinition::new("chat_messages");
/// order id → `market::chat::Thread`: the last message of each order's
/// thread, kept by `chat::post`
pub const CHAT_THREADS: RecordTable = TableDefinition::new("chat_threads");
/// "shop id/last message id" → order id: a shop's threads by latest
/// activity (message ids are time-ordered), one row per thread
pub const SHOP_CHATS: TableDefinition<&str, &str> = TableDefinition::new("shop_chats");
/// "cutoff (RFC 3339)/shop id/user id" → when the cutoff reminder went
/// out: one reminder per student per batch, kept across restarts; keyed by
/// cutoff first so old rows are swept with one range
pub const CART_REMINDERS: TableDefinition<&str, &str> = TableDefinition::new("cart_reminders");
// --- Operations (appended migration `create_ops_tables`) ---

/// minute (unix seconds of the rollup) → `metrics::Rollup`: one-minute
/// summaries for the admin charts, swept after `metrics.history_days`
pub const METRICS_ROLLUPS: TableDefinition<u64, &[u8]> = TableDefinition::new("metrics_rollups");

// --- Housekeeping (appended migration `index_sessions_and_carts_by_time`) ---

/// "expires at (RFC 3339, ms)/session key" → session key, written with
/// every session, so the sweep finds expired ones with a range read. A
/// session ended early leaves its row, which the sweep drops at expiry.
pub const SESSION_EXPIRY: TableDefinition<&str, &str> = TableDefinition::new("session_expiry");
/// "updated at (RFC 3339, ms)/cart key" → cart key, written with every cart
/// (the previous row removed), so the sweep finds abandoned carts with a
/// range read. A cart emptied or checked out leaves its row, dropped when
/// the sweep reaches it.
pub const CART_TOUCHED: TableDefinition<&str, &str> = TableDefinition::new("cart_touched");
/// sweep name → `housekeeping::LastRun`
pub const HOUSEKEEPING_RUNS: RecordTable = TableDefinition::new("housekeeping_runs");

/// Checks that a stored value decodes; used by `uphill backup verify`.
pub type Check = fn(&[u8]) -> Result<(), StoreError>;

fn as_json(bytes: &[u8]) -> Result<(), StoreError> {
    codec::decode::<serde_json::Value>(bytes).map(|_| ())
}

fn as_type<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), StoreError> {
    codec::decode::<T>(bytes).map(|_| ())
}

/// A table with its key and value types, so code that must treat every
/// table alike (backups, their verification) can without naming each one.
#[derive(Clone, Copy)]
pub enum AnyTable {
    /// string key → JSON record, checked by decoding it
    Records(RecordTable, Check),
    /// string key → opaque bytes (`META`)
    Bytes(TableDefinition<'static, &'static str, &'static [u8]>),
    StrToStr(TableDefinition<'static, &'static str, &'static str>),
    StrToU8(TableDefinition<'static, &'static str, u8>),
    StrToU64(TableDefinition<'static, &'static str, u64>),
    U64ToStr(TableDefinition<'static, u64, &'static str>),
    /// number key → JSON record
    U64Records(TableDefinition<'static, u64, &'static [u8]>, Check),
    MultiStr(MultimapTableDefinition<'static, &'static str, &'static str>),
}

impl AnyTable {
    pub fn name(&self) -> &str {
        use redb::MultimapTableHandle;
        use redb::TableHandle;
        match self {
            AnyTable::Records(t, _) | AnyTable::Bytes(t) => t.name(),
            AnyTable::StrToStr(t) => t.name(),
            AnyTable::StrToU8(t) => t.name(),
            AnyTable::StrToU64(t) => t.name(),
            AnyTable::U64ToStr(t) => t.name(),
            AnyTable::U64Records(t, _) => t.name(),
            AnyTable::MultiStr(t) => t.name(),
        }
    }

    pub fn is_multimap(&self) -> bool {
        matches!(self, AnyTable::MultiStr(_))
    }

    /// Creates the table when missing.
    pub fn create(&self, txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        match *self {
            AnyTable::Records(t, _) | AnyTable::Bytes(t) => drop(txn.open_table(t)?),
            AnyTable::StrToStr(t) => drop(txn.open_table(t)?),
            AnyTable::StrToU8(t) => drop(txn.open_table(t)?),
            AnyTable::StrToU64(t) => drop(txn.open_table(t)?),
            AnyTable::U64ToStr(t) => drop(txn.open_table(t)?),
            AnyTable::U64Records(t, _) => drop(txn.open_table(t)?),
            AnyTable::MultiStr(t) => drop(txn.open_multimap_table(t)?),
        }
        Ok(())
    }
}

/// EVERY table of the store. Migrations end by creating any of these that
/// is missing, backups copy exactly these, and a unit test compares this
/// list with the tables of a migrated store: a table added to `tables.rs`
/// but not here fails that test instead of silently missing from backups.
pub const ALL: &[AnyTable] = {
    use crate::domain;
    use AnyTable::*;
    &[
        Bytes(META),
        Records(USERS, as_type::<domain::user::User>),
        StrToStr(EMAIL_TO_USER),
        StrToU8(ADMINS),
        Records(SESSIONS, as_type::<crate::auth::service::Session>),
        MultiStr(USER_TO_SESSIONS),
        Records(API_TOKENS, as_type::<crate::auth::service::ApiToken>),
        MultiStr(USER_TO_API_TOKENS),
        Records(SETUP_TOKENS, as_json),
        Records(AUDIT_LOG, as_type::<crate::audit::AuditEntry>),
        Records(SETTINGS, as_json),
        Records(BUILDINGS, as_type::<domain::catalog::Building>),
        Records(CATEGORIES, as_type::<domain::catalog::Category>),
        Records(SHOPS, as_type::<domain::shop::Shop>),
        StrToStr(OWNER_TO_SHOP),
        MultiStr(STAFF_TO_SHOPS),
        Records(STAFF_INVITES, as_type::<crate::catalog::StaffInvite>),
        MultiStr(EMAIL_TO_INVITES),
        Records(PRODUCTS, as_type::<domain::catalog::Product>),
        MultiStr(SHOP_TO_PRODUCTS),
        StrToU64(SHOP_PRODUCT_COUNTS),
        Records(ADDRESSES, as_type::<domain::catalog::Address>),
        MultiStr(USER_TO_ADDRESSES),
        MultiStr(USER_TO_FAVORITES),
        Records(ANNOUNCEMENTS, as_type::<domain::catalog::Announcement>),
        MultiStr(SHOP_TO_ANNOUNCEMENTS),
        Records(CARTS, as_type::<crate::market::carts::Cart>),
        Records(ORDERS, as_type::<domain::order::Order>),
        StrToStr(DISPLAY_TO_ORDER),
        MultiStr(USER_TO_ORDERS),
        MultiStr(SHOP_TO_ORDERS),
        StrToStr(SHOP_ORDERS),
        Records(
            IDEMPOTENCY,
            as_type::<crate::market::orders::IdempotencyRecord>,
        ),
        StrToStr(IDEMPOTENCY_EXPIRY),
        Records(SLOTS, as_type::<domain::batch::Slot>),
        MultiStr(SHOP_TO_SLOTS),
        Records(BATCHES, as_type::<domain::batch::Batch>),
        StrToStr(BATCH_KEY_TO_BATCH),
        MultiStr(BATCH_TO_ORDERS),
        StrToStr(OPEN_BATCHES_BY_CUTOFF),
        Records(REVIEWS, as_type::<domain::catalog::Review>),
        MultiStr(PRODUCT_TO_REVIEWS),
        MultiStr(STOCK_WATCHES),
        Records(NOTIFICATIONS, as_type::<crate::notify::Notification>),
        MultiStr(USER_TO_NOTIFICATIONS),
        MultiStr(SHOP_TO_BATCHES),
        StrToStr(LOCKED_BATCHES),
        StrToU64(USER_UNREAD),
        StrToU64(ORDER_COUNTS),
        Records(BROADCASTS, as_type::<crate::notify::Broadcast>),
        MultiStr(BROADCAST_READS),
        U64Records(EVENTS, as_type::<crate::events::Event>),
        U64Records(METRICS_ROLLUPS, as_json),
        Records(CHAT_MESSAGES, as_type::<crate::market::chat::Message>),
        Records(CHAT_THREADS, as_type::<crate::market::chat::Thread>),
        StrToStr(SHOP_CHATS),
        StrToStr(CART_REMINDERS),
        Records(OUTBOX, as_json),
        StrToStr(OUTBOX_DUE),
        StrToStr(OUTBOX_DEAD),
        Records(EMAIL_TOKENS, as_json),
        StrToStr(USER_EMAIL_TOKENS),
        Records(INCIDENTS, as_json),
        StrToStr(OPEN_INCIDENTS),
        U64ToStr(SEARCH_QUEUE),
        StrToU64(SEARCH_SEQ),
        Records(UPLOADS, as_json),
        StrToStr(OTP_LOCKED),
        StrToStr(SESSION_EXPIRY),
        StrToStr(CART_TOUCHED),
        Records(HOUSEKEEPING_RUNS, as_json),
    ]
};

// --- Mail and alerts ---

/// mail id (ULID, so creation order) → `mail::OutboxMail`, queued or dead
pub const OUTBOX: RecordTable = TableDefinition::new("outbox");
/// "next attempt (RFC 3339, ms)/mail id" → mail id, for queued mails only,
/// so the worker finds due mail with a range scan; an urgent mail's key
/// (confirmation and reset links) starts with `!`, ahead of every other
/// (see `mail::due_key`)
pub const OUTBOX_DUE: TableDefinition<&str, &str> = TableDefinition::new("outbox_due");
/// mail id → dead-lettered at (RFC 3339), for dead mails only
pub const OUTBOX_DEAD: TableDefinition<&str, &str> = TableDefinition::new("outbox_dead");
/// sha256(emailed token) → `auth::email_tokens::EmailToken`
pub const EMAIL_TOKENS: RecordTable = TableDefinition::new("email_tokens");
/// "purpose/user id" → sha256 of that user's one live token of the purpose
pub const USER_EMAIL_TOKENS: TableDefinition<&str, &str> =
    TableDefinition::new("user_email_tokens");
/// incident id (ULID) → `alerts::Incident`
pub const INCIDENTS: RecordTable = TableDefinition::new("incidents");
/// alert rule → id of its open incident (at most one per rule)
pub const OPEN_INCIDENTS: TableDefinition<&str, &str> = TableDefinition::new("open_incidents");
/// order id → display id, for orders locked by wrong OTPs and not yet
/// settled: the `otp_locked` alert stays open while this has rows
pub const OTP_LOCKED: TableDefinition<&str, &str> = TableDefinition::new("otp_locked");
// --- Search (appended migration) ---

/// sequence number → "kind:id" of a record whose search document must be
/// (re)built. Written in the transaction of the change; the indexer deletes
/// rows only after a tantivy commit that covers them (`search::queue`).
pub const SEARCH_QUEUE: TableDefinition<u64, &str> = TableDefinition::new("search_queue");
/// `next` → the next queue sequence number. Kept apart from the queue so an
/// emptied queue never reuses a number (the index's commit payload names the
/// last one applied).
pub const SEARCH_SEQ: TableDefinition<&str, u64> = TableDefinition::new("search_seq");
// --- Files ---

/// upload id (SHA-256 of the re-encoded original) → `files::Upload`
pub const UPLOADS: RecordTable = TableDefinition::new("uploads");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use redb::{MultimapTableHandle, TableHandle};

    use super::*;

    #[test]
    fn all_lists_exactly_the_tables_of_a_migrated_store() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(dir.path(), crate::store::WriterOptions::default()).unwrap();
        let (plain, multi) = store
            .read_blocking(|txn| {
                let plain: BTreeSet<String> =
                    txn.list_tables()?.map(|t| t.name().to_string()).collect();
                let multi: BTreeSet<String> = txn
                    .list_multimap_tables()?
                    .map(|t| t.name().to_string())
                    .collect();
                Ok::<_, StoreError>((plain, multi))
            })
            .unwrap();
        let listed_plain: BTreeSet<String> = ALL
            .iter()
            .filter(|t| !t.is_multimap())
            .map(|t| t.name().to_string())
            .collect();
        let listed_multi: BTreeSet<String> = ALL
            .iter()
            .filter(|t| t.is_multimap())
            .map(|t| t.name().to_string())
            .collect();
        assert_eq!(
            plain, listed_plain,
            "tables::ALL is out of step with the store"
        );
        assert_eq!(
            multi, listed_multi,
            "tables::ALL is out of step with the store"
        );
        assert_eq!(
            ALL.len(),
            plain.len() + multi.len(),
            "a table is listed twice"
        );
    }
}
