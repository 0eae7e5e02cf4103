//! ISO version switching end to end: a seeder and a client process on 127.0.0.1.

use crate::support::*;

/// 1.00 → 1.01 → 1.02 → 1.00 with images of over 50 MB: each result is the published image, the
/// plan equals the differing pieces counted from the two files, and the seeder's own counter shows
/// it sent at least the plan and at most one piece more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_chain_fetches_exactly_the_differing_pieces() {
    let tracker = tracker().await;
    let piece = 64 << 10;
    let distro = tokio::task::spawn_blocking({
        let url = tracker.announce_url();
        move || Distro::build(52, 64, &url)
    })
    .await
    .unwrap();
    assert!(std::fs::metadata(distro.image("1.00")).unwrap().len() > 50_000_000);
    let seeder_state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, seeder_state.path()).await;

    let client = UserHome::new(&distro);
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.00"), client.images().join("os-1.00.iso")).unwrap();

    let status = client.run_async(&["iso", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.summary()["version"], "1.00");

    let mut current = "1.00";
    for target in ["1.01", "1.02", "1.00"] {
        let expected = differing_bytes(distro.image(current), distro.image(target), piece);
        // Counted from before the plan: it fetches the target's directory pieces, which the
        // switch then takes from its cache.
        let before = uploaded(&seeder);
        let plan = client.run_async(&["iso", "plan", target]).await;
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert_eq!(
            plan.summary()["fetch_bytes"],
            expected,
            "plan {current} → {target}"
        );

        let run = client.run_async(&["iso", "switch", target]).await;
        assert_eq!(
            run.code, 0,
            "switch to {target}: {:?}\n{}",
            run.events, run.stderr
        );
        // The client has exited: everything it got has left the seeder.
        let sent = uploaded_now(&seeder).await - before;
        let s = run.summary();
        eprintln!(
            "chain {current} → {target}: planned {expected}, seeder sent {sent}, image {}",
            s["image_size"]
        );
        assert_eq!(s["planned_bytes"], expected);
        assert_eq!(
            s["fetched_bytes"], expected,
            "the client's piece map agrees with the plan"
        );
        assert_eq!(
            s["had_bytes"].as_u64().unwrap() + expected,
            s["image_size"].as_u64().unwrap()
        );
        assert!(
            expected > 0 && sent >= expected,
            "{current} → {target}: seeder sent {sent} < planned {expected}"
        );
        assert!(
            sent <= expected + piece as u64,
            "{current} → {target}: seeder sent {sent} > planned {expected} + a piece; client: {s}"
        );

        let result = client.images().join(format!("os-{target}.iso"));
        assert_eq!(
            sha256(&result),
            sha256(distro.image(target)),
            "image after switching to {target}"
        );
        assert!(
            !client.images().join(format!("os-{current}.iso")).exists(),
            "the old version was replaced"
        );
        let leftovers: Vec<_> = std::fs::read_dir(client.images())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "only the new image remains: {leftovers:?}"
        );
        current = target;
    }
    let status = client.run_async(&["seed", "--status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let jobs = status.summary()["jobs"].as_array().unwrap().clone();
    assert_eq!(
        jobs.len(),
        1,
        "the switched image is what the client seeds: {jobs:?}"
    );
    assert_eq!(jobs[0]["name"], "os-1.00.iso");
    seeder.shutdown().await;
}

/// A client SIGKILLed in the middle of a switch leaves the old image intact and no file under the
/// new name; run again, it completes with a correct image and fetches only the remainder plus the
/// pieces that were in flight at the kill: the resumed switch keeps every piece the client had
/// reported complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_switch_resumes_and_fetches_only_the_rest() {
    use tokio::io::AsyncBufReadExt;

    let tracker = tracker().await;
    let distro = tokio::task::spawn_blocking({
        let url = tracker.announce_url();
        move || Distro::build(52, 64, &url)
    })
    .await
    .unwrap();
    let seeder_state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, seeder_state.path()).await;
    seeder.set_limits(Some(1 << 20), None);

    let client = UserHome::new(&distro);
    std::fs::create_dir_all(client.images()).unwrap();
    let old = client.images().join("os-1.00.iso");
    std::fs::copy(distro.image("1.00"), &old).unwrap();
    let target = distro.torrent("1.01");
    let piece = u64::from(target.piece_length);
    let planned = differing_bytes(distro.image("1.00"), distro.image("1.01"), piece as usize);

    let mut cmd = tokio::process::Command::from(client.command(&["iso", "switch", "1.01"]));
    cmd.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Killed once a quarter of the plan is reported complete, so that fetching again what was
    // kept would show; `bytes_fetched` counts only whole pieces that passed their hash check.
    let reported = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let fetched = v["bytes_fetched"].as_u64().unwrap_or(0);
            if v["event"] == "progress" && fetched >= planned / 4 && fetched < planned {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                return fetched;
            }
        }
        panic!("the switch ended before it could be killed mid-transfer");
    })
    .await
    .expect("progress within 2 minutes");
    // The seeder's count is final once it has seen the client go.
    let ih = target.info_hash();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let sent_before = loop {
        let snap = fresh_snapshot(&seeder).await;
        let job = snap.jobs.iter().find(|j| j.info_hash == ih).unwrap();
        if job.peers.is_empty() {
            break snap.jobs.iter().map(|j| j.bytes_uploaded).sum::<u64>();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the seeder still lists the killed client"
        );
    };
    assert!(
        sent_before >= reported && sent_before < planned,
        "killed mid-transfer: seeder sent {sent_before} of {planned}, {reported} reported complete"
    );
    assert_eq!(
        sha256(&old),
        sha256(distro.image("1.00")),
        "the old image is untouched"
    );
    assert!(
        !client.images().join("os-1.01.iso").exists(),
        "nothing under the new name"
    );

    seeder.set_limits(None, None);
    let run = client.run_async(&["iso", "switch", "1.01"]).await;
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let new = client.images().join("os-1.01.iso");
    assert_eq!(sha256(&new), sha256(distro.image("1.01")));
    assert!(!old.exists());
    let second = uploaded_now(&seeder).await - sent_before;
    let remainder = planned - sent_before;
    // Sent before the kill but not in a piece reported complete: the pieces in flight (and any
    // that completed after the last report). Only those may be fetched again.
    let in_flight = sent_before - reported;
    eprintln!(
        "resume: planned {planned}, reported complete {reported}, sent before the kill \
         {sent_before} ({in_flight} in flight, {:.1} pieces), after the restart {second}",
        in_flight as f64 / piece as f64
    );
    assert!(
        second >= remainder,
        "after the restart the seeder sent {second}, the remainder was {remainder}"
    );
    assert!(
        second <= remainder + in_flight,
        "after the restart the seeder sent {second}: more than the remainder {remainder} and the \
         {in_flight} bytes in flight; the pieces reported complete were fetched again"
    );
    seeder.shutdown().await;
}
