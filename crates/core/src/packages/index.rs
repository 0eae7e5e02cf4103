//! The package index (format 1): what a master or snapshot torrent holds, package by package, with
//! what dependency resolution needs. Published beside the torrent and pinned by the feed.

use serde::{Deserialize, Serialize};

use super::Nevra;
use super::Relations;
use crate::hash::Sha256;
use crate::torrent::InfoHash;

/// The index format this build reads and writes.
pub const INDEX_FORMAT: u32 = 1;

/// The packages of one repository torrent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageIndex {
    /// Always [`INDEX_FORMAT`] for this reader.
    pub format: u32,
    /// The torrent these packages are in.
    pub info_hash: InfoHash,
    /// The torrent's name: the repository's folder on the mirror.
    pub name: String,
    /// The torrent's piece length.
    pub piece_length: u32,
    /// Every package, in the torrent's file order.
    pub packages: Vec<IndexedPackage>,
    /// The advisories of the repository's updateinfo, carried from its repodata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<swarmdate_repos::Advisory>,
}

/// One package in a repository torrent. (Unknown fields are ignored: serde cannot refuse them
/// beside flattened ones.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexedPackage {
    /// Its index in the torrent's file list (pad files count).
    pub file_index: usize,
    /// Its path below the torrent's name, as on the mirror (`Packages/f/foo-1-1.x86_64.rpm`).
    pub path: String,
    /// Name, version and architecture.
    #[serde(flatten)]
    pub nevra: Nevra,
    /// File size in bytes.
    pub size: u64,
    /// The file's digest: a download enters the store only when it matches.
    pub sha256: Sha256,
    /// One line for people.
    #[serde(default)]
    pub summary: String,
    /// Provides, requires, obsoletes, conflicts.
    #[serde(flatten)]
    pub relations: Relations,
    /// Its newest changelog entries (from the repository's `other` metadata), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changelog: Vec<swarmdate_repos::ChangelogEntry>,
}

/// An index that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Not JSON of the expected shape.
    #[error("the package index is malformed: {0}")]
    Malformed(String),
    /// Another format version.
    #[error(
        "the package index has format {0}; this Swarmdate reads format {INDEX_FORMAT}: update Swarmdate"
    )]
    Format(u32),
}

impl PackageIndex {
    /// Parses and checks an index document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, IndexError> {
        #[derive(Deserialize)]
        struct Probe {
            format: u32,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| IndexError::Malformed(e.to_string()))?;
        if probe.format != INDEX_FORMAT {
            return Err(IndexError::Format(probe.format));
        }
        serde_json::from_slice(bytes).map_err(|e| IndexError::Malformed(e.to_string()))
    }

    /// The index as published (compact JSON: a Fedora-sized index is tens of megabytes).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index always serializes")
    }
}
