//! A super-seeding origin (`seed --super-seed`, BEP 16) sends about one copy to a swarm whose
//! clients then trade the rest: Swarmdate's own clients, and qBittorrent's, whose counters
//! measure the origin's bytes independently of it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmdate::bench::third_party::{Counters, QBittorrent};
use swarmdate::engine::{Engine, EngineConfig, JobId, JobSpec, JobState, Payload};
use swarmdate::torrent::{Torrent, TorrentBuilder};

use crate::support::*;

const SIZE: usize = 8 << 20;
/// Every peer's limit each way: the origin's upload is the swarm's bottleneck.
const RATE: u32 = 1 << 20;

/// An 8 MiB image in 64 KiB pieces announced to `tracker`, and a super-seeding origin limited
/// to `limit` bytes a second.
async fn origin(
    dir: &Path,
    tracker: &str,
    limit: Option<u32>,
) -> (Arc<Torrent>, Arc<Engine>, JobId) {
    let image = dir.join("image.iso");
    random_file(&image, SIZE, 71);
    let torrent = TorrentBuilder::single_file("image.iso", &image)
        .piece_length(64 << 10)
        .tracker(tracker)
        .build()
        .unwrap();
    let mut cfg = EngineConfig::loopback(&dir.join("origin"));
    cfg.upload_limit = limit;
    let engine = Engine::start(cfg).await.unwrap();
    let job = engine
        .add_job(
            &torrent,
            JobSpec::SuperSeed {
                payload: Payload::Image(image),
            },
        )
        .unwrap();
    engine.wait(job).await.unwrap();
    (Arc::new(torrent), engine, job)
}

/// What the origin counts as sent, from a snapshot computed after this call.
async fn origin_bytes(engine: &Engine, job: JobId) -> u64 {
    fresh_snapshot(engine)
        .await
        .jobs
        .into_iter()
        .find(|j| j.id == job)
        .unwrap()
        .bytes_uploaded
}

