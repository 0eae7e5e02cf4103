//! Swarmdate among the clients and the tracker people already run (Debian's transmission-daemon,
//! qbittorrent-nox, mktorrent and opentracker), every byte counted on the third-party side too.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use swarmdate_core::torrent::Torrent;

use crate::support::*;
use swarmdate_testkit::third_party::*;

const TRANSMISSION_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const QBITTORRENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Transmission answers a new peer on its 10 s rechoke timer; a few MB then take seconds.
const TRANSFER: Duration = Duration::from_secs(180);

/// Asserts every payload file of `torrent` under `got` equals the one under `want`.
fn same_payload(torrent: &Torrent, got: &Path, want: &Path) {
    for f in torrent.files.iter().filter(|f| !f.pad) {
        let rel = f.display_path();
        assert_eq!(
            sha256(&got.join(&rel)),
            sha256(&want.join(&rel)),
            "{rel} as the third-party client wrote it"
        );
    }
}

/// Swarmdate publishes a package repository (an aligned torrent with BEP 47 pad files, a web
/// seed and opentracker); transmission and qBittorrent download it from a Swarmdate seeder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmission_and_qbittorrent_download_a_repository_from_a_swarmdate_seeder() {
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let distro =
        tokio::task::spawn_blocking(move || PackageDistro::build(40, 20_000..200_000, &url))
            .await
            .unwrap();
    let torrent = distro.release.torrent.clone();
    let hash = torrent.info_hash();
    assert!(torrent.files.iter().any(|f| f.pad), "the torrent is padded");
    let tracker = OpenTracker::start(port, &[hash, distro.updates.torrent.info_hash()]).unwrap();
    let file = distro.dir.path().join("release.torrent");
    std::fs::write(&file, torrent.bytes()).unwrap();

    let transmission = Transmission::start(TRANSMISSION_IP).unwrap();
    let qbittorrent = QBittorrent::start(QBITTORRENT_IP).unwrap();
    transmission.add(&file, &transmission.downloads).unwrap();
    qbittorrent.add(&file, &qbittorrent.downloads).unwrap();
    // Both announce first: Swarmdate's announce then names them, and it dials them (Transmission
    // dials no peer on 127/8).
    tracker.wait_for_peers(&hash, 2).unwrap();
    let state = tempfile::tempdir().unwrap();
    let origin = distro.origin(state.path()).await;

    let payload = torrent.data_length();
    let (tr, qb, transmission, qbittorrent) = tokio::task::spawn_blocking(move || {
        let tr = wait_until(
            "transmission's download",
            TRANSFER,
            || transmission.counters(&hash),
            |c| c.done >= 1.0,
        )
        .unwrap();
        let qb = wait_until(
            "qBittorrent's download",
            TRANSFER,
            || qbittorrent.counters(&hash),
            |c| c.done >= 1.0 && c.downloaded >= payload,
        )
        .unwrap();
        (tr, qb, transmission, qbittorrent)
    })
    .await
    .unwrap();
    let mirror = &distro.repos.release;
    same_payload(
        &torrent,
        &transmission.downloads.join(&torrent.name),
        mirror,
    );
    same_payload(&torrent, &qbittorrent.downloads.join(&torrent.name), mirror);
    eprintln!("payload {payload}; transmission {tr:?}; qBittorrent {qb:?}");
    assert!(tr.downloaded >= payload && qb.downloaded >= payload);
    let sent = origin
        .snapshot()
        .jobs
        .iter()
        .find(|j| j.info_hash == hash)
        .unwrap()
        .bytes_uploaded;
    assert!(
        sent >= payload,
        "the Swarmdate seeder sent {sent} < {payload}"
    );
    // The tracker saw them finish: three complete peers.
    tokio::task::spawn_blocking(move || {
        wait_until(
            "three complete peers",
            Duration::from_secs(30),
            || tracker.scrape(&hash),
            |s| s.complete >= 3,
        )
        .unwrap()
    })
    .await
    .unwrap();
    drop((transmission, qbittorrent));
    origin.shutdown().await;
}

