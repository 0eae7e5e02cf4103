//! File-system helpers: atomic replacement, durable renames, free-space checks, copies.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Not enough room on a file system for a job.
#[derive(Debug, thiserror::Error)]
#[error(
    "not enough free space in {dir}: {needed} bytes needed, {available} available ({missing} missing); free some space or choose another folder"
)]
pub struct NoSpace {
    /// The folder that lacks room.
    pub dir: PathBuf,
    /// Bytes the job needs.
    pub needed: u64,
    /// Bytes free for an unprivileged user.
    pub available: u64,
    /// `needed - available`.
    pub missing: u64,
}

/// Bytes an unprivileged user may still write on the file system holding `dir`.
pub fn available_space(dir: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

/// Fails with [`NoSpace`] unless `needed` bytes fit in `dir`.
pub fn ensure_space(dir: &Path, needed: u64) -> anyhow::Result<()> {
    let available = available_space(dir)?;
    if available < needed {
        return Err(NoSpace {
            dir: dir.to_owned(),
            needed,
            available,
            missing: needed - available,
        }
        .into());
    }
    Ok(())
}

/// A [`NoSpace`] error for `needed` more bytes in `dir`, with what is free now.
pub fn no_space(dir: &Path, needed: u64) -> anyhow::Error {
    let available = available_space(dir).unwrap_or(0);
    NoSpace {
        dir: dir.to_owned(),
        needed,
        available,
        missing: needed.saturating_sub(available).max(1),
    }
    .into()
}

/// Whether an error comes from a full disk or an exhausted quota.
pub fn is_full_disk(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<NoSpace>().is_some()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
            })
    })
}

/// Flushes a directory entry so a rename in it survives a power cut.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync'd, renamed over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".swarmdate-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fsync_dir(dir)
}

/// Renames `from` to `to` after flushing `from`'s data; then flushes the folder.
pub fn durable_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::File::open(from)?.sync_all()?;
    std::fs::rename(from, to)?;
    fsync_dir(parent_dir(to))
}

/// Copies a file, by reflink when the file system can, else by a kernel copy. Returns true for a reflink.
pub fn clone_or_copy(from: &Path, to: &Path) -> std::io::Result<bool> {
    if reflink(from, to) {
        return Ok(true);
    }
    std::fs::copy(from, to)?;
    Ok(false)
}

/// Makes `to` a reflink of `from` if the file system can; false (and no `to`) otherwise.
pub fn reflink(from: &Path, to: &Path) -> bool {
    reflink_copy::reflink(from, to).is_ok()
}

/// Copies `from` to a new file `to` in steps of `step` bytes (kernel copies), calling `each_step`
/// after every step.
pub fn copy_in_steps(
    from: &Path,
    to: &Path,
    step: u64,
    mut each_step: impl FnMut(),
) -> std::io::Result<u64> {
    use std::io::Read;
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let mut total = 0;
    loop {
        let n = std::io::copy(&mut (&mut src).take(step), &mut dst)?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        each_step();
    }
}

/// Whether `dir`'s file system can reflink, tried with a scratch file.
pub fn supports_reflink(dir: &Path) -> bool {
    let Ok(src) = tempfile::NamedTempFile::new_in(dir) else {
        return false;
    };
    let dst = dir.join(format!(".swarmdate-reflink-probe-{}", std::process::id()));
    let ok = reflink_copy::reflink(src.path(), &dst).is_ok();
    let _ = std::fs::remove_file(&dst);
    ok
}

/// The folder holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two!").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two!");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn ensure_space_reports_the_missing_amount() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_space(dir.path(), 1).is_ok());
        let err = ensure_space(dir.path(), u64::MAX / 2).unwrap_err();
        let ns = err.downcast_ref::<NoSpace>().unwrap();
        assert_eq!(ns.missing, ns.needed - ns.available);
        assert!(err.to_string().contains("missing"));
    }
}
