//! The one index writer: opening (or rebuilding) the index, draining the
//! queue, committing on a short timer.
//!
//! It runs on its own thread because tantivy's writer and redb both block.
//! Each round reads the queue rows after the last applied sequence and the
//! records they name in ONE read transaction (so a document reflects a state
//! at least as new as its row), applies them, and — at most every
//! `commit_interval` while something is pending — commits tantivy with
//! `{"v": SCHEMA_VERSION, "seq": last applied}` as the payload, reloads the
//! reader, and only then deletes the covered queue rows in a store write.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use tantivy::directory::error::LockError;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use super::queue::{self, Target};
use super::schema::{self, Fields, SCHEMA_VERSION, TOKENIZER};
use super::{Command, Shared, State};
use crate::domain::catalog::{Category, Product};
use crate::domain::order::Order;
use crate::domain::shop::Shop;
use crate::domain::user::User;
use crate::store::{Store, StoreError, codec, tables};

/// How often the queue is polled when nothing wakes the indexer earlier.
const POLL: Duration = Duration::from_millis(100);
/// Queue rows read per round, so one huge backlog cannot stall commits.
const ROUND: usize = 20_000;
/// A writer with nothing to do for this long is closed (see `LazyWriter`).
const WRITER_IDLE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub commit_interval: Duration,
    pub writer_heap_bytes: usize,
    pub rebuild_heap_bytes: usize,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Payload {
    v: u32,
    seq: u64,
}

/// Why an existing index is not used as it is.
#[derive(Debug)]
pub enum Unusable {
    Missing,
    Corrupt(String),
    OldVersion(String),
    Locked,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => write!(f, "no index yet"),
            Unusable::Corrupt(e) => write!(f, "the index is damaged ({e})"),
            Unusable::OldVersion(e) => write!(f, "the index has another schema version ({e})"),
            Unusable::Locked => write!(
                f,
                "another live process holds the index's writer lock (a crashed one cannot: \
                 tantivy's lock is an flock, released by the kernel)"
            ),
        }
    }
}

/// The index writer, open only while there is indexing to do. An open
/// tantivy writer holds a 2.5 MB operation channel and its own threads; on a
/// quiet campus that was most of what an idle server's memory had left to
/// give, and opening one again takes milliseconds.
pub struct LazyWriter {
    index: Index,
    heap: usize,
    writer: Option<IndexWriter<TantivyDocument>>,
    last_used: Instant,
}

impl LazyWriter {
    fn new(index: Index, heap: usize) -> Self {
        LazyWriter {
            index,
            heap,
            writer: None,
            last_used: Instant::now(),
        }
    }

    /// The writer, opened when needed.
    fn get(&mut self) -> Result<&IndexWriter<TantivyDocument>, Unusable> {
        self.last_used = Instant::now();
        Ok(match self.writer {
            Some(ref w) => w,
            None => self.writer.insert(acquire_writer(&self.index, self.heap)?),
        })
    }

    pub fn is_open(&self) -> bool {
        self.writer.is_some()
    }

    /// Closes the writer once it has been idle for `idle` (it must hold
    /// nothing uncommitted), letting its merges finish first.
    fn close_if_idle(&mut self, idle: Duration) {
        if self.last_used.elapsed() >= idle
            && let Some(w) = self.writer.take()
            && let Err(e) = w.wait_merging_threads()
        {
            tracing::warn!(error = %e, "search merges did not finish");
        }
    }
}

/// An open index ready to take changes.
pub struct Open {
    pub index: Index,
    pub writer: LazyWriter,
    pub reader: IndexReader,
    /// The last queue sequence the index covers.
    pub seq: u64,
}

pub fn index_dir(search_dir: &Path) -> PathBuf {
    search_dir.join("index")
}

fn register(index: &Index) {
    index
        .tokenizers()
        .register(TOKENIZER, super::query::analyzer());
}

