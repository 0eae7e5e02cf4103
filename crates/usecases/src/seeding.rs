//! Seeding, as both faces control it: what is shared and what it gave (`status`, `view`), a
//! payload added to share (`share`), the local image shared when nothing else uses it, and pausing.

use std::path::{Path, PathBuf};

use serde::Serialize;
use swarmdate_core::ledger::{Ledger, Totals};
use swarmdate_core::torrent::{InfoHash, Torrent};
use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{
    EngineError, JobId, JobKind, JobRecord, JobSpec, JobState, Payload, read_journal,
};

use crate::User;
use crate::switching;
use crate::versions::Versions;

/// One torrent the engine's journal holds, as `seed --status` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Seeded {
    /// The job.
    pub id: JobId,
    /// Its torrent.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Paused by the user or the seeding goal.
    pub paused: bool,
    /// The seeding goal is reached.
    pub goal_met: bool,
    /// Packages it seeds from inside the user's images (those the store lacks).
    pub packages_in_images: u64,
}

/// What is seeded and what it gave, read from the engine's folder (the engine need not run).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Every torrent in the journal.
    pub jobs: Vec<Seeded>,
    /// Lifetime figures per torrent, from the ledger.
    pub contribution: Vec<Totals>,
}

impl Status {
    /// Bytes uploaded over all torrents, ever.
    pub fn uploaded(&self) -> u64 {
        self.contribution.iter().map(|t| t.uploaded).sum()
    }
}