/// `swarmdate get` downloads a folder torrent made by mktorrent (no alignment, no pad files)
/// from a transmission and a qBittorrent seeder found through opentracker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_downloads_a_mktorrent_folder_from_transmission_and_qbittorrent() {
    let src = tempfile::tempdir().unwrap();
    let bundle = src.path().join("bundle");
    for (i, len) in [3_000_000usize, 1, 65_537, 2_500_000, 700_000, 1_200_000]
        .iter()
        .enumerate()
    {
        let rel = if i % 2 == 0 {
            format!("part-{i}.bin")
        } else {
            format!("sub/part-{i}.bin")
        };
        random_file(&bundle.join(rel), *len, 90 + i as u64);
    }
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let file = src.path().join("bundle.torrent");
    let made = std::process::Command::new("mktorrent")
        .args([
            "-l",
            "15",
            "-d",
            "-t",
            "1",
            "-a",
            &OpenTracker::url_on(port),
            "-o",
        ])
        .arg(&file)
        .arg(&bundle)
        .output()
        .expect("mktorrent is installed (scripts/setup.sh)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let torrent = Torrent::from_bytes(std::fs::read(&file).unwrap()).unwrap();
    let hash = torrent.info_hash();
    assert!(torrent.files.iter().all(|f| !f.pad) && torrent.files.len() == 6);
    let tracker = OpenTracker::start(port, &[hash]).unwrap();

    // Both seed the same folder, each after checking it.
    let transmission = Transmission::start(TRANSMISSION_IP).unwrap();
    let qbittorrent = QBittorrent::start(QBITTORRENT_IP).unwrap();
    transmission.add(&file, src.path()).unwrap();
    qbittorrent.add(&file, src.path()).unwrap();
    let (transmission, qbittorrent, _tracker) = tokio::task::spawn_blocking(move || {
        wait_until(
            "transmission's check",
            TRANSFER,
            || transmission.counters(&hash),
            |c| c.done >= 1.0,
        )
        .unwrap();
        wait_until(
            "qBittorrent's check",
            TRANSFER,
            || qbittorrent.counters(&hash),
            |c| c.done >= 1.0,
        )
        .unwrap();
        tracker.wait_for_peers(&hash, 2).unwrap();
        (transmission, qbittorrent, tracker)
    })
    .await
    .unwrap();

    // A user with no distribution feed at all: any torrent, as with any BitTorrent client.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/settings.json"),
        r#"{"loopback_only": true, "listen_port": 0}"#,
    )
    .unwrap();
    let dest = home.path().join("downloads");
    let get = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .arg("--home")
        .arg(home.path())
        .kill_on_drop(true)
        .args([
            "--json",
            "get",
            file.to_str().unwrap(),
            "--yes",
            "--dir",
            dest.to_str().unwrap(),
        ])
        .output();
    let run: Run = tokio::time::timeout(TRANSFER, get)
        .await
        .expect("swarmdate get found the seeders and finished")
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    same_payload(&torrent, &dest.join("bundle"), &bundle);

    // Every byte came from them: their own counters add up to at least the payload.
    let total = torrent.total_length();
    let (tr, qb) = tokio::task::spawn_blocking(move || {
        wait_until(
            "the seeders' counters",
            Duration::from_secs(30),
            || Ok((transmission.counters(&hash)?, qbittorrent.counters(&hash)?)),
            |(t, q)| t.uploaded + q.uploaded >= total,
        )
        .unwrap()
    })
    .await
    .unwrap();
    eprintln!(
        "payload {total}; transmission sent {}, qBittorrent sent {}",
        tr.uploaded, qb.uploaded
    );
}

/// A Swarmdate client switches its image 1.00 → 1.02 with a transmission seeder as the only peer:
/// the result is the published image, and transmission counts the delta, not the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_delta_comes_from_a_transmission_seeder_alone() {
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let distro = tokio::task::spawn_blocking(move || Distro::build(12, 64, &url))
        .await
        .unwrap();
    let hashes: Vec<_> = ["1.00", "1.01", "1.02"]
        .iter()
        .map(|v| distro.torrent(v).info_hash())
        .collect();
    let tracker = OpenTracker::start(port, &hashes).unwrap();
    let target = distro.torrent("1.02");
    let hash = target.info_hash();
    let transmission = Transmission::start(TRANSMISSION_IP).unwrap();
    transmission
        .add(
            &distro.publish_dir().join("os-1.02.iso.torrent"),
            &distro.publish_dir(),
        )
        .unwrap();
    let transmission = tokio::task::spawn_blocking(move || {
        wait_until(
            "transmission's check",
            TRANSFER,
            || transmission.counters(&hash),
            |c| c.done >= 1.0,
        )
        .unwrap();
        tracker.wait_for_peers(&hash, 1).unwrap();
        (transmission, tracker)
    })
    .await
    .unwrap();

    let client = UserHome::new(&distro);
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.00"), client.images().join("os-1.00.iso")).unwrap();
    let plan = client.run_async(&["iso", "plan", "1.02"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let planned = plan.summary()["fetch_bytes"].as_u64().unwrap();
    let run = client.run_async(&["iso", "switch", "1.02"]).await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(
        sha256(&client.images().join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );

    let size = target.total_length();
    let piece = u64::from(target.piece_length);
    let (transmission, _tracker) = transmission;
    let sent = tokio::task::spawn_blocking(move || {
        wait_until(
            "transmission's upload count",
            Duration::from_secs(30),
            || Ok(transmission.counters(&hash)?.uploaded),
            |&n| n >= planned,
        )
        .unwrap()
    })
    .await
    .unwrap();
    eprintln!("image {size}, planned {planned}, transmission sent {sent}");
    assert!(
        planned > 0 && planned < size / 2,
        "a delta: {planned} of {size}"
    );
    // Transmission counts a little protocol data with the payload (about 16 KiB per 20 MiB).
    assert!(
        sent <= planned + 2 * piece,
        "transmission sent {sent} for a delta of {planned}"
    );
}
