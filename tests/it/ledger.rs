//! The contribution ledger of a `swarmdate seed` process with a capped upload: exact after a clean
//! stop; after a SIGKILL it keeps what was sent before its last 10-second write and loses at most
//! that window; one served peer per leecher.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use swarmdate_engine::{JobId, JobSpec};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

const CAP: u64 = 1 << 20;
/// The cap while the seeder is killed mid-upload: its upload then lasts long enough for a kill
/// after `UPLOAD_SECS` seconds to come after two ledger writes.
const SLOW: u64 = 256 << 10;
/// Seconds of upload before the SIGKILL.
const UPLOAD_SECS: u64 = 25;
/// How late the ledger's 10-second write may come on a busy machine.
const SLACK: Duration = Duration::from_secs(3);

/// Starts `swarmdate seed` with `args`; returns once it reports every job seeding.
async fn start_seeder(client: &UserHome, args: &[&str], jobs: usize) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::from(client.command(args));
    cmd.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut seeding = std::collections::BTreeSet::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == "seed" && v["state"]["state"] == "seeding" {
                seeding.insert(v["job"].as_u64());
                if seeding.len() == jobs {
                    break;
                }
            }
        }
    })
    .await
    .expect("the seeder is up within a minute");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// A leecher on its own address fetching `versions`; returns its engine and jobs.
async fn leecher(
    ip: [u8; 4],
    distro: &Distro,
    versions: &[&str],
    dirs: &[tempfile::TempDir; 2],
) -> (std::sync::Arc<swarmdate_engine::Engine>, Vec<JobId>) {
    let engine = engine_on(ip, dirs[0].path(), true, Vec::new()).await;
    let mut jobs = Vec::new();
    for v in versions {
        let spec = JobSpec::Fetch {
            dest: dirs[1].path().to_owned(),
            seed_after: false,
            replace: false,
        };
        jobs.push(engine.add_job(&distro.torrent(v), spec).await.unwrap());
    }
    (engine, jobs)
}

fn received(engine: &swarmdate_engine::Engine, jobs: &[JobId]) -> u64 {
    engine
        .snapshot()
        .jobs
        .iter()
        .filter(|j| jobs.contains(&j.id))
        .map(|j| j.bytes_received)
        .sum()
}

