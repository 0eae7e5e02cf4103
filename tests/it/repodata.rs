//! Repodata made as a distribution makes it: packages built by `rpmbuild` and signed by `rpmsign`
//! (RSA 4096) beside packages with rich relations, `createrepo_c` in each compression, a security
//! and a bugfix advisory added by `modifyrepo_c`. `publish master` from that repodata makes the
//! index that reading every package makes (the same torrent, byte for byte), carries the
//! advisories, and refuses repodata that does not match its files.

use std::path::Path;
use std::process::Command;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::packages::{Dep, Nevra, Op, PackageIndex};
use swarmdate_core::publish::{MasterOptions, PublishedRepo, publish_master};
use swarmdate_core::repos::{AdvisoryKind, ReferenceKind};
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

use crate::distro_tools::{Gpg, Spec, add_updateinfo, rpmbuild, tool};

/// A repository folder: packages with provides (versioned, with epochs), obsoletes, conflicts,
/// file and library requires, and two packages built and signed as Fedora's are.
fn distribution_repo(repo: &Path) {
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let factory = PackageFactory::new(&key).unwrap();
    let v = |s: &str| s.parse().unwrap();
    for i in 0..12u64 {
        let nevra: Nevra = format!("lib{i:02}-{}:1.{i}-2.fc41.x86_64", i % 3)
            .parse()
            .unwrap();
        let mut s = PackageSpec::new(nevra, 20_000 + 7_000 * i as usize);
        s.relations.provides.push(Dep::with(
            format!("libcap{i}.so.1()(64bit)"),
            Op::Eq,
            v("1.0-1"),
        ));
        s.relations.provides.push(Dep::any(format!("virtual-{i}")));
        if i > 0 {
            s.relations
                .requires
                .push(Dep::with("lib00", Op::Ge, v("0:1.0")));
            s.relations
                .requires
                .push(Dep::any(format!("libcap{}.so.1()(64bit)", i - 1)));
            s.relations.requires.push(Dep::any("/bin/sh"));
        }
        if i % 4 == 1 {
            s.relations
                .obsoletes
                .push(Dep::with(format!("old{i}"), Op::Lt, v("2.0")));
            s.relations
                .conflicts
                .push(Dep::with(format!("bad{i}"), Op::Le, v("1:0.9-1")));
        }
        let dir = repo.join("Packages").join(&s.nevra.name[..1]);
        std::fs::create_dir_all(&dir).unwrap();
        factory.build(&s, i, &dir).unwrap();
    }
    let gpg = Gpg::new();
    let uid = "Fedora (41) <fedora-41-primary@fedoraproject.org>";
    gpg.generate(uid, "rsa4096", "never", None);
    for name in ["dnf-tool", "desktop-thing"] {
        let spec = Spec {
            name,
            version: "3.1",
            release: "1.fc41",
            setuid: false,
        };
        let rpm = rpmbuild(&spec, &repo.join("Packages").join(&name[..1]));
        gpg.rpmsign(uid, &rpm);
    }
}

fn options(out: &Path, from_headers: bool) -> MasterOptions {
    MasterOptions {
        kind: RepoKind::Updates,
        id: "updates".into(),
        name: Some("x86_64".into()),
        piece_length: None,
        trackers: Vec::new(),
        web_seeds: Vec::new(),
        similar: Vec::new(),
        out_dir: out.to_owned(),
        date: None,
        signing_keys: Vec::new(),
        ignore_repodata: from_headers,
    }
}

/// The index as it stands, advisories aside (reading headers finds none).
fn packages_of(r: &PublishedRepo) -> PackageIndex {
    PackageIndex {
        advisories: Vec::new(),
        ..r.index.clone()
    }
}

