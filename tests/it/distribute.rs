//! The distributor's pipeline (`scripts/distribute.sh`, docs/distributing.md) end to end on
//! 127.0.0.1: packages built by `rpmbuild` and signed by `rpmsign`, `createrepo_c`, `publish
//! master` from that repodata, a signed feed, Debian's opentracker given its whitelist from the
//! feed and reloaded, the origin super-seeding; then aria2c, a third-party client, fetches the
//! repository through that tracker, and its bytes are the distribution's.

use std::net::Ipv4Addr;

use swarmdate_core::packages::PackageIndex;
use swarmdate_core::torrent::Torrent;
use swarmdate_testkit::third_party::{OpenTracker, free_port};

use crate::distro_tools::{Gpg, Spec, rpmbuild};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_publishes_a_snapshot_that_a_third_party_client_fetches_through_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mirror/updates/41/x86_64");
    let gpg = Gpg::new();
    let uid = "Distro (41) <distro-41@example.org>";
    gpg.generate(uid, "rsa4096", "never", None);
    let mut built = Vec::new();
    for name in ["alpha-tool", "beta-lib", "gamma-app"] {
        let spec = Spec {
            name,
            version: "2.0",
            release: "1.fc41",
            setuid: false,
        };
        let rpm = rpmbuild(&spec, &repo.join("Packages").join(&name[..1]));
        gpg.rpmsign(uid, &rpm);
        built.push(rpm);
    }
    let home = dir.path().join("home");
    let key = dir.path().join("key");
    let made = run_cli(&[
        "--home",
        home.to_str().unwrap(),
        "publish",
        "key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);

    // The tracker serves nothing until the pipeline writes its whitelist and reloads it.
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let tracker = OpenTracker::start(port, &[]).unwrap();
    let seed_port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let out = dir.path().join("publish");
    let mut pipeline = tokio::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/distribute.sh"
    ));
    pipeline
        .arg("--repo")
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .arg("--key")
        .arg(key.join("secret.asc"))
        .args(["--tracker", &OpenTracker::url_on(port)])
        .args(["--mirror", "http://127.0.0.1:9/updates/41/"])
        .args([
            "--id",
            "updates-1",
            "--distribution",
            "Distro",
            "--release",
            "41",
        ])
        .arg("--whitelist")
        .arg(tracker.whitelist())
        .args(["--reload", &format!("kill -HUP {}", tracker.pid())])
        .args(["--seed", &format!("127.0.0.1:{seed_port}")])
        .arg("--home")
        .arg(&home)
        .args(["--swarmdate", env!("CARGO_BIN_EXE_swarmdate")])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut pipeline = pipeline.spawn().unwrap();
    wait_seeding(pipeline.stdout.take().unwrap()).await;

    // What it published: the index from createrepo_c's primary, every package in it.
    let torrent =
        Torrent::from_bytes(std::fs::read(out.join("updates-1.torrent")).unwrap()).unwrap();
    let index =
        PackageIndex::from_json(&std::fs::read(out.join("updates-1.index.json")).unwrap()).unwrap();
    assert_eq!(index.packages.len(), built.len());
    assert!(repo.join("repodata/repomd.xml").is_file());
    let hash = torrent.info_hash();
    let listed = std::fs::read_to_string(tracker.whitelist()).unwrap();
    assert_eq!(listed.trim(), hash.to_string());
    // The tracker, not the pipeline, says the origin announced the snapshot.
    let scrape =
        tokio::task::spawn_blocking(move || tracker.wait_for_peers(&hash, 1).map(|s| (s, tracker)))
            .await
            .unwrap()
            .unwrap();
    assert!(scrape.0.complete >= 1, "{:?}", scrape.0);

    // aria2c finds the origin through the tracker alone.
    let fetched = tempfile::tempdir().unwrap();
    aria2c(&out.join("updates-1.torrent"), fetched.path()).await;
    for p in &index.packages {
        let got = fetched.path().join(&torrent.name).join(&p.path);
        assert_eq!(sha256(&got), sha256(&repo.join(&p.path)), "{}", p.path);
    }
    let _ = pipeline.kill().await;
    drop(scrape);
}
