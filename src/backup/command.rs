//! `uphill backup now|list|verify|restore`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Backups, Kind, list_dir, restore, verify};
use crate::cli::say;
use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Take a backup now. Opens the store itself, so the server must be
    /// stopped; while it runs, use `POST /api/v1/admin/backups` instead.
    Now,
    /// List the backups in the backup directory, newest first.
    List,
    /// Check an archive: every member's size and SHA-256 against the
    /// manifest, the store snapshot's integrity, every record decodes.
    Verify { file: PathBuf },
    /// Replace the data directory's store and files with an archive's
    /// (verified first). The server must be stopped. What is replaced is
    /// kept as `*.before-restore-<time>`; the search index is rebuilt.
    Restore { file: PathBuf },
}

fn size(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 10 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

pub fn run(config: &Config, cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Now => {
            let store = match Store::open_configured(&config.storage) {
                Ok(s) => s,
                Err(StoreError::Locked(_)) => {
                    anyhow::bail!(
                        "the server is running on {dir} and holds the store; take the backup \
                         through it instead: curl -X POST -H \"Authorization: Bearer $ADMIN_TOKEN\" \
                         {url}/api/v1/admin/backups (an admin's API token), or wait for the \
                         scheduled run (backup.cron)",
                        dir = config.storage.data_dir.display(),
                        url = config.public_url(),
                    )
                }
                Err(e) => return Err(e.into()),
            };
            let backups = Backups::new(config)?;
            let info = backups.run_blocking(&store, Kind::Manual)?;
            say!("wrote {} ({})", info.path.display(), size(info.size));
            Ok(())
        }
        BackupCommand::List => {
            let dir = config.backup_dir();
            let all = list_dir(&dir)?;
            if all.is_empty() {
                say!("no backups in {}", dir.display());
            }
            for b in all {
                say!(
                    "{}  {:<9}  {:>10}  {}",
                    b.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    b.kind.as_str(),
                    size(b.size),
                    b.path.display()
                );
            }
            Ok(())
        }
        BackupCommand::Verify { file } => {
            let (manifest, checked) = verify(&file)
                .map_err(|e| anyhow::anyhow!("{} FAILED verification: {e}", file.display()))?;
            say!(
                "{}: OK — all {} members match the manifest; store snapshot of uphill {} \
                 (schema {}) from {} passes the integrity check; {} orders, {} users",
                file.display(),
                manifest.members.len(),
                manifest.uphill_version,
                checked.schema_version,
                manifest.created_at.to_rfc3339(),
                checked.records.get("orders").copied().unwrap_or(0),
                checked.records.get("users").copied().unwrap_or(0),
            );
            Ok(())
        }
        BackupCommand::Restore { file } => {
            let data_dir = &config.storage.data_dir;
            let r = restore::restore(&file, data_dir)
                .map_err(|e| anyhow::anyhow!("restore of {} refused: {e}", file.display()))?;
            // Migrates a snapshot from an older version now, so a problem
            // shows here rather than at the next start.
            let store = Store::open_configured(&config.storage)?;
            drop(store);
            say!(
                "restored {} (taken {}, {} orders) into {}",
                file.display(),
                r.manifest.created_at.to_rfc3339(),
                r.checked.records.get("orders").copied().unwrap_or(0),
                data_dir.display()
            );
            for k in &r.kept {
                say!("  kept what it replaced as {}", k.display());
            }
            if r.search_index_removed {
                say!("  removed the search index; the server rebuilds it at start");
            }
            Ok(())
        }
    }
}
