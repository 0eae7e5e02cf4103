//! A deterministic torrent builder: sorted file order, optional BEP 47 alignment, BEP 38 `similar`
//! inside the info dictionary, BEP 19 `url-list`.

use std::path::{Path, PathBuf};

use bencode::ByteBuf;
use bencode::raw_value::RawValue;
use serde::Serialize;

use super::pieces::{PieceHasher, Segment};
use super::{InfoHash, Torrent, TorrentError};

/// A file to put in a torrent: where it is on disk and where it goes in the torrent.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path components below the torrent's name.
    pub path: Vec<String>,
    /// The file on disk.
    pub source: PathBuf,
}

/// Builds `.torrent` files byte-for-byte reproducibly from the same inputs.
#[derive(Debug, Clone)]
pub struct TorrentBuilder {
    name: String,
    files: Vec<SourceFile>,
    single: bool,
    piece_length: Option<u32>,
    align: bool,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    similar: Vec<InfoHash>,
    comment: Option<String>,
    creation_date: Option<i64>,
}

/// Why a torrent could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A source file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The result would not pass our own validation (an unsafe name, say).
    #[error(transparent)]
    Invalid(#[from] TorrentError),
}

/// The default piece length for a payload of `total` bytes: small pieces keep ISO deltas and
/// package padding small; the count stays below about 16,000 pieces (measured in `bench iso`).
pub fn default_piece_length(total: u64) -> u32 {
    let want = total.div_ceil(16_384).next_power_of_two();
    want.clamp(64 << 10, 16 << 20) as u32
}

impl TorrentBuilder {
    /// A single-file torrent named `name` with the bytes of `source`.
    pub fn single_file(name: &str, source: &Path) -> Self {
        TorrentBuilder {
            name: name.to_owned(),
            files: vec![SourceFile {
                path: vec![name.to_owned()],
                source: source.to_owned(),
            }],
            single: true,
            piece_length: None,
            align: false,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            similar: Vec::new(),
            comment: None,
            creation_date: None,
        }
    }

    /// A multi-file torrent; files are put in path order whatever order they come in.
    pub fn multi_file(name: &str, mut files: Vec<SourceFile>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        TorrentBuilder {
            files,
            single: false,
            ..Self::single_file(name, Path::new(""))
        }
    }

    /// Sets the piece length (a power of two, at least 16 KiB).
    pub fn piece_length(mut self, len: u32) -> Self {
        self.piece_length = Some(len);
        self
    }

    /// Starts every file on a piece boundary with BEP 47 pad files.
    pub fn align(mut self, on: bool) -> Self {
        self.align = on;
        self
    }

    /// Adds a tracker in a tier of its own.
    pub fn tracker(mut self, url: &str) -> Self {
        self.trackers.push(vec![url.to_owned()]);
        self
    }

    /// Adds a BEP 19 web seed root.
    pub fn web_seed(mut self, url: &str) -> Self {
        self.web_seeds.push(url.to_owned());
        self
    }

    /// Adds a BEP 38 similar torrent.
    pub fn similar(mut self, hash: InfoHash) -> Self {
        self.similar.push(hash);
        self
    }