/// A fresh engine on loopback fetches the image whole; its copy's SHA-256 is the image's.
async fn fetch_once(torrent: &Torrent, image: &Path) {
    let fetch = Fetching::start(torrent).await;
    tokio::time::timeout(Duration::from_secs(120), fetch.engine.wait(fetch.job))
        .await
        .expect("the fetch finishes")
        .unwrap();
    assert_eq!(sha256(&fetch.dest.path().join("image.iso")), sha256(image));
    fetch.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_running_super_seeder_changes_nothing_and_a_paused_one_serves_again() {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let (torrent, origin, job) = origin(dir.path(), &tracker.announce_url(), None).await;
    let image = dir.path().join("image.iso");
    fetch_once(&torrent, &image).await;
    let sent = origin_bytes(&origin, job).await;
    assert!(sent >= SIZE as u64, "the origin counted {sent} bytes");

    // A running seeder keeps its peers and its count (a restart would start from zero).
    origin.resume(job).await.unwrap();
    let snap = fresh_snapshot(&origin)
        .await
        .jobs
        .into_iter()
        .find(|j| j.id == job)
        .unwrap();
    assert_eq!(snap.state, JobState::Seeding);
    assert_eq!(snap.bytes_uploaded, sent);

    // Paused, it serves nothing; resumed, a new seeder serves the next client.
    origin.pause(job).await.unwrap();
    assert_eq!(job_snapshot(&origin, job).state, JobState::Paused);
    origin.resume(job).await.unwrap();
    assert_eq!(job_snapshot(&origin, job).state, JobState::Seeding);
    fetch_once(&torrent, &image).await;
    let again = origin_bytes(&origin, job).await;
    assert!(
        again >= SIZE as u64,
        "the resumed seeder counted {again} bytes"
    );
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_seeding_origin_sends_about_one_copy_to_swarmdate_clients() {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let (torrent, origin, job) = origin(dir.path(), &tracker.announce_url(), Some(RATE)).await;
    let mut clients = Vec::new();
    for n in 0..5 {
        let mut cfg = EngineConfig::loopback(&dir.path().join(format!("state-{n}")));
        (cfg.upload_limit, cfg.download_limit) = (Some(RATE), Some(RATE));
        let engine = Engine::start(cfg).await.unwrap();
        let dest = dir.path().join(format!("client-{n}"));
        std::fs::create_dir_all(&dest).unwrap();
        let spec = JobSpec::Fetch {
            dest: dest.clone(),
            seed_after: true,
            replace: false,
        };
        let id = engine.add_job(&torrent, spec).unwrap();
        clients.push((engine, id, dest));
    }
    for (engine, id, _) in &clients {
        tokio::time::timeout(Duration::from_secs(240), engine.wait(*id))
            .await
            .expect("the swarm finishes")
            .unwrap();
    }
    let image = dir.path().join("image.iso");
    for (_, _, dest) in &clients {
        assert_eq!(sha256(&dest.join("image.iso")), sha256(&image));
    }
    // Every client has it all, so all the origin sent has left it.
    let copies = origin_bytes(&origin, job).await as f64 / SIZE as f64;
    eprintln!("the origin sent {copies:.2} copies");
    // Every piece left the origin once at least; five clients of a plain seeder take several
    // copies (the benchmark's reference run: 2.5 of 20 clients' 20).
    assert!(
        (1.0..=1.5).contains(&copies),
        "the origin sent {copies:.2} copies"
    );
    for (engine, _, _) in clients {
        engine.shutdown().await;
    }
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbittorrent_clients_count_about_one_copy_from_a_super_seeding_origin() {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let (torrent, origin, job) = origin(dir.path(), &tracker.announce_url(), Some(RATE)).await;
    let file = dir.path().join("image.torrent");
    std::fs::write(&file, torrent.bytes()).unwrap();
    let hash = torrent.info_hash();
    let peers = tokio::task::block_in_place(|| {
        (0..3u8)
            .map(|n| {
                let q = QBittorrent::start(Ipv4Addr::new(127, 0, 1, 11 + n)).unwrap();
                q.set_rate_limit(RATE).unwrap();
                let dest = dir.path().join(format!("qbittorrent-{n}"));
                std::fs::create_dir_all(&dest).unwrap();
                q.add(&file, &dest).unwrap();
                (q, dest)
            })
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let (counters, wasted) = tokio::task::block_in_place(|| {
        let read = || {
            let c: Vec<_> = peers
                .iter()
                .map(|(q, _)| q.counters(&hash).unwrap())
                .collect();
            let w: u64 = peers.iter().map(|(q, _)| q.wasted(&hash).unwrap()).sum();
            (c, w)
        };
        let key = |(c, w): &(Vec<Counters>, u64)| {
            let c: Vec<_> = c.iter().map(|c| (c.downloaded, c.uploaded)).collect();
            (c, *w)
        };
        // Their counters lag by about 1.5 s behind the transfer: wait until every client is done
        // and counts the whole image received, and no counter has moved for longer than the lag.
        let (mut last, mut since) = (read(), Instant::now());
        loop {
            let complete = last
                .0
                .iter()
                .all(|c| c.done >= 1.0 && c.downloaded >= SIZE as u64);
            if complete && since.elapsed() >= Duration::from_secs(2) {
                break last;
            }
            assert!(
                Instant::now() < deadline,
                "qBittorrent clients still downloading or counting: {:?}",
                key(&last)
            );
            std::thread::sleep(Duration::from_millis(250));
            let now = read();
            if key(&now) != key(&last) || !complete {
                (last, since) = (now, Instant::now());
            }
        }
    });
    for (_, dest) in &peers {
        assert_eq!(
            sha256(&dest.join("image.iso")),
            sha256(&dir.path().join("image.iso"))
        );
    }
    // What they downloaded and did not upload to each other came from the origin. libtorrent's
    // end game asks several peers for the last blocks (the origin too), and three clients have
    // little to trade: a looser bound than Swarmdate's clients'.
    let down: u64 = counters.iter().map(|c| c.downloaded).sum();
    let up: u64 = counters.iter().map(|c| c.uploaded).sum();
    let from_origin = down.saturating_sub(up) as f64;
    assert!(
        (1.0..=2.0).contains(&(from_origin / SIZE as f64)),
        "qBittorrent counted {from_origin} bytes from the origin"
    );
    let counted = origin_bytes(&origin, job).await as f64;
    eprintln!("origin {counted}, qBittorrent {from_origin}, wasted {wasted}");
    assert!(
        (counted - from_origin).abs() <= 0.05 * from_origin,
        "the origin counted {counted}, qBittorrent {from_origin} (and {wasted} wasted)"
    );
    origin.shutdown().await;
}
