//! Switches on real file systems the tests mount: a reflink file system (XFS on a loop device)
//! and file systems too small for the job.

use crate::support::*;

const FAILED: i32 = 1;

async fn world() -> (
    swarmdate_testkit::tracker::Tracker,
    Distro,
    std::sync::Arc<swarmdate_engine::Engine>,
    tempfile::TempDir,
) {
    let (tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    (tracker, distro, seeder, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_on_a_reflink_file_system_shares_the_unchanged_blocks() {
    let (_tracker, distro, seeder, _state) = world().await;
    let fs = Mount::xfs(300);
    let client = client_in(&distro, &fs.path, "1.00");
    let plan = client.run_async(&["iso", "plan", "1.02"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(plan.summary()["mode"], "reflink");

    let used_before = fs.used();
    let run = client.run_async(&["iso", "switch", "1.02"]).await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let new = fs.path.join("os-1.02.iso");
    assert_eq!(sha256(&new), sha256(distro.image("1.02")));
    assert!(!fs.path.join("os-1.00.iso").exists());
    let grew = fs.used() as i64 - used_before as i64;
    let size = std::fs::metadata(&new).unwrap().len() as i64;
    let delta = size - std::fs::metadata(distro.image("1.00")).unwrap().len() as i64;
    // The old image's blocks were shared, not copied: the file system grew by about the new bytes.
    assert!(
        grew < delta + size / 4,
        "the file system grew by {grew} bytes for a {size}-byte image"
    );
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_or_download_that_cannot_fit_is_refused_before_anything_is_written() {
    let (_tracker, distro, seeder, _state) = world().await;
    let old_size = std::fs::metadata(distro.image("1.00")).unwrap().len();
    let small = Mount::tmpfs(old_size / (1 << 20) + 6);
    let client = client_in(&distro, &small.path, "1.00");
    let before = tree_state(&small.path);

    // A copy does not fit (in place would: see in_place.rs).
    let run = client
        .run_async(&["iso", "switch", "1.02", "--mode", "copy"])
        .await;
    assert_eq!(run.code, FAILED, "{:?}\n{}", run.events, run.stderr);
    let msg = run.error();
    assert!(
        msg.contains("missing") && msg.contains(small.path.to_str().unwrap()),
        "{msg}"
    );
    assert_eq!(
        tree_state(&small.path),
        before,
        "the refused switch wrote nothing"
    );

    let dest = small.path.join("downloads");
    std::fs::create_dir_all(&dest).unwrap();
    let torrent = distro.publish_dir().join("os-1.02.iso.torrent");
    let get = client
        .run_async(&[
            "get",
            torrent.to_str().unwrap(),
            "--dir",
            dest.to_str().unwrap(),
        ])
        .await;
    assert_eq!(get.code, FAILED, "{}", get.stderr);
    assert!(get.error().contains("missing"), "{}", get.error());
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "the refused download wrote nothing"
    );

    // Positive control: the same switch on a file system with room succeeds.
    let roomy = Mount::tmpfs(4 * old_size / (1 << 20) + 20);
    let client = client_in(&distro, &roomy.path, "1.00");
    let ok = client.run_async(&["iso", "switch", "1.02"]).await;
    assert_eq!(ok.code, 0, "{:?}\n{}", ok.events, ok.stderr);
    assert_eq!(
        sha256(&roomy.path.join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );
    seeder.shutdown().await;
}
