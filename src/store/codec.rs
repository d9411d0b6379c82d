//! The one way records become bytes and back.
//!
//! Every table stores its values as `&[u8]` and goes through [`encode`] /
//! [`decode`], so a decoding failure is an error we can report, never a panic
//! inside redb's `Value::from_bytes`. Records are MessagePack with named
//! fields behind a version byte: self-describing like the JSON they replace
//! (a field added later with `#[serde(default)]` reads old records without a
//! migration, a reader may decode only the fields it needs), and smaller
//! (an order: about 790 bytes instead of 950; field names are most of what
//! is left). Records written before migration 15 are JSON; they still
//! decode, and that migration rewrites them.

use redb::{ReadableTable, Table, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

/// The first byte of every record written today: MessagePack, version 1.
/// JSON records start with `{`, so the two never mix up.
const MSGPACK_V1: u8 = 0x01;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(128);
    out.push(MSGPACK_V1);
    rmp_serde::encode::write_named(&mut out, value)
        .map_err(|e| StoreError::Codec(e.to_string()))?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&MSGPACK_V1, rest)) => {
            rmp_serde::from_slice(rest).map_err(|e| StoreError::Codec(e.to_string()))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| StoreError::Codec(e.to_string())),
    }
}

/// A record in today's encoding, or `None` when it already is: what the
/// migration writes back for each JSON record it finds.
pub fn reencoded(bytes: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    if bytes.first() == Some(&MSGPACK_V1) {
        return Ok(None);
    }
    encode(&decode::<serde_json::Value>(bytes)?).map(Some)
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
        #[derive(Serialize)]
        struct Older {
            id: String,
        }
        let n: Newer = decode(br#"{"id":"x"}"#).unwrap();
        assert_eq!((n.id.as_str(), n.added_later), ("x", 0));
        let old = encode(&Older { id: "y".into() }).unwrap();
        let n: Newer = decode(&old).unwrap();
        assert_eq!((n.id.as_str(), n.added_later), ("y", 0));
    }

    /// A legacy JSON record, rewritten by the migration, decodes to the same
    /// value, enums, options, nested maps and timestamps included; a record
    /// already rewritten is left alone.
    #[test]
    fn a_json_record_reencodes_to_the_same_value() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum Status {
            New,
            OutForDelivery,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "scope", rename_all = "snake_case")]
        enum Audience {
            Shop { shop_id: String },
            Everyone,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Rec {
            id: String,
            status: Status,
            other: Status,
            at: chrono::DateTime<chrono::Utc>,
            total: i64,
            big: u64,
            note: Option<String>,
            audience: Audience,
            everyone: Audience,
            data: serde_json::Value,
        }
        let r = Rec {
            id: "01J".into(),
            status: Status::New,
            other: Status::OutForDelivery,
            at: chrono::Utc::now(),
            total: -5,
            big: u64::MAX,
            note: None,
            audience: Audience::Shop {
                shop_id: "s".into(),
            },
            everyone: Audience::Everyone,
            data: serde_json::json!({"a": [1, "x", null], "b": {"c": true}}),
        };
        let json = serde_json::to_vec(&r).unwrap();
        let again = reencoded(&json).unwrap().expect("rewritten");
        assert_eq!(decode::<Rec>(&again).unwrap(), r);
        // The same fields as if written today (in the JSON's key order).
        assert_eq!(again.len(), encode(&r).unwrap().len());
        assert!(again.len() < json.len());
        assert_eq!(reencoded(&again).unwrap(), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode::<Sample>(b"\xff\x00not json"),
            Err(StoreError::Codec(_))
        ));
        assert!(matches!(
            decode::<Sample>(b"\x01\xc1"),
            Err(StoreError::Codec(_))
        ));
    }
}
