//! Full-text search: a tantivy index under `<data_dir>/search/`, kept in
//! step with the store through a durable queue (see `queue` and `indexer`).
//!
//! - `query`: what the user typed → a tantivy query (pure, unit-tested).
//! - `schema`: fields and documents.
//! - `queue`: `enqueue` in the transaction of every indexed change.
//! - `indexer`: the one writer thread, rebuilds, commits.
//!
//! Searching returns ids in rank order; callers load the records from the
//! store and re-check visibility there.

pub mod hits;
pub mod indexer;
pub mod query;
pub mod queue;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tantivy::collector::TopDocs;
use tantivy::query::Query;
use tantivy::schema::Value;
use tantivy::{IndexReader, TantivyDocument};

use query::Normalized;
pub use queue::{Target, enqueue};
use schema::Fields;

use crate::config::SearchConfig;
use crate::store::Store;

/// `<data_dir>/search`
pub fn search_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Starting,
    Rebuilding,
    Ready,
    Failed(String),
}

pub(crate) enum Command {
    Wake,
    Rebuild(std::sync::mpsc::Sender<Result<indexer::Rebuilt, String>>),
    Stop,
}

pub(crate) struct Shared {
    dir: PathBuf,
    fields: Fields,
    state: Mutex<State>,
    reader: RwLock<Option<IndexReader>>,
    applied: AtomicU64,
}

impl Shared {
    fn set_state(&self, s: State) {
        if s != State::Ready {
            // Searching a half-swapped directory would mislead; answer 503.
            *self.reader.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    fn publish(&self, reader: IndexReader, applied: u64) {
        *self.reader.write().unwrap_or_else(|p| p.into_inner()) = Some(reader);
        self.applied.store(applied, Ordering::Relaxed);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::Ready;
    }
}

/// Why a search could not run (never the caller's fault: 503).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search is not ready: {0}")]
    NotReady(String),
    #[error("search failed: {0}")]
    Failed(String),
}

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Products,
    Shops,
    Orders,
    Users,
}

/// Exact-value filters; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// One shop (products, orders).
    pub shop_id: Option<String>,
    /// Orders: restrict to these shops (a vendor's own). `None`: all.
    pub shops_any: Option<Vec<String>>,
    pub category_id: Option<String>,
    pub veg: Option<bool>,
    pub in_stock: Option<bool>,
    /// Orders and users: the status's API name.
    pub status: Option<String>,
}

/// One page of ids in rank order, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page {
    pub ids: Vec<String>,
    pub more: bool,
}

