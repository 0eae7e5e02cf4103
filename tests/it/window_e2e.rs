//! The real app, driven through its real widgets: `swarmdate demo` opens the window on the demo
//! distribution and a dogtail script of `tests/e2e` (the accessibility tree, as a screen reader
//! sees it) does what a user would: Update, Stop a switch and switch again, downgrade a package
//! chosen from the list, undo the update from History. Outside the window, rpm and SHA-256 say
//! what happened.

use std::process::{Command, Stdio};

/// One real window at a time: a second would hand its work to the first (one app id per
/// session) and the scripts would find two.
static ONE_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_update_button_of_the_real_window_installs_the_updates() {
    let (_window, dir) = one_window();
    let mut demo = demo_window(dir.path(), &["--size-mb", "4"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/update_through_window.py"
    );
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let _ = demo.0.kill();
        panic!("{said}");
    }

    // A .torrent opened while the window runs (as a file manager would run `swarmdate FILE`)
    // goes to that window: the second process hands it over and ends.
    let torrent = published_torrent(dir.path());
    let name = swarmdate_core::torrent::Torrent::from_bytes(std::fs::read(&torrent).unwrap())
        .unwrap()
        .name;
    let mut second = Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .arg("--home")
        .arg(dir.path().join("second"))
        .arg(&torrent)
        .env("GSK_RENDERER", "cairo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let second = ended_within(&mut second, std::time::Duration::from_secs(60));
    let shown = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/open_in_running_window.py"
        ))
        .arg(&name)
        .output()
        .unwrap();
    // Every control of every page, and of the dialog still open, has a name a screen reader says.
    let named = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/every_control_named.py"
        ))
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&named.stdout).trim());
    assert!(
        named.status.success(),
        "{}{}",
        String::from_utf8_lossy(&named.stdout),
        String::from_utf8_lossy(&named.stderr)
    );
    assert!(
        second.is_some_and(|s| s.success()),
        "the second process handed the file over and ended: {second:?}"
    );
    assert!(
        shown.status.success(),
        "{}{}",
        String::from_utf8_lossy(&shown.stdout),
        String::from_utf8_lossy(&shown.stderr)
    );

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
    let _ = demo.0.kill();
    let _ = demo.0.wait();
}

/// A published image torrent of the demo distribution (in its publish folder).
fn published_torrent(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("publish"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".iso.torrent"))
        .expect("the demo publishes image torrents")
}

/// Waits for a child to end; kills it after `limit`.
fn ended_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The image file of `version` among `dir`'s files (the demo names images by version).
fn image_of(dir: &std::path::Path, version: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".iso") && name.contains(version)
        })
}

