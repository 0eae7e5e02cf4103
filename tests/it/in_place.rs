//! In-place switching with an undo journal: a small file system, aborts, and a campaign of SIGKILLs
//! in every phase of copy-mode and in-place switches, forward and aborted.

use std::path::Path;

use rand::{Rng, SeedableRng};

use crate::support::*;

/// Runs a client command with `SWARMDATE_KILL_AT` set (or not).
async fn run_with_kill(client: &UserHome, args: &[&str], kill_at: Option<&str>) -> Run {
    let mut cmd = client.command(args);
    if let Some(k) = kill_at {
        cmd.env("SWARMDATE_KILL_AT", k);
    }
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        tokio::process::Command::from(cmd).output(),
    )
    .await
    .expect("the command ends within 5 minutes")
    .unwrap();
    Run::from(out)
}

/// On a file system with room for the journal but not for a copy, the plan picks in place and says
/// why; the switch ends with the published image and nothing else; an abort of a second, killed
/// switch puts the first result back and seeds it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_place_switch_fits_where_a_copy_cannot_and_an_abort_restores_the_old_image() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let old_size = std::fs::metadata(distro.image("1.00")).unwrap().len();
    let fs = Mount::tmpfs(old_size / (1 << 20) + 8);
    let client = client_in(&distro, &fs.path, "1.00");

    let plan = client.run_async(&["iso", "plan", "1.01"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = plan.summary();
    assert_eq!(p["mode"], "in_place", "{p}");
    assert!(p["free_space"].as_u64().unwrap() < p["copy_space"].as_u64().unwrap());
    assert!(p["space_needed"].as_u64().unwrap() < p["free_space"].as_u64().unwrap());

    let run = client.run_async(&["iso", "switch", "1.01"]).await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(
        sha256(&fs.path.join("os-1.01.iso")),
        sha256(distro.image("1.01"))
    );
    assert_eq!(
        names(&fs.path),
        ["os-1.01.iso"],
        "no journal or working file left"
    );

    // Killed in the middle of writing 1.02 into the image: it is under no version's name.
    let killed = run_with_kill(&client, &["iso", "switch", "1.02"], Some("write:5")).await;
    assert_eq!(killed.code, -1, "killed by SIGKILL: {}", killed.stderr);
    assert!(!fs.path.join("os-1.01.iso").exists());
    assert!(!fs.path.join("os-1.02.iso").exists());

    let abort = client.run_async(&["iso", "switch", "--abort"]).await;
    assert_eq!(abort.code, 0, "{:?}\n{}", abort.events, abort.stderr);
    assert_eq!(
        sha256(&fs.path.join("os-1.01.iso")),
        sha256(distro.image("1.01")),
        "the journal put every old byte back"
    );
    assert_eq!(names(&fs.path), ["os-1.01.iso"]);
    let status = client.run_async(&["seed", "--status"]).await;
    let jobs = status.summary()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["name"], "os-1.01.iso",
        "the restored image is seeded again"
    );

    // Nothing left to abort: a clear refusal.
    let again = client.run_async(&["iso", "switch", "--abort"]).await;
    assert_eq!(again.code, 1);
    assert!(
        again.error().contains("no unfinished switch"),
        "{}",
        again.error()
    );
    seeder.shutdown().await;
}

/// One kill of the campaign.
#[derive(Debug, Clone, Copy)]
struct Kill {
    from: &'static str,
    to: &'static str,
    mode: &'static str,
    abort: bool,
    phase: &'static str,
    at: usize,
}

/// How many regions an in-place switch journals: rewritten pieces that held old bytes, and the old
/// tail past a shorter target.
fn journaled_regions(old: &Path, new: &Path, piece: usize) -> usize {
    let (old_len, new_len) = (
        std::fs::metadata(old).unwrap().len() as usize,
        std::fs::metadata(new).unwrap().len() as usize,
    );
    let mut regions: std::collections::BTreeSet<usize> = differing_pieces(old, new, piece)
        .into_iter()
        .filter(|&i| i * piece < old_len)
        .collect();
    regions.extend(new_len / piece..old_len.div_ceil(piece));
    regions.len()
}

