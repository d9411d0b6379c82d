//! The single writer path, built for group commit.
//!
//! redb allows one write transaction at a time and each durable commit costs
//! an fsync. Instead of one commit per request, a dedicated thread takes every
//! command waiting in its queue, runs them in order inside one transaction and
//! commits once; only then does each caller get its answer. While one fsync is
//! in flight the next group fills up, so throughput rises with load.
//!
//! A command that is *rejected* (validation, conflict) promised it wrote
//! nothing, so its neighbours still commit. A command that hits a *storage*
//! error may have written half its changes: the group is aborted and its
//! commands are replayed one per transaction, so one bad command cannot take
//! its neighbours down.
//!
//! Before each group the writer checks that the file system keeps
//! `min_free_bytes` free and refuses the group (`DiskFull`) otherwise, so a
//! filling disk normally never reaches redb. When an I/O error still reaches
//! a commit (ENOSPC in a race with another writer of the disk, EIO), redb
//! latches the failure and refuses everything on that handle; the writer
//! then empties the shared slot, waits for readers to let go of the old
//! handle and reopens the file (redb repairs it back to the last durable
//! commit, which holds every acknowledged write). Until then, writes and
//! reads answer `Unavailable`/`DiskFull`; only a reopen that fails for
//! another reason than I/O (corruption) makes the writer give up.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::{mpsc, oneshot, watch};

use super::{DbSlot, StoreError, WriteFailure, WriterOptions, cache, is_disk_full};

type Thunk = Box<dyn FnOnce() + Send>;

/// Where a command's answer goes; shared by its runs and its failure path,
/// and taken by whichever answers first.
type ReplySlot<T, E> = Arc<Mutex<Option<oneshot::Sender<Result<T, E>>>>>;

enum Step {
    /// Ran (succeeded or was cleanly rejected): deliver after the commit.
    Ready(Thunk),
    /// Storage failure: the transaction may be dirty.
    Storage(Thunk),
}

struct Job {
    run: Box<dyn FnMut(&WriteTransaction) -> Step + Send>,
    /// Promises to write none of the records in `cache` (see there).
    keeps_cache: bool,
    fail: Box<dyn FnOnce(StoreError) + Send>,
}

/// Counters of the writer, read by metrics and the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    pub commits: u64,
    pub commands: u64,
    pub replays: u64,
    /// Groups refused because the disk kept less than `min_free_bytes`.
    pub refused_disk_full: u64,
    /// Times the database was reopened after an I/O failure.
    pub reopens: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    commands: AtomicU64,
    replays: AtomicU64,
    refused_disk_full: AtomicU64,
    reopens: AtomicU64,
}

pub(super) struct Handle {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    failed: watch::Receiver<bool>,
}

