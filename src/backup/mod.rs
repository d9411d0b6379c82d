//! Backups: an online, consistent snapshot of the store plus the file store
//! in one compressed archive with a manifest of sizes and SHA-256 sums.
//!
//! - `snapshot`: one redb read transaction copied table by table into a
//!   fresh redb file (writers are not blocked: MVCC).
//! - `archive`: tar + gzip (pure-Rust miniz_oxide), manifest last.
//! - `retention`: which archives to keep (pure, unit-tested).
//! - `restore`: verify, keep a safety copy, swap in, drop the search index.
//!
//! Archives are named `uphill-<UTC time>-<kind>.tar.gz` and written as a
//! dot-file first, fsync'd and renamed, so a listed archive is complete.

pub mod archive;
pub mod command;
pub mod restore;
pub mod retention;
pub mod snapshot;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::{SCHEMA_VERSION, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Made by `backup.cron`.
    Scheduled,
    /// Made on demand (CLI or admin API).
    Manual,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scheduled => "scheduled",
            Kind::Manual => "manual",
        }
    }
}

#[derive(Clone, Debug)]
pub struct BackupInfo {
    pub name: String,
    pub path: PathBuf,
    pub created_at: DateTime<Utc>,
    pub kind: Kind,
    pub size: u64,
}

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// `uphill-20261130T030000.000Z-scheduled.tar.gz`
pub fn file_name(at: DateTime<Utc>, kind: Kind) -> String {
    format!("uphill-{}-{}.tar.gz", at.format(TIME_FORMAT), kind.as_str())
}

/// The time and kind of a backup name, or `None` for anything that is not
/// exactly a name we make (so no path, dot or other file can pass).
pub fn parse_name(name: &str) -> Option<(DateTime<Utc>, Kind)> {
    let rest = name.strip_prefix("uphill-")?.strip_suffix(".tar.gz")?;
    let (ts, kind) = rest.rsplit_once('-')?;
    let kind = match kind {
        "scheduled" => Kind::Scheduled,
        "manual" => Kind::Manual,
        _ => return None,
    };
    let at = NaiveDateTime::parse_from_str(ts, TIME_FORMAT)
        .ok()?
        .and_utc();
    (file_name(at, kind) == name).then_some((at, kind))
}

/// What the alerts engine and the admin page need to know.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BackupStatus {
    pub last_success: Option<DateTime<Utc>>,
    pub last_success_name: Option<String>,
    pub last_failure: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The next scheduled run (`None` without a schedule).
    pub next_due: Option<DateTime<Utc>>,
    /// When a backup should have happened by: the first scheduled time
    /// after the last success (or after start, if there is none).
    pub due_by: Option<DateTime<Utc>>,
    pub running: bool,
}

impl BackupStatus {
    /// Slack after `due_by` before a backup counts as overdue: a big store
    /// takes a while to copy, and the scheduler may start a little late.
    pub const GRACE: chrono::Duration = chrono::Duration::hours(1);

    /// The last attempt failed (no success since).
    pub fn failing(&self) -> bool {
        match (self.last_failure, self.last_success) {
            (Some(f), Some(s)) => f > s,
            (Some(_), None) => true,
            _ => false,
        }
    }

    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.due_by.is_some_and(|d| now > d + Self::GRACE)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a backup is already running")]
    Busy,
    #[error("backup failed: {0}")]
    Failed(String),
}

impl From<io::Error> for BackupError {
    fn from(e: io::Error) -> Self {
        BackupError::Failed(e.to_string())
    }
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Failed(e.to_string())
    }
}

/// Parses a cron expression with seconds, as `backup.cron` takes it.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

pub struct Backups {
    dir: PathBuf,
    data_dir: PathBuf,
    tz: Tz,
    policy: retention::Policy,
    schedule: Option<croner::Cron>,
    running: Mutex<()>,
    status: Mutex<BackupStatus>,
    started: DateTime<Utc>,
}

