//! Validation of torrent contents before anything touches the disk.
//!
//! librqbit rejects some unsafe names itself, but not drive prefixes or Windows reserved names
//! (docs/platform.md §2), and a torrent we seed may reach other operating systems: every rule is ours.

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

/// Refuses numbers that the bencode parser would overflow on, before it sees them.
///
/// librqbit-bencode 9.1 reads integers and string lengths with unchecked arithmetic: a long digit
/// string panics where overflow checks are on (debug builds, tests) and silently wraps to another
/// value where they are off. Every integer must fit an `i64`, the widest signed type the parser
/// reads into (and the torrent models read no narrower integer), and every string length must fit
/// in what is left of the input. Tokens are scanned in order, so string contents are skipped; the
/// scan stops at the first byte that is not bencode, where the parser stops too, with an error.
/// Digits are checked before the `e` or `:` that ends them, as the parser converts them first.
pub(super) fn check_bencode_numbers(b: &[u8]) -> Result<(), TorrentError> {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'l' | b'd' | b'e' => i += 1,
            b'i' => {
                // As the parser reads an i64: an optional sign, then digits, then `e`.
                let sign = b.get(i + 1).copied().filter(|c| matches!(c, b'-' | b'+'));
                let start = i + 1 + usize::from(sign.is_some());
                let n = digits(start);
                let mut v: i64 = 0;
                for &d in &b[start..start + n] {
                    let d = i64::from(d - b'0');
                    let next = match sign {
                        Some(b'-') => v.checked_mul(10).and_then(|v| v.checked_sub(d)),
                        _ => v.checked_mul(10).and_then(|v| v.checked_add(d)),
                    };
                    v = next.ok_or_else(|| {
                        TorrentError::Malformed("an integer does not fit in 64 bits".into())
                    })?;
                }
                if b.get(start + n) != Some(&b'e') {
                    return Ok(());
                }
                i = start + n + 1;
            }
            b'0'..=b'9' => {
                // The parser reads the length before it looks for the colon.
                let n = digits(i);
                let len = std::str::from_utf8(&b[i..i + n])
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or_else(|| {
                        TorrentError::Malformed("a string length does not fit in 64 bits".into())
                    })?;
                if b.get(i + n) != Some(&b':') {
                    return Ok(());
                }
                if len > b.len() - (i + n + 1) {
                    return Err(TorrentError::Malformed(
                        "a string is longer than the file".into(),
                    ));
                }
                i += n + 1 + len;
            }
            _ => return Ok(()),
        }
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
    use crate::torrent::Torrent;

    fn path(components: &[&str]) -> Vec<String> {
        components.iter().map(|c| c.to_string()).collect()
    }

    fn unsafe_reason(r: Result<(), TorrentError>) -> (String, &'static str) {
        match r {
            Err(TorrentError::UnsafeName { path, reason }) => (path, reason),
            other => panic!("expected an unsafe-name refusal, got {other:?}"),
        }
    }

    /// Runs the bencode scan on a thread with a deadline, so a scan that stops advancing fails
    /// these tests in seconds with a clear message (tests that parse whole torrents still hang).
    fn scan(b: &[u8]) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let b = b.to_vec();
        std::thread::spawn(move || tx.send(check_bencode_numbers(&b).map_err(|e| e.to_string())));
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the scan neither finished within 10 s nor returned")
    }

    /// A one-piece single-file torrent of one byte with this piece length.
    fn with_piece_length(len: u64) -> Result<Torrent, TorrentError> {
        let b = format!(
            "d4:infod6:lengthi1e4:name1:a12:piece lengthi{len}e6:pieces20:{}ee",
            "A".repeat(20)
        );
        Torrent::from_bytes(b.into_bytes())
    }

    #[test]
    fn only_parse_errors_are_not_about_safety() {
        assert!(!TorrentError::Malformed("x".into()).is_unsafe());
        for e in [
            TorrentError::UnsafeName {
                path: "a".into(),
                reason: "r",
            },
            TorrentError::DuplicatePath("a".into()),
            TorrentError::BadSizes("s".into()),
        ] {
            assert!(e.is_unsafe(), "{e:?}");
        }
    }

    #[test]
    fn piece_lengths_from_16_kib_to_256_mib_are_accepted() {
        for ok in [16 << 10, 256 << 20] {
            let t = with_piece_length(ok).unwrap();
            assert_eq!(u64::from(t.piece_length), ok);
        }
        for bad in [8 << 10, 512 << 20] {
            match with_piece_length(bad) {
                Err(e @ TorrentError::BadSizes(_)) => assert_eq!(
                    e.to_string(),
                    format!(
                        "the torrent's sizes are inconsistent or too large: piece length {bad} \
                         is not a power of two between 16 KiB and 256 MiB"
                    )
                ),
                other => panic!("piece length {bad}: expected a size refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn paths_are_bounded_in_depth_and_length() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        check_path(&path(&["a", "b", "c"]), &limits).unwrap();
        let (p, why) = unsafe_reason(check_path(&path(&["a", "b", "c", "d"]), &limits));
        assert_eq!((p.as_str(), why), ("a/b/c/d", "path nested too deeply"));
        assert_eq!(
            TorrentError::UnsafeName {
                path: p,
                reason: why
            }
            .to_string(),
            "unsafe file name \"a/b/c/d\" in the torrent: path nested too deeply"
        );

        // 17 components of 240 bytes and 16 separators: exactly 4096 bytes, under the default depth.
        let long = |last: usize| {
            let mut v = vec!["x".repeat(240); 16];
            v.push("y".repeat(last));
            v
        };
        assert_eq!(long(240).join("/").len(), 4096);
        check_path(&long(240), &Limits::default()).unwrap();
        let (p, why) = unsafe_reason(check_path(&long(241), &Limits::default()));
        assert_eq!((p.len(), why), (4097, "path longer than 4096 bytes"));
    }

    #[test]
    fn every_component_of_a_path_is_checked_and_the_whole_path_reported() {
        let limits = Limits::default();
        check_path(&path(&["Packages", "f", "foo.rpm"]), &limits).unwrap();
        assert_eq!(
            unsafe_reason(check_path(&[], &limits)),
            (String::new(), "empty path")
        );
        for (bad, why) in [
            (&["..", "etc", "passwd"][..], "relative path component"),
            (&["Packages", "C:x"], "drive prefix"),
            (
                &["Packages", "f", "aux.rpm"],
                "reserved device name on Windows",
            ),
        ] {
            assert_eq!(
                unsafe_reason(check_path(&path(bad), &limits)),
                (bad.join("/"), why)
            );
        }
    }

    #[test]
    fn string_lengths_are_checked_against_the_rest_of_the_file_exactly() {
        // A string that ends exactly at the end of the input, and one byte more than that.
        assert_eq!(scan(b"3:abc"), Ok(()));
        assert_eq!(
            scan(b"4:abc"),
            Err("not a valid torrent file: a string is longer than the file".into())
        );
        assert_eq!(scan(b"d1:a3:abce"), Ok(()));
        assert_eq!(scan(b"d1:a4:abce"), Ok(()));
        assert!(scan(b"d1:a5:abce").is_err());
        assert_eq!(scan(b"0:"), Ok(()));
        assert_eq!(
            scan(b"18446744073709551616:"),
            Err("not a valid torrent file: a string length does not fit in 64 bits".into())
        );
    }

    #[test]
    fn the_scan_resumes_after_each_token_and_reads_every_integer() {
        let too_big =
            Err("not a valid torrent file: an integer does not fit in 64 bits".to_owned());
        // An overlong integer after each kind of token is still found: the scan skips each token
        // exactly, neither stopping early nor jumping past the next one.
        for (ok, bad) in [
            (&b"li1ei2ee"[..], &b"li1ei99999999999999999999ee"[..]),
            (b"li-1ei-2ee", b"li-1ei-99999999999999999999ee"),
            (b"l3:abci2ee", b"l3:abci99999999999999999999ee"),
            (
                b"l10:0123456789i2ee",
                b"l10:0123456789i99999999999999999999ee",
            ),
            (b"dde1:ai2ee", b"dde1:ai99999999999999999999ee"),
            (b"lli7eeei2e", b"lli7eeei99999999999999999999e"),
            (b"i12345e2:abi1e", b"i12345e2:abi99999999999999999999e"),
        ] {
            assert_eq!(scan(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
            assert_eq!(scan(bad), too_big, "{}", String::from_utf8_lossy(bad));
        }
        // Both ends of the i64 range, with either sign, and one past each.
        for ok in [
            &b"i9223372036854775807e"[..],
            b"i+9223372036854775807e",
            b"i-9223372036854775808e",
            b"i0e",
            b"i-0e",
        ] {
            assert_eq!(scan(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"i9223372036854775808e"[..],
            b"i+9223372036854775808e",
            b"i-9223372036854775809e",
        ] {
            assert_eq!(scan(bad), too_big, "{}", String::from_utf8_lossy(bad));
        }
    }

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
    fn bencode_numbers_are_bounded_but_string_contents_are_not_read() {
        for ok in [
            &b"d1:ai9223372036854775807e1:bi-9223372036854775808e1:ci+5ee"[..],
            b"d1:a22:i99999999999999999999ee",
            b"l3:abce",
            b"i12",
            b"d1:a9999999999999999999",
            b"x99999999999999999999:",
        ] {
            assert!(check_bencode_numbers(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &b"i9223372036854775808e"[..],
            b"i-9223372036854775809e",
            b"li1ei00000000000000000000000000000000099999999999999999999e",
            b"d1:a5:abce",
            b"d1:a18446744073709551616:e",
            b"d1:a18446744073709551616",
        ] {
            assert!(check_bencode_numbers(bad).is_err(), "{bad:?}");
        }
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
