//! `publish master`: a repository laid out like a mirror (`Packages/<letter>/*.rpm`) becomes a
//! piece-aligned torrent (release master or updates snapshot), its package index, and a feed entry.
//! A repository with `createrepo_c` repodata is published from it: the index comes from primary
//! (no package is opened, each file is only hashed to check it), the advisories from updateinfo,
//! and the files, signatures and all, stay as the distribution made them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::feed::{RepoKind, Repository};
use crate::fsutil;
use crate::hash::Sha256;
use crate::packages::{INDEX_FORMAT, IndexedPackage, PackageIndex, Relations};
use crate::torrent::{InfoHash, SourceFile, Torrent, TorrentBuilder};

/// The suffix of the feed-entry file written beside each repository torrent.
pub const REPO_SUFFIX: &str = ".repo.json";

/// The padding budget when choosing a piece length: at most this share of the payload.
const PADDING_BUDGET: f64 = 0.02;

/// Options for publishing a repository.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// Release master or updates snapshot.
    pub kind: RepoKind,
    /// The file names' stem (`release`, `updates-20261202`): `<id>.torrent`, `<id>.index.json`.
    pub id: String,
    /// The torrent's name (default: the repository folder's own name, as on the mirror).
    pub name: Option<String>,
    /// Piece length (default: the largest that keeps padding within 2% of the payload).
    pub piece_length: Option<u32>,
    /// Tracker announce URLs.
    pub trackers: Vec<String>,
    /// Mirror URLs of the folder above the repository (BEP 19: root + name + path).
    pub web_seeds: Vec<String>,
    /// Earlier snapshots (BEP 38).
    pub similar: Vec<InfoHash>,
    /// Folder for the outputs.
    pub out_dir: PathBuf,
    /// Snapshot date (default: now).
    pub date: Option<DateTime<Utc>>,
    /// Fingerprints of the keys the packages are signed with, for the feed to name.
    pub signing_keys: Vec<crate::openpgp::Fingerprint>,
    /// Read every package's header even where repodata is present.
    pub ignore_repodata: bool,
}

/// Padding for one candidate piece length.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PaddingFigure {
    /// The piece length.
    pub piece_length: u32,
    /// Pad bytes the torrent would carry.
    pub padding: u64,
    /// Pieces it would have (20 bytes each in the .torrent).
    pub pieces: u64,
}

/// What `publish_master` made.
#[derive(Debug)]
pub struct PublishedRepo {
    /// The torrent.
    pub torrent: Torrent,
    /// The package index.
    pub index: PackageIndex,
    /// The feed entry.
    pub entry: Repository,
    /// Padding at every candidate piece length, the chosen one among them.
    pub padding: Vec<PaddingFigure>,
}

/// Padding and pieces of an aligned torrent of files of these sizes, for each piece length from
/// 16 KiB to 16 MiB.
pub fn padding_figures(sizes: &[u64]) -> Vec<PaddingFigure> {
    (14..=24)
        .map(|bits| {
            let pl = 1u64 << bits;
            let n = sizes.len();
            let padding: u64 = sizes
                .iter()
                .take(n.saturating_sub(1))
                .map(|s| (pl - s % pl) % pl)
                .sum();
            let total: u64 = sizes.iter().sum::<u64>() + padding;
            PaddingFigure {
                piece_length: pl as u32,
                padding,
                pieces: total.div_ceil(pl),
            }
        })
        .collect()
}

/// The largest piece length whose padding stays within the budget (fewer pieces: a smaller
/// .torrent and fewer hashes to check); 16 KiB when none does.
pub fn choose_piece_length(figures: &[PaddingFigure], payload: u64) -> u32 {
    figures
        .iter()
        .filter(|f| f.padding as f64 <= PADDING_BUDGET * payload as f64)
        .map(|f| f.piece_length)
        .max()
        .unwrap_or(16 << 10)
}

