//! Parsing `.torrent` files into a validated model that keeps the original bytes.

use bencode::{BencodeValue, ByteBuf, ByteBufOwned, WithRawBytes};
use bytes::Bytes;
use serde::Deserialize;

use super::InfoHash;
use super::validate::{self, Limits, MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, TorrentError};
use crate::hash::PieceHash;

/// One file of a torrent, in payload order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TorrentFile {
    /// Path components below the torrent's name (just the name for a single-file torrent).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the first byte in the payload.
    pub offset: u64,
    /// A BEP 47 pad file: zeros that never reach the disk.
    pub pad: bool,
}

impl TorrentFile {
    /// The path joined with `/`.
    pub fn display_path(&self) -> String {
        self.path.join("/")
    }
}

/// A parsed and validated v1 torrent. The original bytes are kept, so the info hash is stable.
#[derive(Debug, Clone)]
pub struct Torrent {
    bytes: Bytes,
    info_hash: InfoHash,
    /// The suggested name: the file name (single file) or the top folder.
    pub name: String,
    /// Bytes per piece.
    pub piece_length: u32,
    pieces: Vec<PieceHash>,
    /// Files in payload order, pad files included.
    pub files: Vec<TorrentFile>,
    /// Whether the torrent is in single-file mode.
    pub single_file: bool,
    /// Tracker tiers (announce-list, or the lone announce URL).
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seed roots.
    pub web_seeds: Vec<String>,
    /// BEP 38 info hashes of similar torrents.
    pub similar: Vec<InfoHash>,
    /// Free-form comment.
    pub comment: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// The program that made it.
    pub created_by: Option<String>,
}

// Integers here are u64 or i64 only: `validate::check_bencode_numbers` bounds them to an i64.
#[derive(Deserialize)]
struct RawTorrent<'a> {
    #[serde(borrow)]
    announce: Option<ByteBuf<'a>>,
    #[serde(rename = "announce-list", default, borrow)]
    announce_list: Vec<Vec<ByteBuf<'a>>>,
    #[serde(borrow)]
    info: WithRawBytes<RawInfo<'a>, ByteBuf<'a>>,
    #[serde(rename = "url-list", default)]
    url_list: Option<BencodeValue<ByteBufOwned>>,
    #[serde(borrow)]
    comment: Option<ByteBuf<'a>>,
    #[serde(rename = "created by", borrow)]
    created_by: Option<ByteBuf<'a>>,
    #[serde(rename = "creation date")]
    creation_date: Option<i64>,
}

#[derive(Deserialize)]
struct RawInfo<'a> {
    #[serde(borrow)]
    name: Option<ByteBuf<'a>>,
    #[serde(rename = "piece length")]
    piece_length: u64,
    #[serde(borrow)]
    pieces: ByteBuf<'a>,
    length: Option<u64>,
    #[serde(borrow)]
    files: Option<Vec<RawFile<'a>>>,
    #[serde(default, borrow)]
    similar: Vec<ByteBuf<'a>>,
    /// Unused here, but librqbit reads it into a bool through a u8 that overflows past 255.
    private: Option<i64>,
}

#[derive(Deserialize)]
struct RawFile<'a> {
    length: u64,
    #[serde(borrow)]
    path: Vec<ByteBuf<'a>>,
    #[serde(borrow)]
    attr: Option<ByteBuf<'a>>,
}

fn text(b: &[u8], what: &str) -> Result<String, TorrentError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| TorrentError::Malformed(format!("{what} is not valid UTF-8")))
}

fn opt_text(b: Option<ByteBuf<'_>>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(b.0).into_owned())
}

fn bad_sizes(s: String) -> TorrentError {
    TorrentError::BadSizes(s)
}

