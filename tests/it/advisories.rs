//! Advisories from a distribution's updateinfo, end to end: the updates snapshot gets
//! `createrepo_c` repodata and a security and a bugfix advisory (`modifyrepo_c`), is published from
//! that repodata (the same torrent as before, its index now carrying the advisories) and seeded;
//! a client's `update --check` names each update's advisory, security first, and `update
//! --security` installs only what the security advisory names and what that needs, judged by rpm.

use std::collections::BTreeSet;

use swarmdate_core::feed::RepoKind;
use swarmdate_core::packages::Nevra;
use swarmdate_core::publish::{MasterOptions, publish_feed, publish_master};

use crate::distro_tools::{add_updateinfo, tool};
use crate::support::*;

/// An updateinfo document: a security advisory for `security`, a bugfix one for `bugfix`.
fn updateinfo(security: &Nevra, bugfix: &Nevra) -> String {
    let package = |n: &Nevra| {
        format!(
            r#"<package name="{}" version="{}" release="{}" epoch="{}" arch="{}"><filename>{}</filename><reboot_suggested>True</reboot_suggested></package>"#,
            n.name,
            n.evr.version,
            n.evr.release,
            n.evr.epoch,
            n.arch,
            n.file_name()
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="updates@example.org" status="stable" type="security" version="2.0">
    <id>TEST-2026-5ec</id>
    <title>{sec} security update</title>
    <issued date="2026-12-02 10:00:00"/>
    <severity>Critical</severity>
    <description>Fixes a remote code execution.</description>
    <references>
      <reference href="https://www.cve.org/CVERecord?id=CVE-2026-20001" id="CVE-2026-20001" type="cve" title="CVE-2026-20001"/>
    </references>
    <pkglist><collection short="T1"><name>Test 1</name>{sec_pkg}</collection></pkglist>
  </update>
  <update from="updates@example.org" status="stable" type="bugfix" version="2.0">
    <id>TEST-2026-b0f</id>
    <title>{fix} bug fix</title>
    <issued date="2026-12-03 10:00:00"/>
    <description>Stops a crash.</description>
    <references>
      <reference href="https://bugs.example.org/42" id="42" type="bugzilla" title="Crash"/>
    </references>
    <pkglist><collection short="T1"><name>Test 1</name>{fix_pkg}</collection></pkglist>
  </update>
</updates>
"#,
        sec = security,
        fix = bugfix,
        sec_pkg = package(security).replace("<reboot_suggested>True</reboot_suggested>", ""),
        fix_pkg = package(bugfix).replace("<reboot_suggested>True</reboot_suggested>", ""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_updates_come_first_with_their_advisory_and_alone_when_asked() {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let u = url.clone();
    let mut d = tokio::task::spawn_blocking(move || PackageDistro::build(60, 20_000..60_000, &u))
        .await
        .unwrap();
    let installed_names: BTreeSet<&str> =
        d.repos.installed.iter().map(|n| n.name.as_str()).collect();
    // The update that needs a new library is the security fix; another installed app's update is
    // the bug fix.
    let security = d
        .updates
        .index
        .packages
        .iter()
        .find(|p| {
            p.relations
                .requires
                .iter()
                .any(|r| r.name.contains("libnew"))
        })
        .expect("an update needing libnew")
        .nevra
        .clone();
    let bugfix = d
        .updates
        .index
        .packages
        .iter()
        .map(|p| &p.nevra)
        .find(|n| {
            n.name.starts_with("app")
                && *n != &security
                && installed_names.contains(n.name.as_str())
        })
        .expect("another updated app")
        .clone();
    let libnew = d
        .repos
        .update_packages
        .iter()
        .find(|n| n.name == "libnew")
        .unwrap()
        .clone();

    // The distribution's repodata and advisories for its updates snapshot, published from them.
    let (repo, publish, key) = (
        d.repos.updates.clone(),
        d.dir.path().join("publish"),
        d.key.clone(),
    );
    let xml = updateinfo(&security, &bugfix);
    let republished = tokio::task::spawn_blocking(move || {
        tool("createrepo_c", &["--quiet"], &repo);
        add_updateinfo(&repo, &xml);
        let r = publish_master(
            &repo,
            &MasterOptions {
                kind: RepoKind::Updates,
                id: "updates-1".into(),
                name: None,
                piece_length: None,
                trackers: vec![url.clone()],
                web_seeds: Vec::new(),
                similar: Vec::new(),
                out_dir: publish.clone(),
                date: Some(chrono::Utc::now() - chrono::Duration::days(1)),
                signing_keys: Vec::new(),
                ignore_repodata: false,
            },
        )
        .unwrap();
        let mut spec = feed_spec();
        spec.trackers = vec![url];
        publish_feed(&publish, &spec, &key).unwrap();
        r
    })
    .await
    .unwrap();
    assert_eq!(republished.index.advisories.len(), 2);
    // The same torrent: the swarm is the one the headers made.
    assert_eq!(
        republished.torrent.info_hash(),
        d.updates.torrent.info_hash()
    );
    d.updates = republished;
    let origin_state = tempfile::tempdir().unwrap();
    let origin = d.origin(origin_state.path()).await;

    let client = d.client();
    let root = d.root("c");
    let root_arg = root.to_str().unwrap();
    let check = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    let changes = check.summary()["changes"].as_array().unwrap().clone();
    // Security first, with its advisory's fields; the bug fix carries its own.
    let first = &changes[0];
    assert_eq!(
        serde_json::from_value::<Nevra>(first["package"].clone()).unwrap(),
        security
    );
    let a = &first["advisories"][0];
    assert_eq!(a["id"], "TEST-2026-5ec");
    assert_eq!(a["kind"], "security");
    assert_eq!(a["severity"], "Critical");
    assert_eq!(a["references"][0]["kind"], "cve");
    assert_eq!(a["references"][0]["id"], "CVE-2026-20001");
    let fix = changes
        .iter()
        .find(|c| serde_json::from_value::<Nevra>(c["package"].clone()).unwrap() == bugfix)
        .expect("the bug fix is planned");
    assert_eq!(fix["advisories"][0]["kind"], "bugfix");
    assert_eq!(fix["advisories"][0]["references"][0]["id"], "42");
    // An update no advisory names carries none.
    assert!(
        changes.iter().any(|c| c.get("advisories").is_none()),
        "{changes:?}"
    );
    assert!(
        changes.len() > 3,
        "a full update moves more: {}",
        changes.len()
    );
    // For people: the advisory under its update.
    let text = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .arg("--home")
        .arg(client.home.path())
        .arg("--feed")
        .arg(&client.feed_url)
        .arg("--trust")
        .arg(&client.key)
        .args(["update", "--check", "--root", root_arg])
        .env("LANG", "C.UTF-8")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("→ {security}\n    TEST-2026-5ec: security update, severity Critical: {security} security update\n      fixes CVE-2026-20001"))
            && text.contains("TEST-2026-b0f: bug fix: "),
        "{text}"
    );

    // Only the security fix and what it needs; rpm says so.
    let before = installed_in(&root);
    let run = client
        .run_async(&["update", "--security", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&root);
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    let came: BTreeSet<String> = after.difference(&before).cloned().collect();
    let old = d
        .repos
        .installed
        .iter()
        .find(|n| n.name == security.name && n.arch == security.arch)
        .unwrap();
    assert_eq!(gone, BTreeSet::from([old.to_string()]));
    assert_eq!(
        came,
        BTreeSet::from([security.to_string(), libnew.to_string()])
    );
    // Nothing security-related is left; a plain update still has work.
    let again = client
        .run_async(&["update", "--security", "--check", "--root", root_arg])
        .await;
    assert_eq!(again.summary()["changes"], serde_json::json!([]));
    let rest = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert!(!rest.summary()["changes"].as_array().unwrap().is_empty());
    origin.shutdown().await;
}
