//! The package side's foundations against Debian's real rpm: generated signed packages installed
//! in a temporary root, the inventory read from rpm's database, and signature checks.

use std::path::{Path, PathBuf};
use std::process::Command;

use swarmdate_core::feed::KeyPair;
use swarmdate_core::packages::{
    DB_PATH, Dep, Evr, Inventory, InventorySource, Nevra, Op, PackageError, PackageKeys,
};
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

/// Runs rpm (or rpmkeys) on `root` with Fedora's database path; returns stdout, asserting success.
pub fn rpm(tool: &str, root: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DB_PATH])
        .args(args)
        .output()
        .expect("rpm is installed");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An empty rpm root that trusts `key`.
pub fn rpm_root(dir: &Path, key: &KeyPair) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    rpm("rpm", &root, &["--initdb"]);
    let asc = dir.join("key.asc");
    std::fs::write(&asc, key.public_armored()).unwrap();
    rpm("rpmkeys", &root, &["--import", asc.to_str().unwrap()]);
    root
}

fn nevra(s: &str) -> Nevra {
    s.parse().unwrap()
}

fn spec(s: &str, size: usize) -> PackageSpec {
    PackageSpec::new(nevra(s), size)
}

#[test]
fn the_inventory_read_from_rpms_database_equals_what_rpm_itself_reports() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let factory = PackageFactory::new(&key).unwrap();
    let root = rpm_root(dir.path(), &key);

    let mut lib = spec("libfoo-1.2-3.fc41.x86_64", 30_000);
    lib.relations
        .provides
        .push(Dep::any("libfoo.so.1()(64bit)"));
    let mut app = spec("app-2.0-1.fc41.x86_64", 50_000);
    app.relations.requires = vec![
        Dep::with("libfoo", Op::Ge, "1.2".parse().unwrap()),
        Dep::any("libfoo.so.1()(64bit)"),
    ];
    app.relations.obsoletes = vec![Dep::with("oldapp", Op::Lt, "2".parse().unwrap())];
    app.relations.conflicts = vec![Dep::any("otherapp")];
    let data = spec("data-2:0.9-1.fc41.noarch", 10_000);
    let k1 = spec("kernel-6.11.4-301.fc41.x86_64", 20_000);
    let k2 = spec("kernel-6.11.5-300.fc41.x86_64", 20_000);
    let pkgs = dir.path().join("pkgs");
    std::fs::create_dir_all(&pkgs).unwrap();
    let files: Vec<String> = [&lib, &app, &data, &k1, &k2]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = factory.build(s, i as u64, &pkgs).unwrap();
            f.to_str().unwrap().to_owned()
        })
        .collect();
    // Two kernels side by side, as an installonly package is.
    let mut args = vec!["-i"];
    args.extend(files.iter().map(String::as_str));
    rpm("rpm", &root, &args);

    let inv = Inventory::read_from(&root, InventorySource::Sqlite).unwrap();
    assert_eq!(
        Inventory::read(&root).unwrap().source,
        InventorySource::Sqlite
    );
    let mut ours: Vec<String> = inv.packages.iter().map(|p| p.nevra.to_string()).collect();
    ours.sort();
    let mut theirs: Vec<String> = rpm(
        "rpm",
        &root,
        &[
            "-qa",
            "--qf",
            "%{NAME}-%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}.%{ARCH}\n",
        ],
    )
    .lines()
    .filter(|l| !l.starts_with("gpg-pubkey"))
    .map(str::to_owned)
    .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 5);
    assert!(ours.contains(&"data-2:0.9-1.fc41.noarch".to_owned()));
    assert_eq!(inv.named("kernel").count(), 2);

    let app_row = inv.named("app").next().unwrap();
    assert_eq!(app_row.relations.requires, app.relations.requires);
    assert_eq!(app_row.relations.obsoletes, app.relations.obsoletes);
    assert_eq!(app_row.relations.conflicts, app.relations.conflicts);
    assert!(
        app_row.relations.provides.iter().any(
            |p| p.name == "app" && p.constraint == Some((Op::Eq, Evr::new(0, "2.0", "1.fc41")))
        ),
        "{:?}",
        app_row.relations.provides
    );
    assert_eq!(app_row.summary, "The app package");
    assert!(app_row.size >= 50_000, "{}", app_row.size);

    // The fallback through `rpm -qa` reads exactly the same.
    let via_rpm = Inventory::read_from(&root, InventorySource::RpmQuery).unwrap();
    assert_eq!(via_rpm.packages, inv.packages);

    // A database we cannot parse falls back to rpm; a root with neither says what is wrong.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("var/lib/rpm")).unwrap();
    std::fs::write(empty.join("var/lib/rpm/rpmdb.sqlite"), b"not a database").unwrap();
    let err = Inventory::read(&empty).unwrap_err().to_string();
    assert!(err.contains("rpmdb.sqlite"), "{err}");
}

