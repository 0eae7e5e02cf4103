//! Piece hashing over a payload made of files and zero padding, on every core.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::hash::PieceHash;

/// The index of a piece in a torrent.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PieceIndex(pub u32);

/// One stretch of a torrent's payload: a file's bytes or BEP 47 padding.
#[derive(Clone, Debug)]
pub enum Segment {
    /// `len` bytes read from the start of a file.
    File { path: PathBuf, len: u64 },
    /// `len` zero bytes (a pad file).
    Zeros(u64),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::File { len, .. } => *len,
            Segment::Zeros(len) => *len,
        }
    }
}

/// Hashes the pieces of a payload laid out as consecutive segments. Files are opened as their
/// pieces are read, one at a time per worker: a repository of tens of thousands of packages must
/// not need as many descriptors.
pub struct PieceHasher {
    segments: Vec<(u64, Segment)>,
    total: u64,
    piece_length: u32,
}

/// The file a worker has open: the segment's index and the file.
type OpenSegment = Option<(usize, File)>;

impl PieceHasher {
    /// Checks every file segment; fails if one is missing or shorter than declared.
    pub fn new(segments: Vec<Segment>, piece_length: u32) -> std::io::Result<Self> {
        let mut offset = 0;
        let mut out = Vec::with_capacity(segments.len());
        for s in segments {
            if let Segment::File { path, len } = &s {
                let actual = std::fs::metadata(path)?.len();
                if actual < *len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} has {actual} bytes, expected {len}", path.display()),
                    ));
                }
            }
            let len = s.len();
            out.push((offset, s));
            offset += len;
        }
        Ok(PieceHasher {
            segments: out,
            total: offset,
            piece_length,
        })
    }

    /// The number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.total.div_ceil(self.piece_length as u64) as u32
    }

    /// Reads the bytes of `piece` into `buf` (resized to the piece's length).
    pub fn read_piece(&self, piece: u32, buf: &mut Vec<u8>) -> std::io::Result<()> {
        self.read_piece_with(piece, buf, &mut None)
    }

    fn read_piece_with(
        &self,
        piece: u32,
        buf: &mut Vec<u8>,
        open: &mut OpenSegment,
    ) -> std::io::Result<()> {
        let start = piece as u64 * self.piece_length as u64;
        let end = (start + self.piece_length as u64).min(self.total);
        buf.resize((end - start) as usize, 0);
        self.read_range(start, buf, open)
    }

    /// Reads `buf.len()` bytes of the payload from `offset` (a block, say).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset + buf.len() as u64 > self.total {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.read_range(offset, buf, &mut None)
    }

    fn read_range(
        &self,
        start: u64,
        buf: &mut [u8],
        open: &mut OpenSegment,
    ) -> std::io::Result<()> {
        let end = start + buf.len() as u64;
        let first = self
            .segments
            .partition_point(|(off, s)| off + s.len() <= start);
        let mut pos = start;
        for (i, (off, seg)) in self.segments.iter().enumerate().skip(first) {
            if pos >= end {
                break;
            }
            let seg_end = (off + seg.len()).min(end);
            if seg_end <= pos {
                continue;
            }
            let dst = &mut buf[(pos - start) as usize..(seg_end - start) as usize];
            match seg {
                Segment::File { path, .. } => {
                    if open.as_ref().is_none_or(|(at, _)| *at != i) {
                        *open = Some((i, File::open(path)?));
                    }
                    let (_, f) = open.as_ref().expect("just opened");
                    f.read_exact_at(dst, pos - off)?
                }
                Segment::Zeros(_) => dst.fill(0),
            }
            pos = seg_end;
        }
        Ok(())
    }

    /// Hashes every piece in parallel.
    pub fn hash_all(&self) -> std::io::Result<Vec<PieceHash>> {
        (0..self.piece_count())
            .into_par_iter()
            .map_init(
                || (Vec::new(), None),
                |(buf, open), i| {
                    self.read_piece_with(i, buf, open)?;
                    Ok(PieceHash::of(buf))
                },
            )
            .collect()
    }
}

/// Hashes one file as a single-file torrent payload would be.
pub fn hash_file_pieces(
    path: &std::path::Path,
    piece_length: u32,
) -> std::io::Result<Vec<PieceHash>> {
    let len = std::fs::metadata(path)?.len();
    PieceHasher::new(
        vec![Segment::File {
            path: path.to_owned(),
            len,
        }],
        piece_length,
    )?
    .hash_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_span_files_and_padding() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, vec![1u8; 20_000]).unwrap();
        std::fs::write(&b, vec![2u8; 5_000]).unwrap();
        let segs = vec![
            Segment::File {
                path: a,
                len: 20_000,
            },
            Segment::Zeros(12_768),
            Segment::File {
                path: b,
                len: 5_000,
            },
        ];
        let h = PieceHasher::new(segs, 16_384).unwrap();
        assert_eq!(h.piece_count(), 3);
        let mut expected = vec![1u8; 20_000];
        expected.extend(vec![0u8; 12_768]);
        expected.extend(vec![2u8; 5_000]);
        let want: Vec<_> = expected.chunks(16_384).map(PieceHash::of).collect();
        assert_eq!(h.hash_all().unwrap(), want);
    }
}