fn corrupt(e: impl std::fmt::Display) -> Unusable {
    Unusable::Corrupt(e.to_string())
}

/// Opens the index at `<search_dir>/index` as it is, or says why not.
pub fn open(search_dir: &Path, heap: usize) -> Result<Open, Unusable> {
    let dir = index_dir(search_dir);
    if !dir.join("meta.json").exists() {
        return Err(Unusable::Missing);
    }
    // A damaged meta.json can make tantivy panic rather than fail.
    let opened = std::panic::catch_unwind(|| Index::open_in_dir(&dir));
    let index = match opened {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return Err(corrupt(e)),
        Err(_) => return Err(corrupt("panicked while opening")),
    };
    let (expected, _) = schema::build();
    if index.schema() != expected {
        return Err(Unusable::OldVersion("its fields differ".into()));
    }
    register(&index);
    let metas = index.load_metas().map_err(corrupt)?;
    let payload: Option<Payload> = metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let seq = match payload {
        Some(p) if p.v == SCHEMA_VERSION => p.seq,
        Some(p) => return Err(Unusable::OldVersion(format!("v{}", p.v))),
        None => return Err(Unusable::OldVersion("no version in its last commit".into())),
    };
    // Taken once to learn now whether another process holds the lock; the
    // first change to index opens it again.
    drop(acquire_writer(&index, heap)?);
    let writer = LazyWriter::new(index.clone(), heap);
    let reader = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
    }));
    let reader = match reader {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(corrupt(e)),
        Err(_) => return Err(corrupt("panicked while opening segments")),
    };
    Ok(Open {
        index,
        writer,
        reader,
        seq,
    })
}

/// Takes the writer lock. Since the store is opened exclusively first, no
/// other uphill process uses this data directory; and tantivy's lock is an
/// flock, which the kernel drops when its holder dies, so a lock *file* left
/// by a crash never blocks. A busy lock therefore means a live foreign
/// process (or this process's previous writer still closing): retry briefly,
/// then report `Locked` so the caller rebuilds into a fresh directory.
fn acquire_writer(index: &Index, heap: usize) -> Result<IndexWriter<TantivyDocument>, Unusable> {
    for attempt in 0..10 {
        match index.writer_with_num_threads(1, heap) {
            Ok(w) => return Ok(w),
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) => {
                tracing::warn!(attempt, "search index writer lock is busy; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(corrupt(e)),
        }
    }
    Err(Unusable::Locked)
}

/// What a rebuild indexed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rebuilt {
    pub products: u64,
    pub shops: u64,
    pub orders: u64,
    pub users: u64,
    pub seq: u64,
    pub millis: u128,
}

/// Builds a fresh index from the store into `<search_dir>/index.new`, then
/// swaps it in for `<search_dir>/index`. A crash before the swap leaves the
/// old one (or none), which the next start rebuilds again.
pub fn rebuild(search_dir: &Path, store: &Store, heap: usize) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    std::fs::create_dir_all(search_dir)?;
    let fresh = search_dir.join("index.new");
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh)?;
    }
    std::fs::create_dir_all(&fresh)?;
    let (schema, f) = schema::build();
    let index = Index::create_in_dir(&fresh, schema)?;
    register(&index);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(1);
    // Each indexing thread needs at least 15 MB of tantivy's budget.
    let heap = heap.max(threads * 16_000_000);
    let mut writer: IndexWriter<TantivyDocument> = index.writer_with_num_threads(threads, heap)?;
    let mut out = store.read_blocking(|txn| -> Result<Rebuilt, StoreError> {
        fill(&writer, &f, txn).map_err(|e| StoreError::Unavailable(e.to_string()))
    })?;
    let mut commit = writer.prepare_commit()?;
    commit.set_payload(&serde_json::to_string(&Payload {
        v: SCHEMA_VERSION,
        seq: out.seq,
    })?);
    commit.commit()?;
    writer.wait_merging_threads()?;
    drop(index);
    let live = index_dir(search_dir);
    let trash = search_dir.join("index.old");
    if trash.exists() {
        std::fs::remove_dir_all(&trash)?;
    }
    if live.exists() {
        std::fs::rename(&live, &trash)?;
    }
    std::fs::rename(&fresh, &live)?;
    sync_dir(search_dir);
    if trash.exists()
        && let Err(e) = std::fs::remove_dir_all(&trash)
    {
        tracing::warn!(error = %e, "could not remove the previous search index");
    }
    // Rows up to `seq` are in the new index.
    let seq = out.seq;
    store.write_blocking(move |txn| queue::clear_through(txn, seq))?;
    out.millis = started.elapsed().as_millis();
    Ok(out)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Adds every visible record of the snapshot.
