//! Updates installed at the next boot, in a test root: `update --offline` fetches and checks the
//! packages and arms `system-update` without installing anything; exactly the command the
//! systemd unit runs installs them (judged by rpm) and records the result, which the next
//! `update --check` reports once; the unit passes `systemd-analyze verify`. A prepared update
//! whose packages changed in the store meanwhile is refused at boot by its digest check, nothing
//! installed, and the refusal is reported at the next start.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/swarmdate-offline-update.service"
);

/// The unit's `ExecStart=` command, with the built helper for the installed path and the test
/// root given (the unit itself runs on `/`).
fn unit_command(root: &Path) -> Command {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/libexec/swarmdate-helper"));
    let mut c = Command::new(helper_exe());
    c.args(words).arg("--root").arg(root);
    c
}

fn armed(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join("system-update")).is_ok()
}

fn events(run: &Run, name: &str) -> Vec<serde_json::Value> {
    run.events
        .iter()
        .filter(|e| e["event"] == name)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_prepared_for_the_next_boot_is_installed_by_the_units_command() {
    let world = SeededDistro::start().await;
    let d = &world.distro;
    let client = d.client();
    let root = d.root("c");
    let root_arg = root.to_str().unwrap();
    let before = installed_in(&root);

    // Prepared: fetched and checked, armed, nothing installed.
    let run = client
        .run_async(&["update", "--offline", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary()["installed"], false);
    let prepared = run.summary()["prepared"]["packages"]
        .as_array()
        .unwrap()
        .len();
    assert!(prepared > 0);
    assert_eq!(installed_in(&root), before);
    assert!(armed(&root));
    assert_eq!(
        std::fs::read_link(root.join("system-update")).unwrap(),
        PathBuf::from("var/lib/swarmdate/offline")
    );
    let check = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert_eq!(
        events(&check, "offline")[0]["prepared"]["packages"]
            .as_array()
            .unwrap()
            .len(),
        prepared
    );

    // Boot: the unit's command installs it and disarms.
    let out = unit_command(&root).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(installed_in(&root), d.expected_after_update());
    assert!(!armed(&root));
    // Run again (a second boot): nothing of Swarmdate's is armed, nothing happens.
    let out = unit_command(&root).output().unwrap();
    assert!(out.status.success());
    assert_eq!(installed_in(&root), d.expected_after_update());

    // The next start says so once, naming the history entry; the history has it.
    let check = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    let told = events(&check, "offline_result");
    assert_eq!(told.len(), 1, "{:?}", check.events);
    let result = &told[0];
    assert_eq!(result["outcome"]["state"], "installed", "{result}");
    assert_eq!(result["outcome"]["history"], 1);
    let again = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert!(events(&again, "offline_result").is_empty(), "told once");
    assert_eq!(
        events(&again, "offline")[0]["result"]["outcome"]["state"],
        "installed"
    );
    let history = client.run_async(&["history", "--root", root_arg]).await;
    assert_eq!(history.summary()["transactions"][0]["command"], "update");

    // A second root prepares the same update; a package changes in the store before the boot.
    let other = d.root("d");
    let other_arg = other.to_str().unwrap();
    let before = installed_in(&other);
    let run = client
        .run_async(&["update", "--offline", "--yes", "--root", other_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let objects = client.home.path().join("data/store/objects");
    let victim = files_under(&objects)
        .into_iter()
        .find(|p| p.metadata().unwrap().len() > 1000)
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[500] ^= 0xff;
    let mut perms = victim.metadata().unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&victim, perms).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    let out = unit_command(&other).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(installed_in(&other), before, "nothing was installed");
    assert!(!armed(&other), "a refused update does not loop the boot");
    let check = client
        .run_async(&["update", "--check", "--root", other_arg])
        .await;
    let told = events(&check, "offline_result");
    assert_eq!(told.len(), 1, "{:?}", check.events);
    assert_eq!(told[0]["outcome"]["state"], "failed", "{}", told[0]);
    let why = told[0]["outcome"]["message"].as_str().unwrap();
    assert!(why.contains("SHA-256"), "{why}");
    world.origin.shutdown().await;
}

/// systemd accepts the unit (its helper path pointed at the built helper, which exists here);
/// a copy naming a helper that does not exist is refused, so the check can fail.
#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(UNIT).unwrap().replace(
        "/usr/libexec/swarmdate-helper",
        helper_exe().to_str().unwrap(),
    );
    let verify = |text: &str| {
        let unit = dir.path().join("swarmdate-offline-update.service");
        std::fs::write(&unit, text).unwrap();
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap()
    };
    let out = verify(&text);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify(&text.replace(helper_exe().to_str().unwrap(), "/nonexistent/helper"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/helper"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
