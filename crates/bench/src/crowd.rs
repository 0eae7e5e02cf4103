//! `bench crowd`: the moment a new snapshot appears and many machines want it together, with
//! only the distributor's mirror holding it. A repository of a few hundred packages is served by
//! lighttpd (its access log counts what it sends); N clients, each wanting its own share of the
//! packages (different installed sets), start within a moment of each other, every one limited to
//! the same rate each way. The figures: the mirror's bytes divided by one copy of what the clients
//! wanted together, and the time until the last one is done against the ideal (its share at its
//! rate). The same crowd is run as Swarmdate engines (the mirror is each torrent's web seed, the
//! clients find each other through a tracker on 127.0.0.1), as plain HTTP (curl, one file after
//! another, as dnf would: N shares) and as qBittorrent clients using the mirror as a web seed.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::publish::{MasterOptions, PublishedRepo, publish_master};
use swarmdate_engine::{Engine, JobSpec, RepoSpec};
use swarmdate_testkit::third_party::{Lighttpd, QBittorrent};
use swarmdate_testkit::tracker::Tracker;

use super::swarm::{limited, qbittorrent_finish_times};

/// Who the crowd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CrowdClients {
    /// Swarmdate engines: the swarm, and the mirror for what no peer has.
    Swarmdate,
    /// curl from the mirror, as dnf fetches (the reference: every client its own copy).
    PlainHttp,
    /// qbittorrent-nox 4.5 with the mirror as a web seed (BEP 19).
    Qbittorrent,
}

impl CrowdClients {
    /// How the tables name it.
    pub fn name(self) -> &'static str {
        match self {
            CrowdClients::Swarmdate => "Swarmdate",
            CrowdClients::PlainHttp => "plain HTTP (curl)",
            CrowdClients::Qbittorrent => "qBittorrent, web seed",
        }
    }
}

/// The crowd's shape, the same for every run compared.
#[derive(Debug, Clone, Copy)]
pub struct CrowdSetup {
    /// Clients updating.
    pub clients: usize,
    /// Packages in the snapshot.
    pub packages: usize,
    /// Share of the packages each client wants, per cent.
    pub share_percent: u32,
    /// Every client's limit, bytes/s each way.
    pub rate: u32,
}

/// What one crowd run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CrowdBench {
    /// Who the clients were.
    pub kind: CrowdClients,
    /// Clients updating.
    pub clients: usize,
    /// Packages in the snapshot.
    pub packages: usize,
    /// Each client's limit, bytes/s each way.
    pub rate: u32,
    /// Bytes of the packages at least one client wanted (one copy).
    pub union_bytes: u64,
    /// Bytes all clients wanted together (what N plain downloads fetch).
    pub wanted_bytes: u64,
    /// Body bytes the mirror sent, from its access log.
    pub mirror_bytes: u64,
    /// `mirror_bytes` / `union_bytes`.
    pub mirror_copies: f64,
    /// Seconds from the first client's start until the last was done.
    pub all_done_secs: f64,
    /// Seconds the largest share takes at the clients' rate.
    pub ideal_secs: f64,
    /// Each client's finishing time, in seconds, sorted.
    pub client_secs: Vec<f64>,
}

/// The snapshot the crowd wants, generated once per scratch folder.
struct Snapshot {
    /// lighttpd's document root.
    mirror: PathBuf,
    /// The repository folder (`<mirror>/releases/41/x86_64`).
    folder: PathBuf,
}