fn fill(
    writer: &IndexWriter<TantivyDocument>,
    f: &Fields,
    txn: &ReadTransaction,
) -> anyhow::Result<Rebuilt> {
    let mut out = Rebuilt {
        seq: queue::last_seq(txn)?,
        ..Default::default()
    };
    let categories: HashMap<String, String> =
        codec::all::<Category>(&txn.open_table(tables::CATEGORIES)?)?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
    let shops: HashMap<String, Shop> = codec::all::<Shop>(&txn.open_table(tables::SHOPS)?)?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    for s in shops.values().filter(|s| s.is_public()) {
        writer.add_document(schema::shop_doc(f, s))?;
        out.shops += 1;
    }
    for row in txn.open_table(tables::PRODUCTS)?.iter()? {
        let (_, v) = row?;
        let p: Product = codec::decode(v.value())?;
        if let Some(shop) = shops.get(&p.shop_id).filter(|s| s.is_public())
            && p.is_live()
        {
            let cat = p.category_id.as_ref().and_then(|c| categories.get(c));
            writer.add_document(schema::product_doc(f, &p, shop, cat.map(String::as_str)))?;
            out.products += 1;
        }
    }
    let mut names: HashMap<String, String> = HashMap::new();
    for row in txn.open_table(tables::USERS)?.iter()? {
        let (_, v) = row?;
        let u: User = codec::decode(v.value())?;
        writer.add_document(schema::user_doc(f, &u))?;
        out.users += 1;
        names.insert(u.id.clone(), u.name);
    }
    for row in txn.open_table(tables::ORDERS)?.iter()? {
        let (_, v) = row?;
        let o: Order = codec::decode(v.value())?;
        let name = names.get(&o.user_id).map(String::as_str).unwrap_or("");
        writer.add_document(schema::order_doc(f, &o, name))?;
        out.orders += 1;
    }
    Ok(out)
}

/// Applies queue targets to the writer, reading records from `txn`.
struct Applier<'a> {
    writer: &'a IndexWriter<TantivyDocument>,
    f: &'a Fields,
    txn: &'a ReadTransaction,
    done: HashSet<String>,
    categories: Option<HashMap<String, String>>,
}

