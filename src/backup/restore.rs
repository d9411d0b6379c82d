//! `uphill backup restore FILE`: replaces a data directory's store and file
//! store with an archive's, after verifying it, keeping what it replaces.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{archive, snapshot, sync_dir};

#[derive(Debug)]
pub struct Restored {
    pub manifest: archive::Manifest,
    pub checked: snapshot::Checked,
    /// What was there before, renamed aside (`*.before-restore-<time>`).
    pub kept: Vec<PathBuf>,
    pub search_index_removed: bool,
}

/// Whether a running server holds the store in `data_dir`: redb locks the
/// file for as long as a process has it open.
pub fn store_in_use(data_dir: &Path) -> bool {
    let path = data_dir.join(archive::SNAPSHOT);
    if !path.exists() {
        return false;
    }
    // A damaged store may make redb panic on open; that is not "in use",
    // and replacing it is what a restore is for.
    let opened = std::panic::catch_unwind(|| redb::Database::open(&path));
    matches!(opened, Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)))
}

pub fn restore(archive_path: &Path, data_dir: &Path) -> Result<Restored, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    if store_in_use(data_dir) {
        return Err(format!(
            "a server is running on {} (its store is locked); stop it first \
             (`systemctl stop uphill`), then restore",
            data_dir.display()
        ));
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    // Unpacked inside the data directory so the swap is a rename on one
    // file system, never a half-copied store.
    let staging = data_dir.join(format!(".restore-{stamp}"));
    if staging.exists() {
        return Err(format!(
            "{} exists; is another restore running?",
            staging.display()
        ));
    }
    let result = (|| {
        let manifest = archive::unpack_verified(archive_path, &staging)?;
        let checked = snapshot::check(&staging.join(archive::SNAPSHOT))?;
        if store_in_use(data_dir) {
            return Err(format!(
                "a server started on {} meanwhile",
                data_dir.display()
            ));
        }
        let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
        let mut kept = Vec::new();
        for name in [archive::SNAPSHOT, archive::FILES] {
            let current = data_dir.join(name);
            if std::fs::symlink_metadata(&current).is_ok() {
                let aside = data_dir.join(format!("{name}.before-restore-{stamp}"));
                std::fs::rename(&current, &aside).map_err(|e| io(&current, e))?;
                kept.push(aside);
            }
        }
        let snap = data_dir.join(archive::SNAPSHOT);
        std::fs::rename(staging.join(archive::SNAPSHOT), &snap).map_err(|e| io(&snap, e))?;
        let files = staging.join(archive::FILES);
        if files.is_dir() {
            let to = data_dir.join(archive::FILES);
            std::fs::rename(&files, &to).map_err(|e| io(&to, e))?;
        }
        // The index describes the store that was replaced; the server
        // rebuilds it from the restored store when it is missing.
        let search = data_dir.join("search");
        let search_index_removed = search.exists();
        if search_index_removed {
            std::fs::remove_dir_all(&search).map_err(|e| io(&search, e))?;
        }
        sync_dir(data_dir).map_err(|e| io(data_dir, e))?;
        Ok(Restored {
            manifest,
            checked,
            kept,
            search_index_removed,
        })
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}
