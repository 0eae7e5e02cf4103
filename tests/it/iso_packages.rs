//! An image seeds the packages inside it to the package swarm, straight from its own bytes.

use std::time::Duration;

use swarmdate_core::store::PackageStore;
use swarmdate_engine::{Engine, EngineConfig, JobSpec, RepoSpec};

use crate::support::*;

/// A client holding only an image (no package in its store) serves a package inside the image
/// to another client through the release's master swarm: the package arrives and enters the
/// other store (its digest checked), the serving client's store stays empty, and the free space
/// of the file system its home is on moves by less than 1 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_only_an_image_seeds_the_packages_inside_it() {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let d = tokio::task::spawn_blocking(move || PackageDistro::build(30, 20_000..120_000, &url))
        .await
        .unwrap();
    let mount = Mount::tmpfs(64);
    let a = UserHome::of_in(d.feed_url(), d.dir.path().join("key.asc"), &mount.path);
    std::fs::create_dir_all(a.images()).unwrap();
    let image = a.images().join("distro-41.iso");
    mkisofs(&d.repos.release, &image);

    let release = &d.release;
    let hash = release.torrent.info_hash();
    // A package of the release that the image holds.
    let package = &release.index.packages[7];
    let before = mount.used();
    let mut seeding = tokio::process::Command::from(a.command(&["seed"]))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tracker.peer_count(&hash) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the image's client never joined the release swarm"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // B wants that package through the master torrent; A is the only peer.
    let b_state = tempfile::tempdir().unwrap();
    let b = Engine::start(EngineConfig::loopback(b_state.path()))
        .await
        .unwrap();
    let index = b_state.path().join("release.json");
    std::fs::write(&index, release.index.to_json()).unwrap();
    let id = b
        .add_job(
            &release.torrent,
            JobSpec::Repository(RepoSpec {
                index,
                wanted: [package.file_index].into_iter().collect(),
                mirrors: Vec::new(),
                images: Vec::new(),
            }),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let store = PackageStore::open(&b_state.path().join("store")).unwrap();
            if store.holds(&package.sha256) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the package arrived from the image");
    let store = PackageStore::open(&b_state.path().join("store")).unwrap();
    assert_eq!(sha256(&store.object_path(&package.sha256)), package.sha256);
    let served: u64 = b
        .snapshot()
        .jobs
        .iter()
        .filter(|j| j.id == id)
        .map(|j| j.bytes_received)
        .sum();
    assert!(
        served >= package.size,
        "{served} received for {}",
        package.size
    );

    // A serves it from the image: its store holds nothing, and its disk barely moved.
    let status = a.run_async(&["seed", "--status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let jobs = status.summary()["jobs"].as_array().unwrap().clone();
    let release_job = jobs
        .iter()
        .find(|j| j["info_hash"] == hash.to_string())
        .expect("A seeds the release");
    let in_images = &status.summary()["packages_in_images"][release_job["id"].to_string()];
    assert_eq!(
        in_images.as_u64(),
        Some(release.index.packages.len() as u64),
        "{}",
        status.summary()
    );
    let a_store = PackageStore::open(&a.home.path().join("data/store")).unwrap();
    assert!(
        a_store.objects().unwrap().is_empty(),
        "A's store stays empty"
    );
    let used = mount.used();
    assert!(
        used.abs_diff(before) < 1 << 20,
        "A's file system used {before} before seeding, {used} after"
    );
    b.shutdown().await;
    seeding.kill().await.unwrap();
}
