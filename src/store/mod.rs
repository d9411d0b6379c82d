//! The store: one redb file under the data directory.
//!
//! Reads run on tokio's blocking pool and never wait for writes (redb's MVCC).
//! Every write goes through one writer thread that groups concurrent commands
//! into one durable transaction (see `writer`).

pub mod codec;
mod migrations;
pub mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

pub use migrations::{SCHEMA_VERSION, stored_version};
pub use writer::WriterStats;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Redb(#[from] redb::Error),
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
    #[error("the store is opened by another process (is `uphill serve` running on {0}?)")]
    Locked(PathBuf),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Redb(e.into()) }
        }
    )*};
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

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    writer: writer::Handle,
    healthy: Arc<AtomicBool>,
    commits: Arc<tokio::sync::Notify>,
}

/// Options of the writer path.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Most commands committed in one transaction; 1 disables grouping.
    pub max_group: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { max_group: 512 }
    }
}

impl Store {
    /// Opens (or creates) `uphill.redb` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path, opts: WriterOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let path = data_dir.join("uphill.redb");
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked(data_dir.to_path_buf()));
            }
            Err(e) => return Err(StoreError::Redb(e.into())),
        };
        migrations::run(&db, &path)?;
        let db = Arc::new(db);
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = writer::spawn(db.clone(), opts, healthy.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                writer,
                healthy,
                commits: Arc::new(tokio::sync::Notify::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// False once a commit failed: redb refuses writes until reopened, so
    /// the server reports not-ready and shuts down for systemd to restart it.
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Resolves when the writer has given up after a failed commit.
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

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&ReadTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let db = self.inner.db.clone();
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
            .inner
            .db
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
        let out = self.inner.writer.submit(f).await;
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
