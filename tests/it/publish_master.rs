//! `publish master` on a mirror-shaped folder of real signed packages: an aligned torrent whose web
//! seed URLs resolve on the mirror, an index that matches the files, and a signed feed listing it.

use std::path::PathBuf;

use swarmdate_core::feed::{KeyPair, RepoKind, SeenSerials, TrustedKeys, verify_feed};
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::PackageIndex;
use swarmdate_core::publish::{MasterOptions, publish_feed, publish_master};

use crate::support::*;

#[test]
fn a_mirror_folder_becomes_an_aligned_torrent_an_index_and_a_feed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let mirror = dir.path().join("mirror");
    let repo = mirror.join("updates/41/x86_64");
    let specs = mirror_repo(&repo, &key, 40, 7);
    let publish = dir.path().join("publish");
    let root_url = format!("file://{}/updates/41/", mirror.display());
    let opts = MasterOptions {
        kind: RepoKind::Updates,
        id: "updates-1".into(),
        name: None,
        piece_length: None,
        trackers: vec!["http://127.0.0.1:9/announce".into()],
        web_seeds: vec![root_url.clone()],
        similar: Vec::new(),
        out_dir: publish.clone(),
        date: None,
        signing_keys: Vec::new(),
        ignore_repodata: false,
    };
    let r = publish_master(&repo, &opts).unwrap();
    let t = &r.torrent;

    // Name and web seed: root + name + path is the file on the mirror.
    assert_eq!(t.name, "x86_64");
    assert_eq!(t.web_seeds, vec![root_url.clone()]);
    assert_eq!(r.index.packages.len(), specs.len());
    for p in &r.index.packages {
        let url = format!("{root_url}{}/{}", t.name, p.path);
        let on_mirror = PathBuf::from(url.strip_prefix("file://").unwrap());
        assert_eq!(sha256(&on_mirror), p.sha256, "{url}");
        assert_eq!(std::fs::metadata(&on_mirror).unwrap().len(), p.size);
        // The index points at the torrent file of that path, which starts on a piece boundary.
        let f = &t.files[p.file_index];
        assert_eq!(f.path.join("/"), p.path);
        assert!(!f.pad);
        assert_eq!(
            f.offset % t.piece_length as u64,
            0,
            "{} is not aligned",
            p.path
        );
        assert_eq!(f.length, p.size);
        assert!(
            p.path
                .starts_with(&format!("Packages/{}/", &p.nevra.name[..1]))
        );
    }
    // Headers made it into the index.
    let spec5 = &specs[5];
    let p5 = r
        .index
        .packages
        .iter()
        .find(|p| p.nevra == spec5.nevra)
        .unwrap();
    assert_eq!(p5.relations.requires, spec5.relations.requires);
    assert!(
        p5.relations
            .provides
            .iter()
            .any(|d| d.name == spec5.nevra.name)
    );

    // The chosen piece length keeps padding within 2%, and is the largest that does.
    let payload = t.data_length();
    let pad = t.total_length() - payload;
    assert!(
        pad as f64 <= 0.02 * payload as f64,
        "padding {pad} of {payload}"
    );
    println!(
        "publish master: {} packages, {payload} bytes, piece length {}, padding {pad} bytes ({:.2}%)",
        r.index.packages.len(),
        t.piece_length,
        100.0 * pad as f64 / payload as f64
    );
    let chosen = r
        .padding
        .iter()
        .find(|f| f.piece_length == t.piece_length)
        .unwrap();
    assert_eq!(chosen.padding, pad, "the table measures the real padding");
    assert!(
        r.padding
            .iter()
            .filter(|f| f.piece_length > t.piece_length)
            .all(|f| f.padding as f64 > 0.02 * payload as f64)
    );

    // The files on disk: the torrent, the index (pinned by the entry), the entry.
    let index_bytes = std::fs::read(publish.join("updates-1.index.json")).unwrap();
    assert_eq!(Sha256::of(&index_bytes), r.entry.index_sha256);
    assert_eq!(PackageIndex::from_json(&index_bytes).unwrap(), r.index);
    assert_eq!(r.index.info_hash, t.info_hash());
    assert_eq!(
        std::fs::read(publish.join("updates-1.torrent")).unwrap(),
        t.bytes().as_ref()
    );

    // A second, later snapshot and the release master: the feed lists all three, newest first.
    let release = mirror.join("releases/41/x86_64");
    mirror_repo(&release, &key, 10, 100);
    let rel = publish_master(
        &release,
        &MasterOptions {
            kind: RepoKind::Release,
            id: "release".into(),
            date: Some(r.entry.date - chrono::Duration::days(30)),
            signing_keys: Vec::new(),
            ignore_repodata: false,
            ..opts.clone()
        },
    )
    .unwrap();
    let later = publish_master(
        &repo,
        &MasterOptions {
            id: "updates-2".into(),
            similar: vec![t.info_hash()],
            date: Some(r.entry.date + chrono::Duration::days(1)),
            signing_keys: Vec::new(),
            ignore_repodata: false,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(later.torrent.similar, vec![t.info_hash()]);
    assert_ne!(later.torrent.info_hash(), t.info_hash());
    let feed = publish_feed(&publish, &feed_spec(), &key).unwrap();
    let hashes: Vec<_> = feed.repositories.iter().map(|r| r.info_hash).collect();
    assert_eq!(
        hashes,
        vec![
            later.entry.info_hash,
            r.entry.info_hash,
            rel.entry.info_hash
        ]
    );
    assert_eq!(feed.repositories[2].kind, RepoKind::Release);
    let mut trusted = TrustedKeys::default();
    trusted.add_armored(&key.public_armored()).unwrap();
    let body = std::fs::read(publish.join("feed.json")).unwrap();
    let sig = std::fs::read(publish.join("feed.json.sig")).unwrap();
    let (verified, _) = verify_feed(
        "feed",
        &body,
        &sig,
        &trusted,
        &mut SeenSerials::default(),
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(verified.repositories, feed.repositories);
}

#[test]
fn publish_master_runs_from_the_command_line_and_refuses_a_folder_without_packages() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let repo = dir.path().join("mirror/x86_64");
    mirror_repo(&repo, &key, 12, 3);
    let out = dir.path().join("publish");
    let run = run_cli(&[
        "--json",
        "publish",
        "master",
        repo.to_str().unwrap(),
        "--kind",
        "release",
        "--id",
        "release",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["packages"], 12);
    assert_eq!(s["entry"]["kind"], "release");
    assert!(out.join("release.torrent").exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("Packages")).unwrap();
    let run = run_cli(&[
        "publish",
        "master",
        empty.to_str().unwrap(),
        "--kind",
        "updates",
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("has no packages under Packages/"),
        "{}",
        run.stderr
    );
}

/// A repository of more packages than the process may open files: publishing reads them one at
/// a time per worker (a Fedora repository has tens of thousands).
#[test]
fn publishing_does_not_need_a_descriptor_per_package() {
    use swarmdate_testkit::synth::{PackageFactory, PackageSpec};
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let factory = PackageFactory::new(&key).unwrap();
    let repo = dir.path().join("x86_64");
    let d = repo.join("Packages/m");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..600 {
        let spec = PackageSpec::new(
            format!("many{i:04}-1.0-1.fc41.noarch").parse().unwrap(),
            500,
        );
        factory.build(&spec, i, &d).unwrap();
    }
    let out = dir.path().join("publish");
    let limited = |limit: &str| {
        Run::from(
            std::process::Command::new("prlimit")
                .arg(format!("--nofile={limit}"))
                .arg(env!("CARGO_BIN_EXE_swarmdate"))
                .args(["--json", "publish", "master"])
                .arg(&repo)
                .args(["--kind", "release", "--id", "release", "--out-dir"])
                .arg(&out)
                .output()
                .unwrap(),
        )
    };
    let run = limited("96");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary()["packages"], 600);
}
