//! Finding peers without a tracker's help: Debian's opentracker refuses the torrents (they are
//! not on its whitelist) and the seeder is found by local discovery alone (on `lo`,
//! docs/platform.md §2). A switch across a rebuilt image still learns the target's layout from
//! the seeder and fetches only its new content, and the refusal reaches the user; once the
//! tracker serves the torrent, no refusal is told.

use std::net::Ipv4Addr;
use std::time::Instant;

use swarmdate_engine::EngineConfig;
use swarmdate_testkit::third_party::{OpenTracker, free_port};

use crate::iso_rebuild::{rebuilt_chain, switch_bounds};
use crate::support::{Run, UserHome, seed_all_with, sha256, uploaded_now};

/// Local discovery on `lo` reaches every session on the machine, and the chains of these tests
/// are the same torrents: they run one at a time (every other test, and the third-party peers,
/// keep local discovery off).
static ON_LO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `iso switch target` with the engine's info log on stderr (where the layout's peer was found).
async fn switch(client: &UserHome, target: &str) -> (Run, f64) {
    let mut cmd = tokio::process::Command::from(client.command(&["iso", "switch", target]));
    cmd.env("SWARMDATE_LOG", "swarmdate_engine=info")
        .kill_on_drop(true);
    let started = Instant::now();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), cmd.output())
        .await
        .expect("the switch ends within 5 minutes")
        .unwrap();
    (Run::from(out), started.elapsed().as_secs_f64())
}

