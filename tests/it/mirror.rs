//! Mirror fallback: with no peer, packages come from the mirror over range requests, each piece
//! checked; a range served corrupt is fetched again and the package still verifies. With a
//! seeding peer, the mirror serves (almost) nothing.

use std::time::Duration;

use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::Nevra;
use swarmdate_core::store::PackageStore;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_peers_the_mirror_serves_checked_ranges_and_a_corrupt_one_is_fetched_again() {
    let (_tracker, mirror, d) = distro_with_mirror(60, 20_000..120_000).await;
    let client = d.client();
    let root = d.root("root");
    let check = client
        .run_async(&["update", "--check", "--root", root.to_str().unwrap()])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    let planned = check.summary()["download_bytes"].as_u64().unwrap();
    let first: Nevra =
        serde_json::from_value(check.summary()["changes"][0]["package"].clone()).unwrap();

    // The first package's first range comes back with every byte flipped, once.
    mirror.corrupt_next_range(&first.file_name());
    let before = mirror.bytes_served();
    let run = client
        .run_async(&["update", "--root", root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    assert_eq!(s["bytes_from_mirrors"].as_u64().unwrap(), planned);
    assert_eq!(s["bytes_from_peers"].as_u64().unwrap(), 0);
    let served = mirror.bytes_served() - before;
    assert!(
        served > planned,
        "the corrupt range was fetched again: {served} of {planned}"
    );
    println!("mirror only: {planned} bytes planned, {served} served by the mirror");

    // Verified on arrival: the corrupted package is in the store whole, and installed.
    let store = PackageStore::open(&client.home.path().join("data/store")).unwrap();
    let sha = Sha256::of_file(&d.repos.file(&first).unwrap()).unwrap();
    assert!(store.holds(&sha));
    assert_eq!(Sha256::of_file(&store.object_path(&sha)).unwrap(), sha);
    assert!(installed_in(&root).contains(&first.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_seeding_peer_the_mirror_serves_almost_nothing() {
    let (_tracker, mirror, d) = distro_with_mirror(200, 20_000..120_000).await;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    let client = d.client();
    let root = d.root("root");
    let before = installed_in(&root);
    let run = client
        .run_async(&["update", "--root", root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    let payload = s["download_bytes"].as_u64().unwrap();
    let served = mirror.bytes_served();
    // Something came, and it is what was installed: the root holds exactly the expected set,
    // the new builds in it are the summary's changes, and the payload is their files.
    let now = installed_in(&root);
    assert_eq!(now, d.expected_after_update());
    let (changed, bytes) = d.changes(s);
    assert_eq!(changed, now.difference(&before).cloned().collect());
    assert!(
        payload > 0 && payload == bytes,
        "payload {payload}, files {bytes}"
    );
    // Counted at the mirror itself, not from our own figures.
    assert!(
        (served as f64) <= 0.1 * payload as f64,
        "the mirror served {served} of {payload} bytes"
    );
    println!(
        "with a peer: {payload} bytes, {served} from the mirror, {} from peers by our count",
        s["bytes_from_peers"]
    );
    origin.shutdown().await;
}

/// A `kB` field of a `/proc/<pid>/status` text, in bytes (`None` once the process has exited).
fn status_field(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb << 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_answering_a_range_with_2_gib_is_cut_off_and_the_engine_stays_small() {
    let (_tracker, mirror, d) = distro_with_mirror(20, 60_000..120_000).await;
    let client = d.client();
    let root = d.root("root");
    let check = client
        .run_async(&["update", "--check", "--root", root.to_str().unwrap()])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    let first: Nevra =
        serde_json::from_value(check.summary()["changes"][0]["package"].clone()).unwrap();

    // The attack as found: the package comes back corrupt once, and every re-fetch of one of
    // its pieces is answered with 2 GiB under the right Content-Range.
    mirror.corrupt_next_range(&first.file_name());
    mirror.overserve_ranges(&first.file_name(), 2 << 30);
    let mut cmd = tokio::process::Command::from(client.command(&[
        "update",
        "--root",
        root.to_str().unwrap(),
        "--yes",
    ]));
    cmd.kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // The engine runs in this process (nobody else runs one for its home): its size is read
    // from /proc while it runs; its peak (VmHWM) only grows, so the last reading holds it.
    let status = format!("/proc/{}/status", child.id().unwrap());
    let done = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output());
    tokio::pin!(done);
    let mut every = tokio::time::interval(Duration::from_millis(10));
    let (mut idle, mut peak) = (0u64, 0u64);
    let out = loop {
        tokio::select! {
            out = &mut done => break out.expect("update hung").unwrap(),
            _ = every.tick() => {
                let Ok(s) = std::fs::read_to_string(&status) else { continue };
                let attacked = mirror.overserved() > 0;
                if let (Some(rss), Some(hwm)) = (status_field(&s, "VmRSS:"), status_field(&s, "VmHWM:")) {
                    if !attacked {
                        idle = idle.max(rss);
                    }
                    peak = peak.max(hwm);
                }
            }
        }
    };
    let run = Run::from(out);
    let sent = mirror.overserved();
    println!(
        "hostile mirror: engine {} MiB before the attack, peak {} MiB; the mirror got {sent} bytes out before the hang-up",
        idle >> 20,
        peak >> 20
    );
    // The hostile answer was cut off with a clear error, and the next try brought the package.
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert!(
        run.stderr.contains("bytes asked for") && run.stderr.contains("is broken or hostile"),
        "{}",
        run.stderr
    );
    assert!(sent > 0, "the hostile answer was made");
    assert!(sent < 64 << 20, "the engine read on: {sent} bytes");
    assert!(
        idle > 0 && peak.saturating_sub(idle) < 100 << 20,
        "grew from {idle} to {peak} bytes"
    );
    let store = PackageStore::open(&client.home.path().join("data/store")).unwrap();
    let sha = Sha256::of_file(&d.repos.file(&first).unwrap()).unwrap();
    assert_eq!(Sha256::of_file(&store.object_path(&sha)).unwrap(), sha);
    assert!(installed_in(&root).contains(&first.to_string()));
}
