//! A librqbit storage for a single-file torrent kept at an explicit path (an ISO image).
//!
//! The file descriptor stays open across renames: a switch writes into a working file, renames it to
//! the version's name when complete, and goes on seeding from the same descriptor.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

/// Opens `path` for a single-file torrent.
#[derive(Clone)]
pub struct ImageStorageFactory {
    path: PathBuf,
}

impl ImageStorageFactory {
    /// A factory for the image at `path`.
    pub fn boxed(path: &Path) -> BoxStorageFactory {
        ImageStorageFactory {
            path: path.to_owned(),
        }
        .boxed()
    }
}

impl StorageFactory for ImageStorageFactory {
    type Storage = ImageStorage;

    fn create(
        &self,
        _shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<ImageStorage> {
        anyhow::ensure!(
            metadata.file_infos.len() == 1,
            "an image storage holds single-file torrents only"
        );
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        Ok(ImageStorage {
            file: Arc::new(file),
        })
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// The open image.
pub struct ImageStorage {
    file: Arc<File>,
}

impl TorrentStorage for ImageStorage {
    fn init(&mut self, _: &ManagedTorrentShared, _: &TorrentMetadata) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, _file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        Ok(self.file.read_exact_at(buf, offset)?)
    }

    fn pwrite_all(&self, _file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        Ok(self.file.write_all_at(buf, offset)?)
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        // Images are removed by the job that owns them, never by the engine on delete.
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, _file_id: usize, length: u64) -> anyhow::Result<()> {
        if self.file.metadata()?.len() != length {
            self.file.set_len(length)?;
        }
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(ImageStorage {
            file: self.file.clone(),
        }))
    }
}

/// Pieces completed (downloaded and verified) during a job, shared with the engine's poller.
#[derive(Default)]
pub struct PieceLog {
    done: std::sync::Mutex<Vec<u32>>,
}

impl PieceLog {
    /// The pieces completed so far, in completion order.
    pub fn completed(&self) -> Vec<u32> {
        self.done.lock().unwrap().clone()
    }
}

/// Wraps any storage and records which pieces arrive from peers.
pub struct RecordingFactory {
    inner: BoxStorageFactory,
    log: Arc<PieceLog>,
}

impl RecordingFactory {
    /// Wraps `inner`, recording into `log`.
    pub fn boxed(inner: BoxStorageFactory, log: Arc<PieceLog>) -> BoxStorageFactory {
        RecordingFactory { inner, log }.boxed()
    }
}

impl StorageFactory for RecordingFactory {
    type Storage = Recording;

    fn create(
        &self,
        shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<Recording> {
        Ok(Recording {
            inner: self.inner.create(shared, metadata)?,
            log: self.log.clone(),
        })
    }

    fn is_type_id(&self, type_id: std::any::TypeId) -> bool {
        self.inner.is_type_id(type_id)
    }

    fn clone_box(&self) -> BoxStorageFactory {
        RecordingFactory {
            inner: self.inner.clone_box(),
            log: self.log.clone(),
        }
        .boxed()
    }
}

/// A storage that forwards to another and records completed pieces.
pub struct Recording {
    inner: Box<dyn TorrentStorage>,
    log: Arc<PieceLog>,
}

impl TorrentStorage for Recording {
    fn init(
        &mut self,
        shared: &ManagedTorrentShared,
        meta: &TorrentMetadata,
    ) -> anyhow::Result<()> {
        self.inner.init(shared, meta)
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        self.inner.pread_exact(file_id, offset, buf)
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        self.inner.pwrite_all(file_id, offset, buf)
    }

    fn pwrite_all_vectored(
        &self,
        file_id: usize,
        offset: u64,
        bufs: [std::io::IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        self.inner.pwrite_all_vectored(file_id, offset, bufs)
    }

    fn remove_file(&self, file_id: usize, filename: &Path) -> anyhow::Result<()> {
        self.inner.remove_file(file_id, filename)
    }

    fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        self.inner.remove_directory_if_empty(path)
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        self.inner.ensure_file_length(file_id, length)
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(Recording {
            inner: self.inner.take()?,
            log: self.log.clone(),
        }))
    }

    fn on_piece_completed(
        &self,
        piece: librqbit_core::lengths::ValidPieceIndex,
    ) -> anyhow::Result<()> {
        self.log.done.lock().unwrap().push(piece.get());
        self.inner.on_piece_completed(piece)
    }
}
