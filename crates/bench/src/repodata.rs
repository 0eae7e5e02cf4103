//! `bench repodata`: a repository's metadata as createrepo_c writes it, against Swarmdate's own
//! package index. At Fedora's scale (a synthesized primary of 70,000 packages, zstd) it reads
//! both and reports time and memory; on a repository of real RPMs it publishes both ways (every
//! header read, or primary read and each file hashed), with createrepo_c's own run as the
//! reference. Developer figures, printed in English.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{
    Dep, Installed, Inventory, InventorySource, Nevra, Op, PackageIndex, Relations,
};
use swarmdate_core::plan::{Catalogue, Goal, Repo, index_of_repodata, plan};
use swarmdate_core::publish::{MasterOptions, publish_master};
use swarmdate_core::repos::{Limits, read_repodata};
use swarmdate_core::torrent::InfoHash;
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

use crate::plan::{index, synthetic};

/// What `bench repodata` measured.
#[derive(Debug, Clone, Serialize)]
pub struct RepodataBench {
    /// Packages in the synthesized primary and index.
    pub packages: usize,
    /// Bytes of the index (JSON).
    pub index_bytes: u64,
    /// Bytes of primary as stored (zstd).
    pub primary_bytes: u64,
    /// Bytes of primary decompressed.
    pub primary_open_bytes: u64,
    /// Seconds to parse the index.
    pub index_secs: f64,
    /// Seconds to check and parse the repodata.
    pub repodata_secs: f64,
    /// Heap bytes the parsed index holds.
    pub index_memory: u64,
    /// Heap bytes the parsed repodata holds.
    pub repodata_memory: u64,
    /// Peak heap bytes above the start while parsing the index.
    pub index_peak: u64,
    /// Peak heap bytes above the start while reading the repodata.
    pub repodata_peak: u64,
    /// Packages installed in the planned system.
    pub installed: usize,
    /// Packages in the updates repository (one in seven has an update).
    pub updates: usize,
    /// Seconds to load release and updates from their indexes into a catalogue.
    pub plan_index_load_secs: f64,
    /// Seconds to load release and updates from their repodata into a catalogue.
    pub plan_repodata_load_secs: f64,
    /// Seconds to plan the update over the indexes' catalogue.
    pub plan_index_secs: f64,
    /// Seconds to plan the update over the repodata's catalogue.
    pub plan_repodata_secs: f64,
    /// Packages the plan installs (the same both ways).
    pub changes: usize,
    /// Peak heap bytes above the start while loading and planning from the indexes.
    pub plan_index_peak: u64,
    /// Peak heap bytes above the start while loading and planning from the repodata.
    pub plan_repodata_peak: u64,
    /// Real packages published both ways.
    pub published: usize,
    /// Seconds createrepo_c took on them (the reference).
    pub createrepo_secs: f64,
    /// Seconds `publish master` took reading every header.
    pub from_headers_secs: f64,
    /// Seconds `publish master` took from the repodata.
    pub from_repodata_secs: f64,
    /// Both ways made the same torrent.
    pub same_torrent: bool,
}

