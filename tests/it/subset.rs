//! Subset torrents: a Swarmdate client exports the packages it holds; qBittorrent downloads the
//! subset from it and alone seeds it to a second Swarmdate client, which takes it in onto its
//! package store (each package checked against the master's index).

use std::net::Ipv4Addr;
use std::time::Duration;

use swarmdate_core::torrent::Torrent;

use crate::support::*;
use swarmdate_testkit::third_party::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subset_goes_through_qbittorrent_to_another_swarmdate_client() {
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let d = tokio::task::spawn_blocking(move || PackageDistro::build(30, 20_000..200_000, &url))
        .await
        .unwrap();
    let tracker = OpenTracker::start(
        port,
        &[d.release.torrent.info_hash(), d.updates.torrent.info_hash()],
    )
    .unwrap();
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;

    // A updates its root over the master swarms, then exports what it holds.
    let a = d.client();
    let root = d.root("a");
    let r = a
        .run_async(&["update", "--root", root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file = a.home.path().join("held.torrent");
    let payload = a.home.path().join("payload");
    let r = a
        .run_async(&[
            "subset",
            "--export",
            file.to_str().unwrap(),
            "--payload",
            payload.to_str().unwrap(),
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let subset = Torrent::from_bytes(std::fs::read(&file).unwrap()).unwrap();
    let hash = subset.info_hash();
    let s = r.summary();
    let master = d.updates.torrent.clone();
    assert_eq!(s["master"], master.info_hash().to_string(), "{s}");
    let n = s["packages"].as_u64().unwrap() as usize;
    assert!(n > 0 && n == subset.files.iter().filter(|f| !f.pad).count());
    // Its pieces are the master's: every file is a master file whose pieces hash the same.
    assert!(swarmdate_core::torrent::match_subset(&subset, &master).is_some());
    // The laid-out payload is what a third-party client seeds from disk: packages and pad files.
    for f in &subset.files {
        let p = payload.join(&subset.name).join(f.display_path());
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            f.length,
            "{}",
            p.display()
        );
    }
    origin.shutdown().await;
    drop(origin);

    // qBittorrent downloads the subset from A alone. (Not transmission 3.00: it keys peers by IP
    // address alone, so after A it takes B, also on 127.0.0.1, for a seed and hangs up on it.)
    tracker.allow(&hash).unwrap();
    let qbittorrent = QBittorrent::start(Ipv4Addr::new(127, 0, 0, 3)).unwrap();
    qbittorrent.add(&file, &qbittorrent.downloads).unwrap();
    tracker.wait_for_peers(&hash, 1).unwrap();
    let mut seeding = tokio::process::Command::from(a.command(&["seed"]))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let size = subset.data_length();
    let (qbittorrent, got) = tokio::task::spawn_blocking(move || {
        let c = wait_until(
            "qBittorrent's download of the subset",
            Duration::from_secs(180),
            || qbittorrent.counters(&hash),
            // Its counters lag about 1.5 s behind its progress.
            |c| c.done >= 1.0 && c.downloaded >= size,
        )
        .unwrap();
        (qbittorrent, c)
    })
    .await
    .unwrap();
    seeding.kill().await.unwrap();
    assert!(got.downloaded >= subset.data_length(), "{got:?}");
    for f in subset.files.iter().filter(|f| !f.pad) {
        let rel = f.display_path();
        assert_eq!(
            sha256(&qbittorrent.downloads.join(&subset.name).join(&rel)),
            sha256(&payload.join(&subset.name).join(&rel)),
            "{rel} as qBittorrent wrote it"
        );
    }

    // B opens the subset: its packages come from qBittorrent, the only peer left, into B's store.
    let b = d.client();
    let log = b.home.path().join("get.log");
    let mut get =
        tokio::process::Command::from(b.command(&["get", file.to_str().unwrap(), "--yes"]));
    get.kill_on_drop(true)
        .env("SWARMDATE_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::piped());
    let child = get.spawn().unwrap();
    let out = match tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let text = std::fs::read_to_string(&log).unwrap();
            let tail: Vec<&str> = text
                .lines()
                .filter(|l| !l.contains("job state") && !l.contains("dualstack"))
                .rev()
                .take(80)
                .collect();
            panic!(
                "get did not finish:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    };
    let r = Run::from(out);
    assert_eq!(r.code, 0, "{:?}\n{}", r.events, r.stderr);
    assert_eq!(r.summary()["packages"], n);
    let index: swarmdate_core::packages::PackageIndex = serde_json::from_slice(
        &std::fs::read(
            b.home
                .path()
                .join(format!("data/engine/subsets/{hash}.json")),
        )
        .unwrap_or_else(|_| panic!("B keeps the subset's index")),
    )
    .unwrap();
    let store = b.home.path().join("data/store");
    for p in &index.packages {
        let object = swarmdate_core::store::PackageStore::open(&store)
            .unwrap()
            .object_path(&p.sha256);
        assert_eq!(sha256(&object), p.sha256, "{}", p.path);
    }
    let sent = tokio::task::spawn_blocking(move || {
        wait_until(
            "qBittorrent's upload count",
            Duration::from_secs(30),
            || Ok(qbittorrent.counters(&hash)?.uploaded),
            |&u| u >= index.packages.iter().map(|p| p.size).sum::<u64>(),
        )
        .unwrap()
    })
    .await
    .unwrap();
    eprintln!(
        "subset of {n} packages, {} bytes: qBittorrent downloaded {}, sent {sent}",
        subset.data_length(),
        got.downloaded
    );
}
