//! What repository jobs hold together on one store: a package one job admits is seeded by the
//! others whose torrent has it, and over the store's size cap superseded builds the machine no
//! longer has installed leave every torrent; installed and newest builds stay.

use std::collections::BTreeSet;

use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::Nevra;
use swarmdate_core::store::PackageStore;
use swarmdate_engine::{Engine, EngineConfig, JobSpec, RepoSpec};

use crate::support::*;

/// Every digest some torrent of the store references (`refs.json`).
fn referenced(home: &std::path::Path) -> BTreeSet<Sha256> {
    let refs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("data/store/refs.json")).unwrap()).unwrap();
    refs["torrents"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap().clone())
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_cap_the_store_evicts_superseded_builds_and_keeps_installed_ones() {
    let (tracker, mirror, d) = distro_with_mirror(60, 20_000..60_000).await;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    // `tight` has a one-byte cap: everything evictable goes. `roomy` keeps the default.
    let tight = d.client();
    std::fs::write(
        tight.home.path().join("config/settings.json"),
        r#"{"loopback_only": true, "listen_port": 0, "store_size": 1}"#,
    )
    .unwrap();
    let roomy = d.client();
    let roots = [d.root("tight"), d.root("roomy")];
    let update = |c: &UserHome, root: &std::path::Path| {
        c.command(&["update", "--root", root.to_str().unwrap(), "--yes"])
            .output()
            .map(Run::from)
    };
    for (c, root) in [(&tight, &roots[0]), (&roomy, &roots[1])] {
        let r = tokio::task::block_in_place(|| update(c, root)).unwrap();
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    let next = d.next_snapshot(&tracker, &mirror, 4, 12).await;
    let payload = swarmdate_engine::Payload::Folder(next.folder.parent().unwrap().to_owned());
    let id = origin
        .add_job(
            &next.published.torrent,
            swarmdate_engine::JobSpec::Seed { payload },
        )
        .await
        .unwrap();
    origin.wait(id).await.unwrap();
    // The snapshot-1 builds the new ones supersede: each client's store holds them now.
    let superseded: Vec<(Nevra, Sha256)> = d
        .updates
        .index
        .packages
        .iter()
        .filter(|p| {
            next.new
                .iter()
                .any(|n| n.name == p.nevra.name && n.arch == p.nevra.arch)
        })
        .map(|p| (p.nevra.clone(), p.sha256))
        .collect();
    assert_eq!(superseded.len(), next.new.len());
    let new_shas: Vec<Sha256> = next
        .published
        .index
        .packages
        .iter()
        .filter(|p| next.new.contains(&p.nevra))
        .map(|p| p.sha256)
        .collect();
    let mut trims = Vec::new();
    for (c, root) in [(&tight, &roots[0]), (&roomy, &roots[1])] {
        let store = PackageStore::open(&c.home.path().join("data/store")).unwrap();
        assert!(superseded.iter().all(|(_, s)| store.holds(s)));
        let r = tokio::task::block_in_place(|| update(c, root)).unwrap();
        assert_eq!(r.code, 0, "{:?}\n{}", r.events, r.stderr);
        let trim = r.events.iter().find(|e| e["event"] == "trim").cloned();
        trims.push(trim.expect("a trim after the transaction"));
        let installed = installed_in(root);
        for n in &next.new {
            assert!(installed.contains(&n.to_string()), "{n} not installed");
        }
        assert!(new_shas.iter().all(|s| store.holds(s)));
    }

    // Tight: exactly the superseded builds went, from the disk and from every torrent.
    let tight_store = PackageStore::open(&tight.home.path().join("data/store")).unwrap();
    let refs = referenced(tight.home.path());
    for (n, s) in &superseded {
        assert!(!tight_store.holds(s), "{n} still in the tight store");
        assert!(!refs.contains(s), "{n} still referenced");
    }
    let evicted: BTreeSet<String> = trims[0]["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = superseded.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(evicted, expected);
    // Every build installed from snapshot 1 came through the store, and stays there.
    let tight_installed = installed_in(&roots[0]);
    let installed_from_1: Vec<_> = d
        .updates
        .index
        .packages
        .iter()
        .filter(|p| tight_installed.contains(&p.nevra.to_string()))
        .collect();
    assert!(installed_from_1.len() > 5);
    for p in installed_from_1 {
        assert!(
            tight_store.holds(&p.sha256),
            "installed {} evicted",
            p.nevra
        );
    }
    // Roomy: under its cap, it keeps seeding the superseded builds for people who downgrade.
    assert_eq!(trims[1]["evicted"], serde_json::json!([]));
    let roomy_store = PackageStore::open(&roomy.home.path().join("data/store")).unwrap();
    let roomy_refs = referenced(roomy.home.path());
    for (n, s) in &superseded {
        assert!(roomy_store.holds(s), "{n} left the roomy store");
        assert!(roomy_refs.contains(s), "{n} no longer seeded");
    }
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_one_job_admits_is_seeded_by_the_other_torrents_that_have_it() {
    let (tracker, mirror, d) = distro_with_mirror(40, 20_000..60_000).await;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    let next = d.next_snapshot(&tracker, &mirror, 2, 5).await;
    let payload = swarmdate_engine::Payload::Folder(next.folder.parent().unwrap().to_owned());
    let seeding = origin
        .add_job(&next.published.torrent, JobSpec::Seed { payload })
        .await
        .unwrap();
    origin.wait(seeding).await.unwrap();
    let origin_addr = ([127, 0, 0, 1], origin.listen_port().unwrap()).into();

    // X is in both snapshots (the same bytes).
    let x = &d.updates.index.packages[3];
    let x_in_2 = next
        .published
        .index
        .packages
        .iter()
        .find(|p| p.sha256 == x.sha256)
        .unwrap()
        .file_index;
    let indexes = tempfile::tempdir().unwrap();
    let spec = |repo: &swarmdate_core::publish::PublishedRepo, wanted: &[usize]| {
        let path = indexes
            .path()
            .join(format!("{}.json", repo.torrent.info_hash()));
        std::fs::write(&path, repo.index.to_json()).unwrap();
        JobSpec::Repository(RepoSpec {
            index: path,
            wanted: wanted.iter().copied().collect(),
            mirrors: Vec::new(),
            images: Vec::new(),
        })
    };

    // E seeds snapshot 2 holding nothing, then fetches X through snapshot 1.
    let e_state = tempfile::tempdir().unwrap();
    let e = Engine::start(EngineConfig {
        known_peers: vec![origin_addr],
        ..EngineConfig::loopback(e_state.path())
    })
    .await
    .unwrap();
    let two = e
        .add_job(&next.published.torrent, spec(&next.published, &[]))
        .await
        .unwrap();
    e.wait(two).await.unwrap();
    let one = e
        .add_job(&d.updates.torrent, spec(&d.updates, &[x.file_index]))
        .await
        .unwrap();
    e.wait(one).await.unwrap();
    let store = || PackageStore::open(&e_state.path().join("store")).unwrap();
    assert!(store().holds(&x.sha256));
    // Snapshot 2's job re-checks and selects X.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !store()
        .refs_of(&next.published.torrent.info_hash())
        .contains(&x.sha256)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "snapshot 2 never took X"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    e.wait(two).await.unwrap();

    // The origin leaves; F gets X through snapshot 2 from E alone: the mirror serves nothing.
    origin.shutdown().await;
    let mirror_before = mirror.bytes_served();
    let f_state = tempfile::tempdir().unwrap();
    let f = Engine::start(EngineConfig {
        known_peers: vec![([127, 0, 0, 1], e.listen_port().unwrap()).into()],
        ..EngineConfig::loopback(f_state.path())
    })
    .await
    .unwrap();
    let got = f
        .add_job(&next.published.torrent, spec(&next.published, &[x_in_2]))
        .await
        .unwrap();
    f.wait(got).await.unwrap();
    let f_store = PackageStore::open(&f_state.path().join("store")).unwrap();
    assert_eq!(sha256(&f_store.object_path(&x.sha256)), x.sha256);
    assert_eq!(mirror.bytes_served(), mirror_before);
    f.shutdown().await;
    e.shutdown().await;
}
