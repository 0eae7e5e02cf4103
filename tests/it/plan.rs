//! Planning updates and downgrades with the solver, judged by Debian's real rpm in a temporary
//! root: the planned transaction passes rpm's check, and without the pulled-in dependency it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{
    Candidate, DB_PATH, Dep, FileOrigin, Inventory, Nevra, Op, PackageKeys, TransactionNote,
    install,
};
use swarmdate_core::plan::{Catalogue, ChangeKind, Goal, Plan, PlanError, Repo, plan};
use swarmdate_core::publish::{MasterOptions, publish_master};
use swarmdate_testkit::demo::repository::package_path;
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

use crate::packages::{rpm, rpm_root};

fn spec(nevra: &str) -> PackageSpec {
    PackageSpec::new(nevra.parse().unwrap(), 3_000)
}

fn req(mut s: PackageSpec, name: &str, op: Option<(Op, &str)>) -> PackageSpec {
    s.relations.requires.push(match op {
        Some((op, v)) => Dep::with(name, op, v.parse().unwrap()),
        None => Dep::any(name),
    });
    s
}

/// The release repository (GA) and an updates snapshot, as packages on disk and indexes.
pub struct World {
    pub dir: tempfile::TempDir,
    pub key: KeyPair,
    pub catalogue: Catalogue,
}

impl World {
    /// A package file of either repository.
    pub fn file(&self, nevra: &str) -> PathBuf {
        let n: Nevra = nevra.parse().unwrap();
        ["mirror/releases/x86_64", "mirror/updates/x86_64"]
            .iter()
            .map(|r| package_path(&self.dir.path().join(r), &n))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no package {nevra}"))
    }

    pub fn build() -> World {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
        let factory = PackageFactory::new(&key).unwrap();
        let mut newtool = spec("newtool-2.0-1.fc41.x86_64");
        newtool
            .relations
            .obsoletes
            .push(Dep::with("oldtool", Op::Lt, "2.0".parse().unwrap()));
        newtool
            .relations
            .provides
            .push(Dep::with("oldtool", Op::Eq, "2.0".parse().unwrap()));
        let mut libfoo1 = spec("libfoo-1.0-1.fc41.x86_64");
        libfoo1
            .relations
            .provides
            .push(Dep::any("libfoo.so.1()(64bit)"));
        let mut libfoo2 = spec("libfoo-2.0-1.fc41.x86_64");
        libfoo2
            .relations
            .provides
            .push(Dep::any("libfoo.so.1()(64bit)"));
        let repos: [(&str, Vec<PackageSpec>); 2] = [
            (
                "releases",
                vec![
                    req(
                        spec("app-1.0-1.fc41.x86_64"),
                        "libfoo",
                        Some((Op::Ge, "1.0")),
                    ),
                    libfoo1,
                    spec("oldtool-1.0-1.fc41.x86_64"),
                    spec("kernel-6.1.0-1.fc41.x86_64"),
                    spec("data-1.0-1.fc41.noarch"),
                    spec("toolkit-1.0-1.fc41.x86_64"),
                    spec("toolkit-1.0-1.fc41.aarch64"),
                    spec("unrelated-1.0-1.fc41.x86_64"),
                ],
            ),
            (
                "updates",
                vec![
                    req(
                        req(
                            spec("app-2.0-1.fc41.x86_64"),
                            "libfoo",
                            Some((Op::Ge, "2.0")),
                        ),
                        "libnew.so.1()(64bit)",
                        None,
                    ),
                    libfoo2,
                    {
                        let mut s = spec("libnew-1.0-1.fc41.x86_64");
                        s.relations.provides.push(Dep::any("libnew.so.1()(64bit)"));
                        s
                    },
                    newtool,
                    spec("kernel-6.2.0-1.fc41.x86_64"),
                    spec("toolkit-2.0-1.fc41.aarch64"),
                    spec("unrelated-2.0-1.fc41.x86_64"),
                ],
            ),
        ];
        let mut indexed = Vec::new();
        for (i, (repo, specs)) in repos.iter().enumerate() {
            let root = dir.path().join("mirror").join(repo).join("x86_64");
            for (j, s) in specs.iter().enumerate() {
                let d = package_path(&root, &s.nevra).parent().unwrap().to_owned();
                std::fs::create_dir_all(&d).unwrap();
                factory.build(s, (i * 100 + j) as u64, &d).unwrap();
            }
            let kind = if *repo == "releases" {
                RepoKind::Release
            } else {
                RepoKind::Updates
            };
            let r = publish_master(
                &root,
                &MasterOptions {
                    kind,
                    id: repo.to_string(),
                    name: None,
                    piece_length: None,
                    trackers: Vec::new(),
                    web_seeds: Vec::new(),
                    similar: Vec::new(),
                    out_dir: dir.path().join("publish"),
                    date: None,
                    signing_keys: Vec::new(),
                    ignore_repodata: false,
                },
            )
            .unwrap();
            indexed.push(Repo {
                kind,
                index: r.index,
            });
        }
        indexed.reverse(); // newest first, as the feed lists them
        World {
            dir,
            key,
            catalogue: Catalogue::new(indexed),
        }
    }

