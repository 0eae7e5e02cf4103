//! An image seeds the packages inside it to the package swarm, straight from its own bytes.

use std::path::Path;
use std::time::Duration;

use swarmdate_core::store::PackageStore;
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload, RepoSpec};

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

/// Issue 25: a repository job seeds the release's packages from inside an image; the image is
/// then replaced as a switch does (the next version under a new name, the old file retired). A
/// downgrade that needs a release build still runs: the job no longer reads the retired image,
/// the build comes from the swarm, and the root's rpm database shows it installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_after_the_image_was_switched_away_fetches_from_peers() {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let d = tokio::task::spawn_blocking(move || PackageDistro::build(30, 20_000..60_000, &url))
        .await
        .unwrap();
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;
    let a = d.client();
    let root = d.root("a");
    std::fs::create_dir_all(a.images()).unwrap();
    let old_image = a.images().join("distro-1.01.iso");
    mkisofs(&d.repos.release, &old_image);

    // Updated first, so an application has an older build to go back to.
    let update = a
        .run_async(&["update", "--root", root.to_str().unwrap(), "--yes"])
        .await;
    assert_eq!(update.code, 0, "{:?}\n{}", update.events, update.stderr);
    let updated = installed_in(&root);
    let app = d
        .repos
        .update_packages
        .iter()
        .find(|n| n.name.starts_with("app") && updated.contains(&n.to_string()))
        .expect("an updated application")
        .clone();
    let old = d
        .repos
        .release_packages
        .iter()
        .find(|n| n.name == app.name)
        .unwrap()
        .clone();

    // `seed` joins the release, whose packages it serves from inside the image.
    let hash = d.release.torrent.info_hash();
    let mut seeding = tokio::process::Command::from(a.command(&["seed"]))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = loop {
        let s = a.run_async(&["seed", "--status"]).await;
        assert_eq!(s.code, 0, "{}", s.stderr);
        let jobs = s.summary()["jobs"].as_array().unwrap().clone();
        if let Some(j) = jobs.iter().find(|j| j["info_hash"] == hash.to_string()) {
            let n = &s.summary()["packages_in_images"][j["id"].to_string()];
            if n.as_u64().unwrap_or(0) > 0 {
                break s;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    drop(status);
    seeding.kill().await.unwrap();
    seeding.wait().await.unwrap();

    // The switch: the next version under its own name, the old image retired.
    let new_image = a.images().join("distro-1.02.iso");
    mkisofs(&d.repos.updates, &new_image);
    std::fs::remove_file(&old_image).unwrap();

    let down = a
        .run_async(&[
            "downgrade",
            &app.name,
            "--root",
            root.to_str().unwrap(),
            "--yes",
        ])
        .await;
    let said = format!("{:?}\n{}", down.events, down.stderr);
    assert!(!said.contains("No such file or directory"), "{said}");
    assert_eq!(down.code, 0, "{said}");
    let now = installed_in(&root);
    assert!(
        now.contains(&old.to_string()) && !now.contains(&app.to_string()),
        "{now:?}"
    );
    origin.shutdown().await;
}

/// Issue 25, in the engine: a switch that retires the image a repository job reads packages from
/// points that job at the new image (its journal record names it, the old one no more), and the
/// job runs on after its restart instead of failing on the missing file; an in-place switch
/// back does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_points_repository_jobs_at_the_new_image() {
    let (tracker, distro) = distro_with_tracker(4).await;
    let url = tracker.announce_url();
    let d = tokio::task::spawn_blocking(move || PackageDistro::build(20, 20_000..40_000, &url))
        .await
        .unwrap();
    let origin_state = tempfile::tempdir().unwrap();
    let (origin, _) = seed_one(&distro, "1.02", origin_state.path()).await;

    let (state, images) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let old = images.path().join("os-1.01.iso");
    std::fs::copy(distro.image("1.01"), &old).unwrap();
    let client = Engine::start(EngineConfig::loopback(state.path()))
        .await
        .unwrap();
    let index = state.path().join("release.json");
    std::fs::write(&index, d.release.index.to_json()).unwrap();
    let repo = client
        .add_job(
            &d.release.torrent,
            JobSpec::Repository(RepoSpec {
                index,
                wanted: Default::default(),
                mirrors: Vec::new(),
                images: vec![old.clone()],
            }),
        )
        .await
        .unwrap();
    client.wait(repo).await.unwrap();

    let to = distro.torrent("1.02");
    let id = client
        .switch_image(
            &old,
            &to,
            swarmdate_core::iso::SwitchMode::Copy,
            to.total_length(),
            false,
        )
        .await
        .unwrap();
    client.wait(id).await.unwrap();
    let new = images.path().join("os-1.02.iso");
    assert!(!old.exists() && new.exists(), "the old image is retired");
    // Restarted on the new list, it seeds again (it fails if it still names the old file).
    reads_from(&client, repo, &new).await;

    // Back to 1.01 in place: the image is rewritten under the job, which follows it again.
    let back = distro.torrent("1.01");
    let seed = JobSpec::Seed {
        payload: Payload::Image(distro.image("1.01").to_owned()),
    };
    let seeding = origin.add_job(&back, seed).await.unwrap();
    origin.wait(seeding).await.unwrap();
    let id = client
        .switch_image(
            &new,
            &back,
            swarmdate_core::iso::SwitchMode::InPlace,
            back.total_length(),
            false,
        )
        .await
        .unwrap();
    client.wait(id).await.unwrap();
    assert!(!new.exists() && old.exists(), "1.01 is back in place");
    reads_from(&client, repo, &old).await;
    client.shutdown().await;
    origin.shutdown().await;
}

/// Waits until repository job `repo` names only `image` in its record and seeds again; a job
/// that still reads a replaced image fails instead.
async fn reads_from(
    client: &swarmdate_engine::Engine,
    repo: swarmdate_engine::JobId,
    image: &Path,
) {
    let record = client.jobs().into_iter().find(|r| r.id == repo).unwrap();
    match &record.spec {
        JobSpec::Repository(s) => assert_eq!(s.images, vec![image.to_owned()]),
        other => panic!("{other:?}"),
    }
    wait_for(
        "the repository job to seed from the image",
        Duration::from_secs(30),
        || {
            let s = job_snapshot(client, repo);
            assert!(
                !matches!(s.state, swarmdate_engine::JobState::Failed(_)),
                "{:?}",
                s.state
            );
            s.state == swarmdate_engine::JobState::Seeding
        },
    )
    .await;
}