#[test]
fn publish_master_from_createrepo_repodata_makes_the_index_reading_every_package_makes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("x86_64");
    distribution_repo(&repo);
    let from_headers = publish_master(&repo, &options(&dir.path().join("h"), true)).unwrap();
    assert_eq!(from_headers.index.packages.len(), 14);
    for compression in ["gz", "xz", "zstd"] {
        let _ = std::fs::remove_dir_all(repo.join("repodata"));
        if compression == "zstd" {
            // Debian's createrepo_c (0.17) has no zstd, which Fedora's repodata uses.
            tool("createrepo_c", &["--quiet"], &repo);
            recompress_primary_with_zstd(&repo);
        } else {
            tool(
                "createrepo_c",
                &["--quiet", "--compress-type", compression],
                &repo,
            );
        }
        let out = dir.path().join(compression);
        let from_repodata = publish_master(&repo, &options(&out, false)).unwrap();
        // Every package: path, NEVRA, size, SHA-256, summary, relations, file index.
        let (a, b) = (packages_of(&from_headers), packages_of(&from_repodata));
        for (x, y) in a.packages.iter().zip(&b.packages) {
            assert_eq!(x, y, "{compression}");
        }
        assert_eq!(a, b, "{compression}");
        // The changelog too (other.xml against the header), newest first.
        let tool = b
            .packages
            .iter()
            .find(|p| p.nevra.name == "dnf-tool")
            .unwrap();
        let builds: Vec<String> = tool
            .changelog
            .iter()
            .map(|e| e.build().unwrap().to_string())
            .collect();
        assert_eq!(builds, ["3.1-1.fc41", "1.0-0"], "{compression}");
        // The same torrent, so the same swarm, whichever way it was published.
        assert_eq!(
            from_headers.torrent.info_hash(),
            from_repodata.torrent.info_hash(),
            "{compression}"
        );
    }
}

