//! Uploaded images: processing (`image`), the content-addressed store on
//! disk (`disk`), the `UPLOADS` records, references from shops and
//! products, and the garbage collector (`gc`).
//!
//! An upload's id is the SHA-256 of its re-encoded original, so the same
//! picture uploaded twice is one record and one directory. Files are public
//! by their id (shop and product pages show them to anyone); ids cannot be
//! guessed without the picture.

pub mod disk;
pub mod gc;
pub mod image;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::{RwLock, Semaphore};

use crate::config::FilesConfig;
use crate::domain::FieldError;
use crate::domain::uploads::{History, Quota, RetryAfter, Uploader};
use crate::error::Error;
use crate::store::{Store, StoreError, codec, tables};
use disk::Disk;
use image::{Kind, Processed, Variant};

/// Most "bytes as sent → upload id" pairs kept in memory; past this the
/// map starts again empty (a forgotten pair only costs one more decode).
const MAX_SOURCES: usize = 100_000;

/// Room for the multipart framing around the file part (boundaries and
/// part headers); the file part itself is capped at `max_upload_bytes`.
pub const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// One stored rendition of an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredVariant {
    pub variant: Variant,
    pub kind: Kind,
    /// The file's name inside the upload's directory.
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// SHA-256 of the file: its `ETag`.
    pub sha256: String,
}

/// `UPLOADS` record, keyed by `id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Upload {
    /// SHA-256 (lowercase hex) of the re-encoded original.
    pub id: String,
    /// Format of the stored original (the uploaded format).
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub variants: Vec<StoredVariant>,
    /// The first user who uploaded this content.
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
    /// Last time a shop or product was saved pointing at it.
    pub referenced_at: Option<DateTime<Utc>>,
    /// Since when no record has pointed at it (set at upload, and by the
    /// collector when it finds no reference; cleared by a reference). The
    /// collector removes it `files.gc_grace_hours` after this.
    pub unreferenced_since: Option<DateTime<Utc>>,
}

impl Upload {
    pub fn variant(&self, v: Variant) -> Option<&StoredVariant> {
        self.variants.iter().find(|s| s.variant == v)
    }

    pub fn total_bytes(&self) -> u64 {
        self.variants.iter().map(|v| v.bytes).sum()
    }
}

/// The public path of one rendition.
pub fn url(id: &str, v: Variant) -> String {
    format!("/files/{id}/{}", v.name())
}

/// The file store: its directory, limits, and the locks that keep uploads
/// and the collector from stepping on each other.
pub struct Files {
    disk: Disk,
    config: FilesConfig,
    /// Decoding a large image takes a core and ~100 MB: at most this many
    /// at once, the rest wait.
    permits: Semaphore,
    /// Held shared by an upload from "files in place" to "record
    /// committed", and exclusively by the collector while it commits
    /// removals and deletes files, so the collector never deletes files a
    /// new record has just claimed.
    placement: RwLock<()>,
    /// Images decoded since start: each is a core's work for a while.
    decoded: AtomicU64,
    /// SHA-256 of the bytes as uploaded → the upload id they gave, so the
    /// same bytes again are answered without decoding them.
    sources: std::sync::Mutex<HashMap<String, String>>,
    /// Each uploader's requests of the last 24 hours, for the quotas.
    histories: std::sync::Mutex<HashMap<String, History>>,
}

impl Files {
    /// Opens `<data_dir>/files`. Call only while holding the store (no
    /// other process is uploading): what is left under `.tmp` is removed.
    pub fn open(data_dir: &std::path::Path, config: FilesConfig) -> std::io::Result<Arc<Self>> {
        let disk = Disk::open(data_dir.join("files"))?;
        let swept = disk.sweep_tmp(std::time::SystemTime::now())?;
        if swept > 0 {
            tracing::info!(swept, "removed unfinished uploads");
        }
        Ok(Arc::new(Self {
            permits: Semaphore::new(config.processing_concurrency.max(1)),
            disk,
            config,
            placement: RwLock::new(()),
            decoded: AtomicU64::new(0),
            sources: std::sync::Mutex::new(HashMap::new()),
            histories: std::sync::Mutex::new(HashMap::new()),
        }))
    }

    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    pub fn config(&self) -> &FilesConfig {
        &self.config
    }

    /// Largest upload request body: the file part plus its framing.
    pub fn request_limit(&self) -> usize {
        self.config.max_upload_bytes + MULTIPART_OVERHEAD
    }

