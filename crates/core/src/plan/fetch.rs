//! The feed's repositories: each torrent and package index fetched and checked against its pin.

use anyhow::Context;

use super::catalogue::Repo;
use crate::feed::{Fetcher, VerifiedFeed};
use crate::hash::Sha256;
use crate::iso::PinMismatch;
use crate::packages::PackageIndex;
use crate::torrent::Torrent;

/// A package index whose digest is not the one the feed pins.
#[derive(Debug, thiserror::Error)]
#[error("the package index {url} has SHA-256 {got}, but the feed pins {pinned}: refusing it")]
pub struct IndexPinMismatch {
    /// Where it came from.
    pub url: String,
    /// The pinned digest.
    pub pinned: Sha256,
    /// The digest of what arrived.
    pub got: Sha256,
}

/// A repository of the feed, ready to use.
#[derive(Clone, Debug)]
pub struct LoadedRepo {
    /// Its torrent (the pinned one).
    pub torrent: Torrent,
    /// Its index (the pinned one, describing that torrent).
    pub repo: Repo,
    /// The index as published, to hand to the engine.
    pub index_bytes: Vec<u8>,
    /// The keys the feed names for its packages (none: the root's keys decide).
    pub signing_keys: Vec<crate::openpgp::Fingerprint>,
}

/// Fetches every repository of the feed, newest first, each torrent and index checked against
/// its pin before use.
pub async fn load_repositories(
    feed: &VerifiedFeed,
    fetcher: &Fetcher,
) -> anyhow::Result<Vec<LoadedRepo>> {
    let futures = feed.feed.repositories.iter().map(|entry| async move {
        let tloc = feed.location.join(&entry.torrent_url)?;
        let bytes = fetcher.get(&tloc).await?;
        let torrent = Torrent::from_bytes(bytes)
            .with_context(|| format!("reading the torrent {}", tloc.display()))?;
        if torrent.info_hash() != entry.info_hash {
            return Err(PinMismatch {
                what: format!("repository {}", entry.torrent_url),
                pinned: entry.info_hash,
                got: torrent.info_hash(),
            }
            .into());
        }
        let iloc = feed.location.join(&entry.index_url)?;
        let index_bytes = fetcher.get(&iloc).await?;
        let got = Sha256::of(&index_bytes);
        if got != entry.index_sha256 {
            return Err(IndexPinMismatch {
                url: iloc.display(),
                pinned: entry.index_sha256,
                got,
            }
            .into());
        }
        let index = PackageIndex::from_json(&index_bytes)?;
        anyhow::ensure!(
            index.info_hash == entry.info_hash,
            "the package index {} describes another torrent ({}) than the one it is pinned with",
            iloc.display(),
            index.info_hash
        );
        Ok::<_, anyhow::Error>(LoadedRepo {
            torrent,
            repo: Repo {
                kind: entry.kind,
                index,
            },
            index_bytes,
            signing_keys: entry.signing_keys.clone(),
        })
    });
    futures::future::try_join_all(futures).await
}
