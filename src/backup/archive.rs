//! The archive: `uphill.redb` (the store snapshot), `files/…` (the file
//! store) and `manifest.json` last, in a gzip-compressed tar.
//!
//! The manifest comes last so every checksum in it is of the bytes that
//! were actually written: members are hashed while they stream into the
//! archive, and a file that changes meanwhile cannot make the manifest lie.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SNAPSHOT: &str = "uphill.redb";
pub const MANIFEST: &str = "manifest.json";
pub const FILES: &str = "files";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout of the archive; bumped if it ever changes.
    pub format: u32,
    pub uphill_version: String,
    pub schema_version: u32,
    pub created_at: DateTime<Utc>,
    pub kind: String,
    /// Records per table in the snapshot, for the reader's information.
    #[serde(default)]
    pub records: std::collections::BTreeMap<String, u64>,
    pub members: Vec<Member>,
}

pub const FORMAT: u32 = 1;

struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

fn header(size: u64, mtime: DateTime<Utc>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mtime(mtime.timestamp().max(0) as u64);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Regular files under `dir`, relative, sorted; symlinks are skipped (the
/// file store never makes them, and following one could leave the data dir).
fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let ty = e.file_type()?;
            let p = rel.join(e.file_name());
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The upload id a file of the file store belongs to (`ab/<id>/<file>`);
/// `None` for anything else (the temporary area, stray files).
fn upload_of(rel: &Path) -> Option<&str> {
    let mut parts = rel.components();
    let (Some(Component::Normal(_)), Some(Component::Normal(id)), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    id.to_str()
}

/// Writes the archive to `out` (a temporary file the caller renames).
/// `manifest.members` is filled in here. Of the file store (`files`: its
/// directory and the upload ids records point at, read in the snapshot's
/// transaction), only the files of those uploads go in: an upload nothing
/// refers to is on its way out and has no place in a backup.
pub fn write(
    out: &Path,
    snapshot: &Path,
    files: Option<(&Path, &HashSet<String>)>,
    mut manifest: Manifest,
) -> io::Result<Manifest> {
    let file = File::create(out)?;
    let gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = manifest.created_at;
    let mut add = |tar: &mut tar::Builder<_>, name: &str, src: &Path| -> io::Result<()> {
        let f = File::open(src)?;
        let size = f.metadata()?.len();
        let mut r = Hashing {
            inner: f.take(size),
            hash: Sha256::new(),
            size: 0,
        };
        tar.append_data(&mut header(size, mtime), name, &mut r)?;
        manifest.members.push(Member {
            path: name.to_string(),
            size: r.size,
            sha256: hex::encode(r.hash.finalize()),
        });
        Ok(())
    };
    add(&mut tar, SNAPSHOT, snapshot)?;
    if let Some((dir, referenced)) = files.filter(|(d, _)| d.is_dir()) {
        for rel in walk(dir)? {
            if !upload_of(&rel).is_some_and(|id| referenced.contains(id)) {
                continue;
            }
            let Some(rel_str) = rel.to_str() else {
                tracing::warn!(path = %rel.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let name = format!("{FILES}/{rel_str}");
            match add(&mut tar, &name, &dir.join(&rel)) {
                Ok(()) => {}
                // Removed by the orphan sweep since the listing: it was
                // unreferenced, so the backup does not need it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    tar.append_data(
        &mut header(json.len() as u64, mtime),
        MANIFEST,
        json.as_slice(),
    )?;
    let gz = tar.into_inner()?;
    let mut w = gz.finish()?;
    w.flush()?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(manifest)
}

/// A member name we accept: the snapshot, the manifest, or a plain
/// relative path under `files/` (no `..`, no absolute paths).
fn safe_member(name: &str) -> bool {
    if name == SNAPSHOT || name == MANIFEST {
        return true;
    }
    let Some(rest) = name.strip_prefix("files/") else {
        return false;
    };
    !rest.is_empty()
        && Path::new(rest)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Unpacks `archive` into `dest` (which must be empty or absent), checking
/// every member against the manifest. Returns the manifest.
pub fn unpack_verified(archive: &Path, dest: &Path) -> Result<Manifest, String> {
    let damaged = |e: &dyn std::fmt::Display| format!("the archive is damaged: {e}");
    let f = File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(f)));
    let mut seen: Vec<Member> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    for entry in tar.entries().map_err(|e| damaged(&e))? {
        let mut entry = entry.map_err(|e| damaged(&e))?;
        let name = entry
            .path()
            .map_err(|e| damaged(&e))?
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| damaged(&"a member name is not UTF-8"))?;
        if entry.header().entry_type() != tar::EntryType::Regular || !safe_member(&name) {
            return Err(format!("the archive holds an unexpected member `{name}`"));
        }
        if seen.iter().any(|m| m.path == name) || (name == MANIFEST && manifest.is_some()) {
            return Err(format!("the archive holds `{name}` twice"));
        }
        if name == MANIFEST {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(|e| damaged(&e))?;
            manifest = Some(
                serde_json::from_slice(&buf)
                    .map_err(|e| format!("manifest.json does not parse: {e}"))?,
            );
            continue;
        }
        let target = dest.join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out = BufWriter::new(
            File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?,
        );
        let mut r = Hashing {
            inner: &mut entry,
            hash: Sha256::new(),
            size: 0,
        };
        io::copy(&mut r, &mut out).map_err(|e| damaged(&e))?;
        let (size, hash) = (r.size, hex::encode(r.hash.finalize()));
        let file = out.into_inner().map_err(|e| e.into_error().to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        seen.push(Member {
            path: name,
            size,
            sha256: hash,
        });
    }
    // tar stops at its end marker, before gzip's CRC and length trailer:
    // read the stream to its end so a flipped byte in the padding counts.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(|e| damaged(&e))?;
    let manifest = manifest.ok_or("the archive has no manifest.json (cut short?)")?;
    if manifest.format != FORMAT {
        return Err(format!(
            "archive format {} is not one this binary reads ({FORMAT})",
            manifest.format
        ));
    }
    for m in &manifest.members {
        match seen.iter().find(|s| s.path == m.path) {
            None => {
                return Err(format!(
                    "member `{}` is in the manifest but not the archive",
                    m.path
                ));
            }
            Some(s) if s.size != m.size => {
                return Err(format!(
                    "member `{}`: {} bytes, the manifest says {}",
                    m.path, s.size, m.size
                ));
            }
            Some(s) if s.sha256 != m.sha256 => {
                return Err(format!(
                    "member `{}`: SHA-256 does not match the manifest",
                    m.path
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.iter().find(|s| !manifest.members.contains(s)) {
        return Err(format!("member `{}` is not in the manifest", extra.path));
    }
    if !seen.iter().any(|s| s.path == SNAPSHOT) {
        return Err("the archive has no store snapshot".into());
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_confined() {
        assert!(safe_member("uphill.redb"));
        assert!(safe_member("files/ab/cd.webp"));
        for bad in [
            "files/../uphill.redb",
            "../x",
            "/etc/passwd",
            "files/",
            "files//x",
            "other.txt",
            "files/./x",
        ] {
            assert!(!safe_member(bad), "{bad}");
        }
    }
}
