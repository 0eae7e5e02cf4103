//! Mirror fallback: with no peer, packages come from the mirror over range requests, each piece
//! checked; a range served corrupt is fetched again and the package still verifies. With a
//! seeding peer, the mirror serves (almost) nothing.

use swarmdate::hash::Sha256;
use swarmdate::packages::Nevra;
use swarmdate::store::PackageStore;

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
    let run = client
        .run_async(&["update", "--root", root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    let payload = s["download_bytes"].as_u64().unwrap();
    let served = mirror.bytes_served();
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
