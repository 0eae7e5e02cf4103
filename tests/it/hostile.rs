//! A peer that serves corrupt data beside a good one, each on its own 127.0.0.x address: the client
//! ends with the right bytes, never writes a bad byte into a file it seeds, and counts what it threw
//! away in its own storage layer.

use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use swarmdate_core::iso::SwitchMode;
use swarmdate_engine::{Engine, JobSpec, Payload};

use crate::support::*;

/// An engine on `ip` that finds peers only through `known` (no tracker).
async fn engine_at(ip: [u8; 4], state: &Path, known: Vec<SocketAddr>) -> Arc<Engine> {
    engine_on(ip, state, false, known).await
}

/// Seeds `image` as `version` from `ip`; returns the engine and its address.
async fn seeder_at(
    ip: [u8; 4],
    distro: &Distro,
    version: &str,
    image: &Path,
    state: &Path,
) -> (Arc<Engine>, SocketAddr) {
    let engine = engine_at(ip, state, Vec::new()).await;
    let payload = Payload::Image(image.to_owned());
    let id = engine
        .add_job(&distro.torrent(version), JobSpec::Seed { payload })
        .await
        .unwrap();
    engine.wait(id).await.unwrap();
    let addr = SocketAddr::from((ip, engine.listen_port().unwrap()));
    (engine, addr)
}

/// Bytes `engine` has uploaded, by its own counters.
fn sent(engine: &Engine) -> u64 {
    uploaded(engine)
}

/// Fetches 1.02 from `peers` into a fresh folder; returns the file's bytes, the seconds it took, and
/// the job's discarded bytes.
async fn fetch_from(distro: &Distro, peers: Vec<SocketAddr>) -> (Vec<u8>, f64, u64) {
    let (state, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let client = engine_at([127, 0, 0, 4], state.path(), peers).await;
    let start = Instant::now();
    let spec = JobSpec::Fetch {
        dest: dest.path().to_owned(),
        seed_after: false,
        replace: false,
    };
    let id = client.add_job(&distro.torrent("1.02"), spec).await.unwrap();
    let done = client.wait(id).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    client.shutdown().await;
    let bytes = std::fs::read(dest.path().join("os-1.02.iso")).unwrap();
    (bytes, secs, done.bytes_discarded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_peer_costs_discarded_bytes_and_never_a_bad_byte_on_disk() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let good_image = distro.image("1.02");
    let (good, good_addr) =
        seeder_at([127, 0, 0, 3], &distro, "1.02", good_image, dirs[0].path()).await;

    // The liar checked a good copy, then its file was damaged under it: it serves what is on disk.
    let bad_image = dirs[1].path().join("os-1.02.iso");
    std::fs::copy(good_image, &bad_image).unwrap();
    let (bad, bad_addr) =
        seeder_at([127, 0, 0, 2], &distro, "1.02", &bad_image, dirs[2].path()).await;
    let piece = 64u64 << 10;
    let len = std::fs::metadata(&bad_image).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&bad_image)
        .unwrap();
    let mut damaged = 0;
    for i in (0..len / piece).step_by(3) {
        f.write_all_at(&[0x5A; 1024], i * piece + 4096).unwrap();
        damaged += 1;
    }
    f.sync_all().unwrap();
    // Capped so the transfer lasts long enough for the liar to be retried after its back-off.
    good.set_limits(Some(4 << 20), None);
    bad.set_limits(Some(4 << 20), None);
    let expected = std::fs::read(good_image).unwrap();

    // The reference: the good peer alone.
    let (alone, secs_alone, discarded_alone) = fetch_from(&distro, vec![good_addr]).await;
    assert!(alone == expected, "the good peer alone gives the image");
    assert_eq!(
        discarded_alone, 0,
        "nothing is discarded with honest peers only"
    );

    let bad_before = sent(&bad);
    let (mixed, secs_mixed, discarded) = fetch_from(&distro, vec![bad_addr, good_addr]).await;
    let bad_sent = sent(&bad) - bad_before;
    assert!(
        mixed == expected,
        "with a liar in the swarm the file is still right"
    );
    eprintln!(
        "corrupt peer ({damaged} damaged pieces): it sent {bad_sent} bytes, the client discarded \
         {discarded}; {secs_mixed:.2} s against {secs_alone:.2} s with the good peer alone ({:.2}×)",
        secs_mixed / secs_alone
    );
    assert!(bad_sent > 0, "the liar was asked for pieces");
    assert!(
        discarded > 0 && discarded <= bad_sent,
        "discarded {discarded} of the {bad_sent} bytes the liar sent"
    );

    // A copy-mode switch through the same swarm: the old image, seeded all along, stays intact.
    let (state, images) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let old = images.path().join("os-1.01.iso");
    std::fs::copy(distro.image("1.01"), &old).unwrap();
    let client = engine_at([127, 0, 0, 5], state.path(), vec![bad_addr, good_addr]).await;
    let seed = JobSpec::Seed {
        payload: Payload::Image(old.clone()),
    };
    let seeding = client.add_job(&distro.torrent("1.01"), seed).await.unwrap();
    client.wait(seeding).await.unwrap();
    let id = client
        .switch_image(&old, &distro.torrent("1.02"), SwitchMode::Copy, len, true)
        .await
        .unwrap();
    let done = client.wait(id).await.unwrap();
    client.shutdown().await;
    eprintln!(
        "switch through the same swarm: {} bytes discarded",
        done.bytes_discarded
    );
    assert_eq!(
        sha256(&old),
        sha256(distro.image("1.01")),
        "the seeded image is untouched"
    );
    assert_eq!(
        sha256(&images.path().join("os-1.02.iso")),
        sha256(good_image)
    );
    good.shutdown().await;
    bad.shutdown().await;
}
