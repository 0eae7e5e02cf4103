//! Seeding, as both faces control it: what is shared and what it gave (`status`, `view`), a
//! payload added to share (`share`), the local image shared when nothing else uses it, and pausing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Local, Utc};
use serde::Serialize;
use swarmdate_core::feed::{Feed, RepoKind};
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

/// What a torrent shares, as far as the feed and the job know it: the page names it for people
/// from this (a repository folder's name, "x86_64", says nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shared {
    /// A published version of the distribution's image.
    Image {
        /// The distribution ("Fedora", "Swarmdate Demo").
        distribution: String,
        /// The version ("1.02").
        version: String,
    },
    /// A package repository the feed lists: the release's or a snapshot of the updates.
    Repository {
        /// The distribution.
        distribution: String,
        /// Its release ("41").
        release: String,
        /// Release master or updates snapshot.
        kind: RepoKind,
        /// When the snapshot was taken.
        date: DateTime<Utc>,
    },
    /// A package repository the feed no longer lists, by its torrent's name.
    Packages {
        /// The torrent's name (the repository's folder).
        name: String,
    },
    /// Any other torrent, by its name.
    Other {
        /// The torrent's name.
        name: String,
    },
}

/// What the feed says each of its torrents is.
#[derive(Debug, Clone, Default)]
pub struct Names(HashMap<InfoHash, Shared>);

impl Names {
    /// The feed's images and repositories by info hash.
    pub fn from_feed(feed: &Feed) -> Self {
        let mut names = HashMap::new();
        for v in &feed.isos {
            names.insert(
                v.info_hash,
                Shared::Image {
                    distribution: feed.distribution.clone(),
                    version: v.version.clone(),
                },
            );
        }
        for r in &feed.repositories {
            names.insert(
                r.info_hash,
                Shared::Repository {
                    distribution: feed.distribution.clone(),
                    release: feed.release.clone(),
                    kind: r.kind,
                    date: r.date,
                },
            );
        }
        Names(names)
    }

    /// Reads the user's feed; without one (none set, offline, refused), torrents go by their names.
    pub async fn load(client: &User) -> Self {
        match client.feed().await {
            Ok(f) => Names::from_feed(&f.feed),
            Err(e) => {
                tracing::info!("shared torrents go by their names: {e:#}");
                Names::default()
            }
        }
    }

    /// What `hash` is; `name` is its torrent's, `packages` whether a repository job shares it.
    pub fn of(&self, hash: &InfoHash, name: &str, packages: bool) -> Shared {
        match self.0.get(hash) {
            Some(s) => s.clone(),
            None if packages => Shared::Packages {
                name: name.to_owned(),
            },
            None => Shared::Other {
                name: name.to_owned(),
            },
        }
    }
}

/// One thing shared (a torrent), as the Seeding page lists it: its figures are the ledger's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedItem {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The engine's job that shares it; none when it is no longer shared (the ledger remembers
    /// what it gave).
    pub job: Option<JobId>,
    /// What it is.
    pub shared: Shared,
    /// Its torrent's name.
    pub name: String,
    /// Bytes uploaded over its lifetime (the ledger).
    pub uploaded: u64,
    /// Bytes uploaded since the start of this month (the ledger's time series).
    pub uploaded_month: u64,
    /// Payload bytes it holds.
    pub size: u64,
    /// Distinct peers it has served (the ledger).
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

/// The shared torrents and what they gave, all from the contribution ledger: the items' figures
/// add up to the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedingView {
    /// One per torrent: those shared now (complete or paused; no switches), then those no longer
    /// shared that uploaded something.
    pub items: Vec<SeedItem>,
    /// Bytes uploaded over all torrents, ever.
    pub uploaded: u64,
    /// Distinct peers served over all torrents, ever (a peer served by two torrents counts once).
    pub peers_served: u64,
    /// Bytes uploaded since the start of this month (local time).
    pub uploaded_month: u64,
    /// Distinct peers sent data since the start of this month.
    pub peers_month: u64,
    /// Bytes uploaded per minute over the last hour, per hour over the last day, per day over
    /// the last month (oldest first).
    pub chart: [Vec<u64>; 3],
}

