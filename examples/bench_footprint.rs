//! What a data directory's store holds, against the same data as JSON:
//! the store file's size, every record's size as JSON (key and value, what
//! an export of the records would write; indexes are derived and left
//! out), and per table the records, their bytes as JSON and as stored. Run on a stopped server's directory.
//!
//! `cargo run --release --example bench_footprint -- DATA_DIR`
//! Prints one JSON line.

use std::collections::BTreeMap;

use uphill::store::tables::{ALL, AnyTable};
use uphill::store::{Store, StoreError, WriterOptions, codec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: bench_footprint DATA_DIR")?;
    let dir = std::path::PathBuf::from(dir);
    let file_bytes = std::fs::metadata(dir.join("uphill.redb"))?.len();
    let store = Store::open(&dir, WriterOptions::default())?;
    let (json_bytes, counts) = store.read_blocking(|txn| {
        let mut json = 0usize;
        // table → (records, bytes as JSON, bytes as stored)
        let mut counts = BTreeMap::<String, (u64, usize, usize)>::new();
        let mut add = |table: &str, key: String, value: &[u8]| -> Result<(), StoreError> {
            let v: serde_json::Value = codec::decode(value)?;
            let as_json = serde_json::to_vec(&key).map_or(0, |k| k.len())
                + serde_json::to_vec(&v).map_or(0, |v| v.len())
                + 2;
            json += as_json;
            let c = counts.entry(table.to_string()).or_default();
            *c = (c.0 + 1, c.1 + as_json, c.2 + key.len() + value.len());
            Ok(())
        };
        for t in ALL {
            match *t {
                AnyTable::Records(def, _) => {
                    use redb::{ReadableTable, TableHandle};
                    for e in txn.open_table(def)?.iter()? {
                        let (k, v) = e?;
                        add(def.name(), k.value().to_string(), v.value())?;
                    }
                }
                AnyTable::U64Records(def, _) => {
                    use redb::{ReadableTable, TableHandle};
                    for e in txn.open_table(def)?.iter()? {
                        let (k, v) = e?;
                        add(def.name(), k.value().to_string(), v.value())?;
                    }
                }
                _ => {}
            }
        }
        Ok::<_, StoreError>((json, counts))
    })?;
    println!(
        "{}",
        serde_json::json!({
            "file_bytes": file_bytes,
            "json_export_bytes": json_bytes,
            "records": counts.iter().map(|(t, c)| (t.clone(), c.0)).collect::<BTreeMap<_, _>>(),
            "json_bytes": counts.iter().map(|(t, c)| (t.clone(), c.1)).collect::<BTreeMap<_, _>>(),
            "stored_bytes": counts.iter().map(|(t, c)| (t.clone(), c.2)).collect::<BTreeMap<_, _>>(),
        })
    );
    Ok(())
}
