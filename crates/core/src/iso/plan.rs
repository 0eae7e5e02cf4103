//! Planning a switch: the exact pieces to fetch, known before any transfer.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::PublishedIso;
use std::fs::File;
use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use crate::hash::PieceHash;
use crate::torrent::{PieceIndex, Torrent};

/// How the new version is built from the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchMode {
    /// A reflink of the old image: instant, shares unchanged blocks.
    Reflink,
    /// A full copy of the old image (the file system has no reflinks).
    Copy,
    /// The image itself is rewritten, each region's old bytes saved first to an undo journal
    /// (no reflinks and no room for a copy).
    InPlace,
}

/// What the image's file system offers a switch.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    /// It can reflink.
    pub reflink: bool,
    /// Bytes free for the user.
    pub free: u64,
}

/// Bytes of undo journal per saved region besides the region's data (see the engine's undo journal).
const UNDO_ENTRY_OVERHEAD: u64 = 28;

/// A switch plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The local image's version (None when it matched none and was hashed instead).
    pub from: Option<String>,
    /// The target version.
    pub to: String,
    /// Size of the target image.
    pub target_size: u64,
    /// Piece length of the target torrent.
    pub piece_length: u32,
    /// Pieces of the target that differ from what the local image holds at the same offset.
    pub pieces: Vec<PieceIndex>,
    /// Bytes in those pieces: what the switch downloads.
    pub fetch_bytes: u64,
    /// Bytes reused from the local image (and from a stopped switch's working copy).
    pub reuse_bytes: u64,
    /// Bytes a stopped switch to this version fetched or placed and kept in its working copy:
    /// counted in `reuse_bytes`, not fetched again (see [`Plan::keep_from`]).
    pub kept_bytes: u64,
    /// How the new version is built.
    pub mode: SwitchMode,
    /// Whether the user chose the mode rather than the free space and the file system.
    pub mode_chosen: bool,
    /// Extra disk space the switch needs while it runs, in its mode.
    pub space_needed: u64,
    /// Extra disk space a copy would need.
    pub copy_space: u64,
    /// Free space on the image's file system when planned.
    pub free_space: u64,
}

impl Plan {
    /// Whether the image already is the target version.
    pub fn is_noop(&self) -> bool {
        self.pieces.is_empty() && self.from.as_deref() == Some(self.to.as_str())
    }

    /// Takes up the working copy `working` of a stopped switch to this version (`to`, its
    /// torrent): the planned pieces it already holds, checked against `to`'s hashes, are kept
    /// instead of fetched. Reads only the planned pieces.
    pub fn keep_from(&mut self, working: &Path, to: &Torrent) -> std::io::Result<()> {
        let file = File::open(working)?;
        let len = file.metadata()?.len();
        let held: Vec<bool> = self
            .pieces
            .par_iter()
            .map_init(Vec::new, |buf, p| {
                local_piece_matches(&file, len, to, p.0, buf)
            })
            .collect::<std::io::Result<_>>()?;
        let mut kept = 0;
        let mut left = Vec::with_capacity(self.pieces.len());
        for (p, held) in self.pieces.iter().zip(held) {
            match held {
                true => kept += to.piece_len(p.0),
                false => left.push(*p),
            }
        }
        self.pieces = left;
        self.fetch_bytes -= kept;
        self.reuse_bytes += kept;
        self.kept_bytes += kept;
        Ok(())
    }
}

/// Whether the local image already holds piece `i` of `t` at its offset, as librqbit will see it
/// after resizing the file to the target's length (zeros past the old end).
fn local_piece_matches(
    file: &File,
    local_len: u64,
    t: &Torrent,
    i: u32,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let r = t.piece_range(i);
    buf.clear();
    buf.resize((r.end - r.start) as usize, 0);
    if r.start < local_len {
        let avail = (local_len.min(r.end) - r.start) as usize;
        file.read_exact_at(&mut buf[..avail], r.start)?;
    }
    Ok(PieceHash::of(buf) == t.pieces()[i as usize])
}

/// The pieces of `to` that `image` does not hold at their offset (zeros past its end, as a switch
/// grows it). With `from`, the torrent `image` is known to match, and equal piece lengths, they
/// come from the two torrents' hashes (only pieces whose length changed are read); otherwise
/// every piece is hashed, in parallel.
pub fn differing_pieces(
    image: &Path,
    from: Option<&Torrent>,
    to: &Torrent,
) -> std::io::Result<Vec<PieceIndex>> {
    let file = File::open(image)?;
    let local_len = file.metadata()?.len();
    let same_layout = from.filter(|f| f.piece_length == to.piece_length);
    let differs = |i: u32, buf: &mut Vec<u8>| -> std::io::Result<bool> {
        if let Some(f) = same_layout
            && (i as usize) < f.pieces().len()
            && f.piece_len(i) == to.piece_len(i)
        {
            return Ok(f.pieces()[i as usize] != to.pieces()[i as usize]);
        }
        Ok(!local_piece_matches(&file, local_len, to, i, buf)?)
    };
    let mut pieces: Vec<PieceIndex> = (0..to.pieces().len() as u32)
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            Ok(differs(i, buf)?.then_some(PieceIndex(i)))
        })
        .filter_map(|r: std::io::Result<Option<PieceIndex>>| r.transpose())
        .collect::<std::io::Result<_>>()?;
    pieces.sort();
    Ok(pieces)
}

