//! `seed --torrent T --data F` only reads F: data that is not T's is refused (lengths and the
//! count of wrong pieces named) and F keeps its bytes, length and mtime, whatever peers offer.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use swarmdate_core::torrent::{Torrent, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload};

use crate::support::*;

const PIECE: u32 = 16 << 10;

/// A home for the binary on 127.0.0.1, with no feed.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    loopback_settings(home.path());
    home
}

fn seed_command(home: &Path, torrent: &Path, data: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"));
    c.arg("--home")
        .arg(home)
        .arg("--json")
        .arg("seed")
        .arg("--torrent")
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .env("LANG", "C.UTF-8")
        .kill_on_drop(true);
    c
}

/// A file's bytes, length and modification time.
fn state(path: &Path) -> (Vec<u8>, u64, SystemTime) {
    let m = std::fs::metadata(path).unwrap();
    (std::fs::read(path).unwrap(), m.len(), m.modified().unwrap())
}

/// The torrent of `source` (named image.iso) announced to `tracker`, written beside it.
fn torrent_of(source: &Path, tracker: &str) -> (Torrent, PathBuf) {
    let t = TorrentBuilder::single_file("image.iso", source)
        .piece_length(PIECE)
        .tracker(tracker)
        .build()
        .unwrap();
    let file = source.with_extension("torrent");
    std::fs::write(&file, t.bytes()).unwrap();
    (t, file)
}

/// An engine on 127.0.0.1 seeding `torrent` from `data` (the peer offering its bytes).
async fn peer(state: &Path, torrent: &Torrent, data: &Path) -> std::sync::Arc<Engine> {
    let engine = Engine::start(EngineConfig::loopback(state)).await.unwrap();
    let id = engine
        .add_job(
            torrent,
            JobSpec::Seed {
                payload: Payload::Image(data.to_owned()),
            },
        )
        .await
        .unwrap();
    engine.wait(id).await.unwrap();
    engine
}

async fn refused(home: &Path, torrent: &Path, data: &Path) -> Run {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        seed_command(home, torrent, data).output(),
    )
    .await
    .expect("the refusal comes within 2 minutes")
    .unwrap();
    Run::from(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_longer_than_its_torrent_is_refused_and_never_cut_while_a_peer_offers_other_bytes() {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    // The user's 1 MiB file, and someone's 300,000-byte torrent a peer seeds other bytes of.
    let file = dir.path().join("mine/image.iso");
    random_file(&file, 1 << 20, 5);
    let theirs = dir.path().join("theirs/image.iso");
    random_file(&theirs, 300_000, 6);
    let (torrent, torrent_file) = torrent_of(&theirs, &tracker.announce_url());
    let peer = peer(&dir.path().join("peer"), &torrent, &theirs).await;
    let before = state(&file);

    let home = home();
    let run = refused(home.path(), &torrent_file, &file).await;
    assert_eq!(run.code, 3, "refused for trust: {}", run.stderr);
    let msg = run.error();
    assert!(
        msg.contains("has 1048576 bytes where the torrent has 300000"),
        "{msg}"
    );
    let pieces = torrent.pieces().len();
    assert!(
        msg.contains(&format!("{pieces} of {pieces} pieces differ")),
        "{msg}"
    );
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(state(&file), before, "the file is exactly as it was");
    assert_eq!(uploaded(&peer), 0, "nothing was fetched from the peer");
    // Refused, not kept: no job is left to fail at every start.
    let journal = home.path().join("data/engine");
    assert!(swarmdate_engine::read_journal(&journal).unwrap().is_empty());

    // Positive control: the peer's own bytes, given as the data, seed.
    let copy = dir.path().join("copy/image.iso");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&theirs, &copy).unwrap();
    let copy_before = state(&copy);
    let mut seeding = seed_command(home.path(), &torrent_file, &copy);
    seeding.stdout(Stdio::piped());
    let mut seeding = seeding.spawn().unwrap();
    wait_seeding(seeding.stdout.take().unwrap()).await;
    assert_eq!(state(&copy), copy_before);
    seeding.kill().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_wrong_pieces_is_refused_untouched_and_the_right_one_seeds_to_a_client() {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("right/image.iso");
    random_file(&right, 40 * PIECE as usize, 7);
    let (torrent, torrent_file) = torrent_of(&right, &tracker.announce_url());
    // The user's copy differs in three pieces; an honest peer serves the right ones (librqbit
    // would have "repaired" the copy from it).
    let file = dir.path().join("mine/image.iso");
    let mut bytes = std::fs::read(&right).unwrap();
    for piece in [3usize, 10, 17] {
        bytes[piece * PIECE as usize + 100] ^= 0xff;
    }
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let peer = peer(&dir.path().join("peer"), &torrent, &right).await;
    let before = state(&file);

    let home = home();
    let run = refused(home.path(), &torrent_file, &file).await;
    assert_eq!(run.code, 3, "refused for trust: {}", run.stderr);
    let msg = run.error();
    assert!(msg.contains("3 of 40 pieces differ"), "{msg}");
    assert!(!msg.contains("bytes where"), "no length differs: {msg}");
    assert_eq!(state(&file), before, "the file is exactly as it was");
    assert_eq!(uploaded(&peer), 0, "nothing was fetched from the peer");

    // Positive control: with the peer gone, the right file seeds from the binary and a client
    // fetches it whole; the seeded file is unchanged.
    peer.shutdown().await;
    tracker.forget(&torrent.info_hash());
    let right_before = state(&right);
    let mut seeding = seed_command(home.path(), &torrent_file, &right);
    seeding.stdout(Stdio::piped());
    let mut seeding = seeding.spawn().unwrap();
    wait_seeding(seeding.stdout.take().unwrap()).await;
    let fetch = Fetching::start(&torrent).await;
    tokio::time::timeout(Duration::from_secs(120), fetch.engine.wait(fetch.job))
        .await
        .expect("the fetch finishes")
        .unwrap();
    assert_eq!(sha256(&fetch.dest.path().join("image.iso")), sha256(&right));
    assert_eq!(state(&right), right_before);
    fetch.engine.shutdown().await;
    seeding.kill().await.unwrap();
}
