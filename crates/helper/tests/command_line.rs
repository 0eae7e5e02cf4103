//! The helper binary's command line as pkexec and a user can call it: what it refuses before it
//! reads anything. The checks of packages themselves are tested against real rpm roots in the
//! workspace's `tests/it/helper.rs`, which runs this same binary.

use std::process::Command;

const HELPER: &str = env!("CARGO_BIN_EXE_swarmdate-helper");
const PACKAGE: &str = "0000000000000000000000000000000000000000000000000000000000000000:1";

fn run(c: &mut Command) -> (i32, String) {
    let out = c.output().expect("the helper runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_verb_it_prints_its_usage_and_exits_2() {
    let (code, err) = run(Command::new(HELPER).env_remove("PKEXEC_UID"));
    assert_eq!(code, 2, "{err}");
    for verb in [
        "install|offline-prepare --store DIR",
        "downgrade --store DIR",
        "undo N --store DIR",
        "offline-apply|offline-cancel",
    ] {
        assert!(err.contains(&format!("swarmdate-helper {verb}")), "{err}");
    }
}

#[test]
fn under_pkexec_a_root_is_refused_and_without_it_the_same_line_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let line = |c: &mut Command| {
        c.args(["install", "--store"])
            .arg(&store)
            .arg("--root")
            .arg(&root)
            .arg(PACKAGE);
    };

    let mut pkexec = Command::new(HELPER);
    line(&mut pkexec);
    let uid = nix::unistd::getuid().as_raw().to_string();
    let (code, err) = run(pkexec.env("PKEXEC_UID", &uid));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--root is refused when run through pkexec"),
        "{err}"
    );

    // Positive control: the owner of the root, by its own choice, gets past the command line to
    // the root's keys, of which this empty root has none.
    let mut own = Command::new(HELPER);
    line(&mut own);
    let (code, err) = run(own.env_remove("PKEXEC_UID"));
    assert!(!err.contains("--root is refused"), "{err}");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("trusts no signing key"), "{err}");
}
