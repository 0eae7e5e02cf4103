//! `bench swarm`: one origin and N clients, every engine limited to the same rate each way,
//! downloading one single-file torrent at once through a tracker on 127.0.0.1. The figures: the
//! bytes the origin served divided by one copy, and the time until every client finished against
//! the ideal (one copy at the clients' download rate; the origin's upload covers only one copy).

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::{Engine, EngineConfig, JobSpec, Payload};
use crate::fsutil;
use crate::torrent::TorrentBuilder;
use crate::tracker::Tracker;

/// What `bench swarm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct SwarmBench {
    /// Whether clients started at random pieces (`false`: librqbit's index order).
    pub diverse_order: bool,
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

/// Runs the swarm in `dir`: one image, or with `files` > 0 a package folder of that many files
/// (aligned like a repository torrent) of `size` bytes in all.
pub async fn run_swarm_bench(
    dir: &Path,
    clients: usize,
    size: u64,
    files: usize,
    rate: u32,
    diverse_order: bool,
    say: impl Fn(&str),
) -> anyhow::Result<SwarmBench> {
    let name = if files > 0 { "repo" } else { "image.iso" };
    let payload = dir.join(name);
    if !payload.exists() {
        say("Writing the payload");
        write_payload(&payload, size, files)?;
    }
    let dir = &dir.join(if diverse_order { "diverse" } else { "index" });
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
    let limited = |state: &Path| EngineConfig {
        upload_limit: Some(rate),
        download_limit: Some(rate),
        diverse_order,
        ..EngineConfig::loopback(state)
    };

    say("Starting the origin");
    let origin = Engine::start(limited(&dir.join("origin"))).await?;
    let seed = origin.add_job(
        &torrent,
        JobSpec::Seed {
            payload: if files > 0 {
                Payload::Folder(fsutil::parent_dir(&payload).to_owned())
            } else {
                Payload::Image(payload.clone())
            },
        },
    )?;
    origin.wait(seed).await?;

    say(&format!("{clients} clients downloading"));
    let mut engines = Vec::with_capacity(clients);
    for n in 0..clients {
        let home = dir.join(format!("client-{n:02}"));
        std::fs::create_dir_all(&home)?;
        engines.push(Engine::start(limited(&home.join("state"))).await?);
    }
    let started = Instant::now();
    let mut waits = tokio::task::JoinSet::new();
    for (n, e) in engines.iter().enumerate() {
        let id = e.add_job(
            &torrent,
            JobSpec::Fetch {
                dest: dir.join(format!("client-{n:02}")),
                seed_after: true,
                replace: false,
            },
        )?;
        let e = e.clone();
        waits.spawn(async move { e.wait(id).await.map(|_| started.elapsed().as_secs_f64()) });
    }
    let mut client_secs = Vec::with_capacity(clients);
    while let Some(done) = waits.join_next().await {
        client_secs.push(done??);
        say(&format!("{} of {clients} done", client_secs.len()));
    }
    client_secs.sort_by(f64::total_cmp);
    // The origin's counter catches up within a snapshot.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let origin_uploaded = origin
        .snapshot()
        .jobs
        .iter()
        .find(|j| j.id == seed)
        .map_or(0, |j| j.bytes_uploaded);
    for e in &engines {
        e.shutdown().await;
    }
    origin.shutdown().await;
    Ok(SwarmBench {
        diverse_order,
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

/// Writes the image, or a folder of `files` files of random sizes around `size / files`.
fn write_payload(path: &Path, size: u64, files: usize) -> std::io::Result<()> {
    if files == 0 {
        return super::write_random(path, size, 12);
    }
    super::write_random_folder(path, files, size / files as u64, 13)
}
