//! A bounded set of open package files, shared by every torrent on the store: descriptors are
//! opened on first use and the least recently used one is closed past the limit.

use std::fs::{File, OpenOptions};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Open files by path, least recently used closed first.
pub struct OpenFiles {
    cache: Mutex<lru::LruCache<PathBuf, Arc<File>>>,
}

impl OpenFiles {
    /// Keeps at most `max` files open.
    pub fn new(max: usize) -> Self {
        OpenFiles {
            cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(max.max(1)).expect("at least one"),
            )),
        }
    }

    /// The open file at `path`, opened read-only if it is not open yet.
    pub fn read(&self, path: &Path) -> std::io::Result<Arc<File>> {
        self.get_or_open(path, || File::open(path))
    }

    /// The open file at `path`, created with length `len` if it does not exist, for writing.
    pub fn write(&self, path: &Path, len: u64) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.cached(path)
            && f_is_writable(&f)
        {
            return Ok(f);
        }
        // A read-only descriptor of the same file is replaced by a writable one.
        self.forget(path);
        self.get_or_open(path, || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            if f.metadata()?.len() != len {
                f.set_len(len)?;
            }
            Ok(f)
        })
    }

    /// Closes `path` if it is open (it was renamed or deleted).
    pub fn forget(&self, path: &Path) {
        self.cache.lock().unwrap().pop(path);
    }

    /// How many files are open now.
    pub fn len(&self) -> usize {
        self.cache.lock().unwrap().len()
    }

    /// Whether no file is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, path: &Path) -> Option<Arc<File>> {
        self.cache.lock().unwrap().get(path).cloned()
    }

    fn get_or_open(
        &self,
        path: &Path,
        open: impl FnOnce() -> std::io::Result<File>,
    ) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.cached(path) {
            return Ok(f);
        }
        // Opened outside the lock: a slow disk must not stall every other read.
        let f = Arc::new(open()?);
        self.cache.lock().unwrap().put(path.to_owned(), f.clone());
        Ok(f)
    }
}

/// Whether a descriptor was opened for writing.
fn f_is_writable(f: &File) -> bool {
    use std::os::fd::AsFd;
    nix::fcntl::fcntl(f.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
        .map(|flags| {
            let mode = nix::fcntl::OFlag::from_bits_truncate(flags) & nix::fcntl::OFlag::O_ACCMODE;
            mode == nix::fcntl::OFlag::O_RDWR || mode == nix::fcntl::OFlag::O_WRONLY
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_the_limit_open_and_reopens_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let files = OpenFiles::new(3);
        for i in 0..10 {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, [i as u8; 4]).unwrap();
            files.read(&p).unwrap();
            assert!(files.len() <= 3);
        }
        assert_eq!(files.len(), 3);
        let p0 = dir.path().join("f0");
        let mut buf = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&*files.read(&p0).unwrap(), &mut buf, 0).unwrap();
        assert_eq!(buf, [0; 4]);
        assert!(files.read(&dir.path().join("missing")).is_err());

        // Writing upgrades a read-only descriptor and sizes a new file.
        let w = files.write(&p0, 8).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&*w, b"zz", 6).unwrap();
        assert_eq!(std::fs::read(&p0).unwrap(), [0, 0, 0, 0, 0, 0, b'z', b'z']);
        let n = dir.path().join("sub/new");
        files.write(&n, 5).unwrap();
        assert_eq!(std::fs::metadata(&n).unwrap().len(), 5);
    }
}
