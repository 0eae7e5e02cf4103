//! `swarmdate update` end to end on a generated distribution of real signed RPMs: the packages
//! come over the repository swarms into the store, are checked and installed in one transaction,
//! and the client then seeds them to the next one.

use std::collections::BTreeSet;

use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::Nevra;
use swarmdate_core::store::PackageStore;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_update_over_the_swarm_install_checked_packages_and_seed_them_on() {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let d = tokio::task::spawn_blocking(move || PackageDistro::build(200, 20_000..120_000, &url))
        .await
        .unwrap();
    assert!(d.repos.release_packages.len() >= 200);
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;

    // Client B: the older set, then an update from the origin.
    let b = d.client();
    let b_root = d.root("b");
    let check = b
        .run_async(&["update", "--check", "--root", b_root.to_str().unwrap()])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    let planned = check.summary()["download_bytes"].as_u64().unwrap();
    assert!(planned > 0);
    assert_eq!(check.summary()["installed"], false);
    assert_eq!(
        installed_in(&b_root).len(),
        d.repos.installed.len(),
        "--check changes nothing"
    );

    let run = b
        .run_async(&["update", "--root", b_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    assert_eq!(s["installed"], true);
    let expected = d.expected_after_update();
    assert_eq!(installed_in(&b_root), expected);
    assert!(
        expected.iter().any(|p| p.starts_with("libnew-")),
        "a new dependency was pulled in"
    );

    // The packages sit verified in B's store; the origin (an independent count) sent them.
    let b_store = PackageStore::open(&b.home.path().join("data/store")).unwrap();
    let mut payload = 0;
    for c in s["changes"].as_array().unwrap() {
        let nevra: Nevra = c["package"].as_object().map(|_| ()).map_or_else(
            || c["package"].as_str().unwrap().parse().unwrap(),
            |_| serde_json::from_value(c["package"].clone()).unwrap(),
        );
        let file = d.repos.file(&nevra).unwrap();
        let sha = Sha256::of_file(&file).unwrap();
        assert!(b_store.holds(&sha), "{nevra} is in the store");
        payload += std::fs::metadata(&file).unwrap().len();
    }
    assert_eq!(payload, planned);
    // B has exited: all it got has left the origin.
    let sent = uploaded_now(&origin).await;
    assert!(sent >= payload, "the origin sent {sent} of {payload}");
    println!("update B: {payload} bytes of packages, the origin sent {sent}");

    // A downgrade of one updated application takes its release build from the release master.
    let app = d
        .repos
        .update_packages
        .iter()
        .find(|n| n.name.starts_with("app") && expected.contains(&n.to_string()))
        .expect("an updated application")
        .clone();
    let old = d
        .repos
        .release_packages
        .iter()
        .find(|n| n.name == app.name)
        .unwrap()
        .clone();
    let down = b
        .run_async(&[
            "downgrade",
            &app.name,
            "--root",
            b_root.to_str().unwrap(),
            "--yes",
        ])
        .await;
    assert_eq!(down.code, 0, "{:?}\n{}", down.events, down.stderr);
    let now = installed_in(&b_root);
    assert!(
        now.contains(&old.to_string()) && !now.contains(&app.to_string()),
        "{now:?}"
    );
    let none = b
        .run_async(&[
            "downgrade",
            &app.name,
            "--root",
            b_root.to_str().unwrap(),
            "--yes",
        ])
        .await;
    assert_eq!(none.code, 1);
    assert!(
        none.error().contains("no build older than the installed"),
        "{}",
        none.error()
    );
    let back = b
        .run_async(&["update", "--root", b_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(installed_in(&b_root), expected);

    // B seeds what it holds; the origin leaves; C updates from B alone.
    let mut seeding = tokio::process::Command::from(b.command(&["seed"]))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    origin.shutdown().await;
    let c = d.client();
    let c_root = d.root("c");
    let run = c
        .run_async(&["update", "--root", c_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(installed_in(&c_root), expected);
    seeding.kill().await.unwrap();
}

/// A new snapshot appears in the feed: the client joins it holding what it has, fetches only the
/// new builds (counted by the origin and the mirror, not by the client), and keeps the older
/// snapshot's job, which seeds the builds it superseded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_snapshot_is_joined_without_fetching_again_what_the_store_holds() {
    let (tracker, mirror, d) = distro_with_mirror(120, 20_000..80_000).await;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    let b = d.client();
    let b_root = d.root("b");
    let first = b
        .run_async(&["update", "--root", b_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(first.code, 0, "{}", first.stderr);

    // Snapshot 2: everything of snapshot 1 (same bytes) and five newer library builds.
    let NextSnapshot {
        folder,
        new,
        new_bytes,
        published,
    } = d.next_snapshot(&tracker, &mirror, 5, 9).await;
    let payload = swarmdate_engine::Payload::Folder(folder.parent().unwrap().to_owned());
    let id = origin
        .add_job(
            &published.torrent,
            swarmdate_engine::JobSpec::Seed { payload },
        )
        .await
        .unwrap();
    origin.wait(id).await.unwrap();

    let (sent_before, mirror_before) = (uploaded(&origin), mirror.bytes_served());
    let second = b
        .run_async(&["update", "--root", b_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(second.code, 0, "{:?}\n{}", second.events, second.stderr);
    let s = second.summary();
    assert_eq!(s["changes"].as_array().unwrap().len(), 5);
    assert_eq!(s["download_bytes"].as_u64().unwrap(), new_bytes);
    let moved =
        (uploaded_now(&origin).await - sent_before) + (mirror.bytes_served() - mirror_before);
    let bound = new_bytes + 5 * u64::from(published.torrent.piece_length);
    assert!(
        moved >= new_bytes && moved <= bound,
        "moved {moved}, new {new_bytes}, bound {bound}"
    );
    println!("snapshot move: {new_bytes} bytes of new builds, {moved} moved (bound {bound})");
    for n in &new {
        assert!(installed_in(&b_root).contains(&n.to_string()));
    }

    // Both snapshots' jobs stay: the older one seeds what the newer superseded.
    let status = b.run_async(&["seed", "--status"]).await;
    let jobs: Vec<String> = status.summary()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["info_hash"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        jobs.contains(&d.updates.torrent.info_hash().to_string()),
        "{jobs:?}"
    );
    assert!(
        jobs.contains(&published.torrent.info_hash().to_string()),
        "{jobs:?}"
    );
    origin.shutdown().await;
}

/// `swarmdate seed` follows the feed: a client that only seeds joins a new snapshot with what it
/// holds, so the next client gets everything but the new builds from it through that snapshot's
/// swarm (the mirror, counting, serves only the new builds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeding_client_joins_a_new_snapshot_and_serves_it() {
    let (tracker, mirror, d) = distro_with_mirror(100, 20_000..80_000).await;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    let b = d.client();
    let b_root = d.root("b");
    let first = b
        .run_async(&["update", "--root", b_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The origin leaves the updates to the clients from now on.
    origin.shutdown().await;

    let NextSnapshot {
        new,
        new_bytes,
        published: snap2,
        ..
    } = d.next_snapshot(&tracker, &mirror, 3, 5).await;

    // B only seeds; it joins snapshot 2 on its own.
    let mut seeding = tokio::process::Command::from(b.command(&["seed"]))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let hash = snap2.torrent.info_hash().to_string();
    let mut joined = false;
    for _ in 0..100 {
        let status = b.run_async(&["seed", "--status"]).await;
        joined = status.summary()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["info_hash"] == hash);
        if joined {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(joined, "B joined snapshot 2");
    // B announces once its check of snapshot 2 is done; nobody else is in that swarm.
    let snap2_hash = snap2.torrent.info_hash();
    wait_for(
        "B in snapshot 2's swarm",
        std::time::Duration::from_secs(60),
        || tracker.peer_count(&snap2_hash) > 0,
    )
    .await;

    let c = d.client();
    let c_root = d.root("c");
    let before = mirror.bytes_served();
    let run = c
        .run_async(&["update", "--root", c_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    let payload = s["download_bytes"].as_u64().unwrap();
    let served = mirror.bytes_served() - before;
    println!(
        "new snapshot via a seeding client: {payload} bytes, {new_bytes} new, the mirror served {served}"
    );
    assert!(served >= new_bytes, "the new builds came from the mirror");
    assert!(
        served <= new_bytes + 3 * u64::from(snap2.torrent.piece_length) + payload / 10,
        "the rest came from B: the mirror served {served} of {payload}"
    );
    for n in &new {
        assert!(installed_in(&c_root).contains(&n.to_string()));
    }
    seeding.kill().await.unwrap();
}

/// The scenario: client A holds the updates (it fetched them from the mirror, the only
/// source at first) and seeds; B and C, with other installed sets, update at the same time and get
/// at least 90% of their packages from peers, counted at the mirror.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_update_from_a_third_and_spare_the_mirror() {
    let (tracker, mirror, d) = distro_with_mirror(200, 20_000..120_000).await;
    let expected = d.expected_after_update();
    let a = d.client();
    let a_root = d.root("a");
    let run = a
        .run_async(&["update", "--root", a_root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary()["bytes_from_mirrors"].as_u64().unwrap() > 0);
    assert_eq!(installed_in(&a_root), expected);
    // A's update run may still be listed in the updates swarm: A's seeding engine is one more.
    let updates = d.updates.torrent.info_hash();
    let listed = tracker.peer_count(&updates);
    let mut seeding = tokio::process::Command::from(a.command(&["seed"]))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(
        "A's seeding engine in the updates swarm",
        std::time::Duration::from_secs(60),
        || tracker.peer_count(&updates) > listed,
    )
    .await;

    // B lacks some of A's applications, C some others: different installed sets.
    let b = d.client();
    let c = d.client();
    let b_root = d.root("b");
    let c_root = d.root("c");
    let mut wanted = Vec::new();
    for (root, skip) in [(&b_root, 0), (&c_root, 1)] {
        let apps: Vec<String> = installed_in(root)
            .into_iter()
            .filter(|p| p.starts_with("app"))
            .enumerate()
            .filter(|(i, _)| i % 3 == skip)
            .map(|(_, p)| p)
            .collect();
        let mut args = vec!["-e", "--nodeps"];
        args.extend(apps.iter().map(String::as_str));
        crate::packages::rpm("rpm", root, &args);
        // The update brings every name still installed to its newest build, and no other.
        let gone: BTreeSet<String> = apps
            .iter()
            .map(|p| p.parse::<swarmdate_core::packages::Nevra>().unwrap().name)
            .collect();
        let name = |p: &String| p.parse::<swarmdate_core::packages::Nevra>().unwrap().name;
        let want: BTreeSet<String> = expected
            .iter()
            .filter(|p| !gone.contains(&name(p)))
            .cloned()
            .collect();
        wanted.push((installed_in(root), want));
    }
    assert_ne!(installed_in(&b_root), installed_in(&c_root));

    let before = mirror.bytes_served();
    let b_args = ["update", "--root", b_root.to_str().unwrap(), "--yes"];
    let c_args = ["update", "--root", c_root.to_str().unwrap(), "--yes"];
    let (rb, rc) = tokio::join!(b.run_async(&b_args), c.run_async(&c_args));
    for r in [&rb, &rc] {
        assert_eq!(r.code, 0, "{:?}\n{}", r.events, r.stderr);
    }
    // Each installed exactly its expected set, the new builds in it are its summary's changes,
    // and its download is their files: nothing passes with nothing fetched.
    let mut payload = 0;
    for ((root, r), (before, want)) in [(&b_root, &rb), (&c_root, &rc)].into_iter().zip(&wanted) {
        let now = installed_in(root);
        assert_eq!(&now, want, "{}", root.display());
        let (changed, bytes) = d.changes(r.summary());
        assert_eq!(changed, now.difference(before).cloned().collect());
        let download = r.summary()["download_bytes"].as_u64().unwrap();
        assert!(
            download > 0 && download == bytes,
            "download {download}, files {bytes}"
        );
        payload += download;
    }
    let served = mirror.bytes_served() - before;
    println!("B and C: {payload} bytes, the mirror served {served}");
    assert!(
        served as f64 <= 0.1 * payload as f64,
        "at least 90% from peers: the mirror served {served} of {payload}"
    );
    seeding.kill().await.unwrap();
}
