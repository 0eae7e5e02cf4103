//! Writes the seed corpora into `corpus/<target>/` with the library's own builder and signer, and
//! xorriso for the images: `cargo run --release --example make_seeds` in `fuzz/`.

use std::fs;
use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use swarmdate_core::feed::{
    FORMAT_VERSION, Feed, IsoVersion, KeyPair, RepoKind, Repository, sign_detached,
};
use swarmdate_core::hash::Sha256;
use swarmdate_core::torrent::{InfoHash, SourceFile, TorrentBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = Path::new("corpus");
    let work = tempfile::tempdir()?;
    let payload = work.path().join("payload");
    fs::create_dir_all(payload.join("Packages/a"))?;
    // Sizes that straddle 16 KiB pieces, so padding and short last pieces both show up.
    let files = [
        ("Packages/a/alpha-1.0-1.x86_64.rpm", 20_000),
        ("Packages/a/beta-2.1-3.noarch.rpm", 5_000),
        ("repodata/repomd.xml", 700),
        ("README", 40),
    ];
    for (path, len) in files {
        let p = payload.join(path);
        fs::create_dir_all(p.parent().unwrap())?;
        fs::write(
            &p,
            (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>(),
        )?;
    }
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|(path, _)| SourceFile {
            path: path.split('/').map(String::from).collect(),
            source: payload.join(path),
        })
        .collect();

    write_torrents(&corpus.join("torrent"), &sources)?;
    write_feeds(&corpus.join("feed"))?;
    write_locations(&corpus.join("location"))?;
    write_images(&corpus.join("iso"), &payload)?;
    write_packages(&corpus.join("package"), &corpus.join("index"), work.path())?;
    Ok(())
}

fn write_torrents(dir: &Path, sources: &[SourceFile]) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let single = TorrentBuilder::single_file("alpha.rpm", &sources[0].source)
        .piece_length(16 << 10)
        .tracker("http://tracker.example.org/announce")
        .web_seed("https://mirror.example.org/pub/")
        .comment("seed")
        .creation_date(1_700_000_000)
        .build()?;
    let aligned = TorrentBuilder::multi_file("repo", sources.to_vec())
        .piece_length(16 << 10)
        .align(true)
        .tracker("udp://tracker.example.org:6969")
        .tracker("http://backup.example.org/announce")
        .similar(single.info_hash())
        .build()?;
    let plain = TorrentBuilder::multi_file("repo", sources[1..].to_vec())
        .piece_length(32 << 10)
        .web_seed("https://a.example.org/")
        .web_seed("https://b.example.org/")
        .build()?;
    for (name, t) in [
        ("single.torrent", single),
        ("aligned.torrent", aligned),
        ("plain.torrent", plain),
    ] {
        fs::write(dir.join(name), t.bytes())?;
    }
    Ok(())
}

fn write_feeds(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let date = Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap();
    let feed = Feed {
        format: FORMAT_VERSION,
        serial: 7,
        expires: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        refresh_interval_secs: 3600,
        distribution: "Fedora".into(),
        release: "41".into(),
        arch: "x86_64".into(),
        repositories: vec![Repository {
            kind: RepoKind::Updates,
            torrent_url: "updates-20250115.torrent".into(),
            info_hash: InfoHash([0x11; 20]),
            index_url: "updates-20250115.index.json".into(),
            index_sha256: Sha256([0x22; 32]),
            date,
        }],
        isos: vec![IsoVersion {
            version: "1.01".into(),
            date,
            size: 2_147_483_648,
            sha256: Sha256([0x33; 32]),
            torrent_url: "https://example.org/isos/1.01.torrent".into(),
            info_hash: InfoHash([0x44; 20]),
            layout_url: Some("1.01.layout.json".into()),
            layout_sha256: Some(Sha256([0x55; 32])),
        }],
        web_seeds: vec!["https://mirror.example.org/".into()],
        trackers: vec!["http://tracker.example.org/announce".into()],
    };
    let body = serde_json::to_vec_pretty(&feed)?;
    let key = KeyPair::generate("Seed <seed@example.org>")?;
    let sig = sign_detached(&key, &body)?;
    // Mode 0: the body with a real signature by a key the fuzz target does not trust.
    fs::write(
        dir.join("signed"),
        [&[0][..], &body, &[0], sig.as_bytes()].concat(),
    )?;
    // Mode 1: signed by the target itself, so it gets past the signature.
    fs::write(dir.join("self-signed"), [&[1][..], &body].concat())?;
    // Mode 3: a trusted signature over other bytes.
    fs::write(
        dir.join("mismatch"),
        [&[3][..], &body, &[0], b"other"].concat(),
    )?;
    let minimal = br#"{"format":1,"serial":1,"expires":"2030-01-01T00:00:00Z","refresh_interval_secs":60,"distribution":"d","release":"1","arch":"a"}"#;
    fs::write(dir.join("minimal"), [&[1][..], minimal].concat())?;
    Ok(())
}

