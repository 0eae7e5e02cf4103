//! "Local network only" sharing, in a network namespace of the test's own whose loopback also
//! carries 198.51.100.7, an address outside the local network: the engine listening on every
//! address answers a peer from 127.0.0.1 and drops one from 198.51.100.7 unanswered, and of two
//! known peers it dials the one on 127.0.0.2, never the one on 198.51.100.7. Without the setting
//! (the control) it answers both.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

use swarmdate_core::torrent::{Torrent, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobSpec};

const OUTSIDE: &str = "198.51.100.7";

/// Moves this test's thread (and the threads and processes it starts) into a new network
/// namespace with its loopback up and carrying [`OUTSIDE`].
fn private_network() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test makes a network namespace: run it as root"
    );
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    for args in [
        vec!["link", "set", "lo", "up"],
        vec!["addr", "add", &format!("{OUTSIDE}/32"), "dev", "lo"],
    ] {
        let st = Command::new("ip").args(&args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
}

/// A handshake from a peer whose id ends with `who` (each probe its own peer).
fn handshake(torrent: &Torrent, who: u8) -> Vec<u8> {
    let mut h = vec![19u8];
    h.extend_from_slice(b"BitTorrent protocol");
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&torrent.info_hash().0);
    h.extend_from_slice(b"-TS0001-localnetwor");
    h.push(who);
    h
}

/// Whether the engine at `to` answers a handshake from `from` (false: closed unanswered).
async fn answers(from: &str, to: SocketAddr, torrent: &Torrent, who: u8) -> bool {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = socket.connect(to).await.unwrap();
    s.write_all(&handshake(torrent, who)).await.unwrap();
    let mut reply = [0u8; 68];
    // A hang guard only: either side decides at once.
    match tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut reply)).await {
        Ok(Ok(_)) => {
            assert_eq!(&reply[28..48], &torrent.info_hash().0[..], "its handshake");
            true
        }
        Ok(Err(_)) => false,
        Err(_) => panic!("no answer and no close from {to} in 20 s"),
    }
}

fn torrent_of(dir: &Path) -> Torrent {
    let file = dir.join("payload.bin");
    crate::support::random_file(&file, 300_000, 7);
    TorrentBuilder::single_file("payload.bin", &file)
        .piece_length(16 << 10)
        .build()
        .unwrap()
}

fn run(local_network_only: bool) -> (bool, bool, usize, usize) {
    private_network();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let torrent = torrent_of(dir.path());
        let near = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let far = TcpListener::bind(format!("{OUTSIDE}:0")).await.unwrap();
        let cfg = EngineConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
            trackers: false,
            known_peers: vec![far.local_addr().unwrap(), near.local_addr().unwrap()],
            local_network_only,
            ..EngineConfig::loopback(&dir.path().join("state"))
        };
        let engine = Engine::start(cfg).await.unwrap();
        let dest = dir.path().join("down");
        std::fs::create_dir_all(&dest).unwrap();
        engine
            .add_job(
                &torrent,
                JobSpec::Fetch {
                    dest,
                    seed_after: false,
                    replace: false,
                },
            )
            .await
            .unwrap();
        let port = engine.listen_port().unwrap();
        // The session answers once the torrent is live: a local peer is answered within the
        // hang guard (each try a new peer); then the outside one is asked once.
        let near_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut who = 0;
        let from_near = loop {
            who += 1;
            if answers("127.0.0.1", near_addr, &torrent, who).await {
                break true;
            }
            if tokio::time::Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let far_addr = format!("{OUTSIDE}:{port}").parse().unwrap();
        let from_far = answers(OUTSIDE, far_addr, &torrent, 255).await;

        // librqbit dials the known peers in their order, the far one first: once the near one
        // is dialled, a dial to the far one has been made or never will be.
        let (mut near_dials, mut far_dials) = (0, 0);
        let _ = tokio::time::timeout(Duration::from_secs(20), near.accept())
            .await
            .expect("the engine dials its known peer on 127.0.0.2");
        near_dials += 1;
        if !local_network_only {
            let _ = tokio::time::timeout(Duration::from_secs(20), far.accept())
                .await
                .expect("the engine dials its known peer on 198.51.100.7");
            far_dials += 1;
        }
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), far.accept()).await {
            far_dials += 1;
        }
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(10), near.accept()).await {
            near_dials += 1;
        }
        (from_near, from_far, near_dials, far_dials)
    })
}

#[test]
fn local_network_only_accepts_and_dials_only_local_addresses() {
    let (from_near, from_far, near_dials, far_dials) = run(true);
    assert!(from_near, "a peer on 127.0.0.1 is answered");
    assert!(!from_far, "a peer on {OUTSIDE} is dropped unanswered");
    assert!(near_dials >= 1);
    assert_eq!(far_dials, 0, "{OUTSIDE} is never dialled");
}

#[test]
fn sharing_with_everyone_accepts_and_dials_any_address() {
    let (from_near, from_far, near_dials, far_dials) = run(false);
    assert!(from_near && from_far, "both are answered");
    assert!(near_dials >= 1);
    assert!(far_dials >= 1, "{OUTSIDE} is dialled");
}