    /// `files` with the keys they are checked against going into `root`: those its rpm
    /// database imported (the distribution's, as [`World::root`] makes them).
    pub fn keyed(&self, root: &Path, files: &[PathBuf]) -> Vec<Candidate> {
        let keys = PackageKeys::of_root(root).unwrap();
        files
            .iter()
            .map(|f| Candidate {
                path: f.clone(),
                keys: keys.clone(),
                origin: FileOrigin {
                    sha256: Sha256::of_file(f).unwrap(),
                    size: std::fs::metadata(f).unwrap().len(),
                    from: None,
                },
            })
            .collect()
    }

    /// The update plan of a root, nothing held.
    pub fn update_plan(&self, root: &Path) -> Plan {
        let inv = Inventory::read(root).unwrap();
        plan(
            &inv,
            &self.catalogue,
            &Goal::Update,
            &nothing_held,
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    /// A root with these packages installed (`-i`, so two kernels may sit side by side).
    pub fn root(&self, name: &str, installed: &[&str]) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let root = rpm_root(&d, &self.key);
        let files: Vec<String> = installed
            .iter()
            .map(|n| self.file(n).to_str().unwrap().to_owned())
            .collect();
        let mut args = vec!["-i"];
        args.extend(files.iter().map(String::as_str));
        rpm("rpm", &root, &args);
        root
    }
}

pub fn nothing_held(_: &Sha256) -> bool {
    false
}

pub fn summary(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let replaces: Vec<String> = c.replaces.iter().map(|r| r.to_string()).collect();
            format!("{:?} {} [{}]", c.kind, c.package, replaces.join(" "))
        })
        .collect()
}

/// Runs rpm without asserting; returns (success, stderr).
pub fn try_rpm(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DB_PATH])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub const BASE: &[&str] = &[
    "app-1.0-1.fc41.x86_64",
    "libfoo-1.0-1.fc41.x86_64",
    "oldtool-1.0-1.fc41.x86_64",
    "kernel-6.1.0-1.fc41.x86_64",
    "data-1.0-1.fc41.noarch",
    "toolkit-1.0-1.fc41.x86_64",
];

