//! Encoded responses of hot public reads (a shop's catalog page), kept
//! until the store next commits.
//!
//! Every entry is tagged with `Store::generation` as loaded *before* its
//! read transaction began, and used only while the generation is unchanged,
//! so a hit is never older than the last commit — no per-table invalidation
//! to forget. The cost: any write empties the cache's usefulness until the
//! next miss; catalog reads come in bursts of browsing far above the write
//! rate, which is when the cache matters.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

/// Entries are small (a page of JSON); the bound keeps a crawler walking
/// every filter combination from growing it without limit.
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct ResponseCache {
    entries: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl ResponseCache {
    pub fn get(&self, key: &str, generation: u64) -> Option<Bytes> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, b)| b.clone())
    }

    pub fn put(&self, key: String, generation: u64, body: Bytes) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, (g, _)| *g == generation);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (generation, body));
    }
}

/// A JSON body encoded once and served as bytes, documented as `T`.
/// (poem-openapi's `Json<T>` goes through `serde_json::Value` on every
/// response, which costs more than the read for a page of products.)
pub struct EncodedJson<T> {
    body: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> EncodedJson<T> {
    pub fn encode(value: &T) -> Self {
        let json = value.to_json().unwrap_or(serde_json::Value::Null);
        Self::from_bytes(Bytes::from(json.to_string()))
    }

    pub fn from_bytes(body: Bytes) -> Self {
        Self {
            body,
            _schema: PhantomData,
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.body.clone()
    }
}

impl<T: Type + Send> Payload for EncodedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("application/json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for EncodedJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.body)
    }
}

impl<T: Type + Send> ApiResponse for EncodedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_only_for_their_generation() {
        let c = ResponseCache::default();
        c.put("shop-1".into(), 7, Bytes::from_static(b"[1]"));
        assert_eq!(c.get("shop-1", 7).as_deref(), Some(&b"[1]"[..]));
        assert!(c.get("shop-1", 8).is_none(), "a commit since: stale");
        assert!(c.get("shop-2", 7).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = ResponseCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            c.put(format!("k{i}"), 1, Bytes::from_static(b"x"));
        }
        let n = c.entries.lock().unwrap().len();
        assert!(n <= MAX_ENTRIES, "{n}");
    }
}
