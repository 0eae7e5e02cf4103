//! The demo's advisories, made the way a distribution makes them: `createrepo_c` repodata for the
//! updates snapshot and an updateinfo added by `modifyrepo_c` (Debian package `createrepo-c`),
//! so that `publish master` carries them into the feed: a critical security fix, the kernel's
//! security update (a restart suggested), a bug fix and an enhancement.

use std::path::Path;
use std::process::Command;

use swarmdate_core::packages::Nevra;

/// Whether `program` runs here.
fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One `<update>` of updateinfo naming `build`.
fn update(
    kind: &str,
    id: &str,
    severity: &str,
    build: &Nevra,
    text: &str,
    refs: &str,
    reboot: bool,
) -> String {
    let reboot = if reboot {
        "<reboot_suggested>True</reboot_suggested>"
    } else {
        ""
    };
    format!(
        r#"<update from="updates@demo.localhost" status="stable" type="{kind}" version="2.0">
<id>{id}</id><title>{build}</title><issued date="2026-12-02 10:00:00"/><severity>{severity}</severity>
<summary>{build} {kind} update</summary><description>{text}</description>
<references>{refs}</references>
<pkglist><collection short="D41"><name>Swarmdate Demo 41</name>
<package name="{}" version="{}" release="{}" epoch="{}" arch="{}"><filename>{}</filename>{reboot}</package>
</collection></pkglist></update>
"#,
        build.name,
        build.evr.version,
        build.evr.release,
        build.evr.epoch,
        build.arch,
        build.file_name()
    )
}

/// A CVE reference.
fn cve(id: &str) -> String {
    format!(
        r#"<reference href="https://www.cve.org/CVERecord?id={id}" id="{id}" type="cve" title="{id}"/>"#
    )
}

/// Gives the updates snapshot at `repo` repodata and advisories for some of `updates` (those of
/// `installed` packages, so that the client sees them); false when createrepo_c or modifyrepo_c
/// is not installed (the demo then has no advisories).
pub fn add_advisories(repo: &Path, updates: &[Nevra], installed: &[Nevra]) -> anyhow::Result<bool> {
    if !found("createrepo_c") || !found("modifyrepo_c") {
        return Ok(false);
    }
    let apps: Vec<&Nevra> = updates
        .iter()
        .filter(|n| n.name.starts_with("app") && installed.iter().any(|i| i.name == n.name))
        .collect();
    let kernel = updates.iter().find(|n| n.name == "kernel");
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    if let Some(a) = apps.first() {
        xml += &update(
            "security",
            "DEMO-2026-0001",
            "Critical",
            a,
            "Fixes a buffer overflow when opening a crafted file.",
            &cve("CVE-2026-31337"),
            false,
        );
    }
    if let Some(k) = kernel {
        xml += &update(
            "security",
            "DEMO-2026-0002",
            "Important",
            k,
            "Fixes two flaws in the network stack.",
            &(cve("CVE-2026-40001") + &cve("CVE-2026-40002")),
            true,
        );
    }
    if let Some(a) = apps.get(1) {
        let bug = r#"<reference href="https://bugs.demo.localhost/1234" id="1234" type="bugzilla" title="Crashes on start with an empty profile"/>"#;
        xml += &update(
            "bugfix",
            "DEMO-2026-0003",
            "None",
            a,
            "No longer crashes on start.",
            bug,
            false,
        );
    }
    if let Some(a) = apps.get(2) {
        xml += &update(
            "enhancement",
            "DEMO-2026-0004",
            "None",
            a,
            "Opens files twice as fast.",
            "",
            false,
        );
    }
    xml += "</updates>\n";
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> anyhow::Result<()> {
        let out = Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    run("createrepo_c", &["--quiet".as_ref(), repo.as_os_str()])?;
    let dir = tempfile::tempdir()?;
    // modifyrepo_c names the record by the file's name.
    let file = dir.path().join("updateinfo.xml");
    std::fs::write(&file, xml)?;
    run(
        "modifyrepo_c",
        &[
            "--mdtype".as_ref(),
            "updateinfo".as_ref(),
            file.as_os_str(),
            repo.join("repodata").as_os_str(),
        ],
    )?;
    Ok(true)
}
