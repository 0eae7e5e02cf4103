//! One engine per user: an exclusive lock in the state folder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Another engine holds the state folder.
#[derive(Debug, thiserror::Error)]
#[error(
    "another Swarmdate engine (process {pid}) is using {dir}; stop it (or wait for it to finish) and try again"
)]
pub struct EngineBusy {
    /// The holder's process id, as it wrote it.
    pub pid: String,
    /// The state folder.
    pub dir: PathBuf,
}

/// Held for the engine's lifetime; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock of `dir`, creating the folder.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("engine.lock"))?;
        if file.try_lock().is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(EngineBusy {
                pid: pid.trim().to_owned(),
                dir: dir.to_owned(),
            }
            .into());
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        let err = StateLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        assert!(StateLock::acquire(dir.path()).is_ok());
    }
}
