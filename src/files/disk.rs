//! The file store on disk: `<data_dir>/files/<h[0..2]>/<hash>/` holds one
//! upload's renditions (`original.<ext>`, `medium.webp`, `thumb.webp`).
//!
//! An upload's directory appears whole or not at all: its files are written
//! into `files/.tmp/<random>/`, each fsynced, the directory fsynced, then
//! renamed to its final name and the parent fsynced. A crash leaves at worst
//! a directory under `.tmp` (swept at start and by the GC) or a complete
//! directory without a record (an orphan, removed by the GC after the grace
//! period) — never a partial file under a final name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::image::{Encoded, Kind, Variant};

pub const TMP_DIR: &str = ".tmp";

/// Lowercase hex SHA-256: the only thing ever joined onto the root, so a
/// path can never leave it.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn file_name(variant: Variant, kind: Kind) -> String {
    format!("{}.{}", variant.name(), kind.extension())
}

#[derive(Debug, Clone)]
pub struct Disk {
    root: PathBuf,
}

impl Disk {
    /// Creates `root` and its temporary directory.
    pub fn open(root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(root.join(TMP_DIR))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one upload. `hash` must pass `is_hash`.
    pub fn dir_of(&self, hash: &str) -> PathBuf {
        debug_assert!(is_hash(hash));
        self.root.join(&hash[..2]).join(hash)
    }

    /// True when the upload's directory holds every rendition at its size.
    pub fn is_complete(&self, hash: &str, files: &[(String, u64)]) -> bool {
        let dir = self.dir_of(hash);
        files.iter().all(|(name, len)| {
            fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.len() == *len)
        })
    }

    /// Puts the renditions in place atomically (see the module docs).
    /// Returns false when a complete copy was already there.
    pub fn place(&self, hash: &str, variants: &[Encoded]) -> io::Result<bool> {
        let expected: Vec<(String, u64)> = variants
            .iter()
            .map(|v| (file_name(v.variant, v.kind), v.bytes.len() as u64))
            .collect();
        if self.is_complete(hash, &expected) {
            return Ok(false);
        }
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(format!("{}-{}", &hash[..8], ulid::Ulid::new()));
        fs::create_dir(&tmp)?;
        let written = (|| {
            for v in variants {
                let mut f = File::create(tmp.join(file_name(v.variant, v.kind)))?;
                f.write_all(&v.bytes)?;
                f.sync_all()?;
            }
            sync_dir(&tmp)
        })();
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let shard = self.root.join(&hash[..2]);
        if !shard.exists() {
            fs::create_dir_all(&shard)?;
            sync_dir(&self.root)?;
        }
        let dest = self.dir_of(hash);
        if dest.exists() {
            // Incomplete (tampered with, or an old crash outside this
            // scheme): move it aside, then put the good copy in.
            let aside = self
                .root
                .join(TMP_DIR)
                .join(format!("stale-{}", ulid::Ulid::new()));
            fs::rename(&dest, &aside)?;
            let _ = fs::remove_dir_all(&aside);
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => {}
            // Another upload of the same content won the race.
            Err(_) if self.is_complete(hash, &expected) => {
                let _ = fs::remove_dir_all(&tmp);
                return Ok(false);
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
        sync_dir(&shard)?;
        Ok(true)
    }

    /// Removes an upload's directory (absent is fine).
    pub fn remove(&self, hash: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.dir_of(hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        sync_dir(&self.root.join(&hash[..2]))
    }

    /// Every upload directory on disk, with its last change time.
    pub fn list(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let hash = entry.file_name().to_string_lossy().into_owned();
                if is_hash(&hash) && hash.starts_with(name.as_ref()) {
                    out.push((hash, entry.metadata()?.modified()?));
                }
            }
        }
        Ok(out)
    }

    /// Removes what crashed or failed uploads left under `.tmp` before
    /// `older_than` (everything, at start, when nothing is in flight).
    pub fn sweep_tmp(&self, older_than: SystemTime) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(self.root.join(TMP_DIR))? {
            let entry = entry?;
            if entry.metadata()?.modified()? <= older_than {
                let p = entry.path();
                let r = if entry.file_type()?.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                if r.is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Bytes of every file of one upload directory.
    pub fn size_of(&self, hash: &str) -> u64 {
        fs::read_dir(self.dir_of(hash))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::image::sha256_hex;

    fn enc(variant: Variant, bytes: &[u8]) -> Encoded {
        Encoded {
            variant,
            kind: Kind::Webp,
            width: 1,
            height: 1,
            bytes: bytes.to_vec(),
            sha256: sha256_hex(bytes),
        }
    }

    #[test]
    fn places_whole_directories_once_and_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(dir.path().join("files")).unwrap();
        let hash = sha256_hex(b"x");
        let vs = [enc(Variant::Original, b"aaa"), enc(Variant::Thumb, b"bb")];
        assert!(disk.place(&hash, &vs).unwrap());
        assert!(!disk.place(&hash, &vs).unwrap(), "second copy is skipped");
        assert_eq!(
            fs::read(disk.dir_of(&hash).join("original.webp")).unwrap(),
            b"aaa"
        );
        // A damaged copy is replaced.
        fs::write(disk.dir_of(&hash).join("thumb.webp"), b"b").unwrap();
        assert!(disk.place(&hash, &vs).unwrap());
        assert_eq!(
            fs::read(disk.dir_of(&hash).join("thumb.webp")).unwrap(),
            b"bb"
        );
        assert_eq!(disk.list().unwrap().len(), 1);
        assert_eq!(
            fs::read_dir(dir.path().join("files/.tmp")).unwrap().count(),
            0
        );
        disk.remove(&hash).unwrap();
        disk.remove(&hash).unwrap();
        assert!(disk.list().unwrap().is_empty());
    }

    #[test]
    fn only_hashes_name_paths() {
        assert!(is_hash(&sha256_hex(b"")));
        assert!(!is_hash("../../etc/passwd"));
        assert!(!is_hash(&sha256_hex(b"").to_uppercase()));
        assert!(!is_hash(&format!("{}/", &sha256_hex(b"")[..63])));
    }
}
