//! Digest types: SHA-256 for content pins, SHA-1 for torrent pieces.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest;

/// A SHA-256 digest of a file or document, as pinned by the feed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

/// The SHA-1 hash of one torrent piece.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PieceHash(pub [u8; 20]);

/// A hex string that does not decode to the expected number of bytes.
#[derive(Debug, thiserror::Error)]
#[error("expected {expected} hex digits, got {got:?}")]
pub struct HexError {
    expected: usize,
    got: String,
}

/// Decodes exactly `N` bytes of hexadecimal.
pub fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| HexError {
        expected: N * 2,
        got: s.chars().take(80).collect(),
    })?;
    Ok(out)
}

impl Sha256 {
    /// The digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// The digest of a whole file, read in large blocks.
    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        Ok(Sha256(digest_file::<sha2::Sha256>(path)?.into()))
    }
}

/// Any digest of a whole file, read in 1 MiB blocks.
pub fn digest_file<D: Digest>(path: &Path) -> std::io::Result<sha2::digest::Output<D>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}

impl PieceHash {
    /// The SHA-1 of one piece's bytes.
    pub fn of(bytes: &[u8]) -> Self {
        PieceHash(sha1::Sha1::digest(bytes).into())
    }
}

macro_rules! hex_type {
    ($t:ty, $n:expr) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self)
            }
        }
        impl FromStr for $t {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                decode_hex::<$n>(s.trim()).map(Self)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_type!(Sha256, 32);
hex_type!(PieceHash, 20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vector_and_round_trips() {
        let d = Sha256::of(b"abc");
        assert_eq!(
            d.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_string().parse::<Sha256>().unwrap(), d);
        assert!("abcd".parse::<Sha256>().is_err());
    }

    #[test]
    fn piece_hash_matches_known_vector() {
        assert_eq!(
            PieceHash::of(b"abc").to_string(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