    /// Images this process has decoded (refused ones included).
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    /// Counts a new upload request of `user` against the quota, or says
    /// in how many seconds one would be allowed.
    pub fn begin_upload(
        &self,
        user: &str,
        now: DateTime<Utc>,
        quota: &Quota,
    ) -> Result<(), RetryAfter> {
        let mut all = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        // Forget users with nothing in the last 24 hours now and then.
        if all.len() > 1024 {
            all.retain(|_, h| {
                h.prune(now);
                !h.is_empty()
            });
        }
        all.entry(user.to_string()).or_default().begin(now, quota)
    }

    /// The request begun last by `user` brought `bytes`.
    pub fn add_upload_bytes(
        &self,
        user: &str,
        now: DateTime<Utc>,
        quota: &Quota,
        bytes: u64,
    ) -> Result<(), RetryAfter> {
        let mut all = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(user.to_string())
            .or_default()
            .add_bytes(now, quota, bytes)
    }

    /// Processes and stores one upload. Returns the record and whether it
    /// is new (false: the same picture was already stored).
    ///
    /// Bytes seen before (the same file again, or a stored original
    /// downloaded and sent back) are answered from their SHA-256 without
    /// being decoded.
    pub async fn ingest(
        &self,
        store: &Store,
        uploader: &str,
        bytes: Vec<u8>,
    ) -> Result<(Upload, bool), Error> {
        let source = image::sha256_hex(&bytes);
        let remembered = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&source)
            .cloned();
        for id in remembered.into_iter().chain([source.clone()]) {
            let _placing = self.placement.read().await;
            if let Some(existing) = store
                .write(move |txn| claim_existing(txn, &id, Utc::now()))
                .await
                .map_err(Error::from)?
            {
                // A backup holds only referenced files: after a restore a
                // record may be without its files. Then decode again.
                let expected: Vec<(String, u64)> = existing
                    .variants
                    .iter()
                    .map(|v| (v.file.clone(), v.bytes))
                    .collect();
                let disk = self.disk.clone();
                let id = existing.id.clone();
                let complete =
                    tokio::task::spawn_blocking(move || disk.is_complete(&id, &expected))
                        .await
                        .map_err(|e| Error::internal(anyhow::anyhow!("file task: {e}")))?;
                if complete {
                    return Ok((existing, false));
                }
            }
        }
        let processed = {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|e| Error::internal(anyhow::anyhow!("image permits: {e}")))?;
            let max_pixels = self.config.max_pixels;
            self.decoded.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_blocking(move || image::process(&bytes, max_pixels))
                .await
                .map_err(|e| Error::internal(anyhow::anyhow!("image task: {e}")))?
                .map_err(|r| Error::Invalid(vec![FieldError::new("file", r.to_string())]))?
        };
        let _placing = self.placement.read().await;
        let disk = self.disk.clone();
        let Processed {
            hash,
            kind,
            width,
            height,
            variants,
        } = processed;
        let stored: Vec<StoredVariant> = variants
            .iter()
            .map(|v| StoredVariant {
                variant: v.variant,
                kind: v.kind,
                file: disk::file_name(v.variant, v.kind),
                width: v.width,
                height: v.height,
                bytes: v.bytes.len() as u64,
                sha256: v.sha256.clone(),
            })
            .collect();
        {
            let hash = hash.clone();
            tokio::task::spawn_blocking(move || disk.place(&hash, &variants))
                .await
                .map_err(|e| Error::internal(anyhow::anyhow!("file task: {e}")))?
                .map_err(io_error)?;
        }
        let now = Utc::now();
        let fresh = Upload {
            id: hash.clone(),
            kind,
            width,
            height,
            variants: stored,
            uploaded_by: uploader.to_string(),
            created_at: now,
            referenced_at: None,
            unreferenced_since: Some(now),
        };
        let id = hash.clone();
        let result = store
            .write(move |txn| match claim_existing(txn, &hash, now)? {
                Some(existing) => Ok::<_, StoreError>((existing, false)),
                None => {
                    codec::put(&mut txn.open_table(tables::UPLOADS)?, &hash, &fresh)?;
                    Ok((fresh.clone(), true))
                }
            })
            .await?;
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= MAX_SOURCES {
            sources.clear();
        }
        sources.insert(source, id);
        Ok(result)
    }
}

