//! Fetching whole torrents: `swarmdate get` from our seeder, and aria2c downloading a padded
//! multi-file torrent we publish.

use swarmdate_core::torrent::{SourceFile, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_fetches_a_pinned_torrent_through_a_two_stage_url() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let client = UserHome::new(&distro);
    let dest = client.home.path().join("downloads");
    let torrent = distro.publish_dir().join("os-1.02.iso.torrent");
    let run = client
        .run_async(&[
            "get",
            &format!("bittorrent://file://{}", torrent.display()),
            "--dir",
            dest.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let got = dest.join("os-1.02.iso");
    assert_eq!(sha256(&got), sha256(distro.image("1.02")));
    let names: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec!["os-1.02.iso"],
        "no staging folder is left behind"
    );
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_update_reuses_the_older_payload_in_place_and_fetches_only_what_changed() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let client = UserHome::new(&distro);
    let dest = client.home.path().join("downloads");
    std::fs::create_dir_all(&dest).unwrap();
    // The older version under the newer one's name, as a file that keeps its name would be.
    let target = dest.join("os-1.02.iso");
    std::fs::copy(distro.image("1.01"), &target).unwrap();
    let torrent = distro.publish_dir().join("os-1.02.iso.torrent");
    let args = |update: bool| {
        let mut a = vec![
            "get".to_owned(),
            torrent.display().to_string(),
            "--dir".to_owned(),
            dest.display().to_string(),
        ];
        if update {
            a.push("--update".to_owned());
        }
        a
    };

    // Without --update an existing payload is refused and left as it was.
    let a = args(false);
    let refused = client
        .run_async(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_ne!(refused.code, 0);
    assert!(refused.error().contains("--update"), "{}", refused.error());
    assert_eq!(sha256(&target), sha256(distro.image("1.01")));

    let before = uploaded(&seeder);
    let a = args(true);
    let run = client
        .run_async(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(sha256(&target), sha256(distro.image("1.02")));
    assert_eq!(names(&dest), vec!["os-1.02.iso"], "nothing left behind");
    // Counted at the seeder: the pieces that differ, not the image.
    let served = uploaded_now(&seeder).await - before;
    let piece = 64 << 10;
    let changed = differing_bytes(distro.image("1.01"), distro.image("1.02"), piece);
    let image = std::fs::metadata(distro.image("1.02")).unwrap().len();
    assert!(
        changed > 0 && changed < image / 2,
        "changed {changed} of {image}"
    );
    assert!(
        served >= changed && served <= changed + 2 * piece as u64,
        "the seeder served {served} bytes for {changed} changed of {image}"
    );
    assert_eq!(run.summary()["fetched_bytes"], changed);
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2c_downloads_a_padded_torrent_from_our_seeder() {
    let tracker = tracker().await;
    let src = tempfile::tempdir().unwrap();
    let payload = src.path().join("repo");
    let mut files = Vec::new();
    for (i, len) in [150_000usize, 65_536, 9, 400_000, 1_000].iter().enumerate() {
        let rel = vec!["Packages".to_string(), format!("p{i}-1.0-1.x86_64.rpm")];
        let path = payload.join(rel.join("/"));
        random_file(&path, *len, 40 + i as u64);
        files.push(SourceFile {
            path: rel,
            source: path,
        });
    }
    let t = TorrentBuilder::multi_file("repo", files)
        .piece_length(64 << 10)
        .align(true)
        .tracker(&tracker.announce_url())
        .build()
        .unwrap();
    assert!(t.files.iter().any(|f| f.pad), "the torrent has pad files");
    let tfile = src.path().join("repo.torrent");
    std::fs::write(&tfile, t.bytes()).unwrap();

    let state = tempfile::tempdir().unwrap();
    let seeder = Engine::start(EngineConfig::loopback(state.path()))
        .await
        .unwrap();
    let id = seeder
        .add_job(
            &t,
            JobSpec::Seed {
                payload: Payload::Folder(src.path().to_owned()),
            },
        )
        .await
        .unwrap();
    seeder.wait(id).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    aria2c(&tfile, out.path()).await;
    for f in t.files.iter().filter(|f| !f.pad) {
        let rel = f.path.join("/");
        assert_eq!(
            sha256(&out.path().join("repo").join(&rel)),
            sha256(&payload.join(&rel)),
            "{rel} as aria2c wrote it"
        );
    }
    assert!(
        uploaded(&seeder) >= t.data_length(),
        "our seeder served the data"
    );
    seeder.shutdown().await;
}
