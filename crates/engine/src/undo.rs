//! The undo journal of an in-place switch: before the first write into a region of the image, that
//! region's old bytes are appended here and flushed, so the old version can always be restored.
//!
//! Layout: a header (magic, old length, region length), then entries of offset, length, a checksum
//! of the three, and the old bytes. A torn entry at the end (a power cut while appending) fails its
//! checksum and is cut off on open; its region was never written, since writes wait for the flush.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::fault;

const MAGIC: &[u8; 8] = b"SWUNDO1\n";
const HEADER_LEN: u64 = 8 + 8 + 4;
const ENTRY_HEAD: usize = 8 + 4 + 16;

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// Reading or writing the journal or the image failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an undo journal, or its header is damaged.
    #[error(
        "{0} is not a readable undo journal; the image next to it cannot be rolled back automatically"
    )]
    Damaged(PathBuf),
    /// Writes were refused because the switch is being rolled back.
    #[error("the switch is being rolled back; no more writes into the image")]
    Closed,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UndoError {
    let what = what.into();
    move |source| UndoError::Io { what, source }
}

struct State {
    file: File,
    /// Where the next entry goes.
    end: u64,
    /// Regions whose old bytes are safe in the journal.
    saved: HashSet<u64>,
    /// Bytes of old data journaled.
    saved_bytes: u64,
    closed: bool,
}

/// An open undo journal.
pub struct UndoLog {
    old_len: u64,
    region: u64,
    state: Mutex<State>,
}

fn checksum(offset: u64, data: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(offset.to_le_bytes());
    h.update((data.len() as u32).to_le_bytes());
    h.update(data);
    h.finalize()[..16].try_into().unwrap()
}

impl UndoLog {
    /// Opens the journal at `path`, creating it for an image of `old_len` bytes written in regions
    /// of `region` bytes if it does not exist. An existing journal keeps its own header.
    pub fn open_or_create(path: &Path, old_len: u64, region: u32) -> Result<Self, UndoError> {
        if !path.exists() {
            let mut head = Vec::with_capacity(HEADER_LEN as usize);
            head.extend_from_slice(MAGIC);
            head.extend_from_slice(&old_len.to_le_bytes());
            head.extend_from_slice(&region.to_le_bytes());
            // Whole or absent: a journal without its header would leave the old length unknown.
            swarmdate_core::fsutil::write_atomic(path, &head)
                .map_err(io("creating the undo journal"))?;
        }
        Self::open(path)
    }

    /// Opens an existing journal, cutting off a torn last entry.
    pub fn open(path: &Path) -> Result<Self, UndoError> {
        let what = || format!("reading the undo journal {}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(what()))?;
        let mut head = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut head)
            .map_err(|_| UndoError::Damaged(path.to_owned()))?;
        if &head[..8] != MAGIC {
            return Err(UndoError::Damaged(path.to_owned()));
        }
        let old_len = u64::from_le_bytes(head[8..16].try_into().unwrap());
        let region = u32::from_le_bytes(head[16..20].try_into().unwrap()) as u64;
        if region == 0 {
            return Err(UndoError::Damaged(path.to_owned()));
        }
        let mut saved = HashSet::new();
        let mut saved_bytes = 0;
        let mut end = HEADER_LEN;
        for entry in Entries::new(&file, region) {
            let (offset, data) = entry.map_err(io(what()))?;
            saved.insert(offset / region);
            saved_bytes += data.len() as u64;
            end += (ENTRY_HEAD + data.len()) as u64;
        }
        if file.metadata().map_err(io(what()))?.len() != end {
            file.set_len(end).map_err(io(what()))?;
            file.sync_all().map_err(io(what()))?;
        }
        Ok(UndoLog {
            old_len,
            region,
            state: Mutex::new(State {
                file,
                end,
                saved,
                saved_bytes,
                closed: false,
            }),
        })
    }

    /// Old bytes saved so far.
    #[cfg(test)]
    fn saved_bytes(&self) -> u64 {
        self.state.lock().unwrap().saved_bytes
    }