impl Torrent {
    /// Parses and validates a `.torrent` file with the default limits.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, TorrentError> {
        Self::from_bytes_with_limits(bytes.into(), &Limits::default())
    }

    /// Parses and validates a `.torrent` file.
    pub fn from_bytes_with_limits(bytes: Bytes, limits: &Limits) -> Result<Self, TorrentError> {
        if bytes.len() > limits.max_torrent_bytes {
            return Err(bad_sizes(format!(
                "the .torrent file has {} bytes, more than the limit of {}",
                bytes.len(),
                limits.max_torrent_bytes
            )));
        }
        validate::check_bencode_numbers(&bytes)?;
        let raw: RawTorrent<'_> =
            bencode::from_bytes(&bytes).map_err(|e| TorrentError::Malformed(format!("{e}")))?;
        let info = &raw.info.data;
        let info_hash = InfoHash::of_info_bytes(raw.info.raw_bytes.0);

        let name = text(
            info.name
                .as_ref()
                .ok_or_else(|| TorrentError::Malformed("the info dictionary has no name".into()))?
                .0,
            "the name",
        )?;
        validate::check_path(std::slice::from_ref(&name), limits)?;

        if !(MIN_PIECE_LENGTH as u64..=MAX_PIECE_LENGTH as u64).contains(&info.piece_length)
            || !info.piece_length.is_power_of_two()
        {
            return Err(bad_sizes(format!(
                "piece length {} is not a power of two between 16 KiB and 256 MiB",
                info.piece_length
            )));
        }
        let piece_length = info.piece_length as u32;
        if info.private.is_some_and(|p| !(0..=1).contains(&p)) {
            return Err(TorrentError::Malformed(
                "the private flag is neither 0 nor 1".into(),
            ));
        }

        let (single_file, files) = match (&info.length, &info.files) {
            (Some(len), None) => (
                true,
                vec![TorrentFile {
                    path: vec![name.clone()],
                    length: *len,
                    offset: 0,
                    pad: false,
                }],
            ),
            (None, Some(raw_files)) => (false, Self::parse_files(raw_files, limits)?),
            _ => {
                return Err(TorrentError::Malformed(
                    "the info dictionary needs exactly one of `length` and `files`".into(),
                ));
            }
        };

        let total: u64 = files
            .last()
            .map(|f| f.offset + f.length)
            .unwrap_or_default();
        if total == 0 || total > limits.max_total_bytes {
            return Err(bad_sizes(format!(
                "total size {total} bytes is empty or above the limit"
            )));
        }
        if !info.pieces.0.len().is_multiple_of(20) {
            return Err(bad_sizes(
                "the piece hash string is not a multiple of 20 bytes".into(),
            ));
        }
        let expected_pieces = total.div_ceil(piece_length as u64);
        let pieces: Vec<PieceHash> = info
            .pieces
            .0
            .chunks_exact(20)
            .map(|c| PieceHash(c.try_into().expect("chunks of 20")))
            .collect();
        if pieces.len() as u64 != expected_pieces {
            return Err(bad_sizes(format!(
                "{} piece hashes for {total} bytes in pieces of {piece_length} (expected {expected_pieces})",
                pieces.len()
            )));
        }

        let similar = info
            .similar
            .iter()
            .map(|h| {
                <[u8; 20]>::try_from(h.0).map(InfoHash).map_err(|_| {
                    TorrentError::Malformed("a `similar` entry is not 20 bytes".into())
                })
            })
            .collect::<Result<_, _>>()?;

        let mut trackers: Vec<Vec<String>> = raw
            .announce_list
            .iter()
            .map(|tier| {
                tier.iter()
                    .filter_map(|u| opt_text(Some(*u)))
                    .collect::<Vec<_>>()
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        if trackers.is_empty()
            && let Some(a) = opt_text(raw.announce)
        {
            trackers.push(vec![a]);
        }
        let web_seeds = match &raw.url_list {
            Some(BencodeValue::Bytes(b)) => vec![String::from_utf8_lossy(&b.0).into_owned()],
            Some(BencodeValue::List(l)) => l
                .iter()
                .filter_map(|v| match v {
                    BencodeValue::Bytes(b) => Some(String::from_utf8_lossy(&b.0).into_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };

        Ok(Torrent {
            info_hash,
            name,
            piece_length,
            pieces,
            files,
            single_file,
            trackers,
            web_seeds,
            similar,
            comment: opt_text(raw.comment),
            creation_date: raw.creation_date,
            created_by: opt_text(raw.created_by),
            bytes: bytes.clone(),
        })
    }

    fn parse_files(
        raw_files: &[RawFile<'_>],
        limits: &Limits,
    ) -> Result<Vec<TorrentFile>, TorrentError> {
        if raw_files.is_empty() || raw_files.len() > limits.max_files {
            return Err(bad_sizes(format!(
                "{} files (at least 1, at most {})",
                raw_files.len(),
                limits.max_files
            )));
        }
        let mut files = Vec::with_capacity(raw_files.len());
        let mut offset: u64 = 0;
        for f in raw_files {
            let path = f
                .path
                .iter()
                .map(|c| text(c.0, "a file name"))
                .collect::<Result<Vec<_>, _>>()?;
            validate::check_path(&path, limits)?;
            let pad = f.attr.is_some_and(|a| a.0.contains(&b'p'));
            offset = offset
                .checked_add(f.length)
                .filter(|t| *t <= limits.max_total_bytes)
                .ok_or_else(|| bad_sizes("file lengths add up past the limit".into()))?;
            files.push(TorrentFile {
                path,
                length: f.length,
                offset: offset - f.length,
                pad,
            });
        }
        validate::check_unique(files.iter().filter(|f| !f.pad).map(|f| f.path.as_slice()))?;
        Ok(files)
    }

    /// The original `.torrent` bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The swarm's info hash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// Piece hashes in order.
    pub fn pieces(&self) -> &[PieceHash] {
        &self.pieces
    }

    /// Total payload length, padding included.
    pub fn total_length(&self) -> u64 {
        self.files.last().map(|f| f.offset + f.length).unwrap_or(0)
    }

    /// Each payload file's index in the file list (pads count), by its path.
    pub fn file_indexes_by_path(&self) -> std::collections::HashMap<&[String], usize> {
        self.files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.pad)
            .map(|(i, f)| (f.path.as_slice(), i))
            .collect()
    }

    /// Payload bytes excluding pad files.
    pub fn data_length(&self) -> u64 {
        self.files.iter().filter(|f| !f.pad).map(|f| f.length).sum()
    }

    /// Length of one piece (the last may be short).
    pub fn piece_len(&self, piece: u32) -> u64 {
        let start = piece as u64 * self.piece_length as u64;
        (self.total_length() - start).min(self.piece_length as u64)
    }

    /// The byte range of a piece in the payload.
    pub fn piece_range(&self, piece: u32) -> std::ops::Range<u64> {
        let start = piece as u64 * self.piece_length as u64;
        start..start + self.piece_len(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-piece single-file torrent with `extra` spliced into its info dictionary.
    fn torrent(top: &str, extra: &str) -> Vec<u8> {
        format!(
            "d{top}4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:{}{extra}ee",
            "A".repeat(20)
        )
        .into_bytes()
    }

    fn malformed(bytes: &[u8]) -> String {
        match Torrent::from_bytes(bytes.to_vec()) {
            Err(TorrentError::Malformed(m)) => m,
            other => panic!("expected a malformed-torrent error, got {other:?}"),
        }
    }

    #[test]
    fn the_test_torrent_is_valid() {
        let t = Torrent::from_bytes(torrent("", "7:privatei1e")).unwrap();
        assert_eq!((t.name.as_str(), t.total_length()), ("a", 1));
        let t = Torrent::from_bytes(torrent("13:creation datei-9223372036854775808e", "")).unwrap();
        assert_eq!(t.creation_date, Some(i64::MIN));
    }

    // Found by fuzz/ (target `torrent`): the bencode parser overflowed on long numbers and panicked.
    #[test]
    fn numbers_past_64_bits_are_refused_not_overflowed() {
        let found = include_bytes!("../../../../tests/fuzz-regressions/torrent/long-string-length");
        assert!(malformed(found).contains("64 bits"));
        assert!(malformed(b"d1:a99999999999999999999:xe").contains("64 bits"));
        assert!(malformed(b"d1:a9999:xe").contains("longer than the file"));
        for top in [
            "13:creation datei9223372036854775808e",
            "13:creation datei-9223372036854775809e",
            "1:xi99999999999999999999e",
            "1:xli-99999999999999999999ee",
        ] {
            assert!(malformed(&torrent(top, "")).contains("64 bits"), "{top}");
        }
        assert!(malformed(&torrent("", "6:lengthi99999999999999999999e")).contains("64 bits"));
    }

    #[test]
    fn a_private_flag_librqbit_cannot_read_is_refused() {
        assert!(malformed(&torrent("", "7:privatei300e")).contains("private flag"));
        assert!(malformed(&torrent("", "7:privatei-1e")).contains("private flag"));
    }
}