/// A dependency as primary writes it.
fn entry(out: &mut String, d: &Dep) {
    let _ = write!(out, r#"<rpm:entry name="{}""#, d.name);
    if let Some((op, evr)) = &d.constraint {
        let flags = match op {
            Op::Lt => "LT",
            Op::Le => "LE",
            Op::Eq => "EQ",
            Op::Ge => "GE",
            Op::Gt => "GT",
        };
        let _ = write!(
            out,
            r#" flags="{flags}" epoch="{}" ver="{}""#,
            evr.epoch, evr.version
        );
        if !evr.release.is_empty() {
            let _ = write!(out, r#" rel="{}""#, evr.release);
        }
    }
    out.push_str("/>\n");
}

/// Writes `packages` as `dir/repodata` (primary as zstd, repomd.xml naming it).
fn write_repodata(dir: &Path, packages: &[(Nevra, Relations)]) -> anyhow::Result<(u64, u64)> {
    let data = dir.join("repodata");
    std::fs::create_dir_all(&data)?;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        packages.len()
    );
    for (i, (n, r)) in packages.iter().enumerate() {
        let _ = write!(
            xml,
            "<package type=\"rpm\">\n<name>{}</name>\n<arch>{}</arch>\n<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>\n<checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n<summary>Synthetic package {}</summary>\n<description>A package of the synthetic distribution, number {i}.</description>\n<packager>Bench</packager>\n<url>https://example.org/</url>\n<time file=\"1764670000\" build=\"1764660000\"/>\n<size package=\"500000\" installed=\"1500000\" archive=\"1501000\"/>\n<location href=\"Packages/p/{}\"/>\n<format>\n<rpm:license>MIT</rpm:license>\n<rpm:vendor>Bench</rpm:vendor>\n<rpm:group>Unspecified</rpm:group>\n<rpm:buildhost>bench</rpm:buildhost>\n<rpm:sourcerpm>{}-{}-{}.src.rpm</rpm:sourcerpm>\n<rpm:header-range start=\"4504\" end=\"28000\"/>\n<rpm:provides>\n",
            n.name,
            n.arch,
            n.evr.epoch,
            n.evr.version,
            n.evr.release,
            Sha256::of(n.to_string().as_bytes()),
            n.name,
            n.file_name(),
            n.name,
            n.evr.version,
            n.evr.release,
        );
        r.provides.iter().for_each(|d| entry(&mut xml, d));
        xml.push_str("</rpm:provides>\n<rpm:requires>\n");
        r.requires.iter().for_each(|d| entry(&mut xml, d));
        let _ = write!(
            xml,
            "</rpm:requires>\n<file>/usr/bin/{0}</file>\n<file>/etc/{0}.conf</file>\n</format>\n</package>\n",
            n.name
        );
    }
    xml.push_str("</metadata>\n");
    let primary = data.join("primary.xml.zst");
    let mut w = niffler::send::to_path(
        &primary,
        niffler::send::compression::Format::Zstd,
        niffler::Level::Three,
    )?;
    w.write_all(xml.as_bytes())?;
    drop(w);
    let size = std::fs::metadata(&primary)?.len();
    std::fs::write(
        data.join("repomd.xml"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n<revision>1764670000</revision>\n<data type=\"primary\">\n<checksum type=\"sha256\">{}</checksum>\n<open-checksum type=\"sha256\">{}</open-checksum>\n<location href=\"repodata/primary.xml.zst\"/>\n<timestamp>1764670000</timestamp>\n<size>{size}</size>\n<open-size>{}</open-size>\n</data>\n</repomd>\n",
            Sha256::of_file(&primary)?,
            Sha256::of(xml.as_bytes()),
            xml.len()
        ),
    )?;
    Ok((size, xml.len() as u64))
}

/// The first `n` packages of `set` as installed.
fn inventory(set: &[(Nevra, Relations)], n: usize) -> Inventory {
    Inventory {
        packages: set
            .iter()
            .take(n)
            .map(|(nevra, relations)| Installed {
                nevra: nevra.clone(),
                summary: String::new(),
                size: 1_500_000,
                relations: relations.clone(),
            })
            .collect(),
        source: InventorySource::Sqlite,
    }
}

/// What one way of loading and planning took.
struct Planned {
    load_secs: f64,
    plan_secs: f64,
    changes: usize,
    peak: u64,
}

/// Loads release and updates with `load`, then plans the update of `installed`.
fn load_and_plan(
    installed: &Inventory,
    load: impl FnOnce() -> anyhow::Result<(PackageIndex, PackageIndex)>,
) -> anyhow::Result<Planned> {
    let heap = peak_alloc::PeakAlloc;
    heap.reset_peak_usage();
    let before = heap.current_usage();
    let t = Instant::now();
    let (release, updates) = load()?;
    let catalogue = Catalogue::new(vec![
        Repo {
            kind: RepoKind::Updates,
            index: updates,
        },
        Repo {
            kind: RepoKind::Release,
            index: release,
        },
    ]);
    let load_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = plan(
        installed,
        &catalogue,
        &Goal::Update,
        &|_| false,
        &AtomicBool::new(false),
    )?;
    Ok(Planned {
        load_secs,
        plan_secs: t.elapsed().as_secs_f64(),
        changes: p.changes.len(),
        peak: heap.peak_usage().saturating_sub(before) as u64,
    })
}

/// Runs the benchmark in `dir`: `packages` synthesized (`installed` of them installed),
/// `published` real ones.
pub fn run_repodata_bench(
    dir: &Path,
    packages: usize,
    installed: usize,
    published: usize,
    say: impl Fn(&str),
) -> anyhow::Result<RepodataBench> {
    anyhow::ensure!(
        installed <= packages,
        "more installed than available packages"
    );
    say(&format!(
        "Synthesizing {packages} packages: an index and a primary"
    ));
    let mut rng = StdRng::seed_from_u64(7);
    let set: Vec<_> = (0..packages)
        .map(|i| synthetic(i, "1.0", &mut rng))
        .collect();
    // About one package in seven has an update, as in a Fedora updates repository.
    let newer: Vec<_> = (0..packages)
        .filter(|i| i % 7 == 3)
        .map(|i| synthetic(i, "1.1", &mut rng))
        .collect();
    let index_bytes = index(1, set.clone()).to_json();
    let updates_json = index(2, newer.clone()).to_json();
    let (primary_bytes, primary_open_bytes) = write_repodata(dir, &set)?;
    let updates_dir = dir.join("updates");
    write_repodata(&updates_dir, &newer)?;
    let installed_set = inventory(&set, installed);
    let updates = newer.len();
    drop((set, newer));

    // Heap bytes through the benchmark binary's counting allocator (resident-size deltas hide
    // what the allocator reuses from freed memory).
    let heap = peak_alloc::PeakAlloc;
    say("Parsing the index");
    heap.reset_peak_usage();
    let before = heap.current_usage();
    let t = Instant::now();
    let parsed = PackageIndex::from_json(&index_bytes)?;
    let index_secs = t.elapsed().as_secs_f64();
    let index_memory = heap.current_usage().saturating_sub(before) as u64;
    let index_peak = heap.peak_usage().saturating_sub(before) as u64;
    anyhow::ensure!(parsed.packages.len() == packages);
    drop(parsed);

    say("Reading the repodata");
    heap.reset_peak_usage();
    let before = heap.current_usage();
    let t = Instant::now();
    let read = read_repodata(dir, Limits::default())?;
    let repodata_secs = t.elapsed().as_secs_f64();
    let repodata_memory = heap.current_usage().saturating_sub(before) as u64;
    let repodata_peak = heap.peak_usage().saturating_sub(before) as u64;
    anyhow::ensure!(read.packages.len() == packages);
    drop(read);

    say(&format!(
        "Planning the update of {installed} installed packages both ways"
    ));
    let from_index = load_and_plan(&installed_set, || {
        Ok((
            PackageIndex::from_json(&index_bytes)?,
            PackageIndex::from_json(&updates_json)?,
        ))
    })?;
    let from_repodata = load_and_plan(&installed_set, || {
        let tag = |b| InfoHash([b; 20]);
        Ok((
            index_of_repodata(read_repodata(dir, Limits::default())?, "release", tag(1)),
            index_of_repodata(
                read_repodata(&updates_dir, Limits::default())?,
                "updates",
                tag(2),
            ),
        ))
    })?;
    anyhow::ensure!(
        from_index.changes == from_repodata.changes && from_index.changes > 0,
        "the two plans differ: {} changes from the indexes, {} from the repodata",
        from_index.changes,
        from_repodata.changes
    );

    say(&format!("Building {published} real packages"));
    let repo = dir.join("real/x86_64");
    let key = KeyPair::generate("Bench <bench@example.org>")?;
    let factory = PackageFactory::new(&key)?;
    for i in 0..published {
        let nevra: Nevra = format!("real{i:04}-1.0-1.fc41.x86_64").parse()?;
        let dest = repo.join("Packages/r");
        std::fs::create_dir_all(&dest)?;
        factory.build(&PackageSpec::new(nevra, 30_000), i as u64, &dest)?;
    }
    let t = Instant::now();
    let status = std::process::Command::new("createrepo_c")
        .args(["--quiet", "--compress-type", "xz"])
        .arg(&repo)
        .status()?;
    anyhow::ensure!(status.success(), "createrepo_c failed");
    let createrepo_secs = t.elapsed().as_secs_f64();
    let opts = |out: &str, from_headers| MasterOptions {
        kind: RepoKind::Updates,
        id: "updates".into(),
        name: None,
        piece_length: None,
        trackers: Vec::new(),
        web_seeds: Vec::new(),
        similar: Vec::new(),
        out_dir: dir.join(out),
        date: None,
        signing_keys: Vec::new(),
        ignore_repodata: from_headers,
    };
    let t = Instant::now();
    let a = publish_master(&repo, &opts("h", true))?;
    let from_headers_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let b = publish_master(&repo, &opts("r", false))?;
    let from_repodata_secs = t.elapsed().as_secs_f64();
    Ok(RepodataBench {
        packages,
        index_bytes: index_bytes.len() as u64,
        primary_bytes,
        primary_open_bytes,
        index_secs,
        repodata_secs,
        index_memory,
        repodata_memory,
        index_peak,
        repodata_peak,
        installed,
        updates,
        plan_index_load_secs: from_index.load_secs,
        plan_repodata_load_secs: from_repodata.load_secs,
        plan_index_secs: from_index.plan_secs,
        plan_repodata_secs: from_repodata.plan_secs,
        changes: from_index.changes,
        plan_index_peak: from_index.peak,
        plan_repodata_peak: from_repodata.peak,
        published,
        createrepo_secs,
        from_headers_secs,
        from_repodata_secs,
        same_torrent: a.torrent.info_hash() == b.torrent.info_hash(),
    })
}

/// The figures as lines for people.
pub fn repodata_report(r: &RepodataBench) -> Vec<String> {
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    vec![
        format!(
            "{} packages: index {} (JSON); primary {} zstd, {} open",
            r.packages,
            mb(r.index_bytes),
            mb(r.primary_bytes),
            mb(r.primary_open_bytes)
        ),
        format!(
            "load        index {:.3} s, repodata {:.3} s (×{:.2})",
            r.index_secs,
            r.repodata_secs,
            r.repodata_secs / r.index_secs
        ),
        format!(
            "held        index {}, repodata {} (×{:.2}); peak {} / {}",
            mb(r.index_memory),
            mb(r.repodata_memory),
            r.repodata_memory as f64 / r.index_memory.max(1) as f64,
            mb(r.index_peak),
            mb(r.repodata_peak)
        ),
        format!(
            "plan        {} installed, {} updates, {} changes: load index {:.3} s + plan {:.3} s; repodata {:.3} s + {:.3} s (×{:.2} in all); peak {} / {}",
            r.installed,
            r.updates,
            r.changes,
            r.plan_index_load_secs,
            r.plan_index_secs,
            r.plan_repodata_load_secs,
            r.plan_repodata_secs,
            (r.plan_repodata_load_secs + r.plan_repodata_secs)
                / (r.plan_index_load_secs + r.plan_index_secs),
            mb(r.plan_index_peak),
            mb(r.plan_repodata_peak)
        ),
        format!(
            "publish {} real packages: createrepo_c {:.2} s; from headers {:.2} s; from repodata {:.2} s (×{:.2} of headers); same torrent: {}",
            r.published,
            r.createrepo_secs,
            r.from_headers_secs,
            r.from_repodata_secs,
            r.from_repodata_secs / r.from_headers_secs,
            r.same_torrent
        ),
    ]
}