pub(super) fn spawn(
    slot: Arc<DbSlot>,
    path: PathBuf,
    opts: WriterOptions,
    healthy: Arc<AtomicBool>,
) -> Result<Handle, StoreError> {
    let (tx, rx) = mpsc::channel::<Job>(opts.max_group.max(1) * 4);
    let counters = Arc::new(Counters::default());
    let (failed_tx, failed) = watch::channel(false);
    let writer = Writer {
        slot,
        path,
        max_group: opts.max_group.max(1),
        min_free_bytes: opts.min_free_bytes,
        cache_bytes: opts.cache_bytes,
        counters: counters.clone(),
        healthy,
        failed: failed_tx,
    };
    std::thread::Builder::new()
        .name("uphill-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
    Ok(Handle {
        tx,
        counters,
        failed,
    })
}

impl Handle {
    /// Commits so far; see `Store::generation`.
    pub(super) fn generation(&self) -> u64 {
        self.counters.commits.load(Ordering::Acquire)
    }

    fn job<T, E, F>(mut f: F, keeps_cache: bool) -> (Job, oneshot::Receiver<Result<T, E>>)
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<T, E>>();
        let slot = Arc::new(Mutex::new(Some(reply)));
        let fail_slot = slot.clone();
        let deliver = move |slot: ReplySlot<T, E>, r: Result<T, E>| {
            if let Some(tx) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(r);
            }
        };
        let run = move |txn: &WriteTransaction| {
            let result = f(txn);
            let slot = slot.clone();
            let storage = matches!(&result, Err(e) if e.is_storage());
            let thunk: Thunk = Box::new(move || deliver(slot, result));
            if storage {
                Step::Storage(thunk)
            } else {
                Step::Ready(thunk)
            }
        };
        let fail = move |err: StoreError| deliver(fail_slot, Err(E::from_store(err)));
        (
            Job {
                run: Box::new(run),
                keeps_cache,
                fail: Box::new(fail),
            },
            rx,
        )
    }

    pub(super) async fn submit<T, E, F>(&self, f: F, keeps_cache: bool) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let (job, rx) = Self::job(f, keeps_cache);
        if self.tx.send(job).await.is_err() {
            return Err(E::from_store(StoreError::Unavailable(
                "the writer has stopped".into(),
            )));
        }
        rx.await.unwrap_or_else(|_| {
            Err(E::from_store(StoreError::Unavailable(
                "the writer dropped the command".into(),
            )))
        })
    }

    pub(super) fn submit_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let (job, rx) = Self::job(f, false);
        if self.tx.blocking_send(job).is_err() {
            return Err(E::from_store(StoreError::Unavailable(
                "the writer has stopped".into(),
            )));
        }
        rx.blocking_recv().unwrap_or_else(|_| {
            Err(E::from_store(StoreError::Unavailable(
                "the writer dropped the command".into(),
            )))
        })
    }

    pub(super) fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            commands: self.counters.commands.load(Ordering::Relaxed),
            replays: self.counters.replays.load(Ordering::Relaxed),
            refused_disk_full: self.counters.refused_disk_full.load(Ordering::Relaxed),
            reopens: self.counters.reopens.load(Ordering::Relaxed),
        }
    }

    pub(super) async fn failed(&self) {
        let mut rx = self.failed.clone();
        let _ = rx.wait_for(|f| *f).await;
    }
}

/// Why the handle must be reopened; also what the affected callers hear.
#[derive(Clone, Debug)]
enum Fault {
    DiskFull(String),
    Io(String),
}

impl Fault {
    fn of(e: &StoreError) -> Self {
        match e {
            StoreError::DiskFull(m) => Fault::DiskFull(m.clone()),
            other => Fault::Io(other.to_string()),
        }
    }

    fn error(&self) -> StoreError {
        match self {
            Fault::DiskFull(m) => StoreError::DiskFull(m.clone()),
            Fault::Io(m) => StoreError::Unavailable(m.clone()),
        }
    }
}

fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(txn)
}

struct Writer {
    slot: Arc<DbSlot>,
    path: PathBuf,
    max_group: usize,
    min_free_bytes: u64,
    cache_bytes: usize,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
    failed: watch::Sender<bool>,
}

impl Writer {
    fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut gave_up: Option<String> = None;
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < self.max_group {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            if let Some(reason) = &gave_up {
                fail_all(group, &StoreError::Unavailable(reason.clone()));
                continue;
            }
            if let Some(short) = self.short_of_space() {
                self.counters
                    .refused_disk_full
                    .fetch_add(1, Ordering::Relaxed);
                fail_all(group, &StoreError::DiskFull(short));
                continue;
            }
            let db = match super::current(&self.slot) {
                Ok(db) => db,
                Err(e) => {
                    fail_all(group, &e);
                    continue;
                }
            };
            self.counters
                .commands
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            let outcome = commit_group(&db, group, &self.counters);
            drop(db);
            if let Err(fault) = outcome
                && let Err(reason) = self.reopen(&mut rx, &fault)
            {
                tracing::error!(%reason, "cannot reopen the store; refusing writes until restart");
                let _ = self.failed.send(true);
                gave_up = Some(reason);
            }
        }
    }

    /// `Some(detail)` when the file system keeps less than the reserve.
    fn short_of_space(&self) -> Option<String> {
        // With the reserve off, spare every group a statvfs.
        if self.min_free_bytes == 0 {
            return None;
        }
        let dir = self.path.parent()?;
        // A statvfs failure says nothing about space; let redb decide.
        let (avail, _) = super::disk_space(dir).ok()?;
        super::below_reserve(avail, self.min_free_bytes)
    }

    /// Drops the failed handle and opens the file again, refusing queued
    /// commands meanwhile. `Err` when the file cannot be opened for another
    /// reason than I/O (a restart will not help either, but an operator
    /// must look).
    fn reopen(&self, rx: &mut mpsc::Receiver<Job>, fault: &Fault) -> Result<(), String> {
        tracing::error!(?fault, "the store hit an I/O error; reopening it");
        self.healthy.store(false, Ordering::Relaxed);
        cache::clear();
        // New readers now get `Unavailable`; the old handle closes (and
        // releases its file lock) once the last reader in flight drops it.
        self.slot.write().unwrap_or_else(|p| p.into_inner()).take();
        let mut wait = Duration::from_millis(20);
        let mut last = fault.clone();
        loop {
            match super::open_database(&self.path, self.cache_bytes) {
                Ok(db) => {
                    *self.slot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
                    self.counters.reopens.fetch_add(1, Ordering::Relaxed);
                    self.healthy.store(true, Ordering::Relaxed);
                    tracing::info!("the store was reopened");
                    return Ok(());
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {}
                Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))) => {
                    tracing::warn!(error = %e, "reopening the store failed; retrying");
                    last = if is_disk_full(&e) {
                        Fault::DiskFull(e.to_string())
                    } else {
                        Fault::Io(e.to_string())
                    };
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(format!("reopening the store: {e}")),
            }
            // Nobody waits on a reopen that may take a while.
            while let Ok(job) = rx.try_recv() {
                (job.fail)(last.error());
            }
            std::thread::sleep(wait);
        }
    }
}

