//! The one way records become bytes and back.
//!
//! Every table stores its values as `&[u8]` and goes through [`encode`] /
//! [`decode`], so a decoding failure is an error we can report, never a panic
//! inside redb's `Value::from_bytes`. JSON is chosen on purpose: a field added
//! later with `#[serde(default)]` reads old records without a migration, and
//! a record can be inspected by hand when something goes wrong.

use redb::{ReadableTable, Table, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Codec(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Codec(e.to_string()))
}

/// A table keyed by string whose values are records of type `V`.
pub type RecordTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// Reads and decodes one record.
pub fn get<V: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<V>, StoreError> {
    match table.get(key)? {
        Some(guard) => Ok(Some(decode(guard.value())?)),
        None => Ok(None),
    }
}

/// Encodes and stores one record.
pub fn put<V: Serialize>(
    table: &mut Table<&'static str, &'static [u8]>,
    key: &str,
    value: &V,
) -> Result<(), StoreError> {
    let bytes = encode(value)?;
    table.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Every record of a table, in key order.
pub fn all<V: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<V>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (_, v) = entry?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        id: String,
        amount: i64,
        tags: Vec<String>,
        note: Option<String>,
    }

    #[test]
    fn round_trips_a_record() {
        let s = Sample {
            id: "01J".into(),
            amount: -42,
            tags: vec!["a".into(), "ü".into()],
            note: None,
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(decode::<Sample>(&bytes).unwrap(), s);
    }

    #[test]
    fn old_record_without_a_new_defaulted_field_still_decodes() {
        #[derive(Debug, Deserialize)]
        struct Newer {
            id: String,
            #[serde(default)]
            added_later: u32,
        }
        let n: Newer = decode(br#"{"id":"x"}"#).unwrap();
        assert_eq!((n.id.as_str(), n.added_later), ("x", 0));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode::<Sample>(b"\xff\x00not json"),
            Err(StoreError::Codec(_))
        ));
    }
}
