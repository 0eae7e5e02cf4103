//! The real app, driven through its real widgets: `swarmdate demo` opens the window on the demo
//! distribution, a dogtail script (the accessibility tree, as a screen reader sees it) answers
//! the sharing question and clicks Update, and rpm then says the updates are installed.

use std::process::{Command, Stdio};

#[test]
fn the_update_button_of_the_real_window_installs_the_updates() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the window needs a display: run the tests with scripts/test.sh (xvfb-run)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .args(["demo", "--size-mb", "4", "--dir"])
        .arg(dir.path())
        .env("GSK_RENDERER", "cairo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/update_through_window.py"
    );
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .output()
        .unwrap();
    let _ = demo.kill();
    let _ = demo.wait();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");

    // rpm, not the window, says what is installed now: the updated builds, not the old ones.
    let root = dir.path().join("client/root");
    let installed = crate::support::installed_in(&root);
    assert!(
        installed.contains("app000-1.1-1.fc41.x86_64"),
        "{installed:?}"
    );
    assert!(
        !installed.contains("app000-1.0-1.fc41.x86_64"),
        "{installed:?}"
    );
    // And the core finds nothing left to update.
    let check = Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .arg("--home")
        .arg(dir.path().join("client"))
        .args(["--json", "update", "--check", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(summary["changes"], serde_json::json!([]), "{text}");
}
