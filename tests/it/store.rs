//! The package store under real librqbit sessions: a client selects a few packages of a master
//! torrent, they arrive through staging into the store, nothing else touches the disk, and the
//! store then seeds them to another client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use librqbit::{
    AddTorrent, AddTorrentOptions, ListenerMode, ListenerOptions, Session, SessionOptions,
};
use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::hash::Sha256;
use swarmdate_core::publish::{MasterOptions, PublishedRepo, publish_master};
use swarmdate_core::store::{PackageStore, StoreError};
use swarmdate_engine::StoreTorrent;
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload};

use crate::support::*;

/// A published repository of `n` packages under `dir/mirror/updates/41/x86_64`.
fn repository(dir: &Path, n: usize) -> PublishedRepo {
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let repo = dir.join("mirror/updates/41/x86_64");
    mirror_repo(&repo, &key, n, 11);
    publish_master(
        &repo,
        &MasterOptions {
            kind: RepoKind::Updates,
            id: "updates".into(),
            name: None,
            piece_length: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            similar: Vec::new(),
            out_dir: dir.join("publish"),
            date: None,
            signing_keys: Vec::new(),
            ignore_repodata: false,
        },
    )
    .unwrap()
}

/// A bare librqbit session on 127.0.0.1 with every discovery off.
async fn session(dir: &Path) -> Arc<Session> {
    Session::new_with_opts(
        dir.to_owned(),
        SessionOptions {
            disable_trackers: true,
            disable_local_service_discovery: true,
            listen: Some(ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Adds the repository torrent to `session` on `store`, selecting `files`, asking `peer`; waits
/// until they are complete and admits them.
async fn fetch_into_store(
    session: &Arc<Session>,
    st: &StoreTorrent,
    repo: &PublishedRepo,
    files: &[usize],
    peer: SocketAddr,
    out: &Path,
) -> Vec<usize> {
    let opts = AddTorrentOptions {
        overwrite: true,
        only_files: Some(files.to_vec()),
        output_folder: Some(out.to_string_lossy().into_owned()),
        storage_factory: Some(st.factory()),
        initial_peers: Some(vec![peer]),
        ..Default::default()
    };
    let handle = session
        .add_torrent(
            AddTorrent::from_bytes(repo.torrent.bytes().clone()),
            Some(opts),
        )
        .await
        .unwrap()
        .into_handle()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), handle.wait_until_completed())
        .await
        .expect("the selected packages arrive within a minute")
        .unwrap();
    let (admitted, refused) = st.admit_complete(&handle.stats().file_progress);
    assert!(refused.is_empty(), "{refused:?}");
    admitted
}

/// Every regular file below `dir`.
fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_packages_enter_the_store_verified_and_are_seeded_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let repo = tokio::task::spawn_blocking(move || repository(&d, 40))
        .await
        .unwrap();
    let t = &repo.torrent;

    // The origin seeds the mirror folder with librqbit's own storage.
    let origin_state = tempfile::tempdir().unwrap();
    let origin = Engine::start(EngineConfig::loopback(origin_state.path()))
        .await
        .unwrap();
    let payload = Payload::Folder(dir.path().join("mirror/updates/41"));
    let job = origin.add_job(t, JobSpec::Seed { payload }).await.unwrap();
    origin.wait(job).await.unwrap();
    let origin_addr = SocketAddr::from(([127, 0, 0, 1], origin.listen_port().unwrap()));

    // Client A wants five packages, on a store that keeps at most 4 files open.
    let a_dir = tempfile::tempdir().unwrap();
    let store = PackageStore::open_with(&a_dir.path().join("store"), 4).unwrap();
    let st = StoreTorrent::new(store.clone(), t, &repo.index).unwrap();
    let wanted: Vec<usize> = [3, 9, 17, 25, 38]
        .iter()
        .map(|&i| repo.index.packages[i].file_index)
        .collect();
    let a = session(&a_dir.path().join("session")).await;
    let out = a_dir.path().join("output");
    let admitted = fetch_into_store(&a, &st, &repo, &wanted, origin_addr, &out).await;
    assert_eq!(admitted, wanted);

    // On disk: exactly the five objects, each the package the index names; no placeholder, no
    // staging leftover, nothing in the output folder librqbit was given.
    let objects = files_below(&store.root().join("objects"));
    assert_eq!(objects.len(), 5);
    for i in [3, 9, 17, 25, 38] {
        let p = &repo.index.packages[i];
        let obj = store.object_path(&p.sha256);
        assert_eq!(sha256(&obj), p.sha256);
        assert!(objects.contains(&obj));
    }
    assert!(files_below(&store.root().join("staging")).is_empty());
    assert!(!out.exists() || files_below(&out).is_empty());
    assert!(store.open_files().len() <= 4);
    assert_eq!(st.held_files(), wanted);

    // The origin, an independent count, sent the pieces of those files and nothing else.
    let pl = t.piece_length as u64;
    let pieces_bytes: u64 = [3, 9, 17, 25, 38]
        .iter()
        .map(|&i| repo.index.packages[i].size.div_ceil(pl) * pl)
        .sum();
    let data_bytes: u64 = [3, 9, 17, 25, 38]
        .iter()
        .map(|&i| repo.index.packages[i].size)
        .sum();
    let sent = uploaded_now(&origin).await;
    assert!(
        sent >= data_bytes && sent <= pieces_bytes,
        "origin sent {sent}, data {data_bytes}, pieces {pieces_bytes}"
    );

    // The origin leaves; client B gets the same packages from A's store alone.
    origin.shutdown().await;
    let a_addr = a.listen_addr().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let b_store = PackageStore::open(&b_dir.path().join("store")).unwrap();
    let b_st = StoreTorrent::new(b_store.clone(), t, &repo.index).unwrap();
    let b = session(&b_dir.path().join("session")).await;
    let got = fetch_into_store(&b, &b_st, &repo, &wanted, a_addr, &b_dir.path().join("out")).await;
    assert_eq!(got, wanted);
    for i in [3, 9, 17, 25, 38] {
        let p = &repo.index.packages[i];
        assert_eq!(sha256(&b_store.object_path(&p.sha256)), p.sha256);
    }
    a.stop().await;
    b.stop().await;
}

#[test]
fn only_matching_bytes_enter_and_only_unreferenced_objects_leave() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackageStore::open(dir.path()).unwrap();
    let good = b"a real package".to_vec();
    let sha = Sha256::of(&good);
    let torrent = swarmdate_core::torrent::InfoHash([7; 20]);

    // A staged file with other bytes is refused and discarded; nothing enters.
    let staged = store.staging_path(&torrent, 0);
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"a bad peer's bytes").unwrap();
    let err = store.admit(&staged, &sha).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }));
    assert!(err.to_string().contains("will be fetched again"), "{err}");
    assert!(!staged.exists());
    assert!(!store.holds(&sha));

    // Positive control: the right bytes enter under their digest.
    std::fs::write(&staged, &good).unwrap();
    let obj = store.admit(&staged, &sha).unwrap();
    assert_eq!(std::fs::read(&obj).unwrap(), good);
    assert!(store.holds(&sha) && !staged.exists());

    // An import of a package already on disk; refused when it is not the named one.
    let other = dir.path().join("other.rpm");
    std::fs::write(&other, b"another package").unwrap();
    let other_sha = Sha256::of(b"another package");
    assert!(store.import(&other, &sha).is_err());
    store.import(&other, &other_sha).unwrap();
    assert!(other.exists(), "an import copies");

    // References survive a reopen; a collection removes only what nobody references.
    store.set_refs(&torrent, [sha]).unwrap();
    std::fs::create_dir_all(
        store
            .staging_path(&swarmdate_core::torrent::InfoHash([9; 20]), 0)
            .parent()
            .unwrap(),
    )
    .unwrap();
    drop(store);
    let store = PackageStore::open(dir.path()).unwrap();
    assert!(store.is_referenced(&sha));
    let gc = store.collect_garbage().unwrap();
    assert_eq!((gc.objects, gc.bytes, gc.staging_dirs), (1, 15, 1));
    assert!(store.holds(&sha) && !store.holds(&other_sha));
    store.drop_refs(&torrent).unwrap();
    assert_eq!(store.collect_garbage().unwrap().objects, 1);
    assert!(!store.holds(&sha));
}
