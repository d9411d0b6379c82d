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
//! its neighbours down. A failed commit leaves redb refusing writes until it
//! is reopened; the writer then refuses everything and reports failure, and
//! the server shuts down so systemd restarts it on a fresh handle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::{mpsc, oneshot, watch};

use super::{StoreError, WriteFailure, WriterOptions};

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
    fail: Box<dyn FnOnce(StoreError) + Send>,
}

/// Counters of the writer, read by metrics and the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    pub commits: u64,
    pub commands: u64,
    pub replays: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    commands: AtomicU64,
    replays: AtomicU64,
}

pub(super) struct Handle {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    failed: watch::Receiver<bool>,
}

pub(super) fn spawn(
    db: Arc<Database>,
    opts: WriterOptions,
    healthy: Arc<AtomicBool>,
) -> Result<Handle, StoreError> {
    let (tx, rx) = mpsc::channel::<Job>(opts.max_group.max(1) * 4);
    let counters = Arc::new(Counters::default());
    let (failed_tx, failed) = watch::channel(false);
    let c = counters.clone();
    std::thread::Builder::new()
        .name("uphill-writer".into())
        .spawn(move || writer_loop(db, rx, opts.max_group.max(1), c, healthy, failed_tx))
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

    fn job<T, E, F>(mut f: F) -> (Job, oneshot::Receiver<Result<T, E>>)
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
                fail: Box::new(fail),
            },
            rx,
        )
    }

    pub(super) async fn submit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WriteFailure + Send + 'static,
    {
        let (job, rx) = Self::job(f);
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
        let (job, rx) = Self::job(f);
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
        }
    }

    pub(super) async fn failed(&self) {
        let mut rx = self.failed.clone();
        let _ = rx.wait_for(|f| *f).await;
    }
}

fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(txn)
}

fn writer_loop(
    db: Arc<Database>,
    mut rx: mpsc::Receiver<Job>,
    max_group: usize,
    counters: Arc<Counters>,
    healthy: Arc<AtomicBool>,
    failed: watch::Sender<bool>,
) {
    let mut poisoned: Option<String> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(reason) = &poisoned {
            for job in group {
                (job.fail)(StoreError::Unavailable(reason.clone()));
            }
            continue;
        }
        counters
            .commands
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Err(reason) = commit_group(&db, group, &counters) {
            tracing::error!(%reason, "commit failed; refusing writes until restart");
            healthy.store(false, Ordering::Relaxed);
            let _ = failed.send(true);
            poisoned = Some(reason);
        }
    }
}

/// Runs a group in one transaction. Returns `Err` only when a commit failed
/// (the database must be reopened).
fn commit_group(db: &Database, mut group: Vec<Job>, counters: &Counters) -> Result<(), String> {
    let txn = match begin(db) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            for job in group {
                (job.fail)(StoreError::Unavailable(msg.clone()));
            }
            return Ok(());
        }
    };
    let mut ready = Vec::with_capacity(group.len());
    let mut dirty = false;
    for job in group.iter_mut() {
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
            let msg = format!("commit failed: {e}");
            drop(ready);
            for job in group {
                (job.fail)(StoreError::Unavailable(msg.clone()));
            }
            Err(msg)
        }
    }
}

fn replay_one_by_one(db: &Database, group: Vec<Job>, counters: &Counters) -> Result<(), String> {
    let mut jobs = group.into_iter();
    while let Some(mut job) = jobs.next() {
        let txn = match begin(db) {
            Ok(t) => t,
            Err(e) => {
                (job.fail)(e);
                continue;
            }
        };
        match (job.run)(&txn) {
            Step::Ready(t) => match txn.commit() {
                Ok(()) => {
                    counters.commits.fetch_add(1, Ordering::Release);
                    t();
                }
                Err(e) => {
                    let msg = format!("commit failed: {e}");
                    drop(t);
                    (job.fail)(StoreError::Unavailable(msg.clone()));
                    for rest in jobs {
                        (rest.fail)(StoreError::Unavailable(msg.clone()));
                    }
                    return Err(msg);
                }
            },
            Step::Storage(t) => {
                let _ = txn.abort();
                t();
            }
        }
    }
    Ok(())
}
