//! The collector: removes uploads no record has pointed at for
//! `files.gc_grace_hours`.
//!
//! References are computed, not counted: each pass reads a snapshot of the
//! live shops (`image`, `upi_qr_image`) and products (`image`); deleted
//! records refer to nothing. An upload found unreferenced is marked
//! (`unreferenced_since`), one found referenced is unmarked, and one marked
//! longer ago than the grace period is removed. Every change is applied only
//! if the record is still as the snapshot saw it: a shop saved in between
//! `touch`es the upload, so a picture attached during a pass always stays.
//! Directories without a record (a crash between placing files and
//! committing the record) go after the same grace period.

use std::collections::HashSet;
use std::time::SystemTime;

use chrono::{DateTime, Duration, Utc};
use redb::ReadableTable;
use serde::Deserialize;

use super::{Files, Upload};
use crate::store::{Store, StoreError, codec, tables};

/// What refers to images, read without decoding the whole records.
#[derive(Deserialize)]
struct Refs {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    upi_qr_image: Option<String>,
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    pub id: String,
    pub bytes: u64,
    pub unreferenced_since: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub dry_run: bool,
    /// Uploads removed (or, in a dry run, that would be).
    pub removed: Vec<Gone>,
    /// Directories without a record, removed (or that would be).
    pub orphans: Vec<String>,
    /// Uploads newly found unreferenced (their grace period starts).
    pub marked: usize,
    /// Uploads found referenced again.
    pub unmarked: usize,
    /// Leftovers of failed uploads under `.tmp`.
    pub tmp_swept: usize,
}

impl Report {
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|g| g.bytes).sum()
    }
}

/// The upload ids live shops and products point at, as `txn` sees them.
pub fn referenced(txn: &redb::ReadTransaction) -> Result<HashSet<String>, StoreError> {
    let mut refs = HashSet::new();
    for table in [tables::SHOPS, tables::PRODUCTS] {
        for e in txn.open_table(table)?.iter()? {
            let (_, v) = e?;
            let r: Refs = codec::decode(v.value())?;
            if r.deleted_at.is_none() {
                refs.extend(r.image);
                refs.extend(r.upi_qr_image);
            }
        }
    }
    Ok(refs)
}

enum Plan {
    Mark,
    Unmark,
    Remove,
}

/// One pass at time `now`. A dry run writes and deletes nothing and lists
/// what a real pass at `now` would remove.
pub async fn run(
    store: &Store,
    files: &Files,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Report, StoreError> {
    let grace = Duration::hours(files.config.gc_grace_hours.into());
    let (refs, uploads) = store
        .read(|txn| {
            let refs = referenced(txn)?;
            let uploads: Vec<Upload> = codec::all(&txn.open_table(tables::UPLOADS)?)?;
            Ok::<_, StoreError>((refs, uploads))
        })
        .await?;

    let mut plans: Vec<(Upload, Plan)> = Vec::new();
    for u in uploads {
        let plan = match (refs.contains(&u.id), u.unreferenced_since) {
            (true, Some(_)) => Plan::Unmark,
            (true, None) => continue,
            (false, None) => Plan::Mark,
            (false, Some(since)) if now - since >= grace => Plan::Remove,
            (false, Some(_)) => continue,
        };
        plans.push((u, plan));
    }

    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let _exclusive = files.placement.write().await;
    if dry_run {
        for (u, plan) in &plans {
            if let Plan::Remove = plan {
                report.removed.push(gone(u));
            }
        }
    } else {
        let (removed, marked, unmarked) = store
            .write(move |txn| {
                let mut t = txn.open_table(tables::UPLOADS)?;
                let (mut removed, mut marked, mut unmarked) = (Vec::new(), 0, 0);
                for (seen, plan) in &plans {
                    let Some(mut current) = codec::get::<Upload>(&t, &seen.id)? else {
                        continue;
                    };
                    // Changed since the snapshot (touched by a new
                    // reference, or uploaded again): next pass decides.
                    if current.referenced_at != seen.referenced_at
                        || current.unreferenced_since != seen.unreferenced_since
                    {
                        continue;
                    }
                    match plan {
                        Plan::Mark => {
                            current.unreferenced_since = Some(now);
                            codec::put(&mut t, &current.id, &current)?;
                            marked += 1;
                        }
                        Plan::Unmark => {
                            current.unreferenced_since = None;
                            codec::put(&mut t, &current.id, &current)?;
                            unmarked += 1;
                        }
                        Plan::Remove => {
                            t.remove(current.id.as_str())?;
                            removed.push(gone(&current));
                        }
                    }
                }
                Ok::<_, StoreError>((removed, marked, unmarked))
            })
            .await?;
        report.removed = removed;
        report.marked = marked;
        report.unmarked = unmarked;
    }

    // Files go after their records are durably gone; a crash in between
    // leaves orphans, which the next pass removes.
    let disk = files.disk.clone();
    let removed: Vec<String> = report.removed.iter().map(|g| g.id.clone()).collect();
    let known: HashSet<String> = store
        .read(|txn| {
            let mut ids = HashSet::new();
            for e in txn.open_table(tables::UPLOADS)?.iter()? {
                ids.insert(e?.0.value().to_string());
            }
            Ok::<_, StoreError>(ids)
        })
        .await?;
    let cutoff = SystemTime::from(now - grace);
    let tmp_cutoff = SystemTime::from(now - Duration::hours(1));
    let (orphans, tmp_swept) = tokio::task::spawn_blocking(move || {
        let mut orphans = Vec::new();
        for (id, modified) in disk.list()? {
            let planned = removed.contains(&id);
            if planned && !dry_run {
                disk.remove(&id)?;
            } else if !planned && !known.contains(&id) && modified <= cutoff {
                if !dry_run {
                    disk.remove(&id)?;
                }
                orphans.push(id);
            }
        }
        let swept = if dry_run {
            0
        } else {
            disk.sweep_tmp(tmp_cutoff)?
        };
        Ok::<_, std::io::Error>((orphans, swept))
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("file task: {e}")))?
    .map_err(|e| StoreError::Unavailable(format!("file store: {e}")))?;
    report.orphans = orphans;
    report.tmp_swept = tmp_swept;
    Ok(report)
}

fn gone(u: &Upload) -> Gone {
    Gone {
        id: u.id.clone(),
        bytes: u.total_bytes(),
        unreferenced_since: u.unreferenced_since.unwrap_or(u.created_at),
    }
}