#[test]
fn a_switch_stopped_in_the_real_window_leaves_the_image_and_the_next_completes_it() {
    let (_window, dir) = one_window();
    // Downloads held to 200 kB/s: the switch takes long enough to be stopped by hand.
    let mut demo = demo_window(dir.path(), &["--size-mb", "16", "--download-limit", "200"]);
    let mut script = Script::start("stop_switch_then_switch.py", "1.02");
    let line = script.next_line(&["stopped", "switched"]);
    let images = dir.path().join("client/data/images");
    let publish = dir.path().join("publish");
    if !line.starts_with("stopped") {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    // SHA-256, not the window: the image is still 1.00, byte for byte.
    let old = image_of(&publish, "1.00").expect("the published 1.00 image");
    let mine = image_of(&images, "1.00").expect("the client's image, still 1.00");
    assert_eq!(crate::support::sha256(&mine), crate::support::sha256(&old));
    assert!(
        image_of(&images, "1.02").is_none(),
        "no 1.02 image after Stop"
    );

    // Again, to the end.
    script.go_on();
    let line = script.next_line(&["stopped", "switched"]);
    if line.trim() != "switched" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let _ = script.child.wait();
    let _ = demo.0.kill();
    let _ = demo.0.wait();
    let new = image_of(&publish, "1.02").expect("the published 1.02 image");
    let mine = image_of(&images, "1.02").expect("the client's image, now 1.02");
    assert_eq!(crate::support::sha256(&mine), crate::support::sha256(&new));
}

/// A package chosen from the Versions page's downgrade list and confirmed once: rpm says the
/// older build is installed and nothing else changed (one transaction, the package alone).
#[test]
fn a_package_downgraded_from_the_list_in_the_real_window_is_the_older_build() {
    let (_window, dir) = one_window();
    let mut demo = demo_window(dir.path(), &["--size-mb", "4"]);
    let mut script = Script::start("downgrade_from_list.py", "app000");
    let line = script.next_line(&["updated", "downgraded"]);
    if line.trim() != "updated" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let root = dir.path().join("client/root");
    let updated = crate::support::installed_in(&root);
    assert!(updated.contains("app000-1.1-1.fc41.x86_64"), "{updated:?}");

    script.go_on();
    let line = script.next_line(&["updated", "downgraded"]);
    if line.trim() != "downgraded" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let _ = script.child.wait();
    let after = crate::support::installed_in(&root);
    let gone: Vec<_> = updated.difference(&after).collect();
    let came: Vec<_> = after.difference(&updated).collect();
    assert_eq!(gone, ["app000-1.1-1.fc41.x86_64"], "{came:?}");
    assert_eq!(came, ["app000-1.0-1.fc41.x86_64"], "{gone:?}");
}

/// The update undone from the History dialog (main menu, Undo…, one confirmation): rpm's list
/// is exactly what it was before the update.
#[test]
fn an_update_undone_from_history_in_the_real_window_gives_back_what_rpm_had() {
    let (_window, dir) = one_window();
    let mut demo = demo_window(dir.path(), &["--size-mb", "4"]);
    let mut script = Script::start("undo_from_history.py", "");
    let marks = ["ready", "updated", "undone"];
    let line = script.next_line(&marks);
    if line.trim() != "ready" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let root = dir.path().join("client/root");
    let before = crate::support::installed_in(&root);
    assert!(before.contains("app000-1.0-1.fc41.x86_64"), "{before:?}");

    script.go_on();
    let line = script.next_line(&marks);
    if line.trim() != "updated" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let updated = crate::support::installed_in(&root);
    assert!(updated.contains("app000-1.1-1.fc41.x86_64"), "{updated:?}");
    assert_ne!(updated, before);

    script.go_on();
    let line = script.next_line(&marks);
    if line.trim() != "undone" {
        script.fail(&mut demo, &format!("the script said {line:?}"));
    }
    let _ = script.child.wait();
    assert_eq!(crate::support::installed_in(&root), before);
    // Every control of the History dialog, still open over the window, has a name.
    let named = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/every_control_named.py"
        ))
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&named.stdout).trim());
    assert!(
        named.status.success(),
        "{}{}",
        String::from_utf8_lossy(&named.stdout),
        String::from_utf8_lossy(&named.stderr)
    );
}

/// A dogtail script of `tests/e2e` that says where it is in lines on its output and waits for a
/// line on its input where the test looks outside the window.
struct Script {
    child: std::process::Child,
    said: std::io::BufReader<std::process::ChildStdout>,
}

impl Script {
    /// Starts `name` with `arg`.
    fn start(name: &str, arg: &str) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(format!("{}/tests/e2e/{name}", env!("CARGO_MANIFEST_DIR")))
            .arg(arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let said = std::io::BufReader::new(child.stdout.take().unwrap());
        Script { child, said }
    }

    /// The next line that starts with one of `marks` (dogtail logs its own lines first), or
    /// "" when the script ended.
    fn next_line(&mut self, marks: &[&str]) -> String {
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut self.said, &mut line).unwrap() > 0 {
            if marks.iter().any(|m| line.starts_with(m)) {
                break;
            }
            line.clear();
        }
        line
    }

    /// Lets the script go on past its wait.
    fn go_on(&mut self) {
        std::io::Write::write_all(self.child.stdin.as_mut().unwrap(), b"go\n").unwrap();
    }

    /// Ends the test with `what` and the script's errors.
    fn fail(self, demo: &mut KillOnDrop, what: &str) -> ! {
        let out = self.child.wait_with_output().unwrap();
        let _ = demo.0.kill();
        panic!("{what}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The display to ourselves (see [`ONE_WINDOW`]) and a folder for the demo.
fn one_window() -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir) {
    let window = ONE_WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the window needs a display: run the tests with scripts/test.sh (xvfb-run)"
    );
    (window, tempfile::tempdir().unwrap())
}

/// `swarmdate demo` with its window, built in `dir`, with `args` besides.
fn demo_window(dir: &std::path::Path, args: &[&str]) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_swarmdate"))
            .arg("demo")
            .args(args)
            .arg("--dir")
            .arg(dir)
            .env("GSK_RENDERER", "cairo")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A child process killed when the test ends, passed or not (a window left running would hold
/// the display and the demo's ports).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
