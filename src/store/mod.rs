//! The store: one redb file under the data directory.
//!
//! Reads run on tokio's blocking pool and never wait for writes (redb's MVCC).
//! Every write goes through one writer thread that groups concurrent commands
//! into one durable transaction (see `writer`).
//!
//! After an I/O failure redb refuses every later operation on that handle
//! until the database is reopened, so the open database sits in a shared
//! slot that the writer empties and refills when it reopens the file.

pub mod cache;
pub mod codec;
mod migrations;
pub mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

use crate::config::StorageConfig;

pub use migrations::{SCHEMA_VERSION, stored_version};
pub use writer::WriterStats;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Redb(redb::Error),
    #[error("record encoding: {0}")]
    Codec(String),
    #[error(
        "the store at {path} has schema version {found}, newer than this binary's {supported}; \
         upgrade uphill or restore a backup made by this version"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store is not accepting writes: {0}")]
    Unavailable(String),
    /// The disk holding the store is (nearly) full: refused before redb
    /// was touched, or a commit failed with ENOSPC/EDQUOT.
    #[error("the disk holding the store is full: {0}")]
    DiskFull(String),
    #[error("the store is opened by another process (is `uphill serve` running on {0}?)")]
    Locked(PathBuf),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { classify(e.into()) }
        }
    )*};
}

/// True for the errors a full file system gives (ENOSPC, EDQUOT).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Bytes available to us and in total on the file system holding `dir`:
/// the one free-space reading behind the writer's reserve, `/readyz`,
/// metrics, alerts and `uphill check`.
pub fn disk_space(dir: &Path) -> nix::Result<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(dir)?;
    let frag = s.fragment_size();
    Ok((s.blocks_available() * frag, s.blocks() * frag))
}

/// Free fraction of the file system holding `dir`.
pub fn disk_free_ratio(dir: &Path) -> nix::Result<f64> {
    let (avail, total) = disk_space(dir)?;
    Ok(if total > 0 {
        avail as f64 / total as f64
    } else {
        0.0
    })
}

/// `Some(why)` when `avail` free bytes are below the `min_free_bytes`
/// reserve (0 disables it). The writer refuses writes (507) and `/readyz`
/// reports not ready on the same answer, so the two never disagree.
pub fn below_reserve(avail: u64, min_free_bytes: u64) -> Option<String> {
    (min_free_bytes > 0 && avail < min_free_bytes)
        .then(|| format!("{avail} bytes free, {min_free_bytes} kept in reserve"))
}

/// Sorts redb's errors into what a caller can act on: a full disk and a
/// handle that must be reopened are temporary conditions (507/503), not
/// internal errors.
fn classify(e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(io) if is_disk_full(&io) => StoreError::DiskFull(io.to_string()),
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
            StoreError::Unavailable("reopening after an I/O error".into())
        }
        e => StoreError::Redb(e),
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        classify(e)
    }
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// How a write command failed: a `Rejected` command validated its input
/// before touching anything, so its neighbours in the group may still
/// commit; a `Storage` failure may have left half-made changes, so the whole
/// group is aborted and replayed one by one.
pub trait WriteFailure {
    fn is_storage(&self) -> bool;
    fn from_store(err: StoreError) -> Self;
}

impl WriteFailure for StoreError {
    fn is_storage(&self) -> bool {
        true
    }
    fn from_store(err: StoreError) -> Self {
        err
    }
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The open database; `None` while the writer reopens it.
pub(crate) type DbSlot = RwLock<Option<Arc<Database>>>;

struct Inner {
    db: Arc<DbSlot>,
    path: PathBuf,
    writer: writer::Handle,
    healthy: Arc<AtomicBool>,
    commits: Arc<tokio::sync::Notify>,
    min_free_bytes: u64,
}

/// Options of the writer path.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Most commands committed in one transaction; 1 disables grouping.
    pub max_group: usize,
    /// Free bytes the data directory's file system must keep: below this,
    /// writes are refused (`DiskFull`) before redb is touched. 0 disables
    /// the check (a full disk then surfaces as ENOSPC from a commit).
    pub min_free_bytes: u64,
    /// redb's page cache (its default is 1 GiB, more than a small campus
    /// server has).
    pub cache_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_group: 512,
            min_free_bytes: 0,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Compacts a stopped server's store file until redb finds nothing more
/// to move; returns its size before and after. Fails while the server
/// runs (the file is locked).
pub fn compact(storage: &StorageConfig) -> Result<(u64, u64), StoreError> {
    let path = storage.data_dir.join("uphill.redb");
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", p.display())))
    };
    let before = size(&path)?;
    let mut db = match Database::builder().open(&path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(StoreError::Locked(storage.data_dir.clone()));
        }
        Err(e) => return Err(classify(e.into())),
    };
    while db
        .compact()
        .map_err(|e| StoreError::Unavailable(format!("compaction: {e}")))?
    {}
    drop(db);
    Ok((before, size(&path)?))
}

