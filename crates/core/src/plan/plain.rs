//! Repositories without a feed, as dnf has them configured in a root (`.repo` files): their
//! repodata fetched from the first `baseurl` (or the first mirror of the metalink that serves the
//! `repomd.xml` it names) into a cache (fetched again only when `repomd.xml`
//! changes), checked file by file against it, and offered to the planner beside the feed's
//! repositories. Their packages come over plain HTTP (or `file://`) from the same base URL.

use std::path::{Path, PathBuf};

use super::Repo;
use crate::feed::{Fetcher, Location, RepoKind, TrustedKeys};
use crate::packages::{INDEX_FORMAT, IndexedPackage, PackageIndex};
use crate::repos::{
    Limits, Metalink, MirrorList, RepoConfig, RepoVars, Repodata, metadata_files, parse_metalink,
    parse_mirrorlist, read_repo_files, read_repodata,
};
use crate::torrent::InfoHash;

/// One plain repository, ready to plan with.
#[derive(Clone, Debug)]
pub struct PlainRepo {
    /// How dnf has it configured.
    pub config: RepoConfig,
    /// The base URL its repodata and packages are under (ends with `/`).
    pub base: Location,
    /// Its packages and advisories as the planner takes them. Not a torrent: its info hash is
    /// only a tag (the SHA-1 of the base URL) that no swarm has.
    pub repo: Repo,
}

impl PlainRepo {
    /// Where the package at `path` (as primary gives it) is fetched from.
    pub fn package_location(&self, path: &str) -> anyhow::Result<Location> {
        under(&self.base, path)
    }
}

/// `rel` (checked to stay inside, by the repodata reader) below the base URL `base`: for a
/// local base that is the folder itself (a document's `join` would take its parent).
fn under(base: &Location, rel: &str) -> anyhow::Result<Location> {
    Ok(match base {
        Location::File(dir) => Location::File(dir.join(rel)),
        Location::Http(_) => base.join(rel)?,
    })
}

