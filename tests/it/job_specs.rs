//! Job specs are checked where they enter the engine: a call (in process or over D-Bus) with a
//! `wanted` index out of range is refused with a message, and such an entry in the journal is
//! reported at start without a panic while the others resume.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use swarmdate_core::torrent::{Torrent, TorrentBuilder};
use swarmdate_engine::service::{EngineHandle, bus_name};
use swarmdate_engine::{
    EngineConfig, JobId, JobRecord, JobSpec, Payload, RepoSpec, SpecError, read_journal,
};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

/// A generated package distribution (release and updates repositories, their indexes).
async fn packages() -> (swarmdate_testkit::tracker::Tracker, PackageDistro) {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let distro = tokio::task::spawn_blocking(move || PackageDistro::build(20, 2000..4000, &url))
        .await
        .unwrap();
    (tracker, distro)
}

/// A job on the updates repository wanting its first package and one past its last file, with
/// its index written beside; and the refusal's message.
fn bad_spec(d: &PackageDistro, dir: &Path) -> (JobSpec, String) {
    let t = &d.updates.torrent;
    let index = dir.join("updates.json");
    std::fs::write(&index, d.updates.index.to_json()).unwrap();
    let past = t.files.len() + 3;
    let spec = JobSpec::Repository(RepoSpec {
        index,
        wanted: BTreeSet::from([d.updates.index.packages[0].file_index, past]),
        mirrors: Vec::new(),
        images: Vec::new(),
    });
    let msg = format!(
        "file {past} is wanted from {}, which has {} files",
        t.name,
        t.files.len()
    );
    (spec, msg)
}

/// A 1 MiB image and its torrent.
fn image(dir: &Path) -> (Torrent, std::path::PathBuf) {
    let path = dir.join("image.iso");
    random_file(&path, 1 << 20, 3);
    let t = TorrentBuilder::single_file("image.iso", &path)
        .piece_length(16 << 10)
        .build()
        .unwrap();
    (t, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wanted_index_out_of_range_is_refused_in_process_and_over_the_bus_and_the_engine_runs_on()
{
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cfg = EngineConfig::loopback(&state);
    let name = bus_name(&state, None);
    let local = EngineHandle::connect_or_start(cfg.clone(), &name)
        .await
        .unwrap();
    let remote = EngineHandle::connect_or_start(cfg, &name).await.unwrap();
    assert!(remote.is_remote(), "the second handle uses the bus");
    let EngineHandle::Local { engine, .. } = &local else {
        panic!("the first handle runs the engine")
    };
    let (_tracker, d) = packages().await;
    let (bad, msg) = bad_spec(&d, dir.path());
    let repo = &d.updates.torrent;

    // In process: a typed refusal.
    let err = engine.add_job(repo, bad.clone()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<SpecError>(),
        Some(&SpecError::WantedOutOfRange {
            torrent: repo.name.clone(),
            index: repo.files.len() + 3,
            files: repo.files.len()
        })
    );
    assert!(err.to_string().contains(&msg), "{err}");
    // Over D-Bus: the same message.
    let err = remote.add_job(repo, bad).await.unwrap_err().to_string();
    assert!(err.contains(&msg), "{err}");
    assert!(remote.jobs().await.unwrap().is_empty(), "nothing was kept");
    assert!(read_journal(&state).unwrap().is_empty());

    // Positive control: the engine runs on, and a good job through the bus seeds.
    let (t, path) = image(dir.path());
    let id = remote
        .add_job(
            &t,
            JobSpec::Seed {
                payload: Payload::Image(path),
            },
        )
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), remote.wait(id))
        .await
        .expect("the job seeds within a minute")
        .unwrap();
    assert!(done.state.is_complete(), "{:?}", done.state);
    remote.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_entry_that_cannot_run_is_reported_without_a_panic_and_the_others_resume() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    loopback_settings(&home);
    // A journal as an older version, or a hand, may have left it: a bad repository job beside a
    // good seeding job.
    let engine_dir = home.join("data/engine");
    std::fs::create_dir_all(engine_dir.join("torrents")).unwrap();
    let (_tracker, d) = packages().await;
    let (bad, msg) = bad_spec(&d, dir.path());
    let (image_torrent, image_path) = image(dir.path());
    let mut jobs = serde_json::Map::new();
    for (id, t, spec) in [
        (1, &d.updates.torrent, bad),
        (
            2,
            &image_torrent,
            JobSpec::Seed {
                payload: Payload::Image(image_path.clone()),
            },
        ),
    ] {
        std::fs::write(
            engine_dir
                .join("torrents")
                .join(format!("{}.torrent", t.info_hash())),
            t.bytes(),
        )
        .unwrap();
        let record = JobRecord {
            id: JobId(id),
            info_hash: t.info_hash(),
            name: t.name.clone(),
            spec,
            paused: false,
            seeding_since: None,
            goal_met: false,
        };
        jobs.insert(id.to_string(), serde_json::to_value(record).unwrap());
    }
    let journal = serde_json::json!({ "version": 1, "last_id": 2, "jobs": jobs });
    std::fs::write(engine_dir.join("jobs.json"), journal.to_string()).unwrap();
    let image_before = sha256(&image_path);

    // Twice: the bad entry is reported at every start, never replayed as a panic.
    for _ in 0..2 {
        let mut seed = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"));
        seed.arg("--home")
            .arg(&home)
            .args(["--json", "seed"])
            .env("LANG", "C.UTF-8")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = seed.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut good, mut bad) = (false, None);
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["event"] != "seed" {
                    continue;
                }
                match v["job"].as_u64() {
                    Some(2) => good |= v["state"]["state"] == "seeding",
                    Some(1) if v["state"]["state"] == "failed" => {
                        bad = v["state"]["detail"].as_str().map(str::to_owned)
                    }
                    _ => {}
                }
                if good && bad.is_some() {
                    break;
                }
            }
        })
        .await
        .expect("the good job seeds and the bad one is reported within a minute");
        let reason = bad.unwrap();
        assert!(reason.contains(&msg), "{reason}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        // Its output is read to the end: a closed pipe would make its printing fail.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the seeder stops on Ctrl+C")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
    // The bad entry is kept for the user to see and remove; the good one is untouched.
    let kept: Vec<u64> = read_journal(&engine_dir)
        .unwrap()
        .iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(kept, [1, 2]);
    assert_eq!(sha256(&image_path), image_before);
}
