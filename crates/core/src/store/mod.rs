//! The package store: verified package files shared by every repository torrent, addressed by
//! their SHA-256 so the same package is one file whatever torrent or offset it comes from.
//!
//! librqbit writes peers' data before checking it (docs/platform.md §6), so downloads land in staging
//! (`staging/<info hash>/<file index>`) and enter `objects/` only when their digest matches the
//! index. Objects leave only when no torrent references them.

mod evict;
mod files;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::hash::Sha256;
use crate::torrent::InfoHash;

pub use evict::{HeldPackage, TrimReport, choose as choose_evictions};
pub use files::OpenFiles;

/// Why the store refused or failed something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A download's bytes are not the package the index names.
    #[error(
        "{file} does not match the package index (SHA-256 {actual}, expected {expected}); it was discarded and will be fetched again"
    )]
    DigestMismatch {
        file: PathBuf,
        expected: Sha256,
        actual: Sha256,
    },
    /// A disk operation failed.
    #[error("package store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Which torrents reference which objects; persisted as `refs.json`.
#[derive(Default, Serialize, Deserialize)]
struct Refs {
    /// Info hash (hex) → the objects it wants or holds.
    torrents: BTreeMap<String, BTreeSet<Sha256>>,
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Objects no torrent referenced.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Staging folders of torrents the store no longer knows.
    pub staging_dirs: usize,
}

/// The store in one folder.
pub struct PackageStore {
    root: PathBuf,
    refs: Mutex<Refs>,
    open: Arc<OpenFiles>,
}

/// How many package files the store keeps open at once, over all its torrents (the default limit
/// is 1,024 descriptors per process, and a master torrent has tens of thousands of files).
pub const DEFAULT_MAX_OPEN: usize = 128;

impl PackageStore {
    /// Opens (or creates) the store in `root`.
    pub fn open(root: &Path) -> Result<Arc<Self>, StoreError> {
        Self::open_with(root, DEFAULT_MAX_OPEN)
    }

