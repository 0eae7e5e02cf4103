//! `publish feed`: collects the release entries in a folder, writes and signs `feed.json`.

use std::path::Path;

use chrono::{DateTime, Utc};

use serde::de::DeserializeOwned;

use super::iso::RELEASE_SUFFIX;
use super::master::REPO_SUFFIX;
use crate::feed::{FORMAT_VERSION, Feed, IsoVersion, KeyPair, Repository, sign_detached};
use crate::fsutil;

/// The feed's own fields.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    /// Distribution name.
    pub distribution: String,
    /// Release.
    pub release: String,
    /// Architecture.
    pub arch: String,
    /// Serial; default: one more than the feed already in the folder.
    pub serial: Option<u64>,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Refresh interval in seconds.
    pub refresh_interval_secs: u64,
    /// Trackers.
    pub trackers: Vec<String>,
    /// Web seed roots.
    pub web_seeds: Vec<String>,
}

/// Every entry `dir/*<suffix>`.
fn entries<T: DeserializeOwned>(dir: &Path, suffix: &str) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.to_string_lossy().ends_with(suffix) {
            out.push(
                serde_json::from_slice(&std::fs::read(&p)?)
                    .map_err(|e| anyhow::anyhow!("{} is not a feed entry: {e}", p.display()))?,
            );
        }
    }
    Ok(out)
}

/// Writes `dir/feed.json` and `dir/feed.json.sig` from the `*.release.json` (images) and
/// `*.repo.json` (repositories) entries in `dir`, each list newest first.
pub fn publish_feed(dir: &Path, spec: &FeedSpec, key: &KeyPair) -> anyhow::Result<Feed> {
    let mut isos: Vec<IsoVersion> = entries(dir, RELEASE_SUFFIX)?;
    isos.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.version.cmp(&a.version)));
    let mut repositories: Vec<Repository> = entries(dir, REPO_SUFFIX)?;
    repositories.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then_with(|| b.torrent_url.cmp(&a.torrent_url))
    });
    let feed_path = dir.join("feed.json");
    let previous = std::fs::read(&feed_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Feed>(&b).ok())
        .map(|f| f.serial);
    let serial = match (spec.serial, previous) {
        (Some(s), Some(p)) if s <= p => {
            anyhow::bail!("serial {s} is not above the published serial {p}")
        }
        (Some(s), _) => s,
        (None, p) => p.unwrap_or(0) + 1,
    };
    let feed = Feed {
        format: FORMAT_VERSION,
        serial,
        expires: spec.expires,
        refresh_interval_secs: spec.refresh_interval_secs,
        distribution: spec.distribution.clone(),
        release: spec.release.clone(),
        arch: spec.arch.clone(),
        repositories,
        isos,
        web_seeds: spec.web_seeds.clone(),
        trackers: spec.trackers.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&feed)?;
    let sig = sign_detached(key, &bytes)?;
    fsutil::write_atomic(&feed_path, &bytes)?;
    fsutil::write_atomic(&dir.join("feed.json.sig"), sig.as_bytes())?;
    Ok(feed)
}