/// Generates (once) and serves the snapshot, then runs one crowd of `kind`.
pub async fn run_crowd_bench(
    dir: &Path,
    setup: CrowdSetup,
    kind: CrowdClients,
    say: impl Fn(&str),
) -> anyhow::Result<CrowdBench> {
    let snapshot = snapshot(dir, setup.packages, &say).await?;
    let run = dir.join(format!("{kind:?}-{}", setup.clients));
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run)?;
    let mirror = Lighttpd::start(&snapshot.mirror)?;
    let tracker = Tracker::start(([127, 0, 0, 1], 0).into()).await?;
    let (folder, out, web_seed, announce) = (
        snapshot.folder.clone(),
        run.join("publish"),
        format!("{}releases/41/", mirror.url()),
        tracker.announce_url(),
    );
    let published = tokio::task::spawn_blocking(move || {
        publish_master(
            &folder,
            &MasterOptions {
                kind: RepoKind::Updates,
                id: "updates".into(),
                name: None,
                piece_length: None,
                trackers: vec![announce],
                web_seeds: vec![web_seed],
                similar: Vec::new(),
                out_dir: out,
                date: None,
                signing_keys: Vec::new(),
                ignore_repodata: false,
            },
        )
    })
    .await??;
    let shares = shares(&published, setup);
    let size = |i: &usize| published.torrent.files[*i].length;
    let union: BTreeSet<usize> = shares.iter().flatten().copied().collect();
    let union_bytes: u64 = union.iter().map(size).sum();
    let wanted_bytes: u64 = shares.iter().flatten().map(size).sum();
    let largest = shares
        .iter()
        .map(|s| s.iter().map(size).sum::<u64>())
        .max()
        .unwrap_or(0);
    let ideal_secs = largest as f64 / f64::from(setup.rate);
    // A crowd that moves at all is done long before.
    let deadline = Duration::from_secs_f64(10.0 * ideal_secs + 60.0);

    say(&format!("{} clients: {}", setup.clients, kind.name()));
    let mut client_secs = match kind {
        CrowdClients::Swarmdate => {
            swarmdate_crowd(&run, &published, &shares, setup, deadline, &say).await?
        }
        CrowdClients::PlainHttp => {
            let url = format!("{}releases/41/{}/", mirror.url(), published.torrent.name);
            tokio::task::block_in_place(|| {
                http_crowd(&run, &published, &shares, &url, setup, deadline)
            })?
        }
        CrowdClients::Qbittorrent => tokio::task::block_in_place(|| {
            qbittorrent_crowd(&run, &published, &shares, setup, deadline, &say)
        })?,
    };
    client_secs.sort_by(f64::total_cmp);
    drop(tracker);
    // lighttpd writes its log out as it stops.
    let mirror_bytes = mirror
        .stop()?
        .iter()
        .filter(|s| matches!(s.status, 200 | 206) && s.path.starts_with("/releases/"))
        .map(|s| s.bytes)
        .sum();
    Ok(CrowdBench {
        kind,
        clients: setup.clients,
        packages: setup.packages,
        rate: setup.rate,
        union_bytes,
        wanted_bytes,
        mirror_bytes,
        mirror_copies: mirror_bytes as f64 / union_bytes as f64,
        all_done_secs: client_secs.last().copied().unwrap_or(0.0),
        ideal_secs,
        client_secs,
    })
}

/// The snapshot in `dir/mirror`, generated if it is not there yet.
async fn snapshot(dir: &Path, packages: usize, say: &impl Fn(&str)) -> anyhow::Result<Snapshot> {
    let mirror = dir.join("mirror");
    let folder = mirror.join("releases/41/x86_64");
    if !folder.exists() {
        say("Generating the snapshot");
        let m = mirror.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let key = KeyPair::generate("Bench <bench@localhost>")?;
            swarmdate_testkit::demo::repository::generate(&m, &key, packages, 100_000..400_000, 7)?;
            Ok(())
        })
        .await??;
    }
    Ok(Snapshot { mirror, folder })
}

/// Each client's wanted files (torrent indexes): every package with the setup's chance, drawn
/// from the client's own seed, so runs of different clients want the same shares.
fn shares(published: &PublishedRepo, setup: CrowdSetup) -> Vec<BTreeSet<usize>> {
    (0..setup.clients)
        .map(|n| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + n as u64);
            published
                .index
                .packages
                .iter()
                .filter(|_| rng.gen_range(0..100) < setup.share_percent)
                .map(|p| p.file_index)
                .collect()
        })
        .collect()
}