/// The start of the month holding `now`, in local time, as seconds since the epoch.
pub fn month_start(now: DateTime<Local>) -> i64 {
    now.date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(Local).earliest())
        .map_or(now.timestamp(), |t| t.timestamp())
}

/// The ledger's figures the page shows.
struct Figures {
    totals: Vec<Totals>,
    month: HashMap<InfoHash, u64>,
    peers: u64,
    peers_month: u64,
    chart: [Vec<u64>; 3],
}

fn figures(ledger: &Ledger, month: i64) -> Result<Figures, swarmdate_core::ledger::LedgerError> {
    Ok(Figures {
        totals: ledger.totals()?,
        month: ledger.uploaded_since(month)?.into_iter().collect(),
        peers: ledger.peers_served(None)?,
        peers_month: ledger.peers_served(Some(month))?,
        chart: ledger.upload_charts(Utc::now())?,
    })
}

/// The seeding figures now: the torrents from the engine's snapshot, named by `names`, and every
/// figure from `ledger` (absent or unreadable: no figures). The live counters are not added: the
/// ledger is at most 10 s behind, and rows, totals and chart then agree.
pub fn view(engine: &EngineHandle, ledger: Option<&Ledger>, names: &Names) -> SeedingView {
    let month = month_start(Local::now());
    let f = match ledger.map(|l| figures(l, month)) {
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            tracing::warn!("{e}");
            Figures::empty()
        }
        None => Figures::empty(),
    };
    let snap = engine.snapshot();
    let mut items: Vec<SeedItem> = Vec::new();
    for j in snap
        .jobs
        .iter()
        // Sharing now: a finished download (done) or a stopped switch (paused) shares nothing.
        .filter(|j| j.state == JobState::Seeding || j.state == JobState::Paused)
        .filter(|j| !matches!(j.kind, JobKind::Switch | JobKind::Done | JobKind::Fetch))
    {
        // One row per torrent: a second job for it (a job being replaced) adds nothing.
        if items.iter().any(|i| i.info_hash == j.info_hash) {
            continue;
        }
        let lifetime = f.totals.iter().find(|t| t.info_hash == j.info_hash);
        items.push(SeedItem {
            info_hash: j.info_hash,
            job: Some(j.id),
            shared: names.of(&j.info_hash, &j.name, j.kind == JobKind::Packages),
            name: j.name.clone(),
            uploaded: lifetime.map_or(0, |t| t.uploaded),
            uploaded_month: f.month.get(&j.info_hash).copied().unwrap_or(0),
            size: j.bytes_wanted,
            peers_served: lifetime.map_or(0, |t| t.peers_served),
            peers: j.peers.len(),
            up_speed: j.up_speed,
            paused: j.state == JobState::Paused,
            goal_met: j.goal_met,
            packages_in_images: j.packages_in_images,
        });
    }
    // What is no longer shared keeps its place while it counts in the totals.
    for t in &f.totals {
        if t.uploaded == 0 || items.iter().any(|i| i.info_hash == t.info_hash) {
            continue;
        }
        items.push(SeedItem {
            info_hash: t.info_hash,
            job: None,
            shared: names.of(&t.info_hash, &t.name, false),
            name: t.name.clone(),
            uploaded: t.uploaded,
            uploaded_month: f.month.get(&t.info_hash).copied().unwrap_or(0),
            size: 0,
            peers_served: t.peers_served,
            peers: 0,
            up_speed: 0,
            paused: false,
            goal_met: false,
            packages_in_images: 0,
        });
    }
    SeedingView {
        uploaded: f.totals.iter().map(|t| t.uploaded).sum(),
        uploaded_month: f.month.values().sum(),
        peers_served: f.peers,
        peers_month: f.peers_month,
        items,
        chart: f.chart,
    }
}

impl Figures {
    fn empty() -> Self {
        Figures {
            totals: Vec::new(),
            month: HashMap::new(),
            peers: 0,
            peers_month: 0,
            chart: Default::default(),
        }
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