#[test]
fn an_update_pulls_in_new_dependencies_replaces_obsoleted_packages_and_keeps_old_kernels() {
    let w = World::build();
    let root = w.root("base", BASE);
    let p = w.update_plan(&root);
    assert_eq!(
        summary(&p),
        [
            "Upgrade app-2.0-1.fc41.x86_64 [app-1.0-1.fc41.x86_64]",
            "InstallBeside kernel-6.2.0-1.fc41.x86_64 []",
            "Upgrade libfoo-2.0-1.fc41.x86_64 [libfoo-1.0-1.fc41.x86_64]",
            "Install libnew-1.0-1.fc41.x86_64 []",
            "Install newtool-2.0-1.fc41.x86_64 [oldtool-1.0-1.fc41.x86_64]",
        ]
    );
    let sizes: u64 = p.downloads.iter().map(|d| d.size).sum();
    assert_eq!(p.download_bytes, sizes);
    assert_eq!(p.held_bytes, 0);

    // rpm's own check is the judge: the plan passes it, and without the dependency it pulled
    // in it fails (positive and negative control).
    let files = |pred: &dyn Fn(ChangeKind) -> bool| -> Vec<String> {
        p.changes
            .iter()
            .filter(|c| pred(c.kind))
            .map(|c| w.file(&c.package.to_string()).to_str().unwrap().to_owned())
            .collect()
    };
    let upgrades = files(&|k| k != ChangeKind::InstallBeside);
    let mut args = vec!["-U", "--test"];
    args.extend(upgrades.iter().map(String::as_str));
    let (ok, err) = try_rpm(&root, &args);
    assert!(ok, "rpm refused the plan: {err}");
    let without: Vec<&str> = upgrades
        .iter()
        .map(String::as_str)
        .filter(|f| !f.contains("libnew"))
        .collect();
    let mut args = vec!["-U", "--test"];
    args.extend(without);
    let (ok, err) = try_rpm(&root, &args);
    assert!(!ok && err.contains("libnew.so.1"), "{err}");

    // Installed for real in one transaction: the kernels side by side, oldtool replaced, nothing
    // else touched.
    let all: Vec<PathBuf> = files(&|_| true).into_iter().map(PathBuf::from).collect();
    install(
        &root,
        &w.keyed(&root, &all),
        &[],
        &TransactionNote::default(),
    )
    .unwrap();
    let after = Inventory::read(&root).unwrap();
    let names: Vec<String> = after.packages.iter().map(|p| p.nevra.to_string()).collect();
    assert_eq!(
        names,
        [
            "app-2.0-1.fc41.x86_64",
            "data-1.0-1.fc41.noarch",
            "kernel-6.1.0-1.fc41.x86_64",
            "kernel-6.2.0-1.fc41.x86_64",
            "libfoo-2.0-1.fc41.x86_64",
            "libnew-1.0-1.fc41.x86_64",
            "newtool-2.0-1.fc41.x86_64",
            "toolkit-1.0-1.fc41.x86_64",
        ]
    );
    // Up to date now: nothing more to do.
    let again = plan(
        &after,
        &w.catalogue,
        &Goal::Update,
        &nothing_held,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(again.is_empty(), "{:?}", summary(&again));
}

#[test]
fn a_downgrade_takes_what_depends_on_it_down_too_and_held_packages_cost_nothing() {
    let w = World::build();
    let root = w.root(
        "updated",
        &[
            "app-2.0-1.fc41.x86_64",
            "libfoo-2.0-1.fc41.x86_64",
            "libnew-1.0-1.fc41.x86_64",
            "data-1.0-1.fc41.noarch",
        ],
    );
    let inv = Inventory::read(&root).unwrap();
    let no = AtomicBool::new(false);
    let goal = |name: &str, version: Option<&str>| Goal::Downgrade {
        name: name.into(),
        version: version.map(str::to_owned),
    };

    // app alone goes down; libfoo 2.0 still satisfies app 1.0.
    let p = plan(&inv, &w.catalogue, &goal("app", None), &nothing_held, &no).unwrap();
    assert_eq!(
        summary(&p),
        ["Downgrade app-1.0-1.fc41.x86_64 [app-2.0-1.fc41.x86_64]"]
    );

    // libfoo 1.0 breaks app 2.0 (libfoo >= 2.0): app comes down with it.
    let p = plan(
        &inv,
        &w.catalogue,
        &goal("libfoo", Some("1.0")),
        &nothing_held,
        &no,
    )
    .unwrap();
    assert_eq!(
        summary(&p),
        [
            "Downgrade app-1.0-1.fc41.x86_64 [app-2.0-1.fc41.x86_64]",
            "Downgrade libfoo-1.0-1.fc41.x86_64 [libfoo-2.0-1.fc41.x86_64]",
        ]
    );
    let files: Vec<String> = p
        .changes
        .iter()
        .map(|c| w.file(&c.package.to_string()).to_str().unwrap().to_owned())
        .collect();
    let mut args = vec!["-U", "--oldpackage", "--test"];
    args.extend(files.iter().map(String::as_str));
    let (ok, err) = try_rpm(&root, &args);
    assert!(ok, "rpm refused the downgrade: {err}");

    // A package the store holds is not downloaded again.
    let app1 = w
        .catalogue
        .builds
        .iter()
        .position(|(n, _)| n.to_string() == "app-1.0-1.fc41.x86_64")
        .unwrap();
    let app1_sha = w.catalogue.build(app1).sha256;
    let held = |s: &Sha256| *s == app1_sha;
    let p2 = plan(&inv, &w.catalogue, &goal("libfoo", Some("1.0")), &held, &no).unwrap();
    assert_eq!(p2.held_bytes, w.catalogue.build(app1).size);
    assert_eq!(p2.download_bytes + p2.held_bytes, p.download_bytes);

    // Refusals, each with a clear reason.
    let err = plan(&inv, &w.catalogue, &goal("data", None), &nothing_held, &no).unwrap_err();
    assert!(matches!(err, PlanError::NotAvailable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("older than the installed 1.0-1.fc41"),
        "{err}"
    );
    let err = plan(
        &inv,
        &w.catalogue,
        &goal("oldtool", None),
        &nothing_held,
        &no,
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::NotInstalled(_)), "{err}");
    let err = plan(
        &inv,
        &w.catalogue,
        &goal("app", Some("9.9")),
        &nothing_held,
        &no,
    )
    .unwrap_err();
    assert!(err.to_string().contains("build 9.9"), "{err}");
    let cancelled = plan(
        &inv,
        &w.catalogue,
        &Goal::Update,
        &nothing_held,
        &AtomicBool::new(true),
    );
    assert!(
        matches!(cancelled, Err(PlanError::Cancelled)),
        "{cancelled:?}"
    );
}