#[test]
fn only_packages_whole_and_signed_by_the_trusted_key_pass() {
    let dir = tempfile::tempdir().unwrap();
    let distro = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let other = KeyPair::generate("Someone <else@example.org>").unwrap();
    let root = rpm_root(dir.path(), &distro);
    let keys = PackageKeys::of_root(&root).unwrap();

    let good = PackageFactory::new(&distro)
        .unwrap()
        .build(&spec("good-1.0-1.noarch", 40_000), 1, dir.path())
        .unwrap();
    let foreign = PackageFactory::new(&other)
        .unwrap()
        .build(&spec("foreign-1.0-1.noarch", 40_000), 2, dir.path())
        .unwrap();
    // Same header and signature as `good`, one payload byte flipped.
    let tampered = dir.path().join("tampered-1.0-1.noarch.rpm");
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() - 1000;
    bytes[at] ^= 0x55;
    std::fs::write(&tampered, &bytes).unwrap();
    let truncated = dir.path().join("truncated.rpm");
    std::fs::write(&truncated, &bytes[..200]).unwrap();

    // Positive control: the good package passes, ours and rpm's own check alike.
    assert_eq!(keys.verify(&good).unwrap(), nevra("good-1.0-1.noarch"));
    rpm("rpmkeys", &root, &["--checksig", good.to_str().unwrap()]);

    let foreign_err = keys.verify(&foreign).unwrap_err();
    assert!(
        matches!(foreign_err, PackageError::UntrustedKey { .. }),
        "{foreign_err}"
    );
    let tampered_err = keys.verify(&tampered).unwrap_err();
    assert!(
        matches!(tampered_err, PackageError::BadSignature { .. }),
        "{tampered_err}"
    );
    assert!(
        tampered_err
            .to_string()
            .contains("failed its signature check"),
        "{tampered_err}"
    );
    for (file, what) in [
        (&foreign, "signed by another key"),
        (&tampered, "tampered payload"),
    ] {
        let err = keys.verify(file).unwrap_err();
        assert!(err.is_trust(), "{what}: {err}");
        // rpm itself refuses them too.
        let st = Command::new("rpmkeys")
            .arg("--root")
            .arg(&root)
            .args(["--dbpath", DB_PATH, "--checksig"])
            .arg(file)
            .output()
            .unwrap();
        assert!(!st.status.success(), "rpm accepted the {what} package");
    }
    assert!(
        keys.verify(&foreign)
            .unwrap_err()
            .to_string()
            .contains("foreign-1.0-1.noarch")
    );
    let err = keys.verify(&truncated).unwrap_err();
    assert!(matches!(err, PackageError::Unreadable { .. }), "{err}");
    // A root that imported no key can vouch for nothing.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    rpm("rpm", &bare, &["--initdb"]);
    let err = PackageKeys::of_root(&bare).unwrap_err();
    assert!(matches!(err, PackageError::NoKeys { .. }), "{err}");
    assert!(err.to_string().contains("--import"), "{err}");
}

/// Found by fuzzing: a damaged header made the rpm crate panic while reading it. The check says
/// the file is unreadable instead (beside the positive control above, where good packages pass).
#[test]
fn a_package_whose_header_is_damaged_is_refused_not_a_crash() {
    let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
    let keys = PackageKeys::from_armored(Path::new("/"), &key.public_armored()).unwrap();
    // The second panicked later, reading a signature entry past the header's data; the third
    // claimed an entry so long that the rpm crate tried to allocate 32 GiB and aborted.
    for input in [
        "header-index-out-of-range",
        "signature-entry-out-of-range",
        "entry-count-past-data",
    ] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-regressions/package")
            .join(input);
        let err = keys.verify(&file).unwrap_err();
        assert!(
            matches!(err, PackageError::Unreadable { .. }),
            "{input}: {err}"
        );
        assert!(!err.is_trust());
    }
}

/// Runs dnf itself in `root`, as a user would outside Swarmdate (no repository, Fedora's rpm
/// database path through a private HOME's macros).
pub fn dnf_in(root: &Path, args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".rpmmacros"),
        format!("%_dbpath {DB_PATH}\n"),
    )
    .unwrap();
    let conf = home.path().join("dnf.conf");
    std::fs::write(&conf, "[main]\nreposdir=/dev/null\ninstall_weak_deps=0\n").unwrap();
    let out = Command::new("dnf")
        .env("HOME", home.path())
        .arg("-c")
        .arg(&conf)
        .arg(format!("--installroot={}", root.display()))
        .args([
            "--releasever=41",
            "--disablerepo=*",
            "--assumeyes",
            "--quiet",
        ])
        .args(args)
        .output()
        .expect("dnf is installed");
    assert!(
        out.status.success(),
        "dnf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