impl Applier<'_> {
    fn delete(&self, key: String) {
        self.writer
            .delete_term(Term::from_field_text(self.f.key, &key));
    }

    fn category_name(&mut self, id: &str) -> anyhow::Result<Option<String>> {
        if self.categories.is_none() {
            self.categories = Some(
                codec::all::<Category>(&self.txn.open_table(tables::CATEGORIES)?)?
                    .into_iter()
                    .map(|c| (c.id, c.name))
                    .collect(),
            );
        }
        Ok(self.categories.as_ref().and_then(|m| m.get(id).cloned()))
    }

    fn apply(&mut self, t: &Target) -> anyhow::Result<()> {
        if !self.done.insert(t.encode()) {
            return Ok(());
        }
        match t {
            Target::Product(id) => self.product(id),
            Target::Shop(id) => self.shop(id),
            Target::Order(id) => self.order(id),
            Target::User(id) => self.user(id),
            Target::Category(id) => self.category(id),
        }
    }

    fn product(&mut self, id: &str) -> anyhow::Result<()> {
        self.delete(format!("p:{id}"));
        let Some(p) = codec::get::<Product>(&self.txn.open_table(tables::PRODUCTS)?, id)? else {
            return Ok(());
        };
        if !p.is_live() {
            return Ok(());
        }
        let Some(shop) = codec::get::<Shop>(&self.txn.open_table(tables::SHOPS)?, &p.shop_id)?
        else {
            return Ok(());
        };
        if !shop.is_public() {
            return Ok(());
        }
        let cat = match &p.category_id {
            Some(c) => self.category_name(c)?,
            None => None,
        };
        self.writer
            .add_document(schema::product_doc(self.f, &p, &shop, cat.as_deref()))?;
        Ok(())
    }

    /// A shop's name and visibility live in its products' documents too.
    fn shop(&mut self, id: &str) -> anyhow::Result<()> {
        self.delete(format!("s:{id}"));
        if let Some(s) = codec::get::<Shop>(&self.txn.open_table(tables::SHOPS)?, id)?
            && s.is_public()
        {
            self.writer.add_document(schema::shop_doc(self.f, &s))?;
        }
        let products: Vec<String> = self
            .txn
            .open_multimap_table(tables::SHOP_TO_PRODUCTS)?
            .get(id)?
            .map(|r| r.map(|g| g.value().to_string()))
            .collect::<Result<_, _>>()?;
        for p in products {
            self.apply(&Target::Product(p))?;
        }
        Ok(())
    }

    fn order(&mut self, id: &str) -> anyhow::Result<()> {
        self.delete(format!("o:{id}"));
        let Some(o) = codec::get::<Order>(&self.txn.open_table(tables::ORDERS)?, id)? else {
            return Ok(());
        };
        let name = codec::get::<User>(&self.txn.open_table(tables::USERS)?, &o.user_id)?
            .map(|u| u.name)
            .unwrap_or_default();
        self.writer
            .add_document(schema::order_doc(self.f, &o, &name))?;
        Ok(())
    }

    /// A user's name is in their orders' documents too.
    fn user(&mut self, id: &str) -> anyhow::Result<()> {
        self.delete(format!("u:{id}"));
        if let Some(u) = codec::get::<User>(&self.txn.open_table(tables::USERS)?, id)? {
            self.writer.add_document(schema::user_doc(self.f, &u))?;
        }
        let orders: Vec<String> = self
            .txn
            .open_multimap_table(tables::USER_TO_ORDERS)?
            .get(id)?
            .map(|r| r.map(|g| g.value().to_string()))
            .collect::<Result<_, _>>()?;
        for o in orders {
            self.apply(&Target::Order(o))?;
        }
        Ok(())
    }

    /// Renames and deletions of a category are rare; a scan is fine.
    fn category(&mut self, id: &str) -> anyhow::Result<()> {
        self.categories = None;
        let mut ids = Vec::new();
        for row in self.txn.open_table(tables::PRODUCTS)?.iter()? {
            let (k, v) = row?;
            let p: Product = codec::decode(v.value())?;
            if p.category_id.as_deref() == Some(id) {
                ids.push(k.value().to_string());
            }
        }
        for p in ids {
            self.apply(&Target::Product(p))?;
        }
        Ok(())
    }
}

/// Applies the queue rows after `after`; returns the last sequence seen.
fn drain(
    store: &Store,
    writer: &mut LazyWriter,
    f: &Fields,
    after: u64,
) -> anyhow::Result<Option<u64>> {
    store
        .read_blocking(|txn| -> Result<_, StoreError> {
            let rows = queue::pending(txn, after, ROUND)?;
            let Some(last) = rows.last().map(|(s, _)| *s) else {
                return Ok(None);
            };
            let writer = writer
                .get()
                .map_err(|e| StoreError::Unavailable(format!("search index writer: {e}")))?;
            let targets: BTreeSet<Target> = rows.into_iter().filter_map(|(_, t)| t).collect();
            let mut a = Applier {
                writer,
                f,
                txn,
                done: HashSet::new(),
                categories: None,
            };
            for t in &targets {
                a.apply(t)
                    .map_err(|e| StoreError::Unavailable(format!("indexing {t:?}: {e}")))?;
            }
            Ok(Some(last))
        })
        .map_err(Into::into)
}

