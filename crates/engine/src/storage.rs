//! librqbit storages: a single-file torrent kept at an explicit path (an ISO image), a payload
//! that is only seeded (read-only), and a wrapper that records what happens to pieces.
//!
//! The file descriptor stays open across renames: a switch writes into a working file, renames it to
//! the version's name when complete, and goes on seeding from the same descriptor. An in-place switch
//! adds an undo journal: every region's old bytes are saved before the first write into it.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

use super::fault;
use super::undo::UndoLog;

/// Opens `path` for a single-file torrent.
#[derive(Clone)]
pub struct ImageStorageFactory {
    path: PathBuf,
    undo: Option<Arc<UndoLog>>,
}

impl ImageStorageFactory {
    /// A factory for the image at `path`.
    pub fn boxed(path: &Path) -> BoxStorageFactory {
        ImageStorageFactory {
            path: path.to_owned(),
            undo: None,
        }
        .boxed()
    }

    /// A factory for an image changed in place, every write guarded by `undo`.
    pub fn in_place(path: &Path, undo: Arc<UndoLog>) -> BoxStorageFactory {
        ImageStorageFactory {
            path: path.to_owned(),
            undo: Some(undo),
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
            undo: self.undo.clone(),
        })
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// The open image.
pub struct ImageStorage {
    file: Arc<File>,
    undo: Option<Arc<UndoLog>>,
}

impl TorrentStorage for ImageStorage {
    fn init(&mut self, _: &ManagedTorrentShared, _: &TorrentMetadata) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, _file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        Ok(self.file.read_exact_at(buf, offset)?)
    }

    fn pwrite_all(&self, _file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        match &self.undo {
            None => Ok(self.file.write_all_at(buf, offset)?),
            Some(undo) => Ok(undo.guarded(&self.file, offset, buf.len() as u64, || {
                self.file.write_all_at(buf, offset)
            })?),
        }
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        // Images are removed by the job that owns them, never by the engine on delete.
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, _file_id: usize, length: u64) -> anyhow::Result<()> {
        let len = self.file.metadata()?.len();
        // In place, the old tail past the new end is saved and cut only when the switch completes.
        if len != length && (self.undo.is_none() || length > len) {
            self.file.set_len(length)?;
        }
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(ImageStorage {
            file: self.file.clone(),
            undo: self.undo.clone(),
        }))
    }
}

/// A complete payload seeded and nothing else: its files are opened read-only and never created,
/// resized or written. librqbit resizes files to the torrent's lengths and writes peers' blocks
/// before checking them; here both are refused, so a seeded file stays exactly as it was.
#[derive(Clone)]
pub struct ReadOnlyFactory {
    /// The payload's files in torrent order with their lengths; `None` for pad files.
    files: Arc<Vec<(Option<PathBuf>, u64)>>,
}

impl ReadOnlyFactory {
    /// A factory for the payload made of `files` (see `verify::payload_files`).
    pub fn boxed(files: Vec<(Option<PathBuf>, u64)>) -> BoxStorageFactory {
        ReadOnlyFactory {
            files: Arc::new(files),
        }
        .boxed()
    }
}

impl StorageFactory for ReadOnlyFactory {
    type Storage = ReadOnlyStorage;

