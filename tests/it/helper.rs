//! The privileged helper, run directly on a test root as the user it would serve: it installs
//! only packages of the store that the root's own rpm keys vouch for, named by their digests; the
//! polkit policy that grants it is valid.

use std::process::Command;

use swarmdate::feed::KeyPair;
use swarmdate::hash::Sha256;
use swarmdate::packages::synth::{PackageFactory, PackageSpec};
use swarmdate::store::PackageStore;

use crate::packages::rpm;
use crate::plan::{BASE, World};

fn helper(store: &std::path::Path, root: &std::path::Path, digests: &[Sha256]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdate-helper"))
        .args(["install", "--store"])
        .arg(store)
        .arg("--root")
        .arg(root)
        .args(digests.iter().map(|d| d.to_string()))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_helper_installs_only_store_packages_the_systems_keys_vouch_for() {
    let w = World::build();
    let root = w.root("base", BASE);
    let dir = tempfile::tempdir().unwrap();
    let store = PackageStore::open(&dir.path().join("store")).unwrap();
    let import = |nevra: &str| {
        let f = w.file(nevra);
        let sha = Sha256::of_file(&f).unwrap();
        store.import(&f, &sha).unwrap();
        sha
    };
    let good: Vec<Sha256> = [
        "app-2.0-1.fc41.x86_64",
        "libfoo-2.0-1.fc41.x86_64",
        "libnew-1.0-1.fc41.x86_64",
    ]
    .iter()
    .map(|n| import(n))
    .collect();
    let qa = || rpm("rpm", &root, &["-qa"]);
    let before = qa();

    // Signed by a key the root has not imported, though the store holds it whole.
    let other = KeyPair::generate("Mallory <m@example.org>").unwrap();
    let foreign = PackageFactory::new(&other)
        .unwrap()
        .build(
            &PackageSpec::new("kernel-6.2.0-1.fc41.x86_64".parse().unwrap(), 3_000),
            5,
            dir.path(),
        )
        .unwrap();
    let foreign_sha = Sha256::of_file(&foreign).unwrap();
    store.import(&foreign, &foreign_sha).unwrap();
    let mut with_foreign = good.clone();
    with_foreign.push(foreign_sha);
    let (code, err) = helper(store.root(), &root, &with_foreign);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("not signed by a key the system trusts"),
        "{err}"
    );
    assert_eq!(qa(), before, "nothing of that transaction was installed");

    // An object whose bytes were changed after it entered the store.
    let tampered = good[0];
    let obj = store.object_path(&tampered);
    let mut bytes = std::fs::read(&obj).unwrap();
    let keep = bytes.clone();
    bytes[500] ^= 1;
    std::fs::write(&obj, &bytes).unwrap();
    let (code, err) = helper(store.root(), &root, &good);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("has SHA-256"), "{err}");
    std::fs::write(&obj, keep).unwrap();

    // A link planted in the store (to a file only root could read) is not followed.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    let planted = Sha256::of(b"root only");
    let link = store.object_path(&planted);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let (code, err) = helper(store.root(), &root, &[planted]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    // Not in the store at all, and arguments that are not digests.
    let (code, err) = helper(store.root(), &root, &[Sha256::of(b"nothing")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no package"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdate-helper"))
        .args(["install", "--store"])
        .arg(store.root())
        .args(["--root", root.to_str().unwrap(), "../../etc/shadow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(qa(), before);

    // Positive control: the store's packages signed by the distribution install.
    let (code, err) = helper(store.root(), &root, &good);
    assert_eq!(code, 0, "{err}");
    let after = qa();
    for p in [
        "app-2.0-1.fc41.x86_64",
        "libfoo-2.0-1.fc41.x86_64",
        "libnew-1.0-1.fc41.x86_64",
    ] {
        assert!(after.contains(p), "{after}");
    }
}

#[test]
fn the_polkit_policy_is_valid_and_names_the_helper() {
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/org.swarmdate.Swarmdate.policy"
    );
    let out = Command::new("xmllint")
        .args([
            "--noout",
            "--dtdvalid",
            "/usr/share/polkit-1/policyconfig-1.dtd",
            policy,
        ])
        .output()
        .expect("xmllint is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(policy).unwrap();
    assert!(text.contains(r#"<action id="org.swarmdate.Swarmdate.install-packages">"#));
    assert!(text.contains("/usr/libexec/swarmdate-helper"));
    assert!(text.contains("<allow_active>auth_admin_keep</allow_active>"));
    // Negative control: the validator does reject a policy without defaults.
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        broken.path(),
        text.replace("<defaults>", "").replace("</defaults>", ""),
    )
    .unwrap();
    let out = Command::new("xmllint")
        .args([
            "--noout",
            "--dtdvalid",
            "/usr/share/polkit-1/policyconfig-1.dtd",
        ])
        .arg(broken.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}