/// Plans switching `image` to `to`. With a known `from` version and equal piece lengths the plan
/// comes from the two torrents alone (only pieces whose length changed are read); otherwise the
/// local image is hashed against `to`'s pieces. The mode is `prefer` if given, else the cheapest
/// that fits: reflink, then a copy, then in place.
pub fn plan_switch(
    image: &Path,
    from: Option<&PublishedIso>,
    to: &PublishedIso,
    room: Room,
    prefer: Option<SwitchMode>,
) -> std::io::Result<Plan> {
    let t = &to.torrent;
    let local_len = std::fs::metadata(image)?.len();
    let pieces = differing_pieces(image, from.map(|f| &f.torrent), t)?;
    let fetch_bytes: u64 = pieces.iter().map(|p| t.piece_len(p.0)).sum();
    let target_len = t.total_length();
    let copy_space = target_len;
    // In place: the old bytes of every rewritten region, the growth, and the cut tail.
    let region = t.piece_length as u64;
    let saved: u64 = pieces
        .iter()
        .map(|p| {
            let r = t.piece_range(p.0);
            local_len.min(r.end).saturating_sub(r.start)
        })
        .sum();
    let tail_start = target_len / region * region;
    let tail = local_len.saturating_sub(tail_start);
    let entries = pieces.len() as u64 + tail.div_ceil(region);
    let in_place_space =
        saved + tail + target_len.saturating_sub(local_len) + entries * UNDO_ENTRY_OVERHEAD + 4096;
    let mode = match prefer {
        Some(m) => m,
        None if room.reflink => SwitchMode::Reflink,
        None if room.free >= copy_space => SwitchMode::Copy,
        None => SwitchMode::InPlace,
    };
    Ok(Plan {
        from: from.map(|f| f.version().to_owned()),
        to: to.version().to_owned(),
        target_size: t.total_length(),
        piece_length: t.piece_length,
        reuse_bytes: t.total_length() - fetch_bytes,
        kept_bytes: 0,
        fetch_bytes,
        pieces,
        mode,
        mode_chosen: prefer.is_some(),
        space_needed: match mode {
            SwitchMode::Reflink => fetch_bytes + target_len.saturating_sub(local_len),
            SwitchMode::Copy => copy_space,
            SwitchMode::InPlace => in_place_space,
        },
        copy_space,
        free_space: room.free,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::TorrentBuilder;

    const PIECE: usize = 16384;

    #[test]
    fn a_stopped_switchs_working_copy_keeps_the_planned_pieces_it_holds_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<u8> = (0..4 * PIECE).map(|i| (i % 251) as u8).collect();
        let mut new = old.clone();
        for p in [1, 2, 3] {
            new[p * PIECE] ^= 0xff;
            new[(p + 1) * PIECE - 1] ^= 0xff;
        }
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("old.iso"), &old).unwrap();
        std::fs::write(path("new.iso"), &new).unwrap();
        let t = TorrentBuilder::single_file("new.iso", &path("new.iso"))
            .piece_length(PIECE as u32)
            .build()
            .unwrap();
        let pieces = differing_pieces(&path("old.iso"), None, &t).unwrap();
        assert_eq!(pieces, [PieceIndex(1), PieceIndex(2), PieceIndex(3)]);
        // Stopped with piece 2 fetched and piece 3 half-written.
        let mut work = old.clone();
        work[2 * PIECE..3 * PIECE].copy_from_slice(&new[2 * PIECE..3 * PIECE]);
        work[3 * PIECE..3 * PIECE + 100].copy_from_slice(&new[3 * PIECE..3 * PIECE + 100]);
        std::fs::write(path("working"), &work).unwrap();
        let size = (4 * PIECE) as u64;
        let mut plan = Plan {
            from: Some("1".into()),
            to: "2".into(),
            target_size: size,
            piece_length: PIECE as u32,
            pieces,
            fetch_bytes: 3 * PIECE as u64,
            reuse_bytes: PIECE as u64,
            kept_bytes: 0,
            mode: SwitchMode::Copy,
            mode_chosen: false,
            space_needed: size,
            copy_space: size,
            free_space: 1 << 30,
        };
        plan.keep_from(&path("working"), &t).unwrap();
        assert_eq!(plan.pieces, [PieceIndex(1), PieceIndex(3)]);
        let p = PIECE as u64;
        assert_eq!(
            (plan.fetch_bytes, plan.reuse_bytes, plan.kept_bytes),
            (2 * p, 2 * p, p)
        );
    }
}
