//! Pre-filling a switch: rebuilding the target image's pieces from files already at hand (in the
//! old image or the package store) before the hash check, so a rebuilt image whose files all moved
//! costs only its new content.
//!
//! Files are matched by content, never by name alone: a candidate of the right size is checked
//! against the target's SHA-1 of a piece that lies wholly inside the target file, before a byte is
//! copied. Every piece is then assembled in memory (matched files, zeros between files, as ISO 9660
//! pads) and written only when its SHA-1 is the target's, so a wrong guess (a small file sharing a
//! piece with others) costs a read, never a good piece; whatever is not written is fetched.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::layout::{Layout, PlacedFile, extents_of, read_extents};
use crate::hash::PieceHash;
use crate::torrent::{PieceIndex, Torrent};

/// Where a file at hand lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Inside the local image.
    OldImage,
    /// In the package store.
    Store,
}

/// A file whose bytes are at hand, and where they are.
#[derive(Debug, Clone)]
pub struct AtHand {
    /// Which kind of place.
    pub origin: Origin,
    /// The file holding the bytes (the old image, or a store object).
    pub file: PathBuf,
    /// Its name, without a folder (a hint: same-named candidates are tried first).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Its bytes in file order, as byte ranges of `file`.
    pub extents: Vec<Range<u64>>,
}

impl AtHand {
    /// A file inside the old image `image`.
    pub fn in_image(image: &Path, placed: &PlacedFile) -> AtHand {
        AtHand {
            origin: Origin::OldImage,
            file: image.to_owned(),
            name: placed.name().to_owned(),
            size: placed.size,
            extents: placed.extents.clone(),
        }
    }

    /// A whole file of the store, known as `name`.
    pub fn in_store(path: &Path, name: &str, size: u64) -> AtHand {
        AtHand {
            origin: Origin::Store,
            file: path.to_owned(),
            name: name.to_owned(),
            size,
            extents: std::iter::once(0..size).collect(),
        }
    }

    /// Reads the file's bytes `at..at + buf.len()` (within its size).
    fn read_at(&self, file: &File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        read_extents(file, &self.extents, at, buf)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.file.display())))
    }
}

/// What a pre-fill did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Prefill {
    /// Pieces it made right.
    pub pieces: usize,
    /// File bytes it placed from the old image.
    pub from_image: u64,
    /// File bytes it placed from the store.
    pub from_store: u64,
    /// Pieces still to fetch, in order.
    pub still_wrong: Vec<PieceIndex>,
    /// Bytes in them.
    pub still_wrong_bytes: u64,
    /// Target files matched to a file at hand.
    pub files_matched: usize,
    /// Target files with none.
    pub files_unmatched: usize,
}

/// Candidates tried per target file before giving up on it.
const MAX_TRIES: usize = 8;

/// One stretch of a target file inside the target image.
struct Segment {
    image: Range<u64>,
    file: usize,
    file_offset: u64,
}

/// A piece made from files at hand and checked.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// File bytes from the old image.
    pub from_image: u64,
    /// File bytes from the store.
    pub from_store: u64,
    /// Where its bytes were read: (file, byte range of that file).
    pub sources: Vec<(PathBuf, Range<u64>)>,
}

/// The target's pieces as the files at hand can make them: each target file matched by content
/// once, then any piece assembled on demand.
pub struct Rebuilder<'a> {
    target: &'a Torrent,
    layout: &'a Layout,
    files: HashMap<&'a Path, File>,
    matches: Vec<Option<&'a AtHand>>,
    segments: Vec<Segment>,
}

impl<'a> Rebuilder<'a> {
    /// Matches the target files that touch a `wrong` piece with the files at hand.
    pub fn new(
        target: &'a Torrent,
        layout: &'a Layout,
        wrong: &[PieceIndex],
        at_hand: &'a [AtHand],
    ) -> std::io::Result<Self> {
        let mut files: HashMap<&Path, File> = HashMap::new();
        for h in at_hand {
            if !files.contains_key(h.file.as_path()) {
                files.insert(&h.file, File::open(&h.file)?);
            }
        }
        let wrong_set: std::collections::HashSet<u32> = wrong.iter().map(|p| p.0).collect();
        let mut by_size: HashMap<u64, Vec<&AtHand>> = HashMap::new();
        for h in at_hand {
            by_size.entry(h.size).or_default().push(h);
        }
        let matches: Vec<Option<&AtHand>> = layout
            .files
            .par_iter()
            .map(|f| {
                let touches_wrong = f
                    .extents
                    .iter()
                    .any(|e| pieces_over(target, e).any(|p| wrong_set.contains(&p)));
                if !touches_wrong {
                    return Ok(None);
                }
                let Some(cands) = by_size.get(&f.size) else {
                    return Ok(None);
                };
                match_file(target, f, cands, &files)
            })
            .collect::<std::io::Result<_>>()?;
        let mut segments: Vec<Segment> = layout
            .files
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                f.extents_at().map(move |(at, image)| Segment {
                    image,
                    file: i,
                    file_offset: at,
                })
            })
            .collect();
        segments.sort_by_key(|s| s.image.start);
        Ok(Rebuilder {
            target,
            layout,
            files,
            matches,
            segments,
        })
    }

    /// Target files matched to a file at hand, and those touching a wrong piece with none.
    fn matched(&self, wrong: &[PieceIndex]) -> (usize, usize) {
        let wrong_set: std::collections::HashSet<u32> = wrong.iter().map(|p| p.0).collect();
        let unmatched = self
            .matches
            .iter()
            .zip(&self.layout.files)
            .filter(|(m, f)| {
                m.is_none()
                    && f.extents
                        .iter()
                        .any(|e| pieces_over(self.target, e).any(|p| wrong_set.contains(&p)))
            })
            .count();
        (self.matches.iter().flatten().count(), unmatched)
    }

    /// Assembles piece `p` into `buf` (files at hand, zeros between them) and checks it: `None`
    /// when a byte has no source (a new file, a directory) or the result is not the target's.
    pub fn piece(&self, p: PieceIndex, buf: &mut Vec<u8>) -> std::io::Result<Option<Made>> {
        let range = self.target.piece_range(p.0);
        if self
            .layout
            .directories
            .iter()
            .any(|d| d.start < range.end && range.start < d.end)
        {
            return Ok(None);
        }
        buf.clear();
        buf.resize((range.end - range.start) as usize, 0);
        let mut made = Made::default();
        let first = self
            .segments
            .partition_point(|s| s.image.end <= range.start);
        for s in self.segments[first..]
            .iter()
            .take_while(|s| s.image.start < range.end)
        {
            let Some(h) = self.matches[s.file] else {
                return Ok(None);
            };
            let from = s.image.start.max(range.start);
            let to = s.image.end.min(range.end);
            let at = s.file_offset + (from - s.image.start);
            let dst = &mut buf[(from - range.start) as usize..(to - range.start) as usize];
            h.read_at(&self.files[h.file.as_path()], at, dst)?;
            made.sources
                .extend(extents_of(&h.extents, at, to - from).map(|r| (h.file.clone(), r)));
            match h.origin {
                Origin::OldImage => made.from_image += to - from,
                Origin::Store => made.from_store += to - from,
            }
        }
        if PieceHash::of(buf) != self.target.pieces()[p.0 as usize] {
            return Ok(None);
        }
        Ok(Some(made))
    }
}

