//! A generated package distribution: a release repository and an updates snapshot of real signed
//! RPMs with dependencies, laid out like a mirror, and an older installed set for a client.
//! Used by the demo and by the tests.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::synth::{PackageFactory, PackageSpec};
use swarmdate_core::feed::KeyPair;
use swarmdate_core::packages::{Dep, Evr, Nevra, Op};

/// What [`generate`] made.
#[derive(Debug, Clone)]
pub struct GeneratedRepos {
    /// The release repository folder (`<mirror>/releases/41/x86_64`).
    pub release: PathBuf,
    /// The updates snapshot folder (`<mirror>/updates/41/x86_64`).
    pub updates: PathBuf,
    /// The mirror's root folder (both repositories below it).
    pub mirror: PathBuf,
    /// Every package of the release.
    pub release_packages: Vec<Nevra>,
    /// Every package of the updates snapshot.
    pub update_packages: Vec<Nevra>,
    /// A consistent set of release packages for a client to have installed.
    pub installed: Vec<Nevra>,
}

impl GeneratedRepos {
    /// The file of a package in either repository.
    pub fn file(&self, n: &Nevra) -> Option<PathBuf> {
        [&self.updates, &self.release]
            .iter()
            .map(|r| package_path(r, n))
            .find(|p| p.is_file())
    }
}

/// Where a package lives in a repository folder laid out like a mirror:
/// `Packages/<first letter>/<file name>`.
pub fn package_path(repo: &Path, n: &Nevra) -> PathBuf {
    repo.join("Packages").join(&n.name[..1]).join(n.file_name())
}

fn nevra(name: &str, version: &str, release: &str, arch: &str) -> Nevra {
    Nevra::new(name, Evr::new(0, version, release), arch)
}

fn soname(lib: &str) -> String {
    format!("{lib}.so.1()(64bit)")
}

/// Generates `n` (at least 20) release packages and their updates under `mirror`, signed with
/// `key`, payloads of `min..max` bytes, deterministic for a `seed`. Libraries provide sonames,
/// applications require one to three of them at a minimum version; the updates snapshot bumps
/// about a quarter of the packages, adds a library one updated application needs, replaces
/// `legacy-tool` with `modern-tool` (obsoletes) and carries a newer kernel (installonly).
pub fn generate(
    mirror: &Path,
    key: &KeyPair,
    n: usize,
    payload: std::ops::Range<usize>,
    seed: u64,
) -> anyhow::Result<GeneratedRepos> {
    anyhow::ensure!(n >= 20, "a generated distribution has at least 20 packages");
    let mut rng = StdRng::seed_from_u64(seed);
    let libs = n / 3;
    let apps = n - libs - 3;
    let mut release: Vec<PackageSpec> = Vec::new();
    let mut updates: Vec<PackageSpec> = Vec::new();
    let size = |rng: &mut StdRng| rng.gen_range(payload.clone());

    for i in 0..libs {
        let name = format!("lib{i:03}");
        let mut s = PackageSpec::new(nevra(&name, "1.0", "1.fc41", "x86_64"), size(&mut rng));
        s.relations.provides.push(Dep::any(soname(&name)));
        if rng.gen_bool(0.25) {
            let mut u = PackageSpec::new(nevra(&name, "1.1", "1.fc41", "x86_64"), size(&mut rng));
            u.relations.provides.push(Dep::any(soname(&name)));
            updates.push(u);
        }
        release.push(s);
    }
    let mut installed: Vec<Nevra> = release.iter().map(|s| s.nevra.clone()).collect();
    let mut new_lib_used = false;
    for i in 0..apps {
        let name = format!("app{i:03}");
        let arch = if i % 10 == 9 { "noarch" } else { "x86_64" };
        let mut s = PackageSpec::new(nevra(&name, "1.0", "1.fc41", arch), size(&mut rng));
        for _ in 0..rng.gen_range(1..=3) {
            let lib = format!("lib{:03}", rng.gen_range(0..libs));
            s.relations.requires.push(Dep::any(soname(&lib)));
            s.relations
                .requires
                .push(Dep::with(lib, Op::Ge, "1.0".parse().expect("a version")));
        }
        s.relations.requires.sort_by(|a, b| a.name.cmp(&b.name));
        s.relations.requires.dedup();
        if rng.gen_bool(0.25) {
            let mut u = PackageSpec::new(nevra(&name, "1.1", "1.fc41", arch), size(&mut rng));
            u.relations.requires = s.relations.requires.clone();
            if !new_lib_used && i % 4 != 3 {
                u.relations.requires.push(Dep::any(soname("libnew")));
                new_lib_used = true;
            }
            updates.push(u);
        }
        if i % 4 != 3 {
            installed.push(s.nevra.clone());
        }
        release.push(s);
    }
    // A library only the updates carry, which one updated application needs.
    let mut libnew = PackageSpec::new(nevra("libnew", "1.0", "1.fc41", "x86_64"), size(&mut rng));
    libnew.relations.provides.push(Dep::any(soname("libnew")));
    updates.push(libnew);
    // A tool renamed in the updates.
    let legacy = PackageSpec::new(
        nevra("legacy-tool", "1.0", "1.fc41", "x86_64"),
        size(&mut rng),
    );
    let mut modern = PackageSpec::new(
        nevra("modern-tool", "2.0", "1.fc41", "x86_64"),
        size(&mut rng),
    );
    modern.relations.obsoletes.push(Dep::with(
        "legacy-tool",
        Op::Lt,
        "2.0".parse().expect("a version"),
    ));
    installed.push(legacy.nevra.clone());
    release.push(legacy);
    updates.push(modern);
    // Kernels are installed side by side.
    let kernel = PackageSpec::new(
        nevra("kernel", "6.11.4", "301.fc41", "x86_64"),
        size(&mut rng),
    );
    installed.push(kernel.nevra.clone());
    release.push(kernel);
    updates.push(PackageSpec::new(
        nevra("kernel", "6.11.5", "300.fc41", "x86_64"),
        size(&mut rng),
    ));
    // A package for an architecture the client does not have.
    release.push(PackageSpec::new(
        nevra("firmware-tool", "1.0", "1.fc41", "aarch64"),
        size(&mut rng),
    ));

    let factory = PackageFactory::new(key)?;
    let release_dir = mirror.join("releases/41/x86_64");
    let updates_dir = mirror.join("updates/41/x86_64");
    for (dir, specs, base) in [
        (&release_dir, &release, 0u64),
        (&updates_dir, &updates, 1u64 << 32),
    ] {
        for (i, s) in specs.iter().enumerate() {
            let d = swarmdate_core::fsutil::parent_dir(&package_path(dir, &s.nevra)).to_owned();
            std::fs::create_dir_all(&d)?;
            factory.build(s, seed ^ (base + i as u64), &d)?;
        }
    }
    installed.sort_by_cached_key(|n| n.to_string());
    Ok(GeneratedRepos {
        release: release_dir,
        updates: updates_dir,
        mirror: mirror.to_owned(),
        release_packages: release.into_iter().map(|s| s.nevra).collect(),
        update_packages: updates.into_iter().map(|s| s.nevra).collect(),
        installed,
    })
}

