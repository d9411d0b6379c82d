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