/// Rebuilds the `wrong` pieces of `target` in `working` (the target's length, already holding
/// the old image's bytes) from the files at hand, placing them where `layout` (the target's)
/// keeps its files. `layout` must be the target's own: each piece written is checked first.
/// Without `working`, nothing is written: the result says what a pre-fill would leave to fetch.
/// The files at hand must not be `working` itself (see `Rebuilder` for that).
pub fn prefill(
    working: Option<&Path>,
    target: &Torrent,
    layout: &Layout,
    wrong: &[PieceIndex],
    at_hand: &[AtHand],
) -> std::io::Result<Prefill> {
    let rebuilder = Rebuilder::new(target, layout, wrong, at_hand)?;
    let out = working
        .map(|w| File::options().write(true).open(w))
        .transpose()?;
    // Each wrong piece: assembled, checked, written.
    let made: Vec<Option<Made>> = wrong
        .par_iter()
        .map_init(Vec::new, |buf, p| -> std::io::Result<_> {
            let made = rebuilder.piece(*p, buf)?;
            if let (Some(_), Some(out)) = (&made, &out) {
                out.write_all_at(buf, target.piece_range(p.0).start)?;
            }
            Ok(made)
        })
        .collect::<std::io::Result<_>>()?;
    Ok(summarize(target, &rebuilder, wrong, &made))
}

/// What a pre-fill did, from what each wrong piece gave.
pub fn summarize(
    target: &Torrent,
    rebuilder: &Rebuilder<'_>,
    wrong: &[PieceIndex],
    made: &[Option<Made>],
) -> Prefill {
    let (files_matched, files_unmatched) = rebuilder.matched(wrong);
    let mut result = Prefill {
        files_matched,
        files_unmatched,
        ..Prefill::default()
    };
    for (p, m) in wrong.iter().zip(made) {
        match m {
            Some(m) => {
                result.pieces += 1;
                result.from_image += m.from_image;
                result.from_store += m.from_store;
            }
            None => {
                result.still_wrong.push(*p);
                result.still_wrong_bytes += target.piece_len(p.0);
            }
        }
    }
    result
}

/// The pieces of `t` that overlap the byte range `r`.
fn pieces_over(t: &Torrent, r: &Range<u64>) -> impl Iterator<Item = u32> {
    let len = u64::from(t.piece_length);
    let first = (r.start / len) as u32;
    let last = if r.end > r.start {
        ((r.end - 1) / len) as u32
    } else {
        first
    };
    first..=last.min(t.pieces().len().saturating_sub(1) as u32)
}

/// The candidate whose bytes are `f`'s: checked against a piece wholly inside `f` when there is
/// one; otherwise (a file smaller than a piece) the same-named candidate, or the only one, left to
/// the piece checks.
fn match_file<'a>(
    target: &Torrent,
    f: &PlacedFile,
    cands: &[&'a AtHand],
    files: &HashMap<&Path, File>,
) -> std::io::Result<Option<&'a AtHand>> {
    let mut ordered: Vec<&AtHand> = cands.to_vec();
    // Same name first, then the old image (one file to read), then the store.
    ordered.sort_by_key(|h| (h.name != f.name(), h.origin != Origin::OldImage));
    let len = u64::from(target.piece_length);
    let probe = f.extents_at().find_map(|(at, e)| {
        let first = e.start.div_ceil(len);
        let range = target.piece_range(first as u32);
        (first < target.pieces().len() as u64 && range.end <= e.end).then(|| {
            (
                first as u32,
                at + (range.start - e.start),
                range.end - range.start,
            )
        })
    });
    let Some((piece, at, n)) = probe else {
        let named = ordered.iter().find(|h| h.name == f.name());
        return Ok(named.or((ordered.len() == 1).then(|| &ordered[0])).copied());
    };
    let mut buf = vec![0u8; n as usize];
    for h in ordered.into_iter().take(MAX_TRIES) {
        h.read_at(&files[h.file.as_path()], at, &mut buf)?;
        if PieceHash::of(&buf) == target.pieces()[piece as usize] {
            return Ok(Some(h));
        }
    }
    Ok(None)
}