impl Backups {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let schedule = if config.backup.cron.trim().is_empty() {
            None
        } else {
            Some(parse_cron(&config.backup.cron).map_err(|e| anyhow::anyhow!("backup.cron: {e}"))?)
        };
        let b = Self {
            dir: config.backup_dir(),
            data_dir: config.storage.data_dir.clone(),
            tz: config.campus_tz()?,
            policy: retention::Policy {
                daily: config.backup.keep_daily as usize,
                weekly: config.backup.keep_weekly as usize,
                monthly: config.backup.keep_monthly as usize,
            },
            schedule,
            running: Mutex::new(()),
            status: Mutex::new(BackupStatus::default()),
            started: Utc::now(),
        };
        // A restart must not forget the last success, or every restart
        // would look like a fresh box that never needed a backup.
        let newest = b.list().ok().and_then(|l| l.into_iter().next());
        {
            let mut st = b.lock_status();
            if let Some(n) = &newest {
                st.last_success = Some(n.created_at);
                st.last_success_name = Some(n.name.clone());
            }
            let now = Utc::now();
            st.next_due = b.next_after(now);
            st.due_by = b.next_after(newest.map(|n| n.created_at).unwrap_or(b.started));
        }
        Ok(b)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, BackupStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> BackupStatus {
        self.lock_status().clone()
    }

    /// The first scheduled time after `t` (campus time zone, DST-aware).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let s = self.schedule.as_ref()?;
        s.find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Archives in the backup directory, newest first.
    pub fn list(&self) -> io::Result<Vec<BackupInfo>> {
        list_dir(&self.dir)
    }

    /// A backup by name; `None` unless the name is exactly one we make and
    /// the file exists.
    pub fn find(&self, name: &str) -> Option<BackupInfo> {
        let (created_at, kind) = parse_name(name)?;
        let path = self.dir.join(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        meta.is_file().then(|| BackupInfo {
            name: name.to_string(),
            path,
            created_at,
            kind,
            size: meta.len(),
        })
    }

    /// Takes a backup on the calling (blocking) thread.
    pub fn run_blocking(&self, store: &Store, kind: Kind) -> Result<BackupInfo, BackupError> {
        let _one = self.running.try_lock().map_err(|_| BackupError::Busy)?;
        self.lock_status().running = true;
        let result = self.make(store, kind);
        let mut st = self.lock_status();
        st.running = false;
        match &result {
            Ok(info) => {
                st.last_success = Some(info.created_at);
                st.last_success_name = Some(info.name.clone());
                st.due_by = self.next_after(info.created_at);
                tracing::info!(name = %info.name, bytes = info.size, "backup written");
            }
            Err(e) => {
                st.last_failure = Some(Utc::now());
                st.last_error = Some(e.to_string());
                tracing::error!(error = %e, "backup failed");
            }
        }
        result
    }

    /// Takes a backup on the blocking pool.
    pub async fn run(
        self: &Arc<Self>,
        store: Store,
        kind: Kind,
    ) -> Result<BackupInfo, BackupError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.run_blocking(&store, kind))
            .await
            .map_err(|e| BackupError::Failed(format!("backup task: {e}")))?
    }

    fn make(&self, store: &Store, kind: Kind) -> Result<BackupInfo, BackupError> {
        std::fs::create_dir_all(&self.dir)?;
        // Leftovers of a backup interrupted by a crash.
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let p = e.path();
                let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            }
        }
        let mut created_at = Utc::now();
        let mut name = file_name(created_at, kind);
        while self.dir.join(&name).exists() {
            created_at += chrono::Duration::milliseconds(1);
            name = file_name(created_at, kind);
        }
        let staging = self.dir.join(format!(".tmp-{name}.d"));
        std::fs::create_dir_all(&staging)?;
        let result = (|| {
            let snap = staging.join(archive::SNAPSHOT);
            let (records, referenced) = store.read_blocking(|txn| {
                let records = snapshot::write(txn, &snap)?;
                Ok::<_, StoreError>((records, crate::files::gc::referenced(txn)?))
            })?;
            let manifest = archive::Manifest {
                format: archive::FORMAT,
                uphill_version: env!("CARGO_PKG_VERSION").to_string(),
                schema_version: SCHEMA_VERSION,
                created_at,
                kind: kind.as_str().to_string(),
                records,
                members: Vec::new(),
            };
            let tmp = self.dir.join(format!(".tmp-{name}"));
            let files = self.data_dir.join(archive::FILES);
            archive::write(&tmp, &snap, Some((&files, &referenced)), manifest)?;
            let path = self.dir.join(&name);
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)?;
            let size = std::fs::metadata(&path)?.len();
            Ok::<_, BackupError>(BackupInfo {
                name: name.clone(),
                path,
                created_at,
                kind,
                size,
            })
        })();
        let _ = std::fs::remove_dir_all(&staging);
        let info = result?;
        if let Err(e) = self.prune() {
            tracing::warn!(error = %e, "could not remove old backups");
        }
        Ok(info)
    }

    /// Deletes the archives retention does not keep.
    fn prune(&self) -> io::Result<()> {
        let all = self.list()?;
        let times: Vec<_> = all.iter().map(|b| b.created_at).collect();
        let keep = retention::keep(&times, self.tz, self.policy);
        for (i, b) in all.iter().enumerate() {
            if !keep.contains(&i) {
                std::fs::remove_file(&b.path)?;
                tracing::info!(name = %b.name, "removed an old backup (retention)");
            }
        }
        Ok(())
    }

    /// Runs scheduled backups until `shutdown`. Each wait is at most a
    /// minute and the next time is recomputed after it, so a wall-clock
    /// change (NTP step, DST) cannot make a run late by hours.
    pub async fn schedule_loop(self: Arc<Self>, store: Store, shutdown: CancellationToken) {
        loop {
            let Some(next) = self.next_after(Utc::now()) else {
                return;
            };
            self.lock_status().next_due = Some(next);
            loop {
                let now = Utc::now();
                if now >= next {
                    break;
                }
                let wait = (next - now)
                    .to_std()
                    .unwrap_or_default()
                    .min(Duration::from_secs(60));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            if let Err(e) = self.run(store.clone(), Kind::Scheduled).await {
                tracing::error!(error = %e, "scheduled backup failed");
            }
        }
    }
}

