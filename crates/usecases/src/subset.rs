//! Subset torrents of the user's repositories: exporting what the store holds (and what the next
//! update wants) as a standalone torrent any BitTorrent client can seed, and taking in a subset
//! someone else made. Either way the engine joins the subset's swarm on the same store, so a
//! third-party client seeding it serves this machine, which serves the master swarm in turn.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::User;
use swarmdate_core::fsutil;
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{IndexedPackage, PackageIndex};
use swarmdate_core::plan::LoadedRepo;
use swarmdate_core::store::PackageStore;
use swarmdate_core::torrent::{Torrent, match_subset, subset};
use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{JobId, JobSpec, RepoSpec};

/// A subset on the store and the job that shares it.
#[derive(Debug)]
pub struct SubsetJob {
    /// The subset torrent.
    pub torrent: Torrent,
    /// Its packages, with their places in the subset.
    pub index: PackageIndex,
    /// The engine's job for its swarm.
    pub job: JobId,
}

impl SubsetJob {
    /// The packages of the subset the store does not hold yet.
    pub fn missing(&self, store: &PackageStore) -> Vec<&IndexedPackage> {
        self.index
            .packages
            .iter()
            .filter(|p| !store.holds(&p.sha256))
            .collect()
    }
}

/// Writes the subset of one repository with every package the store holds and every one in
/// `wanted`: the repository whose torrent URL ends with `repo` (or whose info hash starts with
/// it) when given, else the one that carries the most of them. The engine then seeds it.
pub async fn export(
    client: &User,
    engine: &EngineHandle,
    repo: Option<&str>,
    wanted: &HashSet<Sha256>,
) -> anyhow::Result<SubsetJob> {
    let feed = client.feed().await?;
    let repos = swarmdate_core::plan::load_repositories(&feed, client.fetcher()).await?;
    let store = PackageStore::open(&client.dirs.store())?;
    let chosen_of = |r: &LoadedRepo| -> Vec<IndexedPackage> {
        r.repo
            .index
            .packages
            .iter()
            .filter(|p| store.holds(&p.sha256) || wanted.contains(&p.sha256))
            .cloned()
            .collect()
    };
    let (master, chosen) = match repo {
        Some(id) => {
            let r = repos
                .iter()
                .zip(&feed.feed.repositories)
                .find(|(_, e)| {
                    e.torrent_url.trim_end_matches(".torrent").ends_with(id)
                        || e.info_hash.to_string().starts_with(id)
                })
                .map(|(r, _)| r)
                .with_context(|| format!("the feed lists no repository {id}"))?;
            (r, chosen_of(r))
        }
        None => repos
            .iter()
            .map(|r| (r, chosen_of(r)))
            .max_by_key(|(_, c)| c.iter().map(|p| p.size).sum::<u64>())
            .context("the feed lists no repository")?,
    };
    anyhow::ensure!(
        !chosen.is_empty(),
        "the store holds no package of that repository yet: update first, then export"
    );
    let files: BTreeSet<usize> = chosen.iter().map(|p| p.file_index).collect();
    let sub = subset(&master.torrent, &files)?;
    let packages = chosen
        .into_iter()
        .map(|mut p| {
            p.file_index = sub.files[&p.file_index];
            p
        })
        .collect();
    let index = PackageIndex {
        info_hash: sub.torrent.info_hash(),
        packages,
        ..master.repo.index.clone()
    };
    let job = share(
        client,
        engine,
        &sub.torrent,
        &index,
        &feed.feed.web_seeds,
        false,
    )
    .await?;
    Ok(SubsetJob {
        torrent: sub.torrent,
        index,
        job,
    })
}

/// A subset of one of the feed's repositories, recognised: its index is the master's, entry by
/// entry, at the subset's places.
#[derive(Debug)]
pub struct Recognised {
    index: PackageIndex,
    mirrors: Vec<String>,
}

