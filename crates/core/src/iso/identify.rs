//! Which published version a local image is: sampled piece hashes first, then the full digest.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::PublishedIso;
use crate::hash::{PieceHash, Sha256};

/// How many pieces are sampled before the full check.
const SAMPLES: u32 = 8;

/// The result of identifying an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// The image is this version (index into the candidates), confirmed by its SHA-256.
    Version(usize),
    /// The image matches no published version.
    Unknown,
}

fn sample_matches(file: &File, iso: &PublishedIso) -> std::io::Result<bool> {
    let t = &iso.torrent;
    let n = t.pieces().len() as u32;
    let mut buf = Vec::new();
    let picks: Vec<u32> = (0..SAMPLES.min(n))
        .map(|i| (i as u64 * (n as u64 - 1) / (SAMPLES.min(n) as u64 - 1).max(1)) as u32)
        .collect();
    for p in picks {
        let r = t.piece_range(p);
        buf.resize((r.end - r.start) as usize, 0);
        file.read_exact_at(&mut buf, r.start)?;
        if PieceHash::of(&buf) != t.pieces()[p as usize] {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Identifies `image` among `candidates`: same size, sampled pieces, then the pinned SHA-256.
pub fn identify(image: &Path, candidates: &[PublishedIso]) -> std::io::Result<Identified> {
    let file = File::open(image)?;
    let size = file.metadata()?.len();
    let mut digest: Option<Sha256> = None;
    for (i, iso) in candidates.iter().enumerate() {
        if iso.entry.size != size || iso.torrent.total_length() != size {
            continue;
        }
        if !sample_matches(&file, iso)? {
            continue;
        }
        let d = match digest {
            Some(d) => d,
            None => *digest.insert(Sha256::of_file(image)?),
        };
        if d == iso.entry.sha256 {
            return Ok(Identified::Version(i));
        }
    }
    Ok(Identified::Unknown)
}