/// Makes `root` an rpm root (Fedora's database path) that trusts `public_key` and has `files`
/// installed side by side (`rpm -i`): the demo's client system.
pub fn install_root(root: &Path, public_key: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    use std::process::Command;
    std::fs::create_dir_all(root)?;
    let rpm = |tool: &str, args: &[&std::ffi::OsStr]| -> anyhow::Result<()> {
        let out = Command::new(tool)
            .arg("--root")
            .arg(root)
            .args(["--dbpath", swarmdate_core::packages::DB_PATH])
            .args(args)
            .output()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot run {tool} ({e}); install rpm (Debian: apt-get install rpm)"
                )
            })?;
        anyhow::ensure!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    };
    rpm("rpm", &["--initdb".as_ref()])?;
    rpm("rpmkeys", &["--import".as_ref(), public_key.as_os_str()])?;
    let mut args: Vec<&std::ffi::OsStr> = vec!["-i".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    rpm("rpm", &args)
}

/// A later updates snapshot: every package of `repos.updates` (copied, same bytes) plus a newer
/// build (1.2) of `n` of them, in `<mirror>/<folder>/41/x86_64`. Returns the folder and the new
/// builds.
pub fn next_snapshot(
    repos: &GeneratedRepos,
    key: &KeyPair,
    folder: &str,
    n: usize,
    seed: u64,
) -> anyhow::Result<(PathBuf, Vec<Nevra>)> {
    let dir = repos.mirror.join(folder).join("41/x86_64");
    let factory = PackageFactory::new(key)?;
    let mut rng = StdRng::seed_from_u64(seed);
    for p in &repos.update_packages {
        let from = repos.file(p).expect("a generated package");
        let to = package_path(&dir, p);
        std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(&to))?;
        std::fs::copy(&from, &to)?;
    }
    let mut new = Vec::new();
    for p in repos
        .update_packages
        .iter()
        .filter(|p| p.name.starts_with("lib") && p.name != "libnew")
        .take(n)
    {
        let nevra = Nevra::new(
            p.name.as_str(),
            Evr::new(0, "1.2", "1.fc41"),
            p.arch.as_str(),
        );
        let mut spec = PackageSpec::new(nevra.clone(), rng.gen_range(20_000..80_000));
        spec.relations.provides.push(Dep::any(soname(&p.name)));
        let d = swarmdate_core::fsutil::parent_dir(&package_path(&dir, &nevra)).to_owned();
        factory.build(&spec, seed ^ new.len() as u64, &d)?;
        new.push(nevra);
    }
    Ok((dir, new))
}