/// Every `*.rpm` below `repo/Packages`, as path components below `repo`, in path order.
fn find_packages(repo: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("Packages")];
    while let Some(rel) = dirs.pop() {
        let abs = repo.join(&rel);
        for e in std::fs::read_dir(&abs).with_context(|| format!("reading {}", abs.display()))? {
            let e = e?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| anyhow::anyhow!("{n:?} in {} is not UTF-8", abs.display()))?;
            let ty = e.file_type()?;
            if ty.is_dir() {
                dirs.push(rel.join(&name));
            } else if ty.is_file() && name.ends_with(".rpm") {
                let mut comps: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                comps.push(name);
                out.push(comps);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One package of the repository, as its header or primary describes it.
struct Scanned {
    path: Vec<String>,
    nevra: crate::packages::Nevra,
    summary: String,
    relations: Relations,
    changelog: Vec<swarmdate_repos::ChangelogEntry>,
    size: u64,
    sha256: Sha256,
}

/// Every package under `repo/Packages`, read from its header, and hashed.
fn scan_headers(repo: &Path) -> anyhow::Result<Vec<Scanned>> {
    let paths = find_packages(repo)?;
    anyhow::ensure!(
        !paths.is_empty(),
        "{} has no packages under Packages/: point at the repository folder (the one holding Packages/)",
        repo.display()
    );
    // Headers and digests on every core.
    paths
        .into_par_iter()
        .map(|path| {
            let file = path.iter().fold(repo.to_owned(), |p, c| p.join(c));
            // The rpm crate panics on some damaged headers (see `packages/verify.rs`).
            let meta = std::panic::catch_unwind(|| rpm::PackageMetadata::open(&file))
                .map_err(|_| anyhow::anyhow!("{} has a damaged header", file.display()))?
                .with_context(|| format!("{} is not an RPM package", file.display()))?;
            let header = crate::packages::installed_from_header(&meta)
                .with_context(|| format!("reading the header of {}", file.display()))?;
            Ok(Scanned {
                size: std::fs::metadata(&file)?.len(),
                sha256: Sha256::of_file(&file)?,
                path,
                nevra: header.nevra,
                summary: header.summary,
                relations: header.relations,
                // As createrepo_c's other.xml has them: the newest entries, newest first.
                changelog: meta
                    .get_changelog_entries()
                    .unwrap_or_default()
                    .into_iter()
                    .take(swarmdate_repos::CHANGELOG_LIMIT)
                    .map(|c| swarmdate_repos::ChangelogEntry {
                        author: c.name,
                        timestamp: c.timestamp,
                        text: c.description,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Every package primary lists, each file checked against primary's size and SHA-256 (the
/// torrent will carry exactly these bytes), and the advisories of updateinfo.
fn scan_repodata(repo: &Path) -> anyhow::Result<(Vec<Scanned>, Vec<swarmdate_repos::Advisory>)> {
    let data = swarmdate_repos::read_repodata(repo, swarmdate_repos::Limits::default())?;
    anyhow::ensure!(
        !data.packages.is_empty(),
        "{}'s repodata lists no packages",
        repo.display()
    );
    let mut scanned: Vec<Scanned> = data
        .packages
        .into_par_iter()
        .map(|p| {
            let file = repo.join(&p.location);
            let stale = "the repodata is stale (run createrepo_c again) or the file was altered";
            let size = std::fs::metadata(&file)
                .with_context(|| format!("{} is listed in primary: {stale}", p.location))?
                .len();
            anyhow::ensure!(
                size == p.size,
                "{} is {size} bytes, primary says {}: {stale}",
                p.location,
                p.size
            );
            let sha256 = Sha256::of_file(&file)?;
            anyhow::ensure!(
                sha256 == p.sha256,
                "{}'s SHA-256 is {sha256}, primary says {}: {stale}",
                p.location,
                p.sha256
            );
            Ok(Scanned {
                path: p.location.split('/').map(str::to_owned).collect(),
                nevra: p.nevra,
                summary: p.summary,
                relations: p.relations,
                changelog: p.changelog,
                size,
                sha256,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // The torrent's file order, as for a repository read from its headers.
    scanned.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = scanned.windows(2).find(|w| w[0].path == w[1].path) {
        anyhow::bail!("primary lists {} twice", w[0].path.join("/"));
    }
    Ok((scanned, data.advisories))
}

/// Whether `repo` has repodata to publish from.
pub fn has_repodata(repo: &Path) -> bool {
    repo.join("repodata/repomd.xml").is_file()
}

/// Writes `<id>.torrent`, `<id>.index.json` and `<id>.repo.json` (the feed entry) for `repo`.
pub fn publish_master(repo: &Path, opts: &MasterOptions) -> anyhow::Result<PublishedRepo> {
    let (scanned, advisories) = if has_repodata(repo) && !opts.ignore_repodata {
        scan_repodata(repo)?
    } else {
        (scan_headers(repo)?, Vec::new())
    };

    let sizes: Vec<u64> = scanned.iter().map(|s| s.size).collect();
    let payload: u64 = sizes.iter().sum();
    let padding = padding_figures(&sizes);
    let piece_length = opts
        .piece_length
        .unwrap_or_else(|| choose_piece_length(&padding, payload));
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => repo
            .canonicalize()?
            .file_name()
            .and_then(|n| n.to_str())
            .context("the repository folder has no name: pass --name")?
            .to_owned(),
    };

    let files = scanned
        .iter()
        .map(|s| SourceFile {
            path: s.path.clone(),
            source: s.path.iter().fold(repo.to_owned(), |p, c| p.join(c)),
        })
        .collect();
    let mut b = TorrentBuilder::multi_file(&name, files)
        .align(true)
        .piece_length(piece_length);
    for t in &opts.trackers {
        b = b.tracker(t);
    }
    for w in &opts.web_seeds {
        b = b.web_seed(w);
    }
    for h in &opts.similar {
        b = b.similar(*h);
    }
    let torrent = b.build()?;

    let index_of = torrent.file_indexes_by_path();
    let packages = scanned
        .iter()
        .map(|s| IndexedPackage {
            file_index: index_of[s.path.as_slice()],
            path: s.path.join("/"),
            nevra: s.nevra.clone(),
            size: s.size,
            sha256: s.sha256,
            summary: s.summary.clone(),
            relations: s.relations.clone(),
            changelog: s.changelog.clone(),
        })
        .collect();
    let index = PackageIndex {
        format: INDEX_FORMAT,
        info_hash: torrent.info_hash(),
        name,
        piece_length,
        packages,
        advisories,
    };
    let index_bytes = index.to_json();

    std::fs::create_dir_all(&opts.out_dir)?;
    let torrent_name = format!("{}.torrent", opts.id);
    let index_name = format!("{}.index.json", opts.id);
    fsutil::write_atomic(&opts.out_dir.join(&torrent_name), torrent.bytes())?;
    fsutil::write_atomic(&opts.out_dir.join(&index_name), &index_bytes)?;
    let entry = Repository {
        kind: opts.kind,
        torrent_url: torrent_name,
        info_hash: torrent.info_hash(),
        index_url: index_name,
        index_sha256: Sha256::of(&index_bytes),
        date: opts.date.unwrap_or_else(Utc::now),
        signing_keys: opts.signing_keys.clone(),
    };
    fsutil::write_atomic(
        &opts.out_dir.join(format!("{}{REPO_SUFFIX}", opts.id)),
        &serde_json::to_vec_pretty(&entry)?,
    )?;
    Ok(PublishedRepo {
        torrent,
        index,
        entry,
        padding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_measured_exactly_and_the_largest_length_within_budget_wins() {
        // Three files: 100 KiB, 1 MiB, 10 KiB (the last needs no padding).
        let sizes = [100 << 10, 1 << 20, 10 << 10];
        let f = padding_figures(&sizes);
        let at = |pl: u32| f.iter().find(|x| x.piece_length == pl).unwrap();
        assert_eq!(at(64 << 10).padding, 28 << 10); // 100 KiB → 128 KiB; 1 MiB fits exactly
        assert_eq!(at(1 << 20).padding, 924 << 10);
        assert_eq!(at(16 << 10).pieces, (112 + 1024 + 10u64).div_ceil(16));
        let payload: u64 = sizes.iter().sum();
        // 2% of 1134 KiB is about 22.7 KiB: 32 KiB pieces pad 100 KiB to 128 KiB (28 KiB), too
        // much; 16 KiB pads 12 KiB.
        assert_eq!(choose_piece_length(&f, payload), 16 << 10);
        let big = vec![(8 << 20) + 1000; 10];
        let g = padding_figures(&big);
        // 8 MiB + 1000 B files: 128 KiB pieces pad 1.4%, 256 KiB would pad 2.8%.
        assert_eq!(choose_piece_length(&g, big.iter().sum()), 128 << 10);
    }
}
