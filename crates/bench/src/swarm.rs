//! `bench swarm`: one Swarmdate origin and N clients, every one limited to the same rate each
//! way, downloading one torrent at once through a tracker on 127.0.0.1. The clients are Swarmdate
//! engines (in librqbit's index order or asking for random pieces) or, for comparison,
//! qbittorrent-nox processes (libtorrent: rarest first, choking). The figures: the bytes the origin
//! served divided by one copy, and the time until every client finished against the ideal (one
//! copy at the clients' download rate; the origin's upload covers only one copy).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use swarmdate_core::fsutil;
use swarmdate_core::torrent::{InfoHash, Torrent, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobId, JobSpec, Payload};
use swarmdate_testkit::third_party::QBittorrent;
use swarmdate_testkit::tracker::Tracker;

/// Who the clients of a swarm run are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmClients {
    /// Swarmdate engines in librqbit's own index order (the reference).
    IndexOrder,
    /// Swarmdate engines asking for random missing pieces (what users run).
    RandomPieces,
    /// The same, from an origin that super-seeds (`seed --super-seed`, BEP 16).
    SuperSeed,
    /// qbittorrent-nox 4.5 (libtorrent 2.0) with its default choking and rarest-first picking.
    Qbittorrent,
}

impl SwarmClients {
    /// How the tables name it.
    pub fn name(self) -> &'static str {
        match self {
            SwarmClients::IndexOrder => "Swarmdate, index order",
            SwarmClients::RandomPieces => "Swarmdate, random pieces",
            SwarmClients::SuperSeed => "Swarmdate, super-seeding origin",
            SwarmClients::Qbittorrent => "qBittorrent",
        }
    }
}

/// The swarm's shape, the same for every run compared.
#[derive(Debug, Clone, Copy)]
pub struct SwarmSetup {
    /// Clients downloading.
    pub clients: usize,
    /// Payload bytes.
    pub size: u64,
    /// 0: one image; otherwise a package folder of this many files.
    pub files: usize,
    /// Every peer's limit, bytes/s each way.
    pub rate: u32,
}

/// What `bench swarm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct SwarmBench {
    /// Who the clients were.
    pub kind: SwarmClients,
    /// Clients downloading.
    pub clients: usize,
    /// Payload bytes.
    pub size: u64,
    /// Files in the payload (1: an image).
    pub files: usize,
    /// Piece length.
    pub piece_length: u32,
    /// Each engine's limit, bytes/s each way.
    pub rate: u32,
    /// Bytes the origin uploaded (its own counter).
    pub origin_uploaded: u64,
    /// `origin_uploaded` / `size`.
    pub origin_copies: f64,
    /// Seconds until the last client finished.
    pub all_done_secs: f64,
    /// Seconds one copy takes at the clients' download rate.
    pub ideal_secs: f64,
    /// Each client's finishing time, in seconds, sorted.
    pub client_secs: Vec<f64>,
}

/// Runs the swarm in `dir`: one image, or a package folder (aligned like a repository torrent)
/// of `setup.size` bytes in all.
pub async fn run_swarm_bench(
    dir: &Path,
    setup: SwarmSetup,
    kind: SwarmClients,
    say: impl Fn(&str),
) -> anyhow::Result<SwarmBench> {
    let SwarmSetup {
        clients,
        size,
        files,
        rate,
    } = setup;
    let name = if files > 0 { "repo" } else { "image.iso" };
    let payload = dir.join(name);
    if !payload.exists() {
        say("Writing the payload");
        write_payload(&payload, size, files)?;
    }
    let dir = &dir.join(format!("{kind:?}"));
    let tracker = Tracker::start(([127, 0, 0, 1], 0).into()).await?;
    let p = payload.clone();
    let url = tracker.announce_url();
    let torrent = tokio::task::spawn_blocking(move || {
        let builder = if files > 0 {
            TorrentBuilder::multi_file(name, super::folder_sources(&p)?).align(true)
        } else {
            TorrentBuilder::single_file(name, &p)
        };
        anyhow::Ok(builder.tracker(&url).build()?)
    })
    .await??;

    say("Starting the origin");
    let origin = Engine::start(limited(&dir.join("origin"), rate, true)).await?;
    let payload = if files > 0 {
        Payload::Folder(fsutil::parent_dir(&payload).to_owned())
    } else {
        Payload::Image(payload.clone())
    };
    let seed = origin
        .add_job(
            &torrent,
            match kind {
                SwarmClients::SuperSeed => JobSpec::SuperSeed { payload },
                _ => JobSpec::Seed { payload },
            },
        )
        .await?;
    origin.wait(seed).await?;

    say(&format!("{clients} clients downloading"));
    let mut client_secs = match kind {
        // Its driver blocks (curl, sleeps); the origin's tasks move to the other workers.
        SwarmClients::Qbittorrent => {
            tokio::task::block_in_place(|| qbittorrent_clients(dir, &torrent, setup, say))?
        }
        _ => swarmdate_clients(dir, &torrent, setup, kind != SwarmClients::IndexOrder, say).await?,
    };
    client_secs.sort_by(f64::total_cmp);
    // The origin's counter catches up within a snapshot.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let origin_uploaded = uploaded(&origin, seed);
    origin.shutdown().await;
    Ok(SwarmBench {
        kind,
        clients,
        size,
        files: torrent.files.iter().filter(|f| !f.pad).count(),
        piece_length: torrent.piece_length,
        rate,
        origin_uploaded,
        origin_copies: origin_uploaded as f64 / size as f64,
        all_done_secs: client_secs.last().copied().unwrap_or(0.0),
        ideal_secs: size as f64 / f64::from(rate),
        client_secs,
    })
}

