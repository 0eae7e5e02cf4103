//! Validation of torrent contents before anything touches the disk.
//!
//! librqbit rejects some unsafe names itself, but not drive prefixes or Windows reserved names
//! (PLATFORM.md §2), and a torrent we seed may reach other operating systems: every rule is ours.

use std::collections::HashSet;

/// Why a torrent was refused.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    /// Not bencode, or not a torrent's shape.
    #[error("not a valid torrent file: {0}")]
    Malformed(String),
    /// A file name that could escape the download folder or is unusable on some system.
    #[error("unsafe file name {path:?} in the torrent: {reason}")]
    UnsafeName { path: String, reason: &'static str },
    /// The same path listed twice, or a file that is also a folder.
    #[error("the torrent lists {0:?} twice (or as both a file and a folder)")]
    DuplicatePath(String),
    /// Sizes that do not add up or exceed the limits.
    #[error("the torrent's sizes are inconsistent or too large: {0}")]
    BadSizes(String),
}

impl TorrentError {
    /// Whether this refusal is about trust (an unsafe torrent) rather than a plain parse error.
    pub fn is_unsafe(&self) -> bool {
        !matches!(self, TorrentError::Malformed(_))
    }
}

/// Upper bounds for what a torrent may declare; generous enough for a Fedora-scale master torrent.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted .torrent file.
    pub max_torrent_bytes: usize,
    /// Most files (pad files included).
    pub max_files: usize,
    /// Largest total payload.
    pub max_total_bytes: u64,
    /// Deepest path.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_torrent_bytes: 128 << 20,
            max_files: 1_000_000,
            max_total_bytes: 16 << 40,
            max_depth: 32,
        }
    }
}

/// Longest component in bytes (the common file-system limit).
const MAX_COMPONENT_BYTES: usize = 255;
/// Longest joined path in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Smallest and largest accepted piece lengths.
pub(super) const MIN_PIECE_LENGTH: u32 = 16 << 10;
pub(super) const MAX_PIECE_LENGTH: u32 = 256 << 20;

const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks one path component; returns the reason it is unsafe.
pub(super) fn check_component(c: &str) -> Result<(), &'static str> {
    if c.is_empty() {
        return Err("empty path component");
    }
    if c == "." || c == ".." {
        return Err("relative path component");
    }
    if c.len() > MAX_COMPONENT_BYTES {
        return Err("path component longer than 255 bytes");
    }
    if c.contains('/') || c.contains('\\') {
        return Err("path separator inside a component");
    }
    if c.chars().any(|ch| ch.is_control()) {
        return Err("control character");
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive prefix");
    }
    let stem = c.split('.').next().unwrap_or(c).trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        return Err("reserved device name on Windows");
    }
    Ok(())
}

/// Checks a whole relative path (name included) and its depth.
pub(super) fn check_path(components: &[String], limits: &Limits) -> Result<(), TorrentError> {
    let joined = components.join("/");
    let unsafe_name = |reason| TorrentError::UnsafeName {
        path: joined.clone(),
        reason,
    };
    if components.is_empty() {
        return Err(unsafe_name("empty path"));
    }
    if components.len() > limits.max_depth {
        return Err(unsafe_name("path nested too deeply"));
    }
    if joined.len() > MAX_PATH_BYTES {
        return Err(unsafe_name("path longer than 4096 bytes"));
    }
    for c in components {
        check_component(c).map_err(unsafe_name)?;
    }
    Ok(())
}

/// Refuses duplicate paths and paths that are both a file and a folder; pad files are exempt.
pub(super) fn check_unique<'a>(
    paths: impl Iterator<Item = &'a [String]>,
) -> Result<(), TorrentError> {
    let mut files: HashSet<String> = HashSet::new();
    let mut dirs: HashSet<String> = HashSet::new();
    for p in paths {
        // Case-folded: two names differing in case collide on case-insensitive file systems.
        let key = p.join("/").to_lowercase();
        if dirs.contains(&key) || !files.insert(key.clone()) {
            return Err(TorrentError::DuplicatePath(p.join("/")));
        }
        for i in 1..p.len() {
            let dir = p[..i].join("/").to_lowercase();
            if files.contains(&dir) {
                return Err(TorrentError::DuplicatePath(dir));
            }
            dirs.insert(dir);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_package_names_pass() {
        for ok in [
            "foo-1.2-3.fc41.x86_64.rpm",
            "Packages",
            "kernel-core-6.11.4-301.fc41.x86_64.rpm",
            "con-tools.rpm",
            "console",
            "x-1:2",
        ] {
            assert_eq!(check_component(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn unsafe_components_are_refused_with_a_reason() {
        for (bad, why) in [
            ("", "empty path component"),
            ("..", "relative path component"),
            (".", "relative path component"),
            ("a/b", "path separator inside a component"),
            ("a\\b", "path separator inside a component"),
            ("C:", "drive prefix"),
            ("c:evil", "drive prefix"),
            ("CON", "reserved device name on Windows"),
            ("nul.txt", "reserved device name on Windows"),
            ("com1", "reserved device name on Windows"),
            ("bell\u{7}", "control character"),
            ("new\nline", "control character"),
        ] {
            assert_eq!(check_component(bad), Err(why), "{bad:?}");
        }
        assert!(check_component(&"x".repeat(256)).is_err());
        assert!(check_component(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn duplicates_and_file_folder_clashes_are_refused() {
        let v = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        let ok = [v("a/b"), v("a/c"), v("d")];
        assert!(check_unique(ok.iter().map(|p| p.as_slice())).is_ok());
        let dup = [v("a/b"), v("a/B")];
        assert!(check_unique(dup.iter().map(|p| p.as_slice())).is_err());
        let clash = [v("a"), v("a/b")];
        assert!(check_unique(clash.iter().map(|p| p.as_slice())).is_err());
        let clash2 = [v("a/b"), v("a")];
        assert!(check_unique(clash2.iter().map(|p| p.as_slice())).is_err());
    }
}
