//! A repository torrent seen through the store: librqbit reads packages from `objects/` (or from
//! staging while they arrive, or from inside an image that holds them) and writes only into
//! staging. Nothing is created for files the torrent does not download, and descriptors are
//! opened on first use (docs/platform.md §6).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

use swarmdate_core::hash::Sha256;
use swarmdate_core::iso::PackagesInImages;
use swarmdate_core::packages::PackageIndex;
use swarmdate_core::store::{PackageStore, StoreError};
use swarmdate_core::torrent::{InfoHash, Torrent};

/// What one file of a repository torrent is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// BEP 47 padding: zeros, never on disk.
    Pad,
    /// A package, known by its digest.
    Package {
        /// Its SHA-256 from the index.
        sha256: Sha256,
        /// Its size.
        size: u64,
    },
}

/// A repository torrent on the store.
#[derive(Clone)]
pub struct StoreTorrent {
    store: Arc<PackageStore>,
    info_hash: InfoHash,
    slots: Arc<Vec<Slot>>,
    /// Packages the store lacks but an image holds, seeded from the image's own bytes.
    inside: Arc<PackagesInImages>,
}

impl StoreTorrent {
    /// Maps every file of `torrent` to its package in `index`; they must describe the same torrent.
    pub fn new(
        store: Arc<PackageStore>,
        torrent: &Torrent,
        index: &PackageIndex,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            index.info_hash == torrent.info_hash(),
            "the package index describes torrent {}, not {}",
            index.info_hash,
            torrent.info_hash()
        );
        let mut slots: Vec<Option<Slot>> = torrent
            .files
            .iter()
            .map(|f| f.pad.then_some(Slot::Pad))
            .collect();
        for p in &index.packages {
            let f = torrent
                .files
                .get(p.file_index)
                .filter(|f| !f.pad && f.length == p.size && f.path.join("/") == p.path)
                .with_context(|| {
                    format!(
                        "the package index's {} is not file {} of the torrent",
                        p.path, p.file_index
                    )
                })?;
            debug_assert!(!f.pad);
            slots[p.file_index] = Some(Slot::Package {
                sha256: p.sha256,
                size: p.size,
            });
        }
        let slots = slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.with_context(|| format!("torrent file {i} is not in the package index"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(StoreTorrent {
            store,
            info_hash: torrent.info_hash(),
            slots: Arc::new(slots),
            inside: Arc::default(),
        })
    }

    /// Also serves the packages these images hold.
    pub fn with_images(mut self, inside: PackagesInImages) -> Self {
        self.inside = Arc::new(inside);
        self
    }

    /// The files the store lacks that an image holds.
    pub fn files_in_images(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Package { sha256, size }
                    if !self.store.holds(sha256)
                        && self.inside.get(sha256).is_some_and(|p| p.size == *size) =>
                {
                    Some(i)
                }
                _ => None,
            })
            .collect()
    }

    /// The torrent's info hash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// What each file is.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The storage to add the torrent with.
    pub fn factory(&self) -> BoxStorageFactory {
        StoreStorageFactory(self.clone()).boxed()
    }

    /// The files whose package the store or an image holds (to select them, so they are
    /// seeded).
    pub fn held_files(&self) -> Vec<usize> {
        let mut held: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Package { sha256, .. } if self.store.holds(sha256) => Some(i),
                _ => None,
            })
            .collect();
        held.extend(self.files_in_images());
        held.sort();
        held
    }

    /// Moves every file that librqbit reports complete (`file_progress`, bytes per file) from
    /// staging into the store; returns the files admitted and the refusals.
    pub fn admit_complete(&self, file_progress: &[u64]) -> (Vec<usize>, Vec<StoreError>) {
        let mut admitted = Vec::new();
        let mut refused = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Slot::Package { sha256, size } = slot else {
                continue;
            };
            if file_progress.get(i) != Some(size) || self.store.holds(sha256) {
                continue;
            }
            let staged = self.store.staging_path(&self.info_hash, i);
            if !staged.exists() {
                continue;
            }
            match self.store.admit(&staged, sha256) {
                Ok(_) => admitted.push(i),
                Err(e) => refused.push(e),
            }
        }
        (admitted, refused)
    }

    fn object(&self, file_id: usize) -> anyhow::Result<Option<(PathBuf, u64)>> {
        match self.slots.get(file_id) {
            Some(Slot::Pad) => Ok(None),
            Some(Slot::Package { sha256, size }) => {
                Ok(Some((self.store.object_path(sha256), *size)))
            }
            None => anyhow::bail!("no file {file_id} in torrent {}", self.info_hash),
        }
    }

    fn staging(&self, file_id: usize) -> PathBuf {
        self.store.staging_path(&self.info_hash, file_id)
    }
}

/// Creates [`StoreStorage`] for one torrent.
pub struct StoreStorageFactory(StoreTorrent);

impl StorageFactory for StoreStorageFactory {
    type Storage = StoreStorage;

    fn create(
        &self,
        _: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<StoreStorage> {
        anyhow::ensure!(
            metadata.file_infos.len() == self.0.slots.len(),
            "the torrent has {} files, its package index {}",
            metadata.file_infos.len(),
            self.0.slots.len()
        );
        Ok(StoreStorage(self.0.clone()))
    }

    fn clone_box(&self) -> BoxStorageFactory {
        StoreStorageFactory(self.0.clone()).boxed()
    }
}

/// The storage librqbit sees.
pub struct StoreStorage(StoreTorrent);

impl StoreStorage {
    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0
            .store
            .open_files()
            .read(path)?
            .read_exact_at(buf, offset)
    }
}

impl TorrentStorage for StoreStorage {
    fn init(&mut self, _: &ManagedTorrentShared, _: &TorrentMetadata) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let Some((object, _)) = self.0.object(file_id)? else {
            buf.fill(0);
            return Ok(());
        };
        // The verified object first; then an image that holds it; while the file arrives,
        // staging. A file admitted between the reads is found on a second look at the object.
        if self.read_at(&object, offset, buf).is_ok() {
            return Ok(());
        }
        if let Some(Slot::Package { sha256, .. }) = self.0.slots.get(file_id)
            && let Some(p) = self.0.inside.get(sha256)
            && let Ok(image) = self.0.store.open_files().read(&p.image)
            && p.read_at(&image, offset, buf).is_ok()
        {
            return Ok(());
        }
        let staged = self.0.staging(file_id);
        if self.read_at(&staged, offset, buf).is_ok() {
            return Ok(());
        }
        self.read_at(&object, offset, buf).with_context(|| {
            format!(
                "the store has no file {file_id} of torrent {}",
                self.0.info_hash
            )
        })
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        let Some((_, size)) = self.0.object(file_id)? else {
            return Ok(());
        };
        // Never into an object: peers' bytes are unchecked until their piece completes.
        let staged = self.0.staging(file_id);
        let f = self.0.store.open_files().write(&staged, size)?;
        Ok(f.write_all_at(buf, offset)?)
    }

    fn remove_file(&self, _: usize, _: &Path) -> anyhow::Result<()> {
        // Torrents share the store; objects leave through its reference counts only.
        Ok(())
    }

    fn remove_directory_if_empty(&self, _: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, _: usize, _: u64) -> anyhow::Result<()> {
        // Staging files get their length when their first byte arrives; nothing else is created.
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(StoreStorage(self.0.clone())))
    }
}