fn write_locations(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let seeds = [
        "https://example.org/feeds/feed.json\nisos/1.01.torrent",
        "bittorrent://https://example.org/a/x.torrent?b=1\n../b/y.torrent",
        "bittorrent://file:///srv/x.torrent\nhttp://other.example.org/z",
        "file:///srv/feed/feed.json\n./a%20b.torrent",
        "/srv/feed/feed.json\nsub/a.torrent",
        "bittorrent://ftp://example.org/x.torrent",
        "http://[::1]:8080/feed.json?x=1#frag\n//host/path",
    ];
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i}")), s)?;
    }
    Ok(())
}

fn write_images(dir: &Path, payload: &Path) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    // Rock Ridge + Joliet (what distributions ship), Joliet only, and plain ISO9660 names.
    for (name, flags) in [
        ("rr-joliet.iso", &["-R", "-J"][..]),
        ("joliet.iso", &["-J"][..]),
        ("plain.iso", &[][..]),
    ] {
        let status = Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-no-pad", "-V", "SEED"])
            .args(flags)
            .arg("-o")
            .arg(dir.join(name))
            .arg(payload)
            .status()?;
        if !status.success() {
            return Err(format!("xorriso failed for {name}").into());
        }
        // A seed our reader cannot list would only exercise the refusal path.
        let listed = swarmdate_core::iso::list_files(&dir.join(name))?;
        if listed.len() != 4 {
            return Err(format!("{name}: listed {listed:?}").into());
        }
    }
    Ok(())
}

/// Real signed packages, so the `package` target starts from valid structure (their key is not
/// the one the target trusts: every input ends in a refusal, parsed as far as it goes), and a
/// package index of them for the `index` target.
fn write_packages(pkg_dir: &Path, index_dir: &Path, work: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use swarmdate_core::feed::RepoKind;
    use swarmdate_core::packages::synth::{PackageFactory, PackageSpec};
    use swarmdate_core::packages::{Dep, Op};
    use swarmdate_core::publish::{MasterOptions, publish_master};
    fs::create_dir_all(pkg_dir)?;
    fs::create_dir_all(index_dir)?;
    let key = KeyPair::generate("Fuzz <fuzz@example.org>")?;
    let factory = PackageFactory::new(&key)?;
    let repo = work.join("repo/x86_64");
    let d = repo.join("Packages/a");
    fs::create_dir_all(&d)?;
    for (i, n) in ["alpha-1.0-1.fc41.x86_64", "beta-2:3.1-4.fc41.noarch"].iter().enumerate() {
        let mut spec = PackageSpec::new(n.parse()?, 300 + i * 500);
        spec.relations.requires.push(Dep::with("gamma", Op::Ge, "1.2".parse()?));
        spec.relations.obsoletes.push(Dep::any("old-alpha"));
        let f = factory.build(&spec, i as u64, &d)?;
        fs::copy(&f, pkg_dir.join(format!("seed-{i}.rpm")))?;
    }
    let r = publish_master(
        &repo,
        &MasterOptions {
            kind: RepoKind::Release,
            id: "release".into(),
            name: None,
            piece_length: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            similar: Vec::new(),
            out_dir: work.join("publish"),
            date: None,
            signing_keys: Vec::new(),
            ignore_repodata: false,
        },
    )?;
    fs::write(index_dir.join("seed-0"), r.index.to_json())?;
    Ok(())
}