/// Archives in `dir`, newest first (anything else there is ignored).
pub fn list_dir(dir: &Path) -> io::Result<Vec<BackupInfo>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((created_at, kind)) = parse_name(&name) else {
            continue;
        };
        let meta = e.metadata()?;
        if meta.is_file() {
            out.push(BackupInfo {
                name,
                path: e.path(),
                created_at,
                kind,
                size: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.name.cmp(&a.name)));
    Ok(out)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Verifies an archive without touching any data directory: unpacks it
/// into a temporary directory, checks every member against the manifest,
/// opens the snapshot with redb's integrity check and decodes every record.
pub fn verify(path: &Path) -> Result<(archive::Manifest, snapshot::Checked), String> {
    let tmp = tempfile::Builder::new()
        .prefix("uphill-verify-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let manifest = archive::unpack_verified(path, tmp.path())?;
    let checked = snapshot::check(&tmp.path().join(archive::SNAPSHOT))?;
    if checked.schema_version != manifest.schema_version {
        return Err(format!(
            "the snapshot has schema version {}, the manifest says {}",
            checked.schema_version, manifest.schema_version
        ));
    }
    Ok((manifest, checked))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap()
            + chrono::Duration::milliseconds(42);
        let n = file_name(at, Kind::Scheduled);
        assert_eq!(n, "uphill-20261130T030000.042Z-scheduled.tar.gz");
        assert_eq!(parse_name(&n), Some((at, Kind::Scheduled)));
        for bad in [
            "../uphill-20261130T030000.042Z-manual.tar.gz",
            "uphill-20261130T030000.042Z-manual.tar.gz/..",
            "uphill-20261130T030000Z-manual.tar.gz",
            "uphill-20261130T030000.042Z-other.tar.gz",
            "uphill-20261130T030000.042Z-manual.tar",
            ".tmp-uphill-20261130T030000.042Z-manual.tar.gz",
            "uphill-20261130T030000.042Z-manual.tar.gz\0",
            "uphill-2026113OT030000.042Z-manual.tar.gz",
            "",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_schedule_follows_campus_time_across_dst() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.storage.data_dir = dir.path().to_path_buf();
        c.campus.timezone = "Europe/Berlin".into();
        let b = Backups::new(&c).unwrap();
        let utc = |m, d, h| Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap();
        // 03:00 in Berlin is 01:00 UTC in summer time and 02:00 UTC in
        // winter time: the day the clocks change in each direction.
        assert_eq!(b.next_after(utc(3, 28, 12)), Some(utc(3, 29, 1)));
        assert_eq!(b.next_after(utc(10, 24, 12)), Some(utc(10, 25, 2)));
        c.backup.cron = String::new();
        assert_eq!(Backups::new(&c).unwrap().next_after(utc(1, 1, 0)), None);
    }

    #[test]
    fn status_tells_failing_and_overdue() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap();
        let mut s = BackupStatus {
            due_by: Some(t),
            ..Default::default()
        };
        assert!(!s.overdue(t + chrono::Duration::minutes(59)));
        assert!(s.overdue(t + chrono::Duration::minutes(61)));
        assert!(!s.failing());
        s.last_failure = Some(t);
        assert!(s.failing());
        s.last_success = Some(t + chrono::Duration::seconds(1));
        assert!(!s.failing());
    }
}
