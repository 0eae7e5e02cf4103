//! `publish iso`: a torrent for an image and its feed entry.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::feed::IsoVersion;
use crate::fsutil;
use crate::hash::Sha256;
use crate::torrent::{Torrent, TorrentBuilder};

/// The suffix of the feed-entry file written beside each image torrent.
pub const RELEASE_SUFFIX: &str = ".release.json";

/// Options for publishing an image.
#[derive(Debug, Clone, Default)]
pub struct IsoPublishOptions {
    /// Piece length (default: chosen from the image's size).
    pub piece_length: Option<u32>,
    /// Tracker announce URLs.
    pub trackers: Vec<String>,
    /// Web seed roots.
    pub web_seeds: Vec<String>,
    /// Folder for the .torrent and the entry (default: the image's folder).
    pub out_dir: Option<PathBuf>,
    /// Publication date (default: now).
    pub date: Option<DateTime<Utc>>,
}

/// Writes `<image name>.torrent` and `<image name>.release.json` (the feed entry).
pub fn publish_iso(
    image: &Path,
    version: &str,
    opts: &IsoPublishOptions,
) -> anyhow::Result<(Torrent, IsoVersion)> {
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .context("the image path has no file name")?;
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| fsutil::parent_dir(image).to_owned());
    std::fs::create_dir_all(&out_dir)?;
    let mut b =
        TorrentBuilder::single_file(name, image).comment(&format!("{name} version {version}"));
    if let Some(pl) = opts.piece_length {
        b = b.piece_length(pl);
    }
    for t in &opts.trackers {
        b = b.tracker(t);
    }
    for w in &opts.web_seeds {
        b = b.web_seed(w);
    }
    let torrent = b.build()?;
    let torrent_name = format!("{name}.torrent");
    fsutil::write_atomic(&out_dir.join(&torrent_name), torrent.bytes())?;
    let entry = IsoVersion {
        version: version.to_owned(),
        date: opts.date.unwrap_or_else(Utc::now),
        size: torrent.total_length(),
        sha256: Sha256::of_file(image)?,
        torrent_url: torrent_name,
        info_hash: torrent.info_hash(),
        layout_url: None,
        layout_sha256: None,
    };
    fsutil::write_atomic(
        &out_dir.join(format!("{name}{RELEASE_SUFFIX}")),
        &serde_json::to_vec_pretty(&entry)?,
    )?;
    Ok((torrent, entry))
}
