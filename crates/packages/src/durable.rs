//! Files that survive a crash or power cut whole: written beside their place, flushed, renamed
//! over it, the folder flushed. Here because the root helper needs it too; `swarmdate-core`
//! re-exports it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The folder a path is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a directory entry so a rename in it survives a power cut.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync'd, renamed over,
/// with permissions `mode`.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".swarmdate-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fsync_dir(dir)
}