/// Swarmdate engines, each a repository job for its share: each one's seconds until its share
/// is in its store.
async fn swarmdate_crowd(
    run: &Path,
    published: &PublishedRepo,
    shares: &[BTreeSet<usize>],
    setup: CrowdSetup,
    deadline: Duration,
    say: &impl Fn(&str),
) -> anyhow::Result<Vec<f64>> {
    let index = run.join("index.json");
    std::fs::write(&index, published.index.to_json())?;
    let mut engines = Vec::with_capacity(shares.len());
    for n in 0..shares.len() {
        let state = run.join(format!("client-{n:02}"));
        engines.push(Engine::start(limited(&state, setup.rate, true)).await?);
    }
    let started = Instant::now();
    let mut waits = tokio::task::JoinSet::new();
    for (e, wanted) in engines.iter().zip(shares) {
        let spec = RepoSpec {
            index: index.clone(),
            wanted: wanted.clone(),
            mirrors: Vec::new(),
            images: Vec::new(),
        };
        let id = e
            .add_job(&published.torrent, JobSpec::Repository(spec))
            .await?;
        let e = e.clone();
        waits.spawn(async move { e.wait(id).await.map(|_| started.elapsed().as_secs_f64()) });
    }
    let mut secs = Vec::with_capacity(shares.len());
    let result = tokio::time::timeout(deadline, async {
        while let Some(done) = waits.join_next().await {
            secs.push(done??);
            say(&format!("{} of {} done", secs.len(), shares.len()));
        }
        anyhow::Ok(())
    })
    .await;
    for e in &engines {
        e.shutdown().await;
    }
    result
        .map_err(|_| anyhow::anyhow!("Swarmdate clients still updating after {deadline:?}"))??;
    Ok(secs)
}

/// One curl per client fetching its share one file after another at the rate: each one's
/// seconds.
fn http_crowd(
    run: &Path,
    published: &PublishedRepo,
    shares: &[BTreeSet<usize>],
    base: &str,
    setup: CrowdSetup,
    deadline: Duration,
) -> anyhow::Result<Vec<f64>> {
    let started = Instant::now();
    let mut children = Vec::with_capacity(shares.len());
    for (n, share) in shares.iter().enumerate() {
        let out = run.join(format!("client-{n:02}"));
        std::fs::create_dir_all(&out)?;
        let mut curl = std::process::Command::new("curl");
        curl.args(["--silent", "--fail", "--limit-rate"])
            .arg(setup.rate.to_string());
        for &i in share {
            let path = published.torrent.files[i].path.join("/");
            curl.arg("-o")
                .arg(out.join(i.to_string()))
                .arg(format!("{base}{path}"));
        }
        children.push(curl.spawn()?);
    }
    let mut secs = vec![None; children.len()];
    while secs.iter().any(Option::is_none) {
        anyhow::ensure!(
            started.elapsed() < deadline,
            "curl clients still fetching after {deadline:?}"
        );
        for (c, s) in children
            .iter_mut()
            .zip(&mut secs)
            .filter(|(_, s)| s.is_none())
        {
            if let Some(status) = c.try_wait()? {
                anyhow::ensure!(status.success(), "curl failed: {status}");
                *s = Some(started.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(secs.into_iter().flatten().collect())
}

/// qbittorrent-nox clients, each on its own loopback address with the same limits and only its
/// share selected: each one's seconds (by its Web API, polled; its figures lag by up to 1.5 s).
fn qbittorrent_crowd(
    run: &Path,
    published: &PublishedRepo,
    shares: &[BTreeSet<usize>],
    setup: CrowdSetup,
    deadline: Duration,
    say: &impl Fn(&str),
) -> anyhow::Result<Vec<f64>> {
    let file = run.join("crowd.torrent");
    std::fs::write(&file, published.torrent.bytes())?;
    let hash = published.torrent.info_hash();
    let mut peers = Vec::with_capacity(shares.len());
    for n in 0..shares.len() {
        let q = QBittorrent::start(Ipv4Addr::new(127, 0, 1, 1 + n as u8))?;
        q.set_rate_limit(setup.rate)?;
        peers.push(q);
    }
    let started = Instant::now();
    for (n, (q, share)) in peers.iter().zip(shares).enumerate() {
        let dest = run.join(format!("client-{n:02}"));
        std::fs::create_dir_all(&dest)?;
        let wanted: HashSet<String> = share
            .iter()
            .map(|&i| published.torrent.files[i].path.join("/"))
            .collect();
        q.add_only(&file, &hash, &dest, &wanted)?;
    }
    qbittorrent_finish_times(&peers, &hash, started, deadline, say)
}