/// An engine on loopback limited to `rate` each way.
pub(crate) fn limited(state: &Path, rate: u32, diverse_order: bool) -> EngineConfig {
    EngineConfig {
        upload_limit: Some(rate),
        download_limit: Some(rate),
        diverse_order,
        ..EngineConfig::loopback(state)
    }
}

/// What a seeding job has uploaded, by the engine's own counter.
fn uploaded(engine: &Engine, job: JobId) -> u64 {
    engine
        .snapshot()
        .jobs
        .iter()
        .find(|j| j.id == job)
        .map_or(0, |j| j.bytes_uploaded)
}

/// Swarmdate engines fetching (and seeding what they have): each one's seconds to completion.
async fn swarmdate_clients(
    dir: &Path,
    torrent: &Torrent,
    setup: SwarmSetup,
    diverse_order: bool,
    say: impl Fn(&str),
) -> anyhow::Result<Vec<f64>> {
    let mut engines = Vec::with_capacity(setup.clients);
    for n in 0..setup.clients {
        let home = dir.join(format!("client-{n:02}"));
        std::fs::create_dir_all(&home)?;
        engines.push(Engine::start(limited(&home.join("state"), setup.rate, diverse_order)).await?);
    }
    let started = Instant::now();
    let mut waits = tokio::task::JoinSet::new();
    for (n, e) in engines.iter().enumerate() {
        let id = e
            .add_job(
                torrent,
                JobSpec::Fetch {
                    dest: dir.join(format!("client-{n:02}")),
                    seed_after: true,
                    replace: false,
                },
            )
            .await?;
        let e = e.clone();
        waits.spawn(async move { e.wait(id).await.map(|_| started.elapsed().as_secs_f64()) });
    }
    let mut secs = Vec::with_capacity(setup.clients);
    while let Some(done) = waits.join_next().await {
        secs.push(done??);
        say(&format!("{} of {} done", secs.len(), setup.clients));
    }
    for e in &engines {
        e.shutdown().await;
    }
    Ok(secs)
}

/// qbittorrent-nox clients, each on its own loopback address with the same limits, left to
/// seed what they have: each one's seconds to completion (by its Web API, polled; its figures lag
/// by up to about 1.5 s).
fn qbittorrent_clients(
    dir: &Path,
    torrent: &Torrent,
    setup: SwarmSetup,
    say: impl Fn(&str),
) -> anyhow::Result<Vec<f64>> {
    let file: PathBuf = dir.join("swarm.torrent");
    std::fs::create_dir_all(dir)?;
    std::fs::write(&file, torrent.bytes())?;
    let mut peers = Vec::with_capacity(setup.clients);
    for n in 0..setup.clients {
        let q = QBittorrent::start(Ipv4Addr::new(127, 0, 1, 1 + n as u8))?;
        q.set_rate_limit(setup.rate)?;
        peers.push(q);
    }
    let hash = torrent.info_hash();
    let started = Instant::now();
    for (n, q) in peers.iter().enumerate() {
        let dest = dir.join(format!("client-{n:02}"));
        std::fs::create_dir_all(&dest)?;
        q.add(&file, &dest)?;
    }
    // Forty times the ideal: a swarm that moves at all is done long before.
    let ideal = setup.size as f64 / f64::from(setup.rate);
    let deadline = Duration::from_secs_f64(40.0 * ideal);
    qbittorrent_finish_times(&peers, &hash, started, deadline, &say)
}

/// Polls each qbittorrent-nox client's Web API until it holds all it wants of `hash`: each one's
/// seconds from `started` (its figures lag by up to about 1.5 s); fails after `deadline`.
pub(crate) fn qbittorrent_finish_times(
    peers: &[QBittorrent],
    hash: &InfoHash,
    started: Instant,
    deadline: Duration,
    say: &impl Fn(&str),
) -> anyhow::Result<Vec<f64>> {
    let mut secs: Vec<Option<f64>> = vec![None; peers.len()];
    let mut done = 0;
    while secs.iter().any(Option::is_none) {
        anyhow::ensure!(
            started.elapsed() < deadline,
            "qBittorrent clients still downloading after {:.0} s",
            started.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(250));
        for (q, s) in peers.iter().zip(&mut secs).filter(|(_, s)| s.is_none()) {
            if q.counters(hash)?.done >= 1.0 {
                *s = Some(started.elapsed().as_secs_f64());
                done += 1;
                say(&format!("{done} of {} done", peers.len()));
            }
        }
    }
    Ok(secs.into_iter().flatten().collect())
}

/// Writes the image, or a folder of `files` files of random sizes around `size / files`.
fn write_payload(path: &Path, size: u64, files: usize) -> std::io::Result<()> {
    if files == 0 {
        return super::write_random(path, size, 12);
    }
    super::write_random_folder(path, files, size / files as u64, 13)
}