/// The `notice` events of a run.
fn notices<'a>(run: &'a Run, kind: &str) -> Vec<&'a serde_json::Value> {
    run.events
        .iter()
        .filter(|e| e["event"] == "notice" && e["notice"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_torrent_is_switched_through_local_discovery_and_the_refusal_is_told() {
    let _alone = ON_LO.lock().await;
    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let distro = tokio::task::spawn_blocking(move || rebuilt_chain(&url))
        .await
        .unwrap();
    // Its whitelist holds another torrent only: every announce of ours is refused.
    let tracker =
        OpenTracker::start(port, &[swarmdate_core::torrent::InfoHash([0x5a; 20])]).unwrap();
    let seeder_state = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::loopback(seeder_state.path());
    cfg.local_discovery = true;
    let seeder = seed_all_with(&distro, cfg).await;

    let client = UserHome::new(&distro);
    std::fs::write(
        client.home.path().join("config/settings.json"),
        r#"{"loopback_only": true, "listen_port": 0, "local_discovery": true}"#,
    )
    .unwrap();
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.01"), client.images().join("os-1.01.iso")).unwrap();

    // 1.01 → 1.02 is the fresh rebuild: every file moved.
    let (old, new) = (
        distro.image("1.01").to_owned(),
        distro.image("1.02").to_owned(),
    );
    let (least, most) = tokio::task::spawn_blocking(move || switch_bounds(&old, &new, &[]))
        .await
        .unwrap();
    let before = uploaded_now(&seeder).await;
    let (run, secs) = switch(&client, "1.02").await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(
        sha256(&client.images().join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );
    let sent = uploaded_now(&seeder).await - before;
    let found = run
        .stderr
        .lines()
        .find(|l| l.contains("the target's directories come from"))
        .unwrap_or("(no line)");
    eprintln!(
        "refused 1.01 → 1.02 in {secs:.1} s: seeder sent {sent}, new content {least}, bound {most}; {found}"
    );
    assert!(
        sent >= least && sent <= most,
        "seeder sent {sent}, new content {least}, bound {most}; {}",
        run.summary()
    );
    // Local discovery's own next round is 5 minutes away (docs/platform.md §2): the switch's
    // torrent starts with the peer that served the directories instead of waiting for it.
    assert!(secs < 120.0, "the switch took {secs:.0} s");
    // The layout came from the seeder: the pre-fill placed the old image's files.
    let summary = run.summary();
    assert!(
        summary["rebuilt"]["from_image"].as_u64().unwrap() > 40_000_000,
        "{summary}"
    );
    // The refusal was told as it happened and is in the result; nothing fell back.
    let refused = notices(&run, "tracker_refused");
    assert_eq!(refused.len(), 1, "{:?}", run.events);
    assert_eq!(refused[0]["tracker"], format!("http://127.0.0.1:{port}"));
    assert!(
        refused[0]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{:?}",
        refused[0]
    );
    assert!(
        notices(&run, "prefill_skipped").is_empty(),
        "{:?}",
        run.events
    );
    let told: Vec<_> = summary["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notice"].as_str().unwrap())
        .collect();
    assert_eq!(told, ["tracker_refused"], "{summary}");

    // The positive control: the tracker serves 1.03, and its switch tells no refusal.
    let hash = distro.torrent("1.03").info_hash();
    let tracker = tokio::task::spawn_blocking(move || {
        tracker.allow(&hash).unwrap();
        tracker
    })
    .await
    .unwrap();
    let (run, secs) = switch(&client, "1.03").await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    eprintln!("served 1.02 → 1.03 in {secs:.1} s");
    assert!(secs < 120.0, "the switch took {secs:.0} s");
    assert_eq!(
        sha256(&client.images().join("os-1.03.iso")),
        sha256(distro.image("1.03"))
    );
    assert!(
        notices(&run, "tracker_refused").is_empty(),
        "{:?}",
        run.events
    );
    assert!(run.summary().get("notices").is_none(), "{}", run.summary());
    drop(tracker);
    seeder.shutdown().await;
}

/// No peer serves the target's directories while the switch looks (the seeder starts only once
/// the switch gave up): the switch says it skips the pre-fill, goes on looking for peers, and
/// fetches every differing piece from the seeder local discovery finds later. The image ends as
/// the published one; the refusal is told too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_that_cannot_learn_the_layout_says_so_and_fetches_everything_from_a_late_seeder() {
    use swarmdate_core::iso::SwitchMode;
    use swarmdate_engine::{Engine, JobState, Notice, SkipReason};
    let _alone = ON_LO.lock().await;

    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let distro = tokio::task::spawn_blocking(move || rebuilt_chain(&url))
        .await
        .unwrap();
    let _tracker =
        OpenTracker::start(port, &[swarmdate_core::torrent::InfoHash([0x5a; 20])]).unwrap();

    let client_state = tempfile::tempdir().unwrap();
    let images = tempfile::tempdir().unwrap();
    let old = images.path().join("os-1.01.iso");
    std::fs::copy(distro.image("1.01"), &old).unwrap();
    let mut cfg = EngineConfig::loopback(client_state.path());
    cfg.local_discovery = true;
    cfg.layout_patience = std::time::Duration::from_secs(2);
    let client = Engine::start(cfg).await.unwrap();
    let target = distro.torrent("1.02");
    let len = target.total_length();
    let id = client
        .switch_image(&old, &target, SwitchMode::Copy, len, false)
        .await
        .unwrap();
    let skipped = Notice::PrefillSkipped {
        reason: SkipReason::NoPeer,
    };
    crate::support::wait_for(
        "the pre-fill to be skipped",
        std::time::Duration::from_secs(60),
        || {
            client
                .snapshot()
                .job(id)
                .is_some_and(|j| j.notices.contains(&skipped))
        },
    )
    .await;
    let job = client.snapshot().job(id).cloned().unwrap();
    assert!(job.prefilled.is_none(), "{job:?}");
    assert!(
        !job.state.is_complete() && job.state != JobState::Paused,
        "{job:?}"
    );

    // Now the seeder comes; its announce reaches the switch's torrent.
    let seeder_state = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::loopback(seeder_state.path());
    cfg.local_discovery = true;
    // A fresh seeder: all it ever sends goes to the switch (which may start while it still checks).
    let seeder = seed_all_with(&distro, cfg).await;
    let done = tokio::time::timeout(std::time::Duration::from_secs(120), client.wait(id))
        .await
        .expect("the switch ends once the seeder is there")
        .unwrap();
    assert_eq!(
        sha256(&images.path().join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );
    // Every differing piece came: far more than the pre-fill would have left.
    let (old_image, new_image) = (
        distro.image("1.01").to_owned(),
        distro.image("1.02").to_owned(),
    );
    let (_, most) = tokio::task::spawn_blocking(move || switch_bounds(&old_image, &new_image, &[]))
        .await
        .unwrap();
    client.shutdown().await;
    let sent = uploaded_now(&seeder).await;
    eprintln!("fallback 1.01 → 1.02: seeder sent {sent}, the pre-fill's bound {most}");
    assert!(sent > 3 * most, "seeder sent {sent}, bound {most}");
    assert!(done.notices.contains(&skipped), "{:?}", done.notices);
    assert!(
        done.notices
            .iter()
            .any(|n| matches!(n, Notice::TrackerRefused { .. })),
        "{:?}",
        done.notices
    );
    seeder.shutdown().await;
}