/// Opens the index, or rebuilds it when it cannot be used as it is. Every
/// file's checksum is verified before the index is searched: a segment is
/// otherwise only read (and found damaged) by some later query.
fn open_or_rebuild(shared: &Shared, store: &Store, opts: &Options) -> anyhow::Result<Open> {
    let dir = &shared.dir;
    match open(dir, opts.writer_heap_bytes) {
        Ok(o) => match o.index.validate_checksum() {
            Ok(bad) if bad.is_empty() => return Ok(o),
            Ok(bad) => {
                tracing::warn!(files = ?bad, "search index files are damaged; rebuilding")
            }
            Err(e) => tracing::warn!(error = %e, "search index cannot be checked; rebuilding"),
        },
        Err(Unusable::Missing) => tracing::info!("building the search index from the store"),
        Err(why) => tracing::warn!(reason = %why, "rebuilding the search index from the store"),
    }
    shared.set_state(State::Rebuilding);
    let r = rebuild(dir, store, opts.rebuild_heap_bytes)?;
    tracing::info!(
        products = r.products,
        shops = r.shops,
        orders = r.orders,
        users = r.users,
        millis = r.millis as u64,
        "search index rebuilt"
    );
    open(dir, opts.writer_heap_bytes).map_err(|why| anyhow::anyhow!("{why}"))
}

/// The indexer thread's body.
pub(super) fn run(
    shared: std::sync::Arc<Shared>,
    store: Store,
    opts: Options,
    rx: Receiver<Command>,
) {
    let mut current = match open_or_rebuild(&shared, &store, &opts) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "search is unavailable");
            shared.set_state(State::Failed(e.to_string()));
            // Keep answering commands so shutdown does not hang.
            while let Ok(cmd) = rx.recv() {
                if let Command::Stop = cmd {
                    break;
                }
            }
            return;
        }
    };
    let f = shared.fields;
    // Rows a crash left between a tantivy commit and their deletion.
    let covered = current.seq;
    if let Err(e) = store.write_blocking(move |txn| queue::clear_through(txn, covered)) {
        tracing::warn!(error = %e, "could not clear applied search queue rows");
    }
    shared.publish(current.reader.clone(), current.seq);
    let mut applied = current.seq;
    let mut dirty = false;
    let mut last_commit = Instant::now() - opts.commit_interval;
    loop {
        let wait = if dirty {
            opts.commit_interval
                .saturating_sub(last_commit.elapsed())
                .min(POLL)
        } else {
            POLL
        };
        match rx.recv_timeout(wait) {
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                if dirty {
                    commit(&shared, &store, &mut current, applied);
                }
                break;
            }
            Ok(Command::Rebuild(reply)) => {
                drop(current);
                shared.set_state(State::Rebuilding);
                let r = rebuild(&shared.dir, &store, opts.rebuild_heap_bytes).and_then(|r| {
                    let o = open(&shared.dir, opts.writer_heap_bytes)
                        .map_err(|why| anyhow::anyhow!("{why}"))?;
                    Ok((r, o))
                });
                match r {
                    Ok((r, o)) => {
                        current = o;
                        applied = current.seq;
                        dirty = false;
                        shared.publish(current.reader.clone(), applied);
                        let _ = reply.send(Ok(r));
                    }
                    Err(e) => {
                        shared.set_state(State::Failed(e.to_string()));
                        let _ = reply.send(Err(e.to_string()));
                        // Without a writer there is nothing left to do.
                        while let Ok(cmd) = rx.recv() {
                            if let Command::Stop = cmd {
                                break;
                            }
                        }
                        return;
                    }
                }
                continue;
            }
            Ok(Command::Wake) | Err(RecvTimeoutError::Timeout) => {}
        }
        loop {
            match drain(&store, &mut current.writer, &f, applied) {
                Ok(Some(last)) => {
                    applied = last;
                    dirty = true;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "search indexing failed; retrying");
                    break;
                }
            }
            // A long backlog still commits on time.
            if last_commit.elapsed() >= opts.commit_interval {
                break;
            }
        }
        if dirty && last_commit.elapsed() >= opts.commit_interval {
            if !commit(&shared, &store, &mut current, applied) {
                // Rolled back: read the rows again from the last commit.
                applied = current.seq;
            }
            dirty = false;
            last_commit = Instant::now();
        }
        if !dirty {
            current.writer.close_if_idle(WRITER_IDLE);
        }
    }
    current.writer.close_if_idle(Duration::ZERO);
}

