//! The contribution ledger of a `swarmdate seed` process capped at 1 MiB/s: exact after a clean
//! stop, short by at most a minute of uploads after a SIGKILL, and one served peer per leecher.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use swarmdate::engine::{JobId, JobSpec};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

const CAP: u64 = 1 << 20;

/// Starts `swarmdate seed` with `args`; returns once it reports every job seeding.
async fn start_seeder(client: &Client, args: &[&str], jobs: usize) -> tokio::process::Child {
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
) -> (std::sync::Arc<swarmdate::engine::Engine>, Vec<JobId>) {
    let engine = engine_on(ip, dirs[0].path(), true, Vec::new()).await;
    let jobs = versions
        .iter()
        .map(|v| {
            let spec = JobSpec::Fetch {
                dest: dirs[1].path().to_owned(),
                seed_after: false,
                replace: false,
            };
            engine.add_job(&distro.torrent(v), spec).unwrap()
        })
        .collect();
    (engine, jobs)
}

fn received(engine: &swarmdate::engine::Engine, jobs: &[JobId]) -> u64 {
    engine
        .snapshot()
        .jobs
        .iter()
        .filter(|j| jobs.contains(&j.id))
        .map(|j| j.bytes_received)
        .sum()
}

/// The seeder's ledger, as `seed --status --json` reports it: (name → (uploaded, peers served)).
fn ledger(client: &Client) -> std::collections::BTreeMap<String, (u64, u64)> {
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
async fn the_ledger_is_exact_after_a_stop_and_loses_at_most_a_minute_to_a_sigkill() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let seeder = Client::new(&distro);
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

    // A third leecher takes two more versions; the seeder is SIGKILLed mid-upload.
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
    tokio::time::timeout(Duration::from_secs(120), async {
        // Past one ledger flush (every 10 s), before the end.
        while received(&c, &jc) < (wanted * 5 / 6).min(11 * CAP) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the transfer goes on");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counted = received(&c, &jc);
    c.shutdown().await;
    assert!(counted < wanted, "killed mid-upload: {counted} of {wanted}");

    let after_kill = ledger(&seeder);
    let kept: u64 = ["os-1.00.iso", "os-1.01.iso"]
        .iter()
        .map(|n| after_kill.get(*n).map_or(0, |t| t.0))
        .sum();
    let lost = counted - kept.min(counted);
    eprintln!(
        "SIGKILL: the leecher counted {counted}, the ledger kept {kept}, lost {lost} ({:.1} s at the cap)",
        lost as f64 / CAP as f64
    );
    assert!(kept <= counted, "never more than was sent");
    assert!(lost <= 60 * CAP, "at most a minute at the cap is lost");
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
