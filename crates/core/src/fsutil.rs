//! File-system helpers: atomic replacement, durable renames, free-space checks, copies.

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

pub use crate::packages::durable::{fsync_dir, parent_dir};

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync'd, renamed over
/// (readable by its owner only).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::packages::durable::write_atomic_mode(path, bytes, 0o600)
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

/// A staging folder that cannot be trusted to hold our files. It lies in a folder the user chose,
/// which other users may write to, and its path (the info hash) is public.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// A symbolic link stands where the folder should be.
    #[error(
        "{0} is a symbolic link, not a folder: it may have been planted to make Swarmdate write elsewhere; remove the link or choose another folder"
    )]
    Link(PathBuf),
    /// Something other than a folder stands there.
    #[error("{0} is not a folder: remove it or choose another folder")]
    NotAFolder(PathBuf),
    /// The folder belongs to another user.
    #[error(
        "{path} belongs to user id {owner}, not to you ({me}): another user could change what is written there; have it removed or choose another folder"
    )]
    NotOurs { path: PathBuf, owner: u32, me: u32 },
    /// Other users may write into the folder.
    #[error(
        "{path} can be written by other users (mode {mode:o}): they could replace what is built there; run chmod go-w on it or choose another folder"
    )]
    Writable { path: PathBuf, mode: u32 },
    /// Creating or opening the folder failed.
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates (mode 0700) or opens the folders `parts` below `base`, one level at a time, never
/// following a link: each must be a folder of the current user that no one else may write to.
/// Since each level is checked before the next is made in it, nobody else can swap a level once
/// it passed. Returns the innermost folder's path.
pub fn private_dirs(base: &Path, parts: &[&str]) -> Result<PathBuf, StagingError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let me = nix::unistd::geteuid().as_raw();
    let mut path = base.to_owned();
    for part in parts {
        path.push(part);
        let io = |source| StagingError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            // mkdir never follows a link at the last component: a link is "already there".
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let flags = nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW;
        let dir = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits())
            .open(&path)
        {
            Ok(f) => f,
            // Linux answers ENOTDIR for a link when O_DIRECTORY is set, ELOOP otherwise.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(nix::libc::ELOOP | nix::libc::ENOTDIR)
                ) =>
            {
                let link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                return Err(if link {
                    StagingError::Link(path)
                } else {
                    StagingError::NotAFolder(path)
                });
            }
            Err(e) => return Err(io(e)),
        };
        // Checked on the opened folder itself, not on whatever the path names by now.
        let meta = dir.metadata().map_err(io)?;
        if meta.uid() != me {
            return Err(StagingError::NotOurs {
                path,
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(StagingError::Writable { path, mode });
        }
    }
    Ok(path)
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

    #[test]
    fn staging_folders_are_made_private_and_planted_ones_refused() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        // Positive control: made fresh, 0700, and found again as they are.
        let made = private_dirs(dir.path(), &["s", "h"]).unwrap();
        assert_eq!(made, dir.path().join("s/h"));
        assert_eq!(std::fs::metadata(&made).unwrap().mode() & 0o777, 0o700);
        assert_eq!(private_dirs(dir.path(), &["s", "h"]).unwrap(), made);

        let target = dir.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("s/link")).unwrap();
        let err = private_dirs(dir.path(), &["s", "link"]).unwrap_err();
        assert!(matches!(err, StagingError::Link(_)), "{err}");
        assert!(
            err.to_string().contains("s/link is a symbolic link"),
            "{err}"
        );

        std::fs::write(dir.path().join("s/file"), b"x").unwrap();
        let err = private_dirs(dir.path(), &["s", "file"]).unwrap_err();
        assert!(matches!(err, StagingError::NotAFolder(_)), "{err}");

        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dirs(dir.path(), &["open", "h"]).unwrap_err();
        assert!(err.to_string().contains("mode 777"), "{err}");
        assert!(!open.join("h").exists(), "nothing is made in it");
    }
}
