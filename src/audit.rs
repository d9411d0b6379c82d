//! The append-only audit log: who did what to which record, from where.
//! Entries are written in the same transaction as the change they describe.

use chrono::{DateTime, Utc};
use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, codec, tables};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// None for actions taken from the command line on the server itself.
    pub actor_id: Option<String>,
    pub action: String,
    pub target: String,
    pub details: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Where an action came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn append(
    txn: &WriteTransaction,
    origin: &Origin,
    action: &str,
    target: &str,
    details: impl Into<String>,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        id: ulid::Ulid::new().to_string(),
        at: Utc::now(),
        actor_id: origin.actor_id.clone(),
        action: action.into(),
        target: target.into(),
        details: details.into(),
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
    };
    let mut t = txn.open_table(tables::AUDIT_LOG)?;
    codec::put(&mut t, &entry.id, &entry)
}