/// Opens (or creates) the database file with the configured cache.
fn open_database(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(cache_bytes).create(path)
}

impl WriterOptions {
    /// The options `storage` configures.
    pub fn from_config(storage: &StorageConfig) -> Self {
        Self {
            max_group: if storage.group_commit {
                storage.max_group
            } else {
                1
            },
            min_free_bytes: storage.min_free_mb * 1024 * 1024,
            cache_bytes: usize::try_from(storage.cache_mb * 1024 * 1024).unwrap_or(usize::MAX),
        }
    }
}

impl Store {
    /// Opens the store `storage` configures: its data directory, with its
    /// writer options.
    pub fn open_configured(storage: &StorageConfig) -> Result<Self, StoreError> {
        Self::open(&storage.data_dir, WriterOptions::from_config(storage))
    }

    /// Opens (or creates) `uphill.redb` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path, opts: WriterOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let path = data_dir.join("uphill.redb");
        let db = match open_database(&path, opts.cache_bytes) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked(data_dir.to_path_buf()));
            }
            Err(e) => return Err(classify(e.into())),
        };
        migrations::run(&db, &path)?;
        let db = Arc::new(RwLock::new(Some(Arc::new(db))));
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = writer::spawn(db.clone(), path.clone(), opts, healthy.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                writer,
                healthy,
                commits: Arc::new(tokio::sync::Notify::new()),
                min_free_bytes: opts.min_free_bytes,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `Some(why)` when `avail` free bytes (from `disk_space` of the data
    /// directory) are below the writer's reserve, i.e. writes are refused.
    pub fn below_reserve(&self, avail: u64) -> Option<String> {
        below_reserve(avail, self.inner.min_free_bytes)
    }

    /// False from an I/O failure until the writer has reopened the
    /// database (and for good if it cannot).
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Healthy, and a read transaction opens a table now: what readiness
    /// asks of the store.
    pub async fn answers(&self) -> bool {
        self.is_healthy()
            && self
                .read(|txn| {
                    txn.open_table(tables::META)
                        .map(|_| ())
                        .map_err(StoreError::from)
                })
                .await
                .is_ok()
    }

    /// Resolves when the writer has given up: the database could not be
    /// reopened after an I/O failure (corruption, not a full disk), so a
    /// restart is the only way forward.
    pub async fn failed(&self) {
        self.inner.writer.failed().await
    }

    /// A number that changes whenever a transaction commits, bumped before
    /// the writer answers. Data read in a transaction begun *after* loading
    /// it is at least that new, so a cache entry tagged with it is valid for
    /// as long as the number stays the same.
    pub fn generation(&self) -> u64 {
        self.inner.writer.generation()
    }

    pub fn writer_stats(&self) -> WriterStats {
        self.inner.writer.stats()
    }

    /// The open database, or `Unavailable` while it is being reopened.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        current(&self.inner.db)
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let db = self.db().map_err(E::from_store)?;
        tokio::task::spawn_blocking(move || {
            let txn = db
                .begin_read()
                .map_err(|e| E::from_store(StoreError::from(e)))?;
            f(&txn)
        })
        .await
        .map_err(|e| E::from_store(StoreError::Unavailable(format!("read task: {e}"))))?
    }

    /// A read for code that is already off the async executor (CLI, jobs).
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&ReadTransaction) -> Result<T, E>,
        E: WriteFailure,
    {
        let txn = self
            .db()
            .map_err(E::from_store)?
            .begin_read()
            .map_err(|e| E::from_store(StoreError::from(e)))?;
        f(&txn)
    }

    /// Submits a write command and waits until the transaction holding it is
    /// durably committed. `f` may run more than once (when its group is
    /// replayed), so it must only depend on its captures and the transaction.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// `write` for a command that writes none of the records the writer
    /// caches (shops, slots, settings: see `cache`), so what it and its
    /// neighbours read through `cache::cached` stays decoded.
    pub async fn write_keeping_cache<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<T, E, F>(&self, f: F, keeps_cache: bool) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let out = self.inner.writer.submit(f, keeps_cache).await;
        self.inner.commits.notify_one();
        out
    }

    /// Signalled after writes, so a follower of the event log need not
    /// wait for its next poll.
    pub fn commits(&self) -> Arc<tokio::sync::Notify> {
        self.inner.commits.clone()
    }

    /// `write` for code that is off the executor (CLI commands).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let out = self.inner.writer.submit_blocking(f);
        self.inner.commits.notify_one();
        out
    }
}

/// The database in `slot`, or `Unavailable` while it is being reopened.
pub(crate) fn current(slot: &DbSlot) -> Result<Arc<Database>, StoreError> {
    slot.read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| StoreError::Unavailable("reopening after an I/O error".into()))
}