/// The seeder's ledger, as `seed --status --json` reports it: (name → (uploaded, peers served)).
fn ledger(client: &UserHome) -> std::collections::BTreeMap<String, (u64, u64)> {
    let run = client.run(&["seed", "--status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.summary()["contribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                (
                    t["uploaded"].as_u64().unwrap(),
                    t["peers_served"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn tempdirs() -> [tempfile::TempDir; 2] {
    [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_is_exact_after_a_stop_and_keeps_all_but_its_last_10_s_after_a_sigkill() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let seeder = UserHome::new(&distro);
    std::fs::write(
        seeder.home.path().join("config/settings.json"),
        format!(r#"{{"loopback_only": true, "listen_port": 0, "upload_limit": {CAP}}}"#),
    )
    .unwrap();
    let arg = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
    let torrent = |v: &str| arg(distro.publish_dir().join(format!("os-{v}.iso.torrent")));
    let image = |v: &str| arg(distro.image(v).to_owned());

    // Two leechers, each on its own address, take 1.02 from the capped seeder; then a clean stop.
    let (t102, i102) = (torrent("1.02"), image("1.02"));
    let mut child = start_seeder(&seeder, &["seed", "--torrent", &t102, "--data", &i102], 1).await;
    let (da, db) = (tempdirs(), tempdirs());
    let (a, ja) = leecher([127, 0, 0, 2], &distro, &["1.02"], &da).await;
    let (b, jb) = leecher([127, 0, 0, 3], &distro, &["1.02"], &db).await;
    for (e, j) in [(&a, &ja), (&b, &jb)] {
        tokio::time::timeout(Duration::from_secs(120), e.wait(j[0]))
            .await
            .unwrap()
            .unwrap();
    }
    let counted = received(&a, &ja) + received(&b, &jb);
    a.shutdown().await;
    b.shutdown().await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    assert!(child.wait().await.unwrap().success());
    let after_stop = ledger(&seeder);
    eprintln!("clean stop: leechers counted {counted}, ledger {after_stop:?}");
    assert_eq!(
        after_stop["os-1.02.iso"],
        (counted, 2),
        "exact, and one served peer per leecher"
    );

    // A third leecher takes two more versions from the seeder, now capped lower so that the
    // upload lasts well past several ledger writes; the seeder is SIGKILLed mid-upload.
    std::fs::write(
        seeder.home.path().join("config/settings.json"),
        format!(r#"{{"loopback_only": true, "listen_port": 0, "upload_limit": {SLOW}}}"#),
    )
    .unwrap();
    let (t100, i100, t101, i101) = (
        torrent("1.00"),
        image("1.00"),
        torrent("1.01"),
        image("1.01"),
    );
    let args = [
        "seed",
        "--torrent",
        &t100,
        "--data",
        &i100,
        "--torrent",
        &t101,
        "--data",
        &i101,
    ];
    let mut child = start_seeder(&seeder, &args, 3).await;
    let dc = tempdirs();
    let (c, jc) = leecher([127, 0, 0, 4], &distro, &["1.00", "1.01"], &dc).await;
    let wanted: u64 = ["1.00", "1.01"]
        .iter()
        .map(|v| std::fs::metadata(distro.image(v)).unwrap().len())
        .sum();
    assert!(
        wanted > (UPLOAD_SECS + 2) * SLOW,
        "the transfer outlasts the upload before the kill"
    );
    // The leecher's count over time, an observer independent of the seeder: (when, received).
    let mut seen: Vec<(std::time::Instant, u64)> = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut started: Option<std::time::Instant> = None;
        loop {
            let (now, got) = (std::time::Instant::now(), received(&c, &jc));
            seen.push((now, got));
            if got > 0 && started.is_none() {
                started = Some(now);
            }
            if started.is_some_and(|t| now - t >= Duration::from_secs(UPLOAD_SECS)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the transfer goes on");
    // The process dies after this instant, so its last ledger write came after this less 10 s.
    let killed = std::time::Instant::now();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let counted: u64 = fresh_snapshot(&c)
        .await
        .jobs
        .iter()
        .filter(|j| jc.contains(&j.id))
        .map(|j| j.bytes_received)
        .sum();
    c.shutdown().await;
    assert!(counted < wanted, "killed mid-upload: {counted} of {wanted}");

    // The ledger is written every 10 s; `SLACK` allows for a late tick on a busy machine. What the
    // leecher had before the last write the seeder had sent and counted by then.
    let last_write = killed - Duration::from_secs(10) - SLACK;
    let flushed = seen
        .iter()
        .take_while(|(at, _)| *at <= last_write)
        .last()
        .map_or(0, |s| s.1);
    assert!(
        flushed > 0,
        "{UPLOAD_SECS} s of upload include bytes sent before the last ledger write"
    );
    let after_kill = ledger(&seeder);
    let kept: u64 = ["os-1.00.iso", "os-1.01.iso"]
        .iter()
        .map(|n| after_kill.get(*n).map_or(0, |t| t.0))
        .sum();
    let lost = counted.saturating_sub(kept);
    eprintln!(
        "SIGKILL: the leecher counted {counted}, {flushed} of it before the last ledger write; the \
         ledger kept {kept}, lost {lost} ({:.1} s at the cap)",
        lost as f64 / SLOW as f64
    );
    assert!(kept <= counted, "never more than was sent");
    assert!(
        kept >= flushed,
        "what was sent before the last write is kept: {kept} < {flushed}"
    );
    // The same from the cap: at most the last write's 10 s (and the limiter's 1 s burst) are lost.
    let window = Duration::from_secs(11) + SLACK;
    assert!(
        lost as f64 <= window.as_secs_f64() * SLOW as f64,
        "lost {lost}: more than {window:?} at the cap"
    );
    assert_eq!(
        after_kill["os-1.02.iso"], after_stop["os-1.02.iso"],
        "what was flushed stays"
    );
    let served: u64 = ["os-1.00.iso", "os-1.01.iso"]
        .iter()
        .filter_map(|n| after_kill.get(*n).map(|t| t.1))
        .max()
        .unwrap_or(0);
    assert_eq!(served, 1, "the third leecher is one peer");
}
