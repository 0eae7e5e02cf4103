//! Checking a payload against its torrent before it is seeded: every file's length and every
//! piece's hash, reading only. A payload that is not the torrent's is refused, never "repaired":
//! librqbit would cut a file to the torrent's length and write peers' bytes into it.

use std::path::PathBuf;

use super::job::Payload;
use swarmdate_core::torrent::{PieceHasher, Segment, Torrent};

/// A file whose length is not the one its torrent gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthMismatch {
    /// The file.
    pub path: PathBuf,
    /// Its length on disk.
    pub actual: u64,
    /// Its length in the torrent.
    pub expected: u64,
}

/// Why a payload cannot be seeded with its torrent.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// A file of the payload is missing or not a regular file.
    #[error(
        "{} is not there as a file; put the torrent's data back, or remove this seeding job",
        .path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Lengths or pieces differ from the torrent's.
    #[error(
        "{} is not this torrent's data: {sizes}{wrong} of {pieces} pieces differ; nothing was written to it. Seed the files the torrent was made of, or make a new torrent of these files",
        .root.display(),
        sizes = describe(.root, .lengths)
    )]
    Mismatch {
        /// The payload's file or folder.
        root: PathBuf,
        /// Files whose length is not the torrent's.
        lengths: Vec<LengthMismatch>,
        /// Pieces whose hash is not the torrent's (pieces past a short file's end among them).
        wrong: u32,
        /// The torrent's pieces.
        pieces: u32,
    },
    /// A file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn describe(root: &std::path::Path, lengths: &[LengthMismatch]) -> String {
    lengths
        .iter()
        .map(|m| {
            // A single file is the payload itself: named once.
            let name = match m.path == root {
                true => "it".to_owned(),
                false => m.path.display().to_string(),
            };
            format!(
                "{name} has {} bytes where the torrent has {}; ",
                m.actual, m.expected
            )
        })
        .collect()
}

/// The payload's file or folder, as the user named it.
pub(super) fn payload_root(torrent: &Torrent, payload: &Payload) -> PathBuf {
    match payload {
        Payload::Image(path) => path.clone(),
        Payload::Folder(dir) => dir.join(&torrent.name),
    }
}

/// The payload's files in torrent order with their lengths in the torrent; `None` for pad files.
pub(super) fn payload_files(torrent: &Torrent, payload: &Payload) -> Vec<(Option<PathBuf>, u64)> {
    if let Payload::Image(path) = payload {
        return vec![(Some(path.clone()), torrent.total_length())];
    }
    let root = payload_root(torrent, payload);
    if torrent.single_file {
        return vec![(Some(root), torrent.total_length())];
    }
    torrent
        .files
        .iter()
        .map(|f| match f.pad {
            true => (None, f.length),
            // Paths were checked when the torrent was read: no "..", nothing absolute.
            false => (
                Some(f.path.iter().fold(root.clone(), |p, c| p.join(c))),
                f.length,
            ),
        })
        .collect()
}

/// Checks every file's length and every piece of `payload` against `torrent`, reading only;
/// returns a hasher that reads the payload's pieces.
pub(super) fn verify(torrent: &Torrent, payload: &Payload) -> Result<PieceHasher, PayloadError> {
    let mut lengths = Vec::new();
    let mut segments = Vec::new();
    for (path, expected) in payload_files(torrent, payload) {
        let Some(path) = path else {
            segments.push(Segment::Zeros(expected));
            continue;
        };
        let actual = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            _ => return Err(PayloadError::Missing { path }),
        };
        // A short file reads as zeros past its end (its pieces then fail), a long one is read
        // only as far as the torrent goes: the hashes still count the pieces that differ.
        segments.push(Segment::File {
            path: path.clone(),
            len: actual.min(expected),
        });
        if actual < expected {
            segments.push(Segment::Zeros(expected - actual));
        }
        if actual != expected {
            lengths.push(LengthMismatch {
                path,
                actual,
                expected,
            });
        }
    }
    let root = payload_root(torrent, payload);
    let read = |source| PayloadError::Read {
        path: root.clone(),
        source,
    };
    let hasher = PieceHasher::new(segments, torrent.piece_length).map_err(read)?;
    let hashes = hasher.hash_all().map_err(read)?;
    let wrong = hashes
        .iter()
        .zip(torrent.pieces())
        .filter(|(a, b)| a != b)
        .count() as u32;
    if wrong > 0 || !lengths.is_empty() {
        return Err(PayloadError::Mismatch {
            root,
            lengths,
            wrong,
            pieces: torrent.pieces().len() as u32,
        });
    }
    Ok(hasher)
}
