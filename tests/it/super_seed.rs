//! A super-seeding origin (`seed --super-seed`, BEP 16) sends about one copy to a swarm whose
//! clients then trade the rest: Swarmdate's own clients, and qBittorrent's, whose counters
//! measure the origin's bytes independently of it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmdate_core::torrent::{Torrent, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobId, JobSpec, JobState, Payload};
use swarmdate_testkit::third_party::{Counters, QBittorrent};

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
        .await
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
        let id = engine.add_job(&torrent, spec).await.unwrap();
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

/// The origin's resident and peak memory (kB) and CPU seconds, from /proc.
fn usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as f64;
    (kb("VmRSS:"), kb("VmHWM:"), ticks as f64 / hz)
}

/// The super-seeder's port, as the tracker lists it (asked without joining the swarm).
async fn origin_port(tracker: &str, torrent: &Torrent) -> u16 {
    let hash: String = torrent
        .info_hash()
        .0
        .iter()
        .map(|b| format!("%{b:02x}"))
        .collect();
    let url = format!(
        "{tracker}?info_hash={hash}&peer_id=-HOSTILE-00000000000&port=1&left=1&compact=1&event=stopped"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        // Compact peers (BEP 23) after the "peers" key: 4 address bytes and a port each.
        if let Some(at) = body.windows(7).position(|w| w == b"5:peers") {
            let rest = &body[at + 7..];
            let colon = rest.iter().position(|b| *b == b':').unwrap();
            let len: usize = std::str::from_utf8(&rest[..colon])
                .unwrap()
                .parse()
                .unwrap();
            if let Some(p) = rest[colon + 1..colon + 1 + len].chunks(6).next() {
                return u16::from_be_bytes([p[4], p[5]]);
            }
        }
        assert!(Instant::now() < deadline, "the origin announces itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A peer that has shaken hands with the origin, speaking through librqbit's wire messages.
struct Hostile {
    stream: tokio::net::TcpStream,
}

impl Hostile {
    async fn connect(addr: std::net::SocketAddr, torrent: &Torrent) -> Hostile {
        use librqbit_core::hash_id::Id20;
        use librqbit_peer_protocol::Handshake;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let hello = Handshake::new(Id20::new(torrent.info_hash().0), Id20::new([0x66; 20]));
        let mut out = [0u8; 68];
        let n = hello.serialize_unchecked_len(&mut out);
        stream.write_all(&out[..n]).await.unwrap();
        let mut theirs = [0u8; 68];
        stream.read_exact(&mut theirs).await.unwrap();
        Hostile { stream }
    }

    /// Sends `count` messages made by `make`, in large writes.
    async fn flood(
        &mut self,
        count: u32,
        make: impl Fn(u32) -> librqbit_peer_protocol::Message<'static>,
    ) {
        use tokio::io::AsyncWriteExt;
        let mut batch = Vec::with_capacity(1 << 20);
        let mut one = [0u8; 32];
        for k in 0..count {
            let n = make(k).serialize(&mut one, &Default::default).unwrap();
            batch.extend_from_slice(&one[..n]);
            if batch.len() >= 1 << 20 || k + 1 == count {
                self.stream.write_all(&batch).await.unwrap();
                batch.clear();
            }
        }
    }

    /// Asks for one block and waits for it: everything sent before has been read by then.
    async fn round_trip(&mut self) {
        use librqbit_peer_protocol::{Message, Request};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut out = [0u8; 32];
        let n = Message::Request(Request::new(0, 0, 16 << 10))
            .serialize(&mut out, &Default::default)
            .unwrap();
        self.stream.write_all(&out[..n]).await.unwrap();
        loop {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut body).await.unwrap();
            if body.first() == Some(&7) {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_cannot_grow_a_super_seeding_origin_and_an_honest_client_still_fetches() {
    use librqbit_peer_protocol::{Message, Request};
    use tokio::io::AsyncReadExt;

    const PIECES: u32 = 512;
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.iso");
    random_file(&image, (PIECES as usize) << 14, 72);
    let torrent = TorrentBuilder::single_file("image.iso", &image)
        .piece_length(16 << 10)
        .tracker(&tracker.announce_url())
        .build()
        .unwrap();
    let torrent_file = dir.path().join("image.torrent");
    std::fs::write(&torrent_file, torrent.bytes()).unwrap();
    let home = dir.path().join("home");
    loopback_settings(&home);

    // The origin is the binary, so that its memory and CPU time are its own.
    let mut origin = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"));
    origin
        .arg("--home")
        .arg(&home)
        .args(["--json", "seed", "--super-seed", "--torrent"])
        .arg(&torrent_file)
        .arg("--data")
        .arg(&image)
        .env("LANG", "C.UTF-8")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut origin = origin.spawn().unwrap();
    let pid = origin.id().unwrap();
    wait_seeding(origin.stdout.take().unwrap()).await;
    let addr = std::net::SocketAddr::from((
        [127, 0, 0, 1],
        origin_port(&tracker.announce_url(), &torrent).await,
    ));
    let (idle, _, cpu_idle) = usage(pid);

    // 3,000 idle connections: those past the limit are closed at once, the rest when they have
    // not shaken hands in time.
    const IDLE: usize = 3000;
    const LIMIT: usize = 200;
    let started = Instant::now();
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..IDLE {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tx = closed_tx.clone();
        tokio::spawn(async move {
            let mut b = [0u8; 1];
            let _ = s.read(&mut b).await;
            let _ = tx.send(Instant::now());
        });
    }
    let mut early = 0;
    while early < IDLE - LIMIT {
        let at = tokio::time::timeout(Duration::from_secs(30), closed_rx.recv())
            .await
            .expect("connections past the limit are closed")
            .unwrap();
        assert!(
            at - started < Duration::from_secs(9),
            "closed by the limit, not the timeout"
        );
        early += 1;
    }
    let (conn_rss, _, _) = usage(pid);
    for _ in 0..LIMIT {
        tokio::time::timeout(Duration::from_secs(30), closed_rx.recv())
            .await
            .expect("idle connections are closed after the handshake timeout")
            .unwrap();
    }
    let held = started.elapsed();
    assert!(
        held >= Duration::from_secs(9),
        "the last {LIMIT} waited for their handshake"
    );

    // 1,000,000 cancels of requests never made, then 1,000,000 haves.
    let mut peer = Hostile::connect(addr, &torrent).await;
    let t = Instant::now();
    peer.flood(1_000_000, |k| {
        Message::Cancel(Request::new(k + 1, 0, 16 << 10))
    })
    .await;
    peer.round_trip().await;
    let (cancel_rss, _, cpu_cancels) = usage(pid);
    let cancels_took = t.elapsed();
    let t = Instant::now();
    peer.flood(1_000_000, |k| Message::Have(k % PIECES)).await;
    peer.round_trip().await;
    let (have_rss, _, cpu_haves) = usage(pid);
    let haves_took = t.elapsed();

    // Positive control: an honest client fetches the image whole from the same origin.
    fetch_once(&torrent, &image).await;
    let (end_rss, peak, cpu_end) = usage(pid);
    eprintln!(
        "origin memory (kB): idle {idle}, with {LIMIT} idle connections and {} refused {conn_rss}, \
         after 1M cancels {cancel_rss}, after 1M haves {have_rss}, after the fetch {end_rss}, peak {peak}; \
         CPU s: idle {cpu_idle:.2}, cancels {:.2} ({cancels_took:?}), haves {:.2} ({haves_took:?}), fetch {:.2}",
        IDLE - LIMIT,
        cpu_cancels - cpu_idle,
        cpu_haves - cpu_cancels,
        cpu_end - cpu_haves,
    );
    assert!(
        peak - idle < 100_000,
        "the origin grew from {idle} to {peak} kB"
    );
    assert!(
        cpu_haves - cpu_cancels < 10.0,
        "1M haves took {:.2} CPU s",
        cpu_haves - cpu_cancels
    );
    drop(peer);
    origin.kill().await.unwrap();
}