/// Commits with the last applied sequence as payload, reloads the reader,
/// then deletes the covered queue rows. False when the commit failed (the
/// rows stay and are applied again).
fn commit(shared: &Shared, store: &Store, o: &mut Open, applied: u64) -> bool {
    let payload = serde_json::to_string(&Payload {
        v: SCHEMA_VERSION,
        seq: applied,
    })
    .unwrap_or_default();
    // Something was applied, so the writer is open.
    let Some(writer) = o.writer.writer.as_mut() else {
        return false;
    };
    let result = writer.prepare_commit().and_then(|mut c| {
        c.set_payload(&payload);
        c.commit()
    });
    if let Err(e) = result {
        tracing::error!(error = %e, "search index commit failed");
        let _ = writer.rollback();
        return false;
    }
    o.seq = applied;
    if let Err(e) = o.reader.reload() {
        tracing::error!(error = %e, "search reader reload failed");
    }
    shared.publish(o.reader.clone(), applied);
    if let Err(e) = store.write_blocking(move |txn| queue::clear_through(txn, applied)) {
        // Harmless: the rows are at or below the payload and are dropped
        // at the next start.
        tracing::warn!(error = %e, "could not clear applied search queue rows");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(f: &Fields, id: &str) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_text(f.kind, schema::KIND_PRODUCT);
        d.add_text(f.id, id);
        d.add_text(f.name, "Masala Chai");
        d
    }

    fn count(index: &Index) -> u64 {
        index.reader().unwrap().searcher().num_docs()
    }

    #[test]
    fn the_writer_opens_on_demand_and_closes_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, f) = schema::build();
        let index = Index::create_in_dir(dir.path(), schema).unwrap();
        register(&index);
        let mut lazy = LazyWriter::new(index.clone(), 15_000_000);
        assert!(!lazy.is_open(), "nothing to index yet");

        lazy.get().unwrap().add_document(doc(&f, "1")).unwrap();
        lazy.writer.as_mut().unwrap().commit().unwrap();
        lazy.close_if_idle(Duration::from_secs(3600));
        assert!(lazy.is_open(), "used just now");

        lazy.close_if_idle(Duration::ZERO);
        assert!(!lazy.is_open());
        // Closed means the lock is free: another writer may take it.
        drop(acquire_writer(&index, 15_000_000).unwrap());

        // And the next change opens it again, keeping what was committed.
        lazy.get().unwrap().add_document(doc(&f, "2")).unwrap();
        lazy.writer.as_mut().unwrap().commit().unwrap();
        assert_eq!(count(&index), 2);
    }

    #[test]
    fn an_open_writer_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, _) = schema::build();
        let index = Index::create_in_dir(dir.path(), schema).unwrap();
        let mut lazy = LazyWriter::new(index.clone(), 15_000_000);
        lazy.get().unwrap();
        assert!(matches!(
            acquire_writer(&index, 15_000_000),
            Err(Unusable::Locked)
        ));
    }
}