fn fail_all(group: Vec<Job>, err: &StoreError) {
    let fault = Fault::of(err);
    for job in group {
        (job.fail)(fault.error());
    }
}

/// Runs a group in one transaction. `Err` when the handle failed (a commit
/// or a begin hit an I/O error) and must be reopened.
fn commit_group(db: &Database, mut group: Vec<Job>, counters: &Counters) -> Result<(), Fault> {
    let txn = match begin(db) {
        Ok(t) => t,
        Err(e) => {
            fail_all(group, &e);
            return Err(Fault::of(&e));
        }
    };
    let mut ready = Vec::with_capacity(group.len());
    let mut dirty = false;
    for job in group.iter_mut() {
        cache::enter(job.keeps_cache);
        match (job.run)(&txn) {
            Step::Ready(t) => ready.push(t),
            Step::Storage(_) => {
                dirty = true;
                break;
            }
        }
    }
    if dirty {
        drop(ready);
        cache::clear();
        let _ = txn.abort();
        counters.replays.fetch_add(1, Ordering::Relaxed);
        return replay_one_by_one(db, group, counters);
    }
    match txn.commit() {
        Ok(()) => {
            // Release: a reader that sees the new count also sees the commit
            // (`Store::generation`), before any caller hears of it.
            counters.commits.fetch_add(1, Ordering::Release);
            for t in ready {
                t();
            }
            Ok(())
        }
        Err(e) => {
            cache::clear();
            let e = StoreError::from(e);
            tracing::error!(error = %e, "commit failed");
            drop(ready);
            fail_all(group, &e);
            Err(Fault::of(&e))
        }
    }
}

fn replay_one_by_one(db: &Database, group: Vec<Job>, counters: &Counters) -> Result<(), Fault> {
    let mut jobs = group.into_iter();
    while let Some(mut job) = jobs.next() {
        let txn = match begin(db) {
            Ok(t) => t,
            Err(e) => {
                (job.fail)(Fault::of(&e).error());
                fail_all(jobs.collect(), &e);
                return Err(Fault::of(&e));
            }
        };
        cache::enter(job.keeps_cache);
        match (job.run)(&txn) {
            Step::Ready(t) => match txn.commit() {
                Ok(()) => {
                    counters.commits.fetch_add(1, Ordering::Release);
                    t();
                }
                Err(e) => {
                    cache::clear();
                    let e = StoreError::from(e);
                    tracing::error!(error = %e, "commit failed");
                    drop(t);
                    (job.fail)(Fault::of(&e).error());
                    fail_all(jobs.collect(), &e);
                    return Err(Fault::of(&e));
                }
            },
            Step::Storage(t) => {
                cache::clear();
                let _ = txn.abort();
                t();
            }
        }
    }
    Ok(())
}