    /// Opens the store keeping at most `max_open` files open.
    pub fn open_with(root: &Path, max_open: usize) -> Result<Arc<Self>, StoreError> {
        for d in ["objects", "staging"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io_at(&p))?;
        }
        let refs_path = root.join("refs.json");
        let refs = match std::fs::read(&refs_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StoreError::Io {
                path: refs_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Refs::default(),
            Err(e) => return Err(io_at(&refs_path)(e)),
        };
        Ok(Arc::new(PackageStore {
            root: root.to_owned(),
            refs: Mutex::new(refs),
            open: Arc::new(OpenFiles::new(max_open)),
        }))
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a verified package with this digest lives.
    pub fn object_path(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.to_string();
        self.root.join("objects").join(&hex[..2]).join(hex)
    }

    /// Where a torrent's download of one file is built.
    pub fn staging_path(&self, torrent: &InfoHash, file_index: usize) -> PathBuf {
        self.root
            .join("staging")
            .join(torrent.to_string())
            .join(file_index.to_string())
    }

    /// Every package the store holds: its digest, file and size.
    pub fn objects(&self) -> Result<Vec<(Sha256, PathBuf, u64)>, StoreError> {
        let objects = self.root.join("objects");
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&objects) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_at(&objects)(e)),
        };
        for shard in shards {
            let shard = shard.map_err(io_at(&objects))?.path();
            for e in std::fs::read_dir(&shard).map_err(io_at(&shard))? {
                let e = e.map_err(io_at(&shard))?;
                let sha = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<Sha256>().ok());
                if let Some(sha) = sha {
                    let len = e.metadata().map_err(io_at(&e.path()))?.len();
                    out.push((sha, e.path(), len));
                }
            }
        }
        Ok(out)
    }

    /// Whether the store holds this package.
    pub fn holds(&self, sha: &Sha256) -> bool {
        self.object_path(sha).is_file()
    }

    /// The files the store keeps open (shared by all its torrents).
    pub fn open_files(&self) -> &Arc<OpenFiles> {
        &self.open
    }

    /// Moves a complete download into the store if its digest is `expected`; otherwise deletes it.
    /// The object is flushed before its name appears, so a power cut never leaves a torn package.
    pub fn admit(&self, staged: &Path, expected: &Sha256) -> Result<PathBuf, StoreError> {
        let actual = Sha256::of_file(staged).map_err(io_at(staged))?;
        if actual != *expected {
            self.open.forget(staged);
            let _ = std::fs::remove_file(staged);
            return Err(StoreError::DigestMismatch {
                file: staged.to_owned(),
                expected: *expected,
                actual,
            });
        }
        let dest = self.object_path(expected);
        let dir = fsutil::parent_dir(&dest).to_owned();
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        std::fs::File::open(staged)
            .and_then(|f| f.sync_all())
            .map_err(io_at(staged))?;
        std::fs::rename(staged, &dest).map_err(io_at(&dest))?;
        fsutil::fsync_dir(&dir).map_err(io_at(&dir))?;
        self.open.forget(staged);
        Ok(dest)
    }

    /// Copies a package that is already on this machine into the store, if its digest matches.
    pub fn import(&self, file: &Path, expected: &Sha256) -> Result<PathBuf, StoreError> {
        let actual = Sha256::of_file(file).map_err(io_at(file))?;
        if actual != *expected {
            return Err(StoreError::DigestMismatch {
                file: file.to_owned(),
                expected: *expected,
                actual,
            });
        }
        if self.holds(expected) {
            return Ok(self.object_path(expected));
        }
        let staging = self.root.join("staging");
        let mut tmp = tempfile::NamedTempFile::new_in(&staging).map_err(io_at(&staging))?;
        let mut src = std::fs::File::open(file).map_err(io_at(file))?;
        std::io::copy(&mut src, tmp.as_file_mut()).map_err(io_at(file))?;
        let (_, path) = tmp.keep().map_err(|e| io_at(&staging)(e.error))?;
        self.admit(&path, expected)
    }

    /// Records the objects a torrent wants or holds (replacing what it had).
    pub fn set_refs(
        &self,
        torrent: &InfoHash,
        objects: impl IntoIterator<Item = Sha256>,
    ) -> Result<(), StoreError> {
        let mut refs = self.refs.lock().unwrap();
        refs.torrents
            .insert(torrent.to_string(), objects.into_iter().collect());
        self.save(&refs)
    }

    /// Forgets a torrent; its objects stay until a collection finds them unreferenced.
    pub fn drop_refs(&self, torrent: &InfoHash) -> Result<(), StoreError> {
        let mut refs = self.refs.lock().unwrap();
        refs.torrents.remove(&torrent.to_string());
        self.save(&refs)
    }

    /// The objects a torrent wants or holds.
    pub fn refs_of(&self, torrent: &InfoHash) -> BTreeSet<Sha256> {
        let refs = self.refs.lock().unwrap();
        refs.torrents
            .get(&torrent.to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// Whether any torrent references this object.
    pub fn is_referenced(&self, sha: &Sha256) -> bool {
        self.refs
            .lock()
            .unwrap()
            .torrents
            .values()
            .any(|s| s.contains(sha))
    }

    /// Removes these objects and every torrent's reference to them (the size cap's eviction;
    /// their torrents must have stopped reading them).
    pub fn evict(&self, objects: &[Sha256]) -> Result<u64, StoreError> {
        let mut refs = self.refs.lock().unwrap();
        for set in refs.torrents.values_mut() {
            for sha in objects {
                set.remove(sha);
            }
        }
        self.save(&refs)?;
        let mut bytes = 0;
        for sha in objects {
            let p = self.object_path(sha);
            self.open.forget(&p);
            match std::fs::metadata(&p) {
                Ok(m) => {
                    bytes += m.len();
                    std::fs::remove_file(&p).map_err(io_at(&p))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at(&p)(e)),
            }
        }
        Ok(bytes)
    }

    fn save(&self, refs: &Refs) -> Result<(), StoreError> {
        let path = self.root.join("refs.json");
        let bytes = serde_json::to_vec(refs).expect("refs always serialize");
        fsutil::write_atomic(&path, &bytes).map_err(io_at(&path))
    }

    /// Removes objects no torrent references and the staging folders of forgotten torrents.
    pub fn collect_garbage(&self) -> Result<GcReport, StoreError> {
        let refs = self.refs.lock().unwrap();
        let live: BTreeSet<&Sha256> = refs.torrents.values().flatten().collect();
        let mut report = GcReport::default();
        let objects = self.root.join("objects");
        for shard in std::fs::read_dir(&objects).map_err(io_at(&objects))? {
            let shard = shard.map_err(io_at(&objects))?.path();
            for e in std::fs::read_dir(&shard).map_err(io_at(&shard))? {
                let p = e.map_err(io_at(&shard))?.path();
                let keep = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<Sha256>().ok())
                    .is_some_and(|sha| live.contains(&sha));
                if !keep {
                    report.bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    self.open.forget(&p);
                    std::fs::remove_file(&p).map_err(io_at(&p))?;
                    report.objects += 1;
                }
            }
        }
        let staging = self.root.join("staging");
        for e in std::fs::read_dir(&staging).map_err(io_at(&staging))? {
            let p = e.map_err(io_at(&staging))?.path();
            let known = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| refs.torrents.contains_key(n));
            if p.is_dir() && !known {
                std::fs::remove_dir_all(&p).map_err(io_at(&p))?;
                report.staging_dirs += 1;
            } else if p.is_file() {
                // An import cut short.
                std::fs::remove_file(&p).map_err(io_at(&p))?;
            }
        }
        Ok(report)
    }
}