/// Recompresses primary with zstd(1) and names the new file in repomd.xml, as createrepo_c 1.x
/// (Fedora's) writes it.
fn recompress_primary_with_zstd(repo: &Path) {
    let repomd_path = repo.join("repodata/repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path).unwrap();
    let start = repomd.find(r#"<data type="primary">"#).unwrap();
    let end = start + repomd[start..].find("</data>").unwrap();
    let block = &repomd[start..end];
    let field = |open: &str, close: &str| {
        let a = block.find(open).unwrap() + open.len();
        block[a..a + block[a..].find(close).unwrap()].to_owned()
    };
    let href = field(r#"<location href=""#, r#"""#);
    let gz = repo.join(&href);
    let xml = Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .unwrap()
        .stdout;
    let zst_href = href.replace(".xml.gz", ".xml.zst");
    let zst = repo.join(&zst_href);
    let mut z = Command::new("zstd")
        .args(["-q", "-19", "-o"])
        .arg(&zst)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(z.stdin.as_mut().unwrap(), &xml).unwrap();
    assert!(z.wait().unwrap().success());
    std::fs::remove_file(&gz).unwrap();
    let new_block = block
        .replace(&href, &zst_href)
        .replace(
            &format!(
                r#"<checksum type="sha256">{}</checksum>"#,
                field(r#"<checksum type="sha256">"#, "<")
            ),
            &format!(
                r#"<checksum type="sha256">{}</checksum>"#,
                crate::support::sha256(&zst)
            ),
        )
        .replace(
            &format!("<size>{}</size>", field("<size>", "<")),
            &format!("<size>{}</size>", std::fs::metadata(&zst).unwrap().len()),
        );
    std::fs::write(&repomd_path, repomd.replace(block, &new_block)).unwrap();
}

#[test]
fn advisories_added_by_modifyrepo_travel_in_the_index_and_repodata_that_lies_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("x86_64");
    distribution_repo(&repo);
    tool("createrepo_c", &["--quiet"], &repo);
    add_updateinfo(&repo, UPDATEINFO);

    let r = publish_master(&repo, &options(&dir.path().join("out"), false)).unwrap();
    let mut advisories = r.index.advisories.clone();
    assert_eq!(advisories.len(), 2);
    advisories.sort_by_key(|a| std::cmp::Reverse(a.rank()));
    let [security, bugfix] = &advisories[..] else {
        unreachable!()
    };
    assert_eq!(security.id, "FEDORA-2026-5ec0000001");
    assert_eq!(security.kind, AdvisoryKind::Security);
    assert_eq!(security.severity.as_deref(), Some("Important"));
    assert_eq!(security.cves().collect::<Vec<_>>(), ["CVE-2026-10001"]);
    assert!(security.reboot_suggested);
    assert_eq!(
        security.packages[0].nevra.to_string(),
        "dnf-tool-3.1-1.fc41.noarch"
    );
    assert_eq!(bugfix.kind, AdvisoryKind::Bugfix);
    assert_eq!(bugfix.references[0].kind, ReferenceKind::Bugzilla);
    assert_eq!(bugfix.references[0].id, "2330001");
    assert!(!bugfix.reboot_suggested);
    // Written and read back through the index document, as clients get it.
    let read = PackageIndex::from_json(&r.index.to_json()).unwrap();
    assert_eq!(read, r.index);

    // A package altered after createrepo_c (same size): refused, naming it and the way out.
    let victim = r.index.packages[3].path.clone();
    let file = repo.join(&victim);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let said = publish_master(&repo, &options(&dir.path().join("bad"), false))
        .unwrap_err()
        .to_string();
    assert!(
        said.contains(&victim) && said.contains("SHA-256") && said.contains("createrepo_c"),
        "{said}"
    );
    assert!(!dir.path().join("bad/updates.torrent").exists());
    // A package primary lists that is gone.
    std::fs::remove_file(&file).unwrap();
    let said = publish_master(&repo, &options(&dir.path().join("bad"), false))
        .unwrap_err()
        .to_string();
    assert!(said.contains(&victim), "{said}");
}

const UPDATEINFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="updates@fedoraproject.org" status="stable" type="security" version="2.0">
    <id>FEDORA-2026-5ec0000001</id>
    <title>dnf-tool-3.1-1.fc41</title>
    <issued date="2026-12-02 10:00:00"/>
    <updated date="2026-12-02 10:00:00"/>
    <rights>Copyright (C) 2026 Red Hat, Inc. and others.</rights>
    <release>Fedora 41</release>
    <severity>Important</severity>
    <summary>dnf-tool-3.1-1.fc41 security update</summary>
    <description>Fixes a heap overflow when reading hostile metadata.</description>
    <references>
      <reference href="https://www.cve.org/CVERecord?id=CVE-2026-10001" id="CVE-2026-10001" type="cve" title="CVE-2026-10001"/>
    </references>
    <pkglist>
      <collection short="F41">
        <name>Fedora 41</name>
        <package name="dnf-tool" version="3.1" release="1.fc41" epoch="0" arch="noarch" src="dnf-tool-3.1-1.fc41.src.rpm">
          <filename>dnf-tool-3.1-1.fc41.noarch.rpm</filename>
          <reboot_suggested>True</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="updates@fedoraproject.org" status="stable" type="bugfix" version="2.0">
    <id>FEDORA-2026-b0f0000002</id>
    <title>desktop-thing-3.1-1.fc41</title>
    <issued date="2026-12-03 09:00:00"/>
    <severity>None</severity>
    <summary>desktop-thing bug fix</summary>
    <description>The window no longer forgets its size.</description>
    <references>
      <reference href="https://bugzilla.redhat.com/show_bug.cgi?id=2330001" id="2330001" type="bugzilla" title="Window size lost"/>
    </references>
    <pkglist>
      <collection short="F41">
        <name>Fedora 41</name>
        <package name="desktop-thing" version="3.1" release="1.fc41" epoch="0" arch="noarch">
          <filename>desktop-thing-3.1-1.fc41.noarch.rpm</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
"#;