    /// Saves the old bytes of every region `[offset, offset + len)` touches, then runs `write`
    /// (under the same lock, so a rollback never races a write).
    pub fn guarded<T>(
        &self,
        image: &File,
        offset: u64,
        len: u64,
        write: impl FnOnce() -> std::io::Result<T>,
    ) -> Result<T, UndoError> {
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return Err(UndoError::Closed);
        }
        let first = offset / self.region;
        let last = (offset + len.max(1) - 1) / self.region;
        let mut appended = false;
        for r in first..=last {
            let start = r * self.region;
            // Bytes past the old end need no saving: a rollback cuts the image back to old_len.
            if start >= self.old_len || st.saved.contains(&r) {
                continue;
            }
            let mut old = vec![0u8; (self.old_len.min(start + self.region) - start) as usize];
            image
                .read_exact_at(&mut old, start)
                .map_err(io("reading the image's old bytes"))?;
            let mut entry = Vec::with_capacity(ENTRY_HEAD + old.len());
            entry.extend_from_slice(&start.to_le_bytes());
            entry.extend_from_slice(&(old.len() as u32).to_le_bytes());
            entry.extend_from_slice(&checksum(start, &old));
            entry.extend_from_slice(&old);
            let at = st.end;
            st.file
                .write_all_at(&entry, at)
                .map_err(io("writing the undo journal"))?;
            fault::point("journal");
            st.end += entry.len() as u64;
            st.saved.insert(r);
            st.saved_bytes += old.len() as u64;
            appended = true;
        }
        if appended {
            st.file
                .sync_data()
                .map_err(io("flushing the undo journal"))?;
        }
        write().map_err(io("writing into the image"))
    }

    /// Refuses every later write; returns once no write is under way. False if already closed.
    pub fn close(&self) -> bool {
        !std::mem::replace(&mut self.state.lock().unwrap().closed, true)
    }

    /// Puts every saved region back into `image`, cuts it to its old length and flushes it.
    /// Safe to repeat after an interruption: each step rewrites the same bytes.
    pub fn rollback(&self, image: &File) -> Result<(), UndoError> {
        let st = self.state.lock().unwrap();
        for entry in Entries::new(&st.file, self.region) {
            let (offset, data) = entry.map_err(io("reading the undo journal"))?;
            image
                .write_all_at(&data, offset)
                .map_err(io("restoring the image"))?;
            fault::point("rollback");
        }
        image
            .set_len(self.old_len)
            .map_err(io("restoring the image's length"))?;
        image.sync_all().map_err(io("flushing the restored image"))
    }
}

/// The complete, intact entries of a journal, in order.
struct Entries<'a> {
    file: &'a File,
    at: u64,
    region: u64,
}

impl<'a> Entries<'a> {
    fn new(file: &'a File, region: u64) -> Self {
        Entries {
            file,
            at: HEADER_LEN,
            region,
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = std::io::Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut head = [0u8; ENTRY_HEAD];
        match self.file.read_exact_at(&mut head, self.at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(Err(e)),
        }
        let offset = u64::from_le_bytes(head[..8].try_into().unwrap());
        let len = u32::from_le_bytes(head[8..12].try_into().unwrap()) as u64;
        if len > self.region || !offset.is_multiple_of(self.region) {
            return None;
        }
        let mut data = vec![0u8; len as usize];
        if self
            .file
            .read_exact_at(&mut data, self.at + ENTRY_HEAD as u64)
            .is_err()
            || checksum(offset, &data) != head[12..28]
        {
            return None;
        }
        self.at += ENTRY_HEAD as u64 + len;
        Some(Ok((offset, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dir: &Path, bytes: &[u8]) -> File {
        let p = dir.join("img");
        std::fs::write(&p, bytes).unwrap();
        OpenOptions::new().read(true).write(true).open(p).unwrap()
    }

    #[test]
    fn rollback_restores_old_bytes_and_length_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let img = image(dir.path(), &old);
        let jpath = dir.path().join("undo");
        let log = UndoLog::open_or_create(&jpath, old.len() as u64, 4096).unwrap();
        // Grow past the old end (saving the last, short region) and overwrite across two regions.
        log.guarded(&img, 12_000, 100, || img.write_all_at(&[7; 100], 12_000))
            .unwrap();
        log.guarded(&img, 4000, 300, || img.write_all_at(&[9; 300], 4000))
            .unwrap();
        assert_eq!(log.saved_bytes(), 10_000);
        drop(log);
        let log = UndoLog::open(&jpath).unwrap();
        assert_eq!(log.saved_bytes(), 10_000);
        log.rollback(&img).unwrap();
        let mut back = Vec::new();
        (&img).read_to_end(&mut back).unwrap();
        assert_eq!(back, old);
    }

    #[test]
    fn a_torn_last_entry_is_cut_off_and_the_intact_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &[1u8; 8192]);
        let jpath = dir.path().join("undo");
        let log = UndoLog::open_or_create(&jpath, 8192, 4096).unwrap();
        log.guarded(&img, 0, 10, || Ok(())).unwrap();
        log.guarded(&img, 4096, 10, || Ok(())).unwrap();
        drop(log);
        let full = std::fs::metadata(&jpath).unwrap().len();
        let f = OpenOptions::new().write(true).open(&jpath).unwrap();
        f.set_len(full - 100).unwrap();
        let log = UndoLog::open(&jpath).unwrap();
        assert_eq!(log.saved_bytes(), 4096);
        assert_eq!(
            std::fs::metadata(&jpath).unwrap().len(),
            HEADER_LEN + (ENTRY_HEAD + 4096) as u64
        );
        // A positive control: a journal that is not one is refused.
        std::fs::write(&jpath, b"not a journal at all").unwrap();
        assert!(matches!(UndoLog::open(&jpath), Err(UndoError::Damaged(_))));
    }

    #[test]
    fn a_closed_journal_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &[0u8; 100]);
        let log = UndoLog::open_or_create(&dir.path().join("undo"), 100, 64).unwrap();
        assert!(log.guarded(&img, 0, 1, || Ok(())).is_ok());
        log.close();
        assert!(matches!(
            log.guarded(&img, 0, 1, || Ok(())),
            Err(UndoError::Closed)
        ));
    }
}
