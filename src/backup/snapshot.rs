//! The store's side of a backup: copy every table seen by one read
//! transaction into a fresh redb file, and check such a file.
//!
//! A redb read transaction is an MVCC snapshot: it sees exactly what was
//! committed when it began, and writers carry on meanwhile (they only keep
//! the pages the snapshot still reads from being reused until it ends). So
//! the copy is consistent without pausing the server.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{
    Builder, Database, Durability, Key, MultimapTableDefinition, ReadTransaction, ReadableDatabase,
    ReadableMultimapTable, ReadableTable, TableDefinition, TableError, Value,
};

use crate::store::tables::{ALL, AnyTable, Check};
use crate::store::{SCHEMA_VERSION, StoreError, stored_version};

/// Copies every table of `src` into a new redb file at `dest`.
/// Returns the record count of each table.
pub fn write(src: &ReadTransaction, dest: &Path) -> Result<BTreeMap<String, u64>, StoreError> {
    let db = Database::create(dest).map_err(|e| StoreError::Redb(e.into()))?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let mut counts = BTreeMap::new();
    for t in ALL {
        let n = match *t {
            AnyTable::Records(d, _) | AnyTable::Bytes(d) => copy(src, &txn, d)?,
            AnyTable::StrToStr(d) => copy(src, &txn, d)?,
            AnyTable::StrToU8(d) => copy(src, &txn, d)?,
            AnyTable::StrToU64(d) => copy(src, &txn, d)?,
            AnyTable::U64ToStr(d) => copy(src, &txn, d)?,
            AnyTable::U64Records(d, _) => copy(src, &txn, d)?,
            AnyTable::MultiStr(d) => copy_multi(src, &txn, d)?,
        };
        counts.insert(t.name().to_string(), n);
    }
    txn.commit()?;
    Ok(counts)
}

fn copy<K: Key + 'static, V: Value + 'static>(
    src: &ReadTransaction,
    dst: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let from = match src.open_table(def) {
        Ok(t) => t,
        // An older store may lack a newer table; restore migrates it.
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut to = dst.open_table(def)?;
    let mut n = 0;
    for e in from.iter()? {
        let (k, v) = e?;
        to.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

fn copy_multi<K: Key + 'static, V: Key + 'static>(
    src: &ReadTransaction,
    dst: &redb::WriteTransaction,
    def: MultimapTableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let from = match src.open_multimap_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut to = dst.open_multimap_table(def)?;
    let mut n = 0;
    for e in from.iter()? {
        let (k, vs) = e?;
        for v in vs {
            to.insert(k.value(), v?.value())?;
            n += 1;
        }
    }
    Ok(n)
}

/// What checking a snapshot found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub schema_version: u32,
    pub records: BTreeMap<String, u64>,
}

/// Opens a snapshot file with redb's integrity check (every page checksum),
/// then reads every record of every table and decodes the JSON ones.
pub fn check(path: &Path) -> Result<Checked, String> {
    let mut db = Builder::new()
        .set_check_integrity_on_open(true)
        .open(path)
        .map_err(|e| format!("the store snapshot does not open: {e}"))?;
    match db.check_integrity() {
        Ok(true) => {}
        Ok(false) => return Err("the store snapshot failed redb's integrity check".into()),
        Err(e) => {
            return Err(format!(
                "the store snapshot failed redb's integrity check: {e}"
            ));
        }
    }
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let schema_version = stored_version(&txn).map_err(|e| e.to_string())?;
    if schema_version == 0 || schema_version > SCHEMA_VERSION {
        return Err(format!(
            "the store snapshot has schema version {schema_version}; this binary reads 1 to {SCHEMA_VERSION}"
        ));
    }
    let mut records = BTreeMap::new();
    for t in ALL {
        let n = match *t {
            AnyTable::Records(d, check) => read_all(&txn, d, Some(check)),
            AnyTable::Bytes(d) => read_all(&txn, d, None),
            AnyTable::StrToStr(d) => count(&txn, d),
            AnyTable::StrToU8(d) => count(&txn, d),
            AnyTable::StrToU64(d) => count(&txn, d),
            AnyTable::U64ToStr(d) => count(&txn, d),
            AnyTable::U64Records(d, check) => read_all(&txn, d, Some(check)),
            AnyTable::MultiStr(d) => count_multi(&txn, d),
        }
        .map_err(|e| format!("table {}: {e}", t.name()))?;
        records.insert(t.name().to_string(), n);
    }
    Ok(Checked {
        schema_version,
        records,
    })
}

fn read_all<K: Key + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, &'static [u8]>,
    check: Option<Check>,
) -> Result<u64, StoreError> {
    let t = match txn.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut n = 0;
    for e in t.iter()? {
        let (k, v) = e?;
        if let Some(check) = check {
            check(v.value()).map_err(|e| {
                StoreError::Codec(format!("record {:?} does not decode: {e}", k.value()))
            })?;
        }
        n += 1;
    }
    Ok(n)
}

fn count<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    match txn.open_table(def) {
        // Walks the entries rather than trusting the stored length, so a
        // broken page shows up here.
        Ok(t) => {
            let mut n = 0;
            for e in t.iter()? {
                e?;
                n += 1;
            }
            Ok(n)
        }
        Err(TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn count_multi<K: Key + 'static, V: Key + 'static>(
    txn: &ReadTransaction,
    def: MultimapTableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let t = match txn.open_multimap_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut n = 0;
    for e in t.iter()? {
        let (_, vs) = e?;
        for v in vs {
            v?;
            n += 1;
        }
    }
    Ok(n)
}
