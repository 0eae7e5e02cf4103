//! `bench plan`: planning at distribution scale. A synthetic release index of tens of thousands of
//! packages and an updates index (no payloads: planning needs none), a real rpm database with a
//! few thousand of them installed; reports reading the inventory against `rpm -qa`, parsing the
//! indexes, planning, and the memory held, against the indexes' own size.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::packages::{
    DB_PATH, Dep, Evr, INDEX_FORMAT, IndexedPackage, Inventory, Nevra, Op, PackageIndex, Relations,
};
use swarmdate_core::plan::{Catalogue, Goal, Repo, plan};
use swarmdate_core::torrent::InfoHash;
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

/// What `bench plan` measured.
#[derive(Debug, Clone, Serialize)]
pub struct PlanBench {
    /// Packages in the release index.
    pub packages: usize,
    /// Packages in the updates index.
    pub updates: usize,
    /// Packages installed in the root.
    pub installed: usize,
    /// Bytes of the two indexes as published (JSON).
    pub index_bytes: u64,
    /// Seconds to read the inventory from rpm's database.
    pub inventory_secs: f64,
    /// Seconds `rpm -qa` takes on the same root (the reference).
    pub rpm_qa_secs: f64,
    /// Seconds to parse both indexes.
    pub index_parse_secs: f64,
    /// Seconds to merge them into a catalogue.
    pub catalogue_secs: f64,
    /// Seconds to plan the update.
    pub plan_secs: f64,
    /// Packages the plan installs.
    pub changes: usize,
    /// Resident memory the parsed indexes and catalogue hold, in bytes.
    pub index_memory: u64,
    /// Peak resident memory while planning, above what was resident before, in bytes.
    pub plan_peak_memory: u64,
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak resident size (Linux: `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn fake_hash(i: usize) -> swarmdate_core::hash::Sha256 {
    swarmdate_core::hash::Sha256::of(&i.to_le_bytes())
}

/// A synthetic package: `pkgNNNNN`, providing its capability and requiring a few of lower numbers
/// (so every prefix of the list is closed under its requirements).
pub(crate) fn synthetic(i: usize, version: &str, rng: &mut StdRng) -> (Nevra, Relations) {
    let nevra = Nevra::new(
        format!("pkg{i:05}"),
        Evr::new(0, version, "1.fc41"),
        "x86_64",
    );
    let mut r = Relations::default();
    r.provides
        .push(Dep::with(nevra.name.as_str(), Op::Eq, nevra.evr.clone()));
    r.provides
        .push(Dep::any(format!("libpkg{i:05}.so.1()(64bit)")));
    if i > 0 {
        for _ in 0..rng.gen_range(0..=4) {
            let j = rng.gen_range(0..i);
            if rng.gen_bool(0.5) {
                r.requires
                    .push(Dep::any(format!("libpkg{j:05}.so.1()(64bit)")));
            } else {
                r.requires.push(Dep::with(
                    format!("pkg{j:05}"),
                    Op::Ge,
                    Evr::new(0, "1.0", ""),
                ));
            }
        }
    }
    (nevra, r)
}

pub(crate) fn index(hash: u8, packages: Vec<(Nevra, Relations)>) -> PackageIndex {
    PackageIndex {
        format: INDEX_FORMAT,
        info_hash: InfoHash([hash; 20]),
        name: "x86_64".into(),
        piece_length: 64 << 10,
        packages: packages
            .into_iter()
            .enumerate()
            .map(|(i, (nevra, relations))| IndexedPackage {
                file_index: 2 * i,
                path: format!("Packages/p/{}", nevra.file_name()),
                summary: format!("Synthetic package {}", nevra.name),
                size: 500_000,
                sha256: fake_hash(i + usize::from(hash) * 1_000_000),
                nevra,
                relations,
                changelog: Vec::new(),
            })
            .collect(),
        advisories: Vec::new(),
    }
}

/// Builds the indexes and the root under `dir`, then measures.
pub async fn run_plan_bench(
    dir: &Path,
    packages: usize,
    installed: usize,
    say: impl Fn(&str),
) -> anyhow::Result<PlanBench> {
    anyhow::ensure!(
        installed <= packages,
        "more installed than available packages"
    );
    let mut rng = StdRng::seed_from_u64(70_000);
    let release: Vec<(Nevra, Relations)> = (0..packages)
        .map(|i| synthetic(i, "1.0", &mut rng))
        .collect();
    // About one package in seven has an update, as in a Fedora updates repository.
    let updates: Vec<(Nevra, Relations)> = (0..packages)
        .filter(|i| i % 7 == 3)
        .map(|i| synthetic(i, "1.1", &mut rng))
        .collect();
    let n_updates = updates.len();
    let release_json = index(1, release.clone()).to_json();
    let updates_json = index(2, updates).to_json();
    let index_bytes = (release_json.len() + updates_json.len()) as u64;

    say(&format!("Installing {installed} packages into an rpm root"));
    let root = dir.join("root");
    let rpms = dir.join("rpms");
    std::fs::create_dir_all(&rpms)?;
    let key = KeyPair::generate("Bench <bench@localhost>")?;
    let factory = PackageFactory::new(&key)?;
    let mut files: Vec<PathBuf> = Vec::with_capacity(installed);
    for (i, (nevra, relations)) in release.iter().take(installed).enumerate() {
        let mut spec = PackageSpec::new(nevra.clone(), 0);
        spec.relations = Relations {
            provides: relations.provides[1..].to_vec(),
            requires: relations.requires.clone(),
            ..Default::default()
        };
        files.push(factory.build(&spec, i as u64, &rpms)?);
    }
    let asc = dir.join("key.asc");
    std::fs::write(&asc, key.public_armored())?;
    let r = root.clone();
    tokio::task::spawn_blocking(move || {
        swarmdate_testkit::demo::repository::install_root(&r, &asc, &files)
    })
    .await??;
    std::fs::remove_dir_all(&rpms)?;

    say("Measuring");
    let t = Instant::now();
    let qa = std::process::Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args([
            "--dbpath",
            DB_PATH,
            "-qa",
            "--qf",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n",
        ])
        .output()?;
    let rpm_qa_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(qa.status.success(), "rpm -qa failed");

    let t = Instant::now();
    let inventory = Inventory::read(&root)?;
    let inventory_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        inventory.packages.len() == installed,
        "the inventory is incomplete"
    );

    let before = rss_kib("VmRSS:");
    let t = Instant::now();
    let release_index = PackageIndex::from_json(&release_json)?;
    let updates_index = PackageIndex::from_json(&updates_json)?;
    let index_parse_secs = t.elapsed().as_secs_f64();
    drop((release_json, updates_json));
    let t = Instant::now();
    let catalogue = Catalogue::new(vec![
        Repo {
            kind: RepoKind::Updates,
            index: updates_index,
        },
        Repo {
            kind: RepoKind::Release,
            index: release_index,
        },
    ]);
    let catalogue_secs = t.elapsed().as_secs_f64();
    let index_memory = rss_kib("VmRSS:").saturating_sub(before) * 1024;

    reset_peak();
    let resident = rss_kib("VmRSS:");
    let t = Instant::now();
    let p = plan(
        &inventory,
        &catalogue,
        &Goal::Update,
        &|_| false,
        &AtomicBool::new(false),
    )?;
    let plan_secs = t.elapsed().as_secs_f64();
    let plan_peak_memory = rss_kib("VmHWM:").saturating_sub(resident) * 1024;
    Ok(PlanBench {
        packages,
        updates: n_updates,
        installed,
        index_bytes,
        inventory_secs,
        rpm_qa_secs,
        index_parse_secs,
        catalogue_secs,
        plan_secs,
        changes: p.changes.len(),
        index_memory,
        plan_peak_memory,
    })
}
