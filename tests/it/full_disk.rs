//! A file system that fills up while a switch or a download is writing: a clear error with the
//! missing amount, the old image intact, nothing under a final name.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::io::AsyncBufReadExt;

use crate::support::*;

/// Writes a file into `dir` until the file system refuses another byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 64 << 10];
    for size in [chunk.len(), 4096, 512, 1] {
        loop {
            match f.write(&chunk[..size]) {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", dir.display()),
            }
        }
    }
    path
}

/// Runs a client command; once it reports fetched bytes, fills `fs`; returns the finished run.
async fn fill_while_fetching(client: &UserHome, args: &[&str], fs: &Path) -> Run {
    let mut cmd = tokio::process::Command::from(client.command(args));
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let mut filled = false;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if !filled && v["event"] == "progress" && v["bytes_fetched"].as_u64() > Some(0) {
                fill(fs);
                filled = true;
            }
            events.push(v);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(180), read)
        .await
        .expect("the command ends within 3 minutes");
    let out = child.wait_with_output().await.unwrap();
    assert!(filled, "the transfer ended before the disk could be filled");
    Run {
        code: out.status.code().unwrap_or(-1),
        events,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Copy mode and in place: the disk fills mid-transfer; the switch rolls back by itself and says
/// how much room is missing. Then, with room again, the same switch succeeds (positive control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_that_fills_the_disk_rolls_back_and_says_what_is_missing() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let old_size = std::fs::metadata(distro.image("1.00")).unwrap().len();

    for mode in ["copy", "in-place"] {
        // Slow enough that the disk fills while pieces are still arriving.
        seeder.set_limits(Some(256 << 10), None);
        let fs = Mount::tmpfs(2 * old_size / (1 << 20) + 8);
        let client = client_in(&distro, &fs.path, "1.00");
        let old = fs.path.join("os-1.00.iso");

        let args = ["iso", "switch", "1.01", "--mode", mode];
        let run = fill_while_fetching(&client, &args, &fs.path).await;
        assert_eq!(run.code, 1, "{mode}: {:?}\n{}", run.events, run.stderr);
        let msg = run.error();
        assert!(
            msg.contains("filled up") && msg.contains("missing"),
            "{mode}: {msg}\n{}",
            run.stderr
        );
        assert_eq!(sha256(&old), sha256(distro.image("1.00")), "{mode}");
        assert_eq!(
            names(&fs.path),
            ["filler", "os-1.00.iso"],
            "{mode}: nothing half-built is left"
        );
        eprintln!("{mode}: {msg}");

        std::fs::remove_file(fs.path.join("filler")).unwrap();
        seeder.set_limits(None, None);
        let ok = client.run_async(&args).await;
        assert_eq!(ok.code, 0, "{mode}: {:?}\n{}", ok.events, ok.stderr);
        assert_eq!(
            sha256(&fs.path.join("os-1.01.iso")),
            sha256(distro.image("1.01"))
        );
    }
    seeder.shutdown().await;
}

/// A download that fills the disk stops with the missing amount and nothing under the final
/// name; what arrived is kept, and once there is room the same command completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_fills_the_disk_stops_cleanly_and_resumes_later() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let (seeder, _) = seed_one(&distro, "1.02", state.path()).await;
    seeder.set_limits(Some(1 << 20), None);
    let size = std::fs::metadata(distro.image("1.02")).unwrap().len();
    let fs = Mount::tmpfs(size / (1 << 20) + 8);
    let client = UserHome::new(&distro);
    let torrent = distro.publish_dir().join("os-1.02.iso.torrent");
    let args = [
        "get",
        torrent.to_str().unwrap(),
        "--dir",
        fs.path.to_str().unwrap(),
    ];
    let run = fill_while_fetching(&client, &args, &fs.path).await;
    assert_eq!(run.code, 1, "{:?}\n{}", run.events, run.stderr);
    let msg = run.error();
    assert!(msg.contains("missing"), "{msg}");
    assert!(
        !fs.path.join("os-1.02.iso").exists(),
        "nothing under the final name"
    );

    std::fs::remove_file(fs.path.join("filler")).unwrap();
    seeder.set_limits(None, None);
    let ok = client.run_async(&args).await;
    assert_eq!(ok.code, 0, "{:?}\n{}", ok.events, ok.stderr);
    assert_eq!(
        sha256(&fs.path.join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );
    assert_eq!(names(&fs.path), ["os-1.02.iso"]);
    seeder.shutdown().await;
}