/// A folder name for a repository id (ids may hold `:` and `/`-free punctuation).
fn cache_name(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// The base URL to use and its `repomd.xml`, as dnf finds them: from the `baseurl`s in order,
/// else from the mirrors of the metalink, else from those of the mirror list. A metalink's
/// mirror counts only if its `repomd.xml` has the digest (and size) the metalink gives.
async fn find_repomd(config: &RepoConfig, fetcher: &Fetcher) -> anyhow::Result<(String, Vec<u8>)> {
    if !config.baseurls.is_empty() {
        return first_serving(&config.baseurls, None, fetcher).await;
    }
    if let Some(metalink) = &config.metalink {
        let m = parse_metalink(
            &fetcher
                .get_limited(&Location::parse(metalink)?, SMALL)
                .await?,
        )?;
        return first_serving(&m.bases, Some(&m), fetcher).await;
    }
    if let Some(list) = &config.mirrorlist {
        let doc = fetcher.get_limited(&Location::parse(list)?, SMALL).await?;
        return match parse_mirrorlist(&doc)? {
            MirrorList::Bases(bases) => first_serving(&bases, None, fetcher).await,
            MirrorList::Metalink(m) => first_serving(&m.bases, Some(&m), fetcher).await,
        };
    }
    anyhow::bail!(
        "it has no baseurl, metalink or mirrorlist: add a baseurl to {}",
        config.file.display()
    )
}

/// repomd.xml, a metalink and a mirror list are small: refused past repomd.xml's own bound, not
/// the fetcher's (which is sized for package indexes).
const SMALL: u64 = Limits::DEFAULT_REPOMD;

/// The first of `bases` that serves a `repomd.xml` (the one `check` names, when given).
async fn first_serving(
    bases: &[String],
    check: Option<&Metalink>,
    fetcher: &Fetcher,
) -> anyhow::Result<(String, Vec<u8>)> {
    let mut tried = Vec::new();
    for base in bases {
        let base = if base.ends_with('/') {
            base.clone()
        } else {
            format!("{base}/")
        };
        let at = under(&Location::parse(&base)?, "repodata/repomd.xml")?;
        match fetcher.get_limited(&at, SMALL).await {
            Ok(repomd)
                if check.is_none_or(|m| {
                    crate::hash::Sha256::of(&repomd) == m.sha256
                        && m.size.is_none_or(|s| s == repomd.len() as u64)
                }) =>
            {
                return Ok((base, repomd));
            }
            // A mirror behind the metalink (or lying): the next one.
            Ok(_) => tried.push(format!("{}: stale or altered", at.display())),
            Err(e) => tried.push(format!("{e:#}")),
        }
    }
    anyhow::bail!(
        "no mirror serves {}repomd.xml ({})",
        if check.is_some() {
            "the metalink's "
        } else {
            ""
        },
        tried.join("; ")
    )
}

/// With `repo_gpgcheck=1`, `repomd.xml` must carry a detached signature (`repomd.xml.asc`) by
/// one of the keys its `gpgkey`s name. Only key files on the root's own disk count (a key fetched
/// from the same network as the metadata vouches for nothing; dnf asks the user first).
async fn check_repomd_signature(
    config: &RepoConfig,
    root: &Path,
    base: &Location,
    repomd: &[u8],
    fetcher: &Fetcher,
) -> anyhow::Result<()> {
    let mut keys = TrustedKeys::default();
    for key in &config.gpgkeys {
        let Some(path) = key.strip_prefix("file://") else {
            anyhow::bail!(
                "repo_gpgcheck is set but its key {key} is not a file on this machine: put the key under /etc/pki/rpm-gpg and name it with file:// in {}",
                config.file.display()
            );
        };
        let rel = Path::new(path.trim_start_matches('/'));
        anyhow::ensure!(
            rel.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "its gpgkey {key} leaves the root: name the key file by its plain path"
        );
        keys.add_file(&root.join(rel))?;
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "repo_gpgcheck is set but it names no gpgkey: add the repository's key to {}",
        config.file.display()
    );
    let at = under(base, "repodata/repomd.xml.asc")?;
    let sig = fetcher.get_limited(&at, SMALL).await.map_err(|e| {
        anyhow::anyhow!("repo_gpgcheck is set but its repomd.xml has no signature ({e:#})")
    })?;
    keys.verify(repomd, &sig)
        .map_err(|e| anyhow::anyhow!("its repomd.xml signature is refused: {e}"))?;
    Ok(())
}

/// Fetches (or takes from `cache`) and checks the repodata of `config`.
async fn load_one(
    config: &RepoConfig,
    root: &Path,
    cache: &Path,
    fetcher: &Fetcher,
) -> anyhow::Result<PlainRepo> {
    let (base_text, repomd) = find_repomd(config, fetcher).await?;
    let base = Location::parse(&base_text)?;
    if config.repo_gpgcheck {
        check_repomd_signature(config, root, &base, &repomd, fetcher).await?;
    }
    let dir: PathBuf = cache.join(cache_name(&config.id));
    let cached = dir.join("repodata/repomd.xml");
    let fresh = std::fs::read(&cached).is_ok_and(|old| old == repomd);
    let data = match fresh.then(|| read_repodata(&dir, Limits::default())) {
        Some(Ok(data)) => data,
        // New revision, or a cache that no longer checks out: fetch what repomd.xml names.
        _ => {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("repodata"))?;
            for (_, href) in metadata_files(&repomd)? {
                let dest = dir.join(&href);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                fetcher
                    .save(&under(&base, &href)?, &dest, Limits::default().file)
                    .await?;
            }
            crate::fsutil::write_atomic(&cached, &repomd)?;
            read_repodata(&dir, Limits::default())?
        }
    };
    let tag = {
        use sha1::Digest;
        InfoHash(sha1::Sha1::digest(base_text.as_bytes()).into())
    };
    Ok(PlainRepo {
        config: config.clone(),
        base,
        repo: Repo {
            // Not used by the planner; a plain repository mixes releases and updates.
            kind: RepoKind::Updates,
            index: index_of_repodata(data, &config.id, tag),
        },
    })
}

/// Checked repodata as the planner's package index, named `name` and tagged `tag` (not a
/// torrent: no swarm has it, and its packages have no pieces).
pub fn index_of_repodata(data: Repodata, name: &str, tag: InfoHash) -> PackageIndex {
    let packages = data
        .packages
        .into_iter()
        .enumerate()
        .map(|(i, p)| IndexedPackage {
            file_index: i,
            path: p.location,
            nevra: p.nevra,
            size: p.size,
            sha256: p.sha256,
            summary: p.summary,
            relations: p.relations,
            changelog: p.changelog,
        })
        .collect();
    PackageIndex {
        format: INDEX_FORMAT,
        info_hash: tag,
        name: name.to_owned(),
        piece_length: 0,
        packages,
        advisories: data.advisories,
    }
}

/// A configured repository that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// Its id.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// Every enabled repository configured in `root`, loaded; one that cannot be loaded is left out
/// and said so (as dnf's `skip_if_unavailable`), the others still count.
pub async fn load_plain_repositories(
    root: &Path,
    cache: &Path,
    fetcher: &Fetcher,
) -> anyhow::Result<(Vec<PlainRepo>, Vec<LeftOut>)> {
    let configs = read_repo_files(root, &RepoVars::of_root(root))?;
    let mut repos = Vec::new();
    let mut notices = Vec::new();
    for c in configs.iter().filter(|c| c.enabled) {
        match load_one(c, root, cache, fetcher).await {
            Ok(r) => repos.push(r),
            Err(e) => notices.push(LeftOut {
                id: c.id.clone(),
                reason: format!("{e:#}"),
            }),
        }
    }
    Ok((repos, notices))
}