/// The handle the server holds: searches, readiness, shutdown.
#[derive(Clone)]
pub struct Search {
    shared: Arc<Shared>,
    tx: Sender<Command>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

pub fn options(c: &SearchConfig) -> indexer::Options {
    indexer::Options {
        commit_interval: Duration::from_millis(c.commit_interval_ms),
        writer_heap_bytes: c.writer_heap_mb * 1_000_000,
        rebuild_heap_bytes: c.rebuild_heap_mb * 1_000_000,
    }
}

impl Search {
    /// Starts the indexer thread: it opens the index (rebuilding it when it
    /// is missing, damaged, of another version or locked) and then follows
    /// the queue. Searches answer 503 until it is ready.
    pub fn start(store: Store, data_dir: &Path, opts: indexer::Options) -> anyhow::Result<Search> {
        let (_, fields) = schema::build();
        let shared = Arc::new(Shared {
            dir: search_dir(data_dir),
            fields,
            state: Mutex::new(State::Starting),
            reader: RwLock::new(None),
            applied: AtomicU64::new(0),
        });
        let (tx, rx) = channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("uphill-search".into())
            .spawn(move || indexer::run(s, store, opts, rx))?;
        Ok(Search {
            shared,
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    pub fn state(&self) -> State {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the index is open (or failed), at most `limit`. Start-up
    /// waits a little so a small rebuild finishes before the first request;
    /// a long one goes on in the background (readyz and searches say so).
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.state() {
                State::Ready => return true,
                State::Failed(_) => return false,
                State::Starting | State::Rebuilding => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The last queue sequence number visible to searches.
    pub fn applied_seq(&self) -> u64 {
        self.shared.applied.load(Ordering::Relaxed)
    }

    /// Hints that the queue has new rows (the indexer also polls).
    pub fn wake(&self) {
        let _ = self.tx.send(Command::Wake);
    }

    /// Rebuilds the index from the store while the server runs; searches
    /// answer 503 meanwhile. Blocks until done.
    pub fn rebuild_blocking(&self) -> Result<indexer::Rebuilt, String> {
        let (reply, rx) = channel();
        self.tx
            .send(Command::Rebuild(reply))
            .map_err(|_| "the indexer has stopped".to_string())?;
        rx.recv()
            .map_err(|_| "the indexer stopped during the rebuild".to_string())?
    }

    /// Commits what is pending and stops the indexer thread.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Command::Stop);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    fn reader(&self) -> Result<IndexReader, SearchError> {
        if let Some(r) = self
            .shared
            .reader
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(r.clone());
        }
        Err(SearchError::NotReady(match self.state() {
            State::Starting => "starting".into(),
            State::Rebuilding => "the index is being rebuilt".into(),
            State::Ready => "no reader".into(),
            State::Failed(e) => e,
        }))
    }

    /// Runs a query (blocking: call from the blocking pool).
    pub fn search(
        &self,
        kind: Kind,
        q: &Normalized,
        filters: &Filters,
        limit: usize,
        offset: usize,
    ) -> Result<Page, SearchError> {
        let reader = self.reader()?;
        let query = build(&self.shared.fields, kind, q, filters);
        let searcher = reader.searcher();
        let limit = limit.max(1);
        let top = searcher
            .search(
                &query,
                &TopDocs::with_limit(limit + 1)
                    .and_offset(offset)
                    .order_by_score(),
            )
            .map_err(|e| SearchError::Failed(e.to_string()))?;
        let more = top.len() > limit;
        let mut ids = Vec::with_capacity(limit);
        for (_, addr) in top.into_iter().take(limit) {
            let doc: TantivyDocument = searcher
                .doc(addr)
                .map_err(|e| SearchError::Failed(e.to_string()))?;
            if let Some(id) = doc
                .get_first(self.shared.fields.id)
                .and_then(|v| v.as_str())
            {
                ids.push(id.to_string());
            }
        }
        Ok(Page { ids, more })
    }
}

/// The whole query for a kind: its text fields with boosts, its kind, and
/// the filters that apply to it.
pub fn build(f: &Fields, kind: Kind, q: &Normalized, filters: &Filters) -> Box<dyn Query> {
    let (kind_name, fields): (&str, Vec<(tantivy::schema::Field, f32)>) = match kind {
        Kind::Products => (
            schema::KIND_PRODUCT,
            vec![
                (f.name, 3.0),
                (f.category, 1.5),
                (f.shop, 1.0),
                (f.description, 0.5),
            ],
        ),
        Kind::Shops => (
            schema::KIND_SHOP,
            vec![
                (f.name, 3.0),
                (f.category, 1.0),
                (f.building, 1.0),
                (f.description, 0.5),
            ],
        ),
        Kind::Orders => (
            schema::KIND_ORDER,
            vec![(f.display_id, 3.0), (f.student, 2.0)],
        ),
        Kind::Users => (schema::KIND_USER, vec![(f.name, 2.0), (f.email, 2.0)]),
    };
    let mut filt = vec![query::filter(f.kind, kind_name)];
    if let Some(s) = &filters.shop_id {
        filt.push(query::filter(f.shop_id, s));
    }
    if let Some(shops) = &filters.shops_any {
        filt.push(query::filter_any(f.shop_id, shops));
    }
    if let Some(c) = &filters.category_id {
        filt.push(query::filter(f.category_id, c));
    }
    if let Some(v) = filters.veg {
        filt.push(query::filter(f.veg, schema::flag(v)));
    }
    if let Some(v) = filters.in_stock {
        filt.push(query::filter(f.in_stock, schema::flag(v)));
    }
    if let Some(s) = &filters.status {
        filt.push(query::filter(f.status, s));
    }
    query::with_filters(query::text_query(q, &fields), filt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::Index;

    /// The query builder against a small in-memory index: typos, prefixes
    /// and filters behave as the API promises.
    #[test]
    fn typo_and_prefix_matching_on_a_small_index() {
        let (schema, f) = schema::build();
        let index = Index::create_in_ram(schema);
        index
            .tokenizers()
            .register(schema::TOKENIZER, query::analyzer());
        let mut w = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let add = |w: &mut tantivy::IndexWriter, id: &str, name: &str, veg: bool| {
            let mut d = TantivyDocument::new();
            d.add_text(f.kind, schema::KIND_PRODUCT);
            d.add_text(f.id, id);
            d.add_text(f.name, name);
            d.add_text(f.shop_id, "s1");
            d.add_text(f.veg, schema::flag(veg));
            w.add_document(d).unwrap();
        };
        add(&mut w, "1", "Paneer Roll", true);
        add(&mut w, "2", "Masala Chai", true);
        add(&mut w, "3", "Chicken Roll", false);
        add(&mut w, "4", "Pen", true);
        w.commit().unwrap();
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        let ids = |q: &str, filters: &Filters| -> Vec<String> {
            let n = query::normalize(q).unwrap();
            let query = build(&f, Kind::Products, &n, filters);
            searcher
                .search(&query, &TopDocs::with_limit(10).order_by_score())
                .unwrap()
                .into_iter()
                .map(|(_, a)| {
                    let d: TantivyDocument = searcher.doc(a).unwrap();
                    d.get_first(f.id).unwrap().as_str().unwrap().to_string()
                })
                .collect()
        };
        let none = Filters::default();
        assert_eq!(ids("panner r", &none), ["1"]);
        assert_eq!(ids("chay", &none), ["2"]);
        assert_eq!(ids("chai", &none), ["2"]);
        let rolls = ids("roll", &none);
        assert_eq!(rolls.len(), 2, "{rolls:?}");
        let veg = Filters {
            veg: Some(true),
            ..Default::default()
        };
        assert_eq!(ids("roll", &veg), ["1"]);
        // "pe" is a short prefix: exact prefix only, so "Pen" but not "Paneer".
        assert_eq!(ids("pe", &none), ["4"]);
        // A finished short word matches exactly, not as a prefix.
        assert!(ids("pe ", &none).is_empty());
        let other_shop = Filters {
            shop_id: Some("s2".into()),
            ..Default::default()
        };
        assert!(ids("roll", &other_shop).is_empty());
        // Ranking: the exact word beats a typo match.
        assert_eq!(ids("chicken", &none), ["3"]);
    }
}
