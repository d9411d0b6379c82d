//! Platform settings, changed by admins and read inside transactions (the
//! platform fee is read at checkout and frozen on the order).

use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, codec, tables};

const KEY: &str = "platform";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlatformSettings {
    /// Minor units added to every order.
    pub platform_fee: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

pub fn read(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<PlatformSettings, StoreError> {
    Ok(codec::get(table, KEY)?.unwrap_or_default())
}

pub fn write(txn: &WriteTransaction, s: &PlatformSettings) -> Result<(), StoreError> {
    codec::put(&mut txn.open_table(tables::SETTINGS)?, KEY, s)
}
