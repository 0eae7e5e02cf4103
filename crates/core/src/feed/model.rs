//! The feed document, format version 1.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::hash::Sha256;
use crate::torrent::InfoHash;

/// The feed format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A distribution's feed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// Always [`FORMAT_VERSION`] for this reader.
    pub format: u32,
    /// Increases with every publication; an older one than last seen is a replay.
    pub serial: u64,
    /// After this instant the feed is refused (no silent freeze).
    pub expires: DateTime<Utc>,
    /// How often clients fetch the feed again, in seconds.
    pub refresh_interval_secs: u64,
    /// Distribution name, for people.
    pub distribution: String,
    /// Release, such as "41".
    pub release: String,
    /// Architecture, such as "x86_64".
    pub arch: String,
    /// Release master and updates snapshots, newest first.
    #[serde(default)]
    pub repositories: Vec<Repository>,
    /// Installation images, newest first.
    #[serde(default)]
    pub isos: Vec<IsoVersion>,
    /// Mirror roots (BEP 19 web seeds).
    #[serde(default)]
    pub web_seeds: Vec<String>,
    /// Tracker announce URLs.
    #[serde(default)]
    pub trackers: Vec<String>,
}

/// Which kind of package repository a torrent carries.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    /// The release's frozen GA repository.
    Release,
    /// A snapshot of the updates repository.
    Updates,
}

/// A package repository torrent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// Release master or updates snapshot.
    pub kind: RepoKind,
    /// The torrent's URL, relative to the feed or absolute.
    pub torrent_url: String,
    /// The pinned info hash.
    pub info_hash: InfoHash,
    /// The package index's URL.
    pub index_url: String,
    /// The package index's pinned digest.
    pub index_sha256: Sha256,
    /// When the snapshot was taken.
    pub date: DateTime<Utc>,
    /// The fingerprints of the keys the repository's packages are signed with: a package signed
    /// by any other key is refused, even one the root trusts. Empty: the root's keys decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<crate::openpgp::Fingerprint>,
}

/// One published version of an installation image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IsoVersion {
    /// The version, such as "1.01".
    pub version: String,
    /// Publication date.
    pub date: DateTime<Utc>,
    /// Image size in bytes.
    pub size: u64,
    /// The image's pinned digest.
    pub sha256: Sha256,
    /// The torrent's URL, relative to the feed or absolute.
    pub torrent_url: String,
    /// The pinned info hash.
    pub info_hash: InfoHash,
    /// An optional layout manifest (path, offset, length, digest per file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_url: Option<String>,
    /// The layout manifest's pinned digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_sha256: Option<Sha256>,
}

impl Feed {
    /// The ISO version with this version string.
    pub fn iso(&self, version: &str) -> Option<&IsoVersion> {
        self.isos.iter().find(|v| v.version == version)
    }

    /// Whether any torrent in the feed is pinned to this info hash.
    pub fn pins(&self, hash: &InfoHash) -> bool {
        self.isos.iter().any(|v| &v.info_hash == hash)
            || self.repositories.iter().any(|r| &r.info_hash == hash)
    }
}