/// 20 SIGKILLs at seeded random points of switches (copy and in place, forward and aborted), each
/// phase hit at least twice. After every restart the switch completes, or the abort rolls back, and
/// the image is the expected version, bit for bit, with nothing else left in the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_campaign_never_leaves_an_image_that_needs_a_person() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let seed: u64 = std::env::var("SWARMDATE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    eprintln!("kill campaign seed: {seed} (SWARMDATE_KILL_SEED={seed} repeats it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Upgrades grow the image (the respin appends), the downgrade shrinks it.
    let pairs = [("1.00", "1.01"), ("1.01", "1.02"), ("1.02", "1.00")];

    // Each phase twice, then random ones; the point within a phase is random.
    let mut plan: Vec<(&str, bool, &str)> = vec![
        ("copy", false, "copy"),
        ("copy", false, "copy"),
        ("copy", false, "write"),
        ("copy", false, "rename"),
        ("in-place", false, "journal"),
        ("in-place", false, "journal"),
        ("in-place", false, "write"),
        ("in-place", false, "rename"),
        ("in-place", true, "rollback"),
        ("in-place", true, "rollback"),
    ];
    let any: [(&str, bool, &str); 9] = [
        ("copy", false, "copy"),
        ("copy", false, "write"),
        ("copy", false, "rename"),
        ("copy", true, "write"),
        ("in-place", false, "move"),
        ("in-place", false, "journal"),
        ("in-place", false, "write"),
        ("in-place", false, "rename"),
        ("in-place", true, "rollback"),
    ];
    while plan.len() < 20 {
        plan.push(any[rng.gen_range(0..any.len())]);
    }
    let kills: Vec<Kill> = plan
        .into_iter()
        .map(|(mode, abort, phase)| {
            let (from, to) = pairs[rng.gen_range(0..pairs.len())];
            let (old, new) = (distro.image(from), distro.image(to));
            let pieces = differing_pieces(old, new, 64 << 10).len();
            let journaled = journaled_regions(old, new, 64 << 10);
            assert!(journaled >= 1 && pieces >= 1, "{from} → {to}");
            let at = match phase {
                // The 20 MB image is copied in 8 MiB steps.
                "copy" => rng.gen_range(1..=2),
                "move" => 1,
                "rename" => rng.gen_range(1..=2),
                "journal" | "rollback" => rng.gen_range(1..=journaled),
                // Four 16 KiB chunks to a 64 KiB piece; before the last one.
                _ => rng.gen_range(1..=pieces * 4 - 1),
            };
            Kill {
                from,
                to,
                mode,
                abort,
                phase,
                at,
            }
        })
        .collect();

    let mut hits: std::collections::BTreeMap<&str, usize> = Default::default();
    for (n, k) in kills.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        let client = client_in(&distro, &images, k.from);
        let kill_at = format!("{}:{}", k.phase, k.at);
        let switch = ["iso", "switch", k.to, "--mode", k.mode];
        let expected;
        if k.abort {
            // Killed mid-write (a rollback: once every region is journaled), killed again while
            // rolling back, then rolled back.
            let first = if k.phase == "rollback" {
                let (old, new) = (distro.image(k.from), distro.image(k.to));
                format!("journal:{}", journaled_regions(old, new, 64 << 10))
            } else {
                kill_at.clone()
            };
            let r = run_with_kill(&client, &switch, Some(&first)).await;
            assert_eq!(
                r.code, -1,
                "kill {n} {k:?} at {first}: {:?}\n{}",
                r.events, r.stderr
            );
            if k.phase == "rollback" {
                let abort = ["iso", "switch", "--abort"];
                let r = run_with_kill(&client, &abort, Some(&kill_at)).await;
                assert_eq!(r.code, -1, "kill {n} {k:?}: {:?}\n{}", r.events, r.stderr);
            }
            let r = client.run_async(&["iso", "switch", "--abort"]).await;
            assert_eq!(
                r.code, 0,
                "abort after kill {n} {k:?}: {:?}\n{}",
                r.events, r.stderr
            );
            expected = k.from;
        } else {
            let r = run_with_kill(&client, &switch, Some(&kill_at)).await;
            assert_eq!(r.code, -1, "kill {n} {k:?}: {:?}\n{}", r.events, r.stderr);
            let r = client.run_async(&["iso", "switch", k.to]).await;
            assert_eq!(
                r.code, 0,
                "resume after kill {n} {k:?}: {:?}\n{}",
                r.events, r.stderr
            );
            expected = k.to;
        }
        *hits.entry(k.phase).or_default() += 1;
        let image = images.join(format!("os-{expected}.iso"));
        assert_eq!(
            sha256(&image),
            sha256(distro.image(expected)),
            "kill {n} {k:?}: the image is {expected}"
        );
        assert_eq!(
            names(&images),
            [format!("os-{expected}.iso")],
            "kill {n} {k:?}: nothing else is left"
        );
        eprintln!(
            "kill {n:>2}: {} → {} {:<8} {:<7} at {kill_at:<11} → {expected} intact",
            k.from,
            k.to,
            k.mode,
            if k.abort { "abort" } else { "forward" },
        );
    }
    eprintln!("kills per phase: {hits:?}");
    for phase in ["copy", "journal", "write", "rename", "rollback"] {
        assert!(
            hits.get(phase).copied().unwrap_or(0) >= 2,
            "{phase}: {hits:?}"
        );
    }
    seeder.shutdown().await;
}
