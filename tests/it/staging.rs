//! Staging folders in a folder other users may write to: `<dir>/.swarmdate-partial/<info hash>`
//! is public, so a link or folder planted there must make `get` refuse, never write through it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

/// `swarmdate get` of version 1.02 into `dest`, by a client of its own (a refused job stays out
/// of the next case's engine).
async fn get(distro: &Distro, dest: &Path) -> Run {
    let client = UserHome::new(distro);
    let torrent = distro.publish_dir().join("os-1.02.iso.torrent");
    client
        .run_async(&[
            "get",
            torrent.to_str().unwrap(),
            "--dir",
            dest.to_str().unwrap(),
        ])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_staging_link_or_foreign_folder_is_refused_and_nothing_is_written_through_it() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let hash = distro.torrent("1.02").info_hash().to_string();

    // Positive control: the same get into a clean folder completes with the right bytes.
    let clean = dir.path().join("clean");
    let run = get(&distro, &clean).await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(
        sha256(&clean.join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );

    // The attack: another user of a shared folder links the public staging path to a folder
    // holding a file of the victim's under the torrent's name.
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(shared.join(".swarmdate-partial")).unwrap();
    let victim_dir = dir.path().join("victim");
    std::fs::create_dir_all(&victim_dir).unwrap();
    let victim = victim_dir.join("os-1.02.iso");
    std::fs::write(&victim, b"the victim's own bytes").unwrap();
    let link = shared.join(".swarmdate-partial").join(&hash);
    std::os::unix::fs::symlink(&victim_dir, &link).unwrap();
    let run = get(&distro, &shared).await;
    assert_ne!(run.code, 0, "a planted link is refused");
    let msg = run.error();
    assert!(
        msg.contains(&link.display().to_string()) && msg.contains("is a symbolic link"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's own bytes");
    assert_eq!(names(&victim_dir), vec!["os-1.02.iso"]);
    assert!(!shared.join("os-1.02.iso").exists());

    // The staging folder itself as the link.
    let shared2 = dir.path().join("shared2");
    std::fs::create_dir_all(&shared2).unwrap();
    std::fs::create_dir_all(victim_dir.join(&hash)).unwrap();
    std::fs::write(victim_dir.join(&hash).join("os-1.02.iso"), b"also").unwrap();
    std::os::unix::fs::symlink(&victim_dir, shared2.join(".swarmdate-partial")).unwrap();
    let run = get(&distro, &shared2).await;
    assert_ne!(run.code, 0);
    assert!(
        run.error().contains("is a symbolic link"),
        "{}",
        run.error()
    );
    assert_eq!(
        std::fs::read(victim_dir.join(&hash).join("os-1.02.iso")).unwrap(),
        b"also"
    );

    // A staging folder made in advance by another user (uid 65534) is not ours to build in.
    let shared3 = dir.path().join("shared3");
    let foreign = shared3.join(".swarmdate-partial");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(&foreign, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let run = get(&distro, &shared3).await;
    assert_ne!(run.code, 0);
    let msg = run.error();
    assert!(
        msg.contains(&foreign.display().to_string()) && msg.contains("belongs to user id 65534"),
        "{msg}"
    );
    assert!(names(&foreign).is_empty(), "nothing was made in it");

    // One of ours that anybody may write into is refused as well.
    let shared4 = dir.path().join("shared4");
    let open = shared4.join(".swarmdate-partial");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = get(&distro, &shared4).await;
    assert_ne!(run.code, 0);
    assert!(
        run.error().contains("can be written by other users"),
        "{}",
        run.error()
    );
    assert!(names(&open).is_empty());
    seeder.shutdown().await;
}