    /// Sets the comment.
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_owned());
        self
    }

    /// Sets the creation date (seconds since the epoch); left out when unset, for reproducibility.
    pub fn creation_date(mut self, secs: i64) -> Self {
        self.creation_date = Some(secs);
        self
    }

    /// Hashes the payload and writes the torrent.
    pub fn build(self) -> Result<Torrent, BuildError> {
        let mut layout: Vec<(Vec<String>, u64, Option<PathBuf>)> = Vec::new();
        let mut total = 0u64;
        for f in &self.files {
            let len = std::fs::metadata(&f.source)
                .map_err(|source| BuildError::Read {
                    path: f.source.clone(),
                    source,
                })?
                .len();
            layout.push((f.path.clone(), len, Some(f.source.clone())));
            total += len;
        }
        let piece_length = self
            .piece_length
            .unwrap_or_else(|| default_piece_length(total));
        if self.align && !self.single {
            let pl = piece_length as u64;
            let mut padded = Vec::with_capacity(layout.len() * 2);
            let n = layout.len();
            for (i, entry) in layout.into_iter().enumerate() {
                let rem = entry.1 % pl;
                padded.push(entry);
                if rem != 0 && i + 1 < n {
                    let pad = pl - rem;
                    padded.push((vec![".pad".into(), pad.to_string()], pad, None));
                }
            }
            layout = padded;
        }

        let segments = layout
            .iter()
            .map(|(_, len, src)| match src {
                Some(path) => Segment::File {
                    path: path.clone(),
                    len: *len,
                },
                None => Segment::Zeros(*len),
            })
            .collect();
        let read_err = |source| BuildError::Read {
            path: self
                .files
                .first()
                .map(|f| f.source.clone())
                .unwrap_or_default(),
            source,
        };
        let hashes = PieceHasher::new(segments, piece_length)
            .and_then(|h| h.hash_all())
            .map_err(read_err)?;
        let pieces: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        let layout: Vec<(Vec<String>, u64, bool)> = layout
            .into_iter()
            .map(|(path, len, src)| (path, len, src.is_none()))
            .collect();
        self.assemble(&layout, piece_length, &pieces)
    }

    /// Writes the torrent of a laid-out payload (path, length, pad) whose piece hashes are known.
    pub(crate) fn assemble(
        &self,
        layout: &[(Vec<String>, u64, bool)],
        piece_length: u32,
        pieces: &[u8],
    ) -> Result<Torrent, BuildError> {
        let total = layout.iter().map(|f| f.1).sum();
        let files = (!self.single).then(|| {
            layout
                .iter()
                .map(|(path, len, pad)| OutFile {
                    length: *len,
                    path: path.iter().map(String::as_str).collect(),
                    attr: pad.then_some("p"),
                })
                .collect()
        });
        let info = OutInfo {
            name: &self.name,
            piece_length,
            pieces: ByteBuf(pieces),
            length: self.single.then_some(total),
            files,
            similar: self.similar.iter().map(|h| ByteBuf(&h.0)).collect(),
        };
        let mut info_bytes = Vec::new();
        bencode::bencode_serialize_to_writer(&info, &mut info_bytes)
            .map_err(|e| TorrentError::Malformed(format!("serializing info: {e}")))?;
        let out = OutTorrent {
            announce: self
                .trackers
                .first()
                .and_then(|t| t.first())
                .map(String::as_str),
            announce_list: self
                .trackers
                .iter()
                .map(|t| t.iter().map(String::as_str).collect())
                .collect(),
            comment: self.comment.as_deref(),
            created_by: concat!("Swarmdate ", env!("CARGO_PKG_VERSION")),
            creation_date: self.creation_date,
            info: RawValue(&info_bytes),
            url_list: self.web_seeds.iter().map(String::as_str).collect(),
        };
        let mut bytes = Vec::new();
        bencode::bencode_serialize_to_writer(&out, &mut bytes)
            .map_err(|e| TorrentError::Malformed(format!("serializing torrent: {e}")))?;
        Ok(Torrent::from_bytes(bytes)?)
    }
}

#[derive(Serialize)]
struct OutTorrent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    announce: Option<&'a str>,
    #[serde(rename = "announce-list", skip_serializing_if = "Vec::is_empty")]
    announce_list: Vec<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(rename = "created by")]
    created_by: &'a str,
    #[serde(rename = "creation date", skip_serializing_if = "Option::is_none")]
    creation_date: Option<i64>,
    info: RawValue<&'a [u8]>,
    #[serde(rename = "url-list", skip_serializing_if = "Vec::is_empty")]
    url_list: Vec<&'a str>,
}

#[derive(Serialize)]
struct OutInfo<'a> {
    name: &'a str,
    #[serde(rename = "piece length")]
    piece_length: u32,
    pieces: ByteBuf<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<OutFile<'a>>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    similar: Vec<ByteBuf<'a>>,
}

#[derive(Serialize)]
struct OutFile<'a> {
    length: u64,
    path: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attr: Option<&'a str>,
}