/// Whether `candidate` is a subset of a repository the feed pins (it names the master as similar
/// and every file has the master's pieces); `None` when it is not.
pub async fn recognise(client: &User, candidate: &Torrent) -> anyhow::Result<Option<Recognised>> {
    if candidate.similar.is_empty() {
        return Ok(None);
    }
    let feed = client.feed().await?;
    let repos = swarmdate_core::plan::load_repositories(&feed, client.fetcher()).await?;
    let Some((master, map)) = repos
        .iter()
        .find_map(|r| match_subset(candidate, &r.torrent).map(|m| (r, m)))
    else {
        return Ok(None);
    };
    let packages: Vec<IndexedPackage> = map
        .iter()
        .filter_map(|(&k, &i)| {
            let p = master
                .repo
                .index
                .packages
                .iter()
                .find(|p| p.file_index == i)?;
            Some(IndexedPackage {
                file_index: k,
                ..p.clone()
            })
        })
        .collect();
    anyhow::ensure!(
        packages.len() == map.len(),
        "the subset carries files that are not packages of {}",
        master.torrent.name
    );
    Ok(Some(Recognised {
        index: PackageIndex {
            info_hash: candidate.info_hash(),
            packages,
            ..master.repo.index.clone()
        },
        mirrors: feed.feed.web_seeds.clone(),
    }))
}

/// Takes a recognised subset in: its packages the store lacks are fetched into it (each checked
/// against its digest) and all are shared there.
pub async fn take_in(
    client: &User,
    engine: &EngineHandle,
    candidate: &Torrent,
    found: Recognised,
) -> anyhow::Result<SubsetJob> {
    let job = share(
        client,
        engine,
        candidate,
        &found.index,
        &found.mirrors,
        true,
    )
    .await?;
    Ok(SubsetJob {
        torrent: candidate.clone(),
        index: found.index,
        job,
    })
}

/// Waits until the store holds every package of the subset, or its job fails.
pub async fn wait_held(
    engine: &EngineHandle,
    job: &SubsetJob,
    store: &PackageStore,
) -> anyhow::Result<()> {
    let mut rx = engine.subscribe();
    loop {
        if job.missing(store).is_empty() {
            return Ok(());
        }
        let failed = rx
            .borrow_and_update()
            .jobs
            .iter()
            .find_map(|j| match &j.state {
                swarmdate_engine::JobState::Failed(e) if j.id == job.job => Some(e.clone()),
                _ => None,
            });
        if let Some(e) = failed {
            anyhow::bail!(e);
        }
        rx.changed()
            .await
            .context("the engine stopped before the subset was complete")?;
    }
}

/// Saves the subset's index beside the engine and adds its repository job; with `fetch`, the
/// packages the store lacks are wanted.
async fn share(
    client: &User,
    engine: &EngineHandle,
    torrent: &Torrent,
    index: &PackageIndex,
    mirrors: &[String],
    fetch: bool,
) -> anyhow::Result<JobId> {
    let path = index_path(&client.dirs.engine(), torrent);
    std::fs::create_dir_all(path.parent().unwrap())?;
    fsutil::write_atomic(&path, &serde_json::to_vec(index)?)?;
    let store = PackageStore::open(&client.dirs.store())?;
    let wanted = if fetch {
        index
            .packages
            .iter()
            .filter(|p| !store.holds(&p.sha256))
            .map(|p| p.file_index)
            .collect()
    } else {
        BTreeSet::new()
    };
    let spec = RepoSpec {
        index: path,
        wanted,
        mirrors: mirrors.to_vec(),
        images: Vec::new(),
    };
    Ok(engine.add_job(torrent, JobSpec::Repository(spec)).await?)
}

/// Where a subset's index is kept.
fn index_path(engine_dir: &Path, torrent: &Torrent) -> PathBuf {
    engine_dir
        .join("subsets")
        .join(format!("{}.json", torrent.info_hash()))
}

/// Lays the subset's payload out under `dir` for another client to seed from the store: each
/// package a hard link to its store object (a copy across file systems), each pad file a sparse
/// file of zeros (Transmission 3.00 wants them on disk). Returns the payload's folder.
pub fn lay_out(job: &SubsetJob, store: &PackageStore, dir: &Path) -> anyhow::Result<PathBuf> {
    let root = dir.join(&job.torrent.name);
    for (i, f) in job.torrent.files.iter().enumerate() {
        let path = f.path.iter().fold(root.clone(), |p, c| p.join(c));
        std::fs::create_dir_all(path.parent().unwrap())?;
        if f.pad {
            std::fs::File::create(&path)?.set_len(f.length)?;
            continue;
        }
        let Some(p) = job.index.packages.iter().find(|p| p.file_index == i) else {
            continue;
        };
        if !store.holds(&p.sha256) {
            continue;
        }
        let object = store.object_path(&p.sha256);
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(&object, &path).is_err() {
            std::fs::copy(&object, &path)
                .with_context(|| format!("copying {} to {}", object.display(), path.display()))?;
        }
    }
    Ok(root)
}
