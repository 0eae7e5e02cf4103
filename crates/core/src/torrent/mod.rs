//! The torrent metainfo model: parsing that keeps the original info bytes, validation before anything
//! touches the disk, and a deterministic builder with BEP 47 piece alignment.

mod builder;
mod metainfo;
mod pieces;
mod subset;
mod validate;

pub use builder::{BuildError, SourceFile, TorrentBuilder, default_piece_length};
pub use metainfo::{Torrent, TorrentFile};
pub use pieces::{PieceHasher, PieceIndex, Segment, hash_file_pieces};
pub use subset::{Subset, SubsetError, master_of, match_subset, subset};
pub use validate::{Limits, TorrentError};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::{HexError, decode_hex};

/// A BitTorrent v1 info hash: the SHA-1 of the bencoded info dictionary; it names a swarm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The info hash of raw info-dictionary bytes.
    pub fn of_info_bytes(info: &[u8]) -> Self {
        use sha1::Digest;
        InfoHash(sha1::Sha1::digest(info).into())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

impl FromStr for InfoHash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        decode_hex::<20>(s.trim()).map(InfoHash)
    }
}

impl Serialize for InfoHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for InfoHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