    fn create(
        &self,
        _shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<ReadOnlyStorage> {
        anyhow::ensure!(
            metadata.file_infos.len() == self.files.len(),
            "the torrent has {} files, the payload {}",
            metadata.file_infos.len(),
            self.files.len()
        );
        let mut files = Vec::with_capacity(self.files.len());
        for (path, len) in self.files.iter() {
            let Some(path) = path else {
                files.push(None);
                continue;
            };
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let actual = file.metadata()?.len();
            anyhow::ensure!(
                actual == *len,
                "{} has {actual} bytes where the torrent has {len}; it is seeded as it is, never resized",
                path.display()
            );
            files.push(Some((path.clone(), file)));
        }
        Ok(ReadOnlyStorage {
            files: Arc::new(files),
        })
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// The open payload of a [`ReadOnlyFactory`].
pub struct ReadOnlyStorage {
    files: Arc<Vec<Option<(PathBuf, File)>>>,
}

impl ReadOnlyStorage {
    fn refused(&self, file_id: usize, what: &str) -> anyhow::Error {
        let name = match self.files.get(file_id) {
            Some(Some((path, _))) => path.display().to_string(),
            _ => format!("file {file_id}"),
        };
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{name} is only seeded: it is never {what}"),
        )
        .into()
    }
}

impl TorrentStorage for ReadOnlyStorage {
    fn init(&mut self, _: &ManagedTorrentShared, _: &TorrentMetadata) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        match self.files.get(file_id) {
            Some(Some((_, f))) => Ok(f.read_exact_at(buf, offset)?),
            // Pad files are zeros.
            Some(None) => {
                buf.fill(0);
                Ok(())
            }
            None => anyhow::bail!("no file {file_id} in the payload"),
        }
    }

    fn pwrite_all(&self, file_id: usize, _offset: u64, _buf: &[u8]) -> anyhow::Result<()> {
        Err(self.refused(file_id, "written"))
    }

    fn pwrite_all_vectored(
        &self,
        file_id: usize,
        _offset: u64,
        _bufs: [std::io::IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        Err(self.refused(file_id, "written"))
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        match self.files.get(file_id) {
            Some(Some((_, f))) if f.metadata()?.len() != length => {
                Err(self.refused(file_id, "resized"))
            }
            _ => Ok(()),
        }
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(ReadOnlyStorage {
            files: self.files.clone(),
        }))
    }
}

/// One mirror fetch's checked bytes, counted in its job's log while the fetch runs.
pub struct MirrorArrival {
    log: std::sync::Arc<PieceLog>,
    bytes: AtomicU64,
}

impl MirrorArrival {
    /// Counts `n` more bytes checked and written.
    pub fn arrived(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.log.mirror_arriving.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for MirrorArrival {
    fn drop(&mut self) {
        let n = *self.bytes.get_mut();
        self.log.mirror_arriving.fetch_sub(n, Ordering::Relaxed);
    }
}

/// What a job's storage saw: completed pieces, discarded bytes, the first write error.
#[derive(Default)]
pub struct PieceLog {
    done: std::sync::Mutex<Vec<u32>>,
    /// Chunk offsets written into each incomplete piece since it last completed.
    written: std::sync::Mutex<HashMap<u32, HashSet<u64>>>,
    discarded: AtomicU64,
    write_error: std::sync::Mutex<Option<(Option<std::io::ErrorKind>, String)>>,
    /// Payload bytes that came from mirrors instead of peers.
    mirror: AtomicU64,
    /// Checked bytes of mirror fetches still under way (not in the store yet).
    mirror_arriving: AtomicU64,
    /// The bytes the job wants when that is not the whole torrent (a repository job); 0: all.
    wanted: AtomicU64,
    /// What a switch's pre-fill did before its check.
    prefilled: std::sync::Mutex<Option<super::prefill::Prefilled>>,
    /// Files a repository job seeds from inside images.
    in_images: AtomicU64,
    /// Why a repository job's last mirror fetch failed, while it retries.
    mirror_error: std::sync::Mutex<Option<String>>,
    /// Pieces the mirror peer sent whole (counted in `mirror`, not as fetched from peers).
    mirrored: std::sync::Mutex<HashSet<u32>>,
    /// The mirror peer's address as the session sees it, while connected (not a peer to show).
    mirror_peer: std::sync::Mutex<Option<std::net::SocketAddr>>,
    /// What the job tells its user once each (`notice.rs`).
    notices: std::sync::Mutex<Vec<super::notice::Notice>>,
    /// The job's trackers were asked whether they refuse it (once per job, not per restart).
    trackers_asked: std::sync::atomic::AtomicBool,
}

impl PieceLog {
    /// The pieces completed so far, in completion order.
    pub fn completed(&self) -> Vec<u32> {
        self.done.lock().unwrap().clone()
    }

    /// Counts pieces fetched outside librqbit (written and checked before it saw them) as fetched.
    pub fn note_fetched_outside(&self, pieces: &[u32]) {
        self.done.lock().unwrap().extend_from_slice(pieces);
    }

    /// Notes how many files a repository job seeds from inside images.
    pub fn set_files_in_images(&self, n: usize) {
        self.in_images.store(n as u64, Ordering::Relaxed);
    }

    /// Files a repository job seeds from inside images.
    pub fn files_in_images(&self) -> u64 {
        self.in_images.load(Ordering::Relaxed)
    }

    /// Notes what a switch's pre-fill did.
    pub fn note_prefilled(&self, prefilled: super::prefill::Prefilled) {
        *self.prefilled.lock().unwrap() = Some(prefilled);
    }

    /// What a switch's pre-fill did, once it ran.
    pub fn prefilled(&self) -> Option<super::prefill::Prefilled> {
        *self.prefilled.lock().unwrap()
    }

    /// Pieces some of whose blocks arrived and that are not complete yet.
    pub fn in_flight(&self) -> HashSet<u32> {
        self.written.lock().unwrap().keys().copied().collect()
    }

    /// Bytes written again into a piece before it completed: data a peer sent that failed its hash.
    pub fn discarded_bytes(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Payload bytes that came from mirrors.
    pub fn mirror_bytes(&self) -> u64 {
        self.mirror.load(Ordering::Relaxed)
    }

    /// Checked bytes of mirror fetches under way: progress shows them while they come.
    pub fn mirror_arriving(&self) -> u64 {
        self.mirror_arriving.load(Ordering::Relaxed)
    }

    /// Starts counting one mirror fetch's bytes as they arrive; they stop counting as arriving
    /// when the returned guard is dropped (the fetch ended, failed or was aborted).
    pub fn mirror_fetch(self: &std::sync::Arc<Self>) -> MirrorArrival {
        MirrorArrival {
            log: self.clone(),
            bytes: AtomicU64::new(0),
        }
    }

    /// Counts bytes that came from a mirror.
    pub fn note_mirror(&self, n: u64) {
        self.mirror.fetch_add(n, Ordering::Relaxed);
    }

    /// Why the last mirror fetch failed, while the job still retries it.
    pub fn mirror_error(&self) -> Option<String> {
        self.mirror_error.lock().unwrap().clone()
    }

    /// Notes something to tell the job's user, once.
    pub fn note(&self, notice: super::notice::Notice) {
        let mut notices = self.notices.lock().unwrap();
        if !notices.contains(&notice) {
            notices.push(notice);
        }
    }

    /// What the job tells its user, in the order noted.
    pub fn notices(&self) -> Vec<super::notice::Notice> {
        self.notices.lock().unwrap().clone()
    }

    /// Whether the job's trackers are still to be asked; true once only.
    pub fn first_tracker_ask(&self) -> bool {
        !self.trackers_asked.swap(true, Ordering::Relaxed)
    }

    /// Notes why a mirror fetch failed (`None`: no fetch is failing).
    pub fn set_mirror_error(&self, error: Option<String>) {
        *self.mirror_error.lock().unwrap() = error;
    }

    /// Counts `pieces`, `bytes` of payload, as sent whole by the mirror peer.
    pub fn note_mirrored(&self, pieces: std::ops::Range<u32>, bytes: u64) {
        self.mirrored.lock().unwrap().extend(pieces);
        self.note_mirror(bytes);
    }

    /// Pieces the mirror peer sent whole.
    pub fn mirrored(&self) -> HashSet<u32> {
        self.mirrored.lock().unwrap().clone()
    }

    /// Notes the mirror peer's address (`None`: not connected).
    pub fn set_mirror_peer(&self, address: Option<std::net::SocketAddr>) {
        *self.mirror_peer.lock().unwrap() = address;
    }

    /// The mirror peer's address, while connected.
    pub fn mirror_peer(&self) -> Option<std::net::SocketAddr> {
        *self.mirror_peer.lock().unwrap()
    }

    /// Takes back bytes counted from a mirror that did not enter the store.
    pub fn unnote_mirror(&self, n: u64) {
        self.mirror.fetch_sub(n, Ordering::Relaxed);
    }

    /// The payload bytes a partial job wants, if it wants less than the whole torrent.
    pub fn wanted_bytes(&self) -> Option<u64> {
        Some(self.wanted.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Sets the payload bytes a partial job wants.
    pub fn set_wanted_bytes(&self, n: u64) {
        self.wanted.store(n, Ordering::Relaxed);
    }

    /// The first error writing to disk, if any (librqbit then stops the torrent), with its I/O
    /// kind kept so that a full disk stays recognisable.
    pub fn write_error(&self) -> Option<anyhow::Error> {
        let (kind, msg) = self.write_error.lock().unwrap().clone()?;
        Some(match kind {
            Some(k) => std::io::Error::new(k, msg).into(),
            None => anyhow::anyhow!(msg),
        })
    }

    fn note_write(&self, piece_len: u64, offset: u64, len: u64) {
        let piece = (offset / piece_len) as u32;
        let mut w = self.written.lock().unwrap();
        if !w.entry(piece).or_default().insert(offset) {
            self.discarded.fetch_add(len, Ordering::Relaxed);
        }
    }

    fn note_result<T>(&self, r: anyhow::Result<T>) -> anyhow::Result<T> {
        if let Err(e) = &r {
            let mut slot = self.write_error.lock().unwrap();
            if slot.is_none() {
                // librqbit's file storage reports nix errors, ours std ones.
                let kind = e.chain().find_map(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .map(|io| io.kind())
                        .or_else(|| {
                            c.downcast_ref::<nix::errno::Errno>()
                                .map(|n| std::io::Error::from(*n).kind())
                        })
                });
                *slot = Some((kind, format!("{e:#}")));
            }
        }
        r
    }
}

/// Wraps any storage and records which pieces arrive from peers.
pub struct RecordingFactory {
    inner: BoxStorageFactory,
    log: Arc<PieceLog>,
}

/// Where each file starts in the torrent, and the piece length: to map writes to pieces.
#[derive(Clone)]
struct Layout {
    file_offsets: Arc<Vec<u64>>,
    piece_len: u64,
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
            layout: Layout {
                file_offsets: Arc::new(
                    metadata
                        .file_infos
                        .iter()
                        .map(|f| f.offset_in_torrent)
                        .collect(),
                ),
                piece_len: metadata.info.lengths().default_piece_length() as u64,
            },
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

/// A storage that forwards to another and records what happens to pieces.
pub struct Recording {
    inner: Box<dyn TorrentStorage>,
    log: Arc<PieceLog>,
    layout: Layout,
}

impl Recording {
    fn wrote(&self, file_id: usize, offset: u64, len: u64) {
        let at = self.layout.file_offsets.get(file_id).copied().unwrap_or(0) + offset;
        self.log.note_write(self.layout.piece_len, at, len);
        fault::point("write");
    }
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
        self.log
            .note_result(self.inner.pwrite_all(file_id, offset, buf))?;
        self.wrote(file_id, offset, buf.len() as u64);
        Ok(())
    }

    fn pwrite_all_vectored(
        &self,
        file_id: usize,
        offset: u64,
        bufs: [std::io::IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        let n = self
            .log
            .note_result(self.inner.pwrite_all_vectored(file_id, offset, bufs))?;
        self.wrote(file_id, offset, n as u64);
        Ok(n)
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
            layout: self.layout.clone(),
        }))
    }

    fn on_piece_completed(
        &self,
        piece: librqbit_core::lengths::ValidPieceIndex,
    ) -> anyhow::Result<()> {
        self.log.done.lock().unwrap().push(piece.get());
        self.log.written.lock().unwrap().remove(&piece.get());
        self.inner.on_piece_completed(piece)
    }
}
