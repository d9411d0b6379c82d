//! A student's delivery addresses; one of them is the default.

use chrono::Utc;
use redb::{ReadTransaction, ReadableMultimapTable, ReadableTable, WriteTransaction};

use crate::domain::catalog::{Address, AddressSnapshot, Building};
use crate::domain::{FieldError, bounded_text};
use crate::error::Error;
use crate::store::{StoreError, codec, tables};

pub const MAX_ADDRESSES: usize = 20;

pub struct AddressInput {
    pub label: Option<String>,
    pub building_id: Option<String>,
    pub room: Option<String>,
    pub notes: Option<String>,
    pub is_default: Option<bool>,
}

fn ids(
    txn_table: &impl ReadableMultimapTable<&'static str, &'static str>,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for v in txn_table.get(user_id)? {
        out.push(v?.value().to_string());
    }
    Ok(out)
}

pub fn list(txn: &ReadTransaction, user_id: &str) -> Result<Vec<Address>, StoreError> {
    let table = txn.open_table(tables::ADDRESSES)?;
    let mut out = Vec::new();
    for id in ids(
        &txn.open_multimap_table(tables::USER_TO_ADDRESSES)?,
        user_id,
    )? {
        if let Some(a) = codec::get::<Address>(&table, &id)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// The caller's address, or 404 (another user's id looks unknown).
pub fn owned(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    user_id: &str,
    id: &str,
) -> Result<Address, Error> {
    match codec::get::<Address>(table, id)? {
        Some(a) if a.user_id == user_id => Ok(a),
        _ => Err(Error::NotFound("no such address".into())),
    }
}

pub fn snapshot(
    buildings: &impl ReadableTable<&'static str, &'static [u8]>,
    a: &Address,
) -> Result<AddressSnapshot, StoreError> {
    let name = codec::get::<Building>(buildings, &a.building_id)?
        .map(|b| b.name)
        .unwrap_or_else(|| "(removed building)".into());
    Ok(AddressSnapshot {
        label: a.label.clone(),
        building_id: a.building_id.clone(),
        building_name: name,
        room: a.room.clone(),
        notes: a.notes.clone(),
    })
}

fn check_building(txn: &WriteTransaction, id: &str) -> Result<(), Error> {
    if codec::get::<Building>(&txn.open_table(tables::BUILDINGS)?, id)?.is_none() {
        return Err(FieldError::new("building_id", "no such building").into());
    }
    Ok(())
}

/// Makes `keep` the only default address of the user.
fn set_only_default(txn: &WriteTransaction, user_id: &str, keep: &str) -> Result<(), StoreError> {
    let all = ids(
        &txn.open_multimap_table(tables::USER_TO_ADDRESSES)?,
        user_id,
    )?;
    let mut table = txn.open_table(tables::ADDRESSES)?;
    for id in all {
        if let Some(mut a) = codec::get::<Address>(&table, &id)? {
            let want = a.id == keep;
            if a.is_default != want {
                a.is_default = want;
                codec::put(&mut table, &id, &a)?;
            }
        }
    }
    Ok(())
}

pub fn create(
    txn: &WriteTransaction,
    user_id: &str,
    input: &AddressInput,
) -> Result<Address, Error> {
    let label = bounded_text(
        "label",
        input.label.as_deref().unwrap_or("Room"),
        1,
        40,
        false,
    )?;
    let room = bounded_text("room", input.room.as_deref().unwrap_or(""), 1, 20, false)?;
    let notes = bounded_text("notes", input.notes.as_deref().unwrap_or(""), 0, 200, true)?;
    let building_id = input
        .building_id
        .clone()
        .ok_or_else(|| Error::from(FieldError::new("building_id", "is required")))?;
    check_building(txn, &building_id)?;
    let existing = ids(
        &txn.open_multimap_table(tables::USER_TO_ADDRESSES)?,
        user_id,
    )?;
    if existing.len() >= MAX_ADDRESSES {
        return Err(Error::Conflict(format!(
            "at most {MAX_ADDRESSES} addresses; delete one first"
        )));
    }
    let a = Address {
        id: ulid::Ulid::new().to_string(),
        user_id: user_id.to_string(),
        label,
        building_id,
        room,
        notes,
        // The first address is the default whatever the client says.
        is_default: existing.is_empty() || input.is_default.unwrap_or(false),
        created_at: Utc::now(),
    };
    codec::put(&mut txn.open_table(tables::ADDRESSES)?, &a.id, &a)?;
    txn.open_multimap_table(tables::USER_TO_ADDRESSES)?
        .insert(user_id, a.id.as_str())?;
    if a.is_default {
        set_only_default(txn, user_id, &a.id)?;
    }
    Ok(a)
}

pub fn update(
    txn: &WriteTransaction,
    user_id: &str,
    id: &str,
    input: &AddressInput,
) -> Result<Address, Error> {
    let mut a = owned(&txn.open_table(tables::ADDRESSES)?, user_id, id)?;
    if let Some(l) = &input.label {
        a.label = bounded_text("label", l, 1, 40, false)?;
    }
    if let Some(r) = &input.room {
        a.room = bounded_text("room", r, 1, 20, false)?;
    }
    if let Some(n) = &input.notes {
        a.notes = bounded_text("notes", n, 0, 200, true)?;
    }
    if let Some(b) = &input.building_id {
        check_building(txn, b)?;
        a.building_id = b.clone();
    }
    if input.is_default == Some(false) && a.is_default {
        return Err(FieldError::new("default", "make another address the default instead").into());
    }
    let make_default = input.is_default == Some(true) && !a.is_default;
    a.is_default |= make_default;
    codec::put(&mut txn.open_table(tables::ADDRESSES)?, &a.id, &a)?;
    if make_default {
        set_only_default(txn, user_id, &a.id)?;
    }
    Ok(a)
}

/// Deletes an address; orders keep their snapshot. If it was the default,
/// the oldest remaining address becomes the default.
pub fn delete(txn: &WriteTransaction, user_id: &str, id: &str) -> Result<(), Error> {
    let a = owned(&txn.open_table(tables::ADDRESSES)?, user_id, id)?;
    txn.open_table(tables::ADDRESSES)?.remove(id)?;
    txn.open_multimap_table(tables::USER_TO_ADDRESSES)?
        .remove(user_id, id)?;
    // Read first: redb refuses to open a table twice at once.
    let remaining = ids(
        &txn.open_multimap_table(tables::USER_TO_ADDRESSES)?,
        user_id,
    )?;
    if a.is_default
        && let Some(next) = remaining.first()
    {
        set_only_default(txn, user_id, next)?;
    }
    Ok(())
}
