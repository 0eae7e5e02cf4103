//! The desktop integration files in `data/` pass the validators distributions run on them.

use std::process::Command;

fn validate(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (scripts/setup.sh installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_desktop_file_and_metainfo_validate_and_a_broken_copy_does_not() {
    let (ok, text) = validate(
        "desktop-file-validate",
        &["data/org.swarmdate.Swarmdate.desktop"],
    );
    assert!(ok && !text.contains("error"), "{text}");
    let desktop = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/org.swarmdate.Swarmdate.desktop"),
    )
    .unwrap();
    assert!(desktop.contains("x-scheme-handler/bittorrent;"));
    assert!(desktop.contains("application/x-bittorrent;"));
    let (ok, text) = validate(
        "appstreamcli",
        &[
            "validate",
            "--no-net",
            "data/org.swarmdate.Swarmdate.metainfo.xml",
        ],
    );
    assert!(ok, "{text}");

    // Negative control: the validator refuses a desktop file without its Exec key.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("org.swarmdate.Swarmdate.desktop");
    let without_exec: String = desktop
        .lines()
        .filter(|l| !l.starts_with("Exec=") && !l.starts_with("Type="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&broken, without_exec).unwrap();
    let (ok, text) = validate("desktop-file-validate", &[broken.to_str().unwrap()]);
    assert!(!ok, "{text}");
}