/// The stored upload `id`, if there is one, with a fresh grace period:
/// uploading it again is a sign it is about to be used.
fn claim_existing(
    txn: &WriteTransaction,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Upload>, StoreError> {
    let mut t = txn.open_table(tables::UPLOADS)?;
    let Some(mut existing) = codec::get::<Upload>(&t, id)? else {
        return Ok(None);
    };
    if existing.unreferenced_since.is_some() {
        existing.unreferenced_since = Some(now);
        codec::put(&mut t, id, &existing)?;
    }
    Ok(Some(existing))
}

/// A full disk is the server's condition, not a bug: 503, and it is logged.
fn io_error(e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(28) {
        tracing::error!("file store: no space left on device");
        Error::Store(StoreError::Unavailable("no space left for files".into()))
    } else {
        Error::internal(anyhow::Error::new(e).context("writing an upload"))
    }
}

pub async fn get(store: &Store, id: String) -> Result<Option<Upload>, StoreError> {
    if !disk::is_hash(&id) {
        return Ok(None);
    }
    store
        .read(move |txn| codec::get(&txn.open_table(tables::UPLOADS)?, &id))
        .await
}

/// Checks an id a request wants to point at (before anything is written):
/// 422 on `field` unless it names a stored upload.
pub fn check_ref(txn: &WriteTransaction, field: &'static str, id: &str) -> Result<(), Error> {
    let exists = disk::is_hash(id) && txn.open_table(tables::UPLOADS)?.get(id)?.is_some();
    if exists {
        Ok(())
    } else {
        Err(FieldError::new(field, "no such upload (upload the image first)").into())
    }
}

/// Records that a record now points at `id`, in the same transaction as
/// that record: the collector sees the change and leaves the file alone.
pub fn touch(txn: &WriteTransaction, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut t = txn.open_table(tables::UPLOADS)?;
    if let Some(mut u) = codec::get::<Upload>(&t, id)? {
        u.referenced_at = Some(now);
        u.unreferenced_since = None;
        codec::put(&mut t, id, &u)?;
    }
    Ok(())
}

/// The syntactic check of an upload id given in a request.
pub fn parse_ref(field: &'static str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    if disk::is_hash(s) {
        Ok(s.to_string())
    } else {
        Err(FieldError::new(
            field,
            "must be an upload id (64 lowercase hex digits from POST /api/v1/uploads)",
        ))
    }
}

/// Who may upload: admins, and owners of a shop (a verified one with the
/// quotas only, another with `unverified_shop_max_images` too). Students
/// and runners have nothing to attach an image to.
pub async fn uploader(
    store: &Store,
    user_id: String,
    is_admin: bool,
) -> Result<Uploader, StoreError> {
    if is_admin {
        return Ok(Uploader::Admin);
    }
    store
        .read(move |txn| {
            let Some(shop_id) = txn
                .open_table(tables::OWNER_TO_SHOP)?
                .get(user_id.as_str())?
                .map(|v| v.value().to_string())
            else {
                return Ok(Uploader::Nobody);
            };
            let shop: Option<crate::domain::shop::Shop> =
                codec::get(&txn.open_table(tables::SHOPS)?, &shop_id)?;
            Ok(match shop {
                Some(s) if s.deleted_at.is_some() => Uploader::Nobody,
                Some(s) if s.verification == crate::domain::shop::Verification::Verified => {
                    Uploader::VerifiedShop
                }
                Some(_) => Uploader::UnverifiedShop,
                None => Uploader::Nobody,
            })
        })
        .await
}

/// How many stored uploads `user` was the first to upload.
pub async fn count_uploaded_by(store: &Store, user: String) -> Result<u64, StoreError> {
    store
        .read(move |txn| {
            let mut n = 0;
            for e in txn.open_table(tables::UPLOADS)?.iter()? {
                let (_, v) = e?;
                #[derive(Deserialize)]
                struct By {
                    uploaded_by: String,
                }
                let by: By = codec::decode(v.value())?;
                if by.uploaded_by == user {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
}

/// Runs the collector every `files.gc_interval_minutes` until aborted.
pub fn spawn_gc(store: Store, files: Arc<Files>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period =
            std::time::Duration::from_secs(u64::from(files.config.gc_interval_minutes) * 60);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            match gc::run(&store, &files, Utc::now(), false).await {
                Ok(r) if !r.removed.is_empty() || !r.orphans.is_empty() => tracing::info!(
                    removed = r.removed.len(),
                    orphans = r.orphans.len(),
                    bytes = r.bytes(),
                    "removed unreferenced files"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "file collection failed"),
            }
        }
    })
}
