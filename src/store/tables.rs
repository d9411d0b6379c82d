//! Every table of the store, in one place. Names follow `KEY_TO_VALUE`.
//!
//! Values are JSON records (see `codec`); keys are strings: ULIDs for
//! entities (so key order is creation order) and SHA-256 hex digests for
//! secrets we must look up but never store in the clear.

use redb::{MultimapTableDefinition, TableDefinition};

use super::codec::RecordTable;

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

/// product id → `Product`
pub const PRODUCTS: RecordTable = TableDefinition::new("products");
/// shop id → product ids
pub const SHOP_TO_PRODUCTS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("shop_to_products");

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

/// "user id/key" → `IdempotencyRecord` (24 h)
pub const IDEMPOTENCY: RecordTable = TableDefinition::new("idempotency");

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
/// broadcast id → `Broadcast` (stored once, whatever the audience size)
pub const BROADCASTS: RecordTable = TableDefinition::new("broadcasts");
/// user id → ids of the broadcasts they have read
pub const BROADCAST_READS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("broadcast_reads");
/// sequence number → `events::Event`, the log SSE clients replay from;
/// the next number lives in `META` under `event_seq`
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

// --- Files ---

/// upload id (SHA-256 of the re-encoded original) → `files::Upload`
pub const UPLOADS: RecordTable = TableDefinition::new("uploads");