/// Reads what `client`'s engine seeds and has given.
pub fn status(client: &User) -> anyhow::Result<Status> {
    let dir = client.dirs.engine();
    let ledger = Ledger::open(&dir.join("ledger.sqlite"))?;
    let records = read_journal(&dir)?;
    // Opened once for all jobs, and only when a job seeds from images (opening creates the store).
    let store = match records.iter().any(seeds_from_images) {
        true => Some(swarmdate_core::store::PackageStore::open(
            &client.dirs.store(),
        )?),
        false => None,
    };
    let jobs = records
        .into_iter()
        .map(|j| {
            Ok(Seeded {
                packages_in_images: match &store {
                    Some(store) => packages_from_images(client, store, &j)?,
                    None => 0,
                },
                id: j.id,
                info_hash: j.info_hash,
                name: j.name,
                paused: j.paused,
                goal_met: j.goal_met,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Status {
        jobs,
        contribution: ledger.totals()?,
    })
}

/// Whether a job is a repository job that seeds packages from inside images.
fn seeds_from_images(job: &JobRecord) -> bool {
    matches!(&job.spec, JobSpec::Repository(spec) if !spec.images.is_empty())
}

/// How many packages a repository job seeds from inside images (those the store lacks).
fn packages_from_images(
    client: &User,
    store: &swarmdate_core::store::PackageStore,
    job: &JobRecord,
) -> anyhow::Result<u64> {
    let JobSpec::Repository(spec) = &job.spec else {
        return Ok(0);
    };
    if spec.images.is_empty() {
        return Ok(0);
    }
    let index = swarmdate_core::packages::PackageIndex::from_json(&std::fs::read(&spec.index)?)?;
    let cache = client.dirs.engine().join("image-packages.json");
    let inside = swarmdate_core::iso::packages_in_images(&spec.images, &cache)?;
    Ok(index
        .packages
        .iter()
        .filter(|p| {
            !store.holds(&p.sha256) && inside.get(&p.sha256).is_some_and(|i| i.size == p.size)
        })
        .count() as u64)
}

/// Shares `data` (the torrent's file, or its folder) as `torrent`'s payload; with `origin`, as a
/// new release's origin (BEP 16 initial seeding). Returns once the payload is checked: a payload
/// that is not the torrent's is refused (a trust refusal) and nothing of it is kept.
pub async fn share(
    engine: &EngineHandle,
    torrent: &Torrent,
    data: &Path,
    origin: bool,
) -> Result<JobId, EngineError> {
    let payload = payload_at(data)?;
    let spec = match origin {
        true => JobSpec::SuperSeed { payload },
        false => JobSpec::Seed { payload },
    };
    let id = engine.add_job(torrent, spec).await?;
    if let Err(e) = checked(engine, id).await {
        let _ = engine.remove(id).await;
        return Err(e);
    }
    Ok(id)
}

fn payload_at(data: &Path) -> Result<Payload, EngineError> {
    let path: PathBuf = data
        .canonicalize()
        .map_err(|e| EngineError::NotFound(format!("{}: {e}", data.display())))?;
    Ok(match path.is_file() {
        true => Payload::Image(path),
        false => Payload::Folder(path),
    })
}

/// Waits until a seeding job has checked its payload: seeding (or paused), or its refusal (typed,
/// so a payload that is not the torrent's is a trust refusal wherever the engine runs).
async fn checked(engine: &EngineHandle, id: JobId) -> Result<(), EngineError> {
    let mut rx = engine.subscribe();
    loop {
        let job = rx.borrow_and_update().job(id).cloned();
        match job {
            Some(j) if matches!(j.state, JobState::Failed(_)) => return Err(j.failure_error()),
            Some(j) if j.state.is_complete() || j.state == JobState::Paused => return Ok(()),
            _ => {}
        }
        if let Err(e) = rx.changed().await {
            return Err(EngineError::Other(format!(
                "the engine stopped while it checked the data: {e}"
            )));
        }
    }
}

/// Shares the local image when it is a published version and nothing else uses it (no job for
/// its torrent, no switch of it).
pub async fn share_local_image(client: &User, engine: &EngineHandle) -> anyhow::Result<()> {
    let versions = Versions::load(client, None).await?;
    let Some(i) = versions.current else {
        return Ok(());
    };
    let torrent = &versions.versions[i].torrent;
    let busy = engine
        .jobs()
        .await?
        .iter()
        .any(|j| j.info_hash == torrent.info_hash())
        || switching::is_switching(engine, &versions.image).await?;
    if !busy {
        let payload = Payload::Image(versions.image.clone());
        engine.add_job(torrent, JobSpec::Seed { payload }).await?;
    }
    Ok(())
}

/// One seeded torrent as the Seeding page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedItem {
    /// The engine's job.
    pub job: JobId,
    /// Its name.
    pub name: String,
    /// Bytes uploaded over its lifetime (the ledger), or since it started when the ledger has none.
    pub uploaded: u64,
    /// Payload bytes it holds.
    pub size: u64,
    /// Distinct peers it has served.
    pub peers_served: u64,
    /// Peers connected now.
    pub peers: usize,
    /// Upload speed in bytes/s.
    pub up_speed: u64,
    /// Paused by the user or the goal.
    pub paused: bool,
    /// The seeding goal was met.
    pub goal_met: bool,
    /// Packages it seeds straight from inside the user's images.
    pub packages_in_images: u64,
}

/// The shared torrents now and the lifetime figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedingView {
    /// The torrents that share (complete or paused; no switches).
    pub items: Vec<SeedItem>,
    /// Bytes uploaded over all torrents, ever.
    pub uploaded: u64,
    /// Peers served over all torrents, ever.
    pub peers_served: u64,
    /// Bytes uploaded per minute over the last hour, per hour over the last day, per day over
    /// the last month (oldest first).
    pub chart: [Vec<u64>; 3],
}

/// The seeding figures now, from the engine's snapshot and `ledger` (absent: live figures only).
pub fn view(engine: &EngineHandle, ledger: Option<&Ledger>) -> SeedingView {
    let totals = ledger.and_then(|l| l.totals().ok()).unwrap_or_default();
    let chart = ledger
        .and_then(|l| l.upload_charts(chrono::Utc::now()).ok())
        .unwrap_or_default();
    let snap = engine.snapshot();
    let items = snap
        .jobs
        .iter()
        // A stopped switch is paused too, but shares nothing.
        .filter(|j| j.state.is_complete() || j.state == JobState::Paused)
        .filter(|j| j.kind != JobKind::Switch)
        .map(|j| {
            let lifetime = totals.iter().find(|t| t.info_hash == j.info_hash);
            SeedItem {
                job: j.id,
                name: j.name.clone(),
                // The ledger is written every 10 s: the live count may be ahead.
                uploaded: lifetime.map_or(j.bytes_uploaded, |t| t.uploaded.max(j.bytes_uploaded)),
                size: j.bytes_wanted,
                peers_served: lifetime.map_or(0, |t| t.peers_served),
                peers: j.peers.len(),
                up_speed: j.up_speed,
                paused: j.state == JobState::Paused,
                goal_met: j.goal_met,
                packages_in_images: j.packages_in_images,
            }
        })
        .collect();
    SeedingView {
        items,
        uploaded: totals.iter().map(|t| t.uploaded).sum(),
        peers_served: totals.iter().map(|t| t.peers_served).sum(),
        chart,
    }
}

/// Pauses or resumes one shared torrent.
pub async fn set_paused(
    engine: &EngineHandle,
    job: JobId,
    paused: bool,
) -> Result<(), EngineError> {
    match paused {
        true => engine.pause(job).await,
        false => engine.resume(job).await,
    }
}

/// Pauses every torrent that is sharing (a metered connection, the battery) and returns them, to
/// resume the same ones later with [`resume_all`].
pub async fn pause_all(engine: &EngineHandle) -> Result<Vec<JobId>, EngineError> {
    let sharing: Vec<JobId> = engine
        .snapshot()
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Seeding)
        .map(|j| j.id)
        .collect();
    for j in &sharing {
        engine.pause(*j).await?;
    }
    Ok(sharing)
}

/// Resumes the torrents [`pause_all`] paused.
pub async fn resume_all(engine: &EngineHandle, jobs: &[JobId]) -> Result<(), EngineError> {
    for j in jobs {
        engine.resume(*j).await?;
    }
    Ok(())
}
