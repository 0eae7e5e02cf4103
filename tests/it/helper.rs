//! The privileged helper: run directly on a test root as the user it would serve, it installs
//! only packages of the store that the root's own rpm keys vouch for, named by digest and pinned
//! size, never an older build unless asked to downgrade exactly that build; run as pkexec runs
//! it for another user, it refuses any root but the system's before reading anything. The
//! polkit policy that grants it is valid.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use swarmdate_core::feed::KeyPair;
use swarmdate_core::hash::Sha256;
use swarmdate_core::store::PackageStore;
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

use crate::distro_tools::{Gpg, Spec, rpmbuild};
use crate::packages::rpm;
use crate::plan::{BASE, World};

/// The helper's exit code and stderr.
fn helper_cmd(mut c: Command) -> (i32, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn helper_args(verb: &str, store: &Path, root: &Path, packages: &[String]) -> Command {
    let mut c = Command::new(crate::support::helper_exe());
    c.args([verb, "--store"])
        .arg(store)
        .arg("--root")
        .arg(root)
        .args(packages);
    c
}

fn helper(store: &Path, root: &Path, packages: &[(Sha256, u64)]) -> (i32, String) {
    let args: Vec<String> = packages.iter().map(|(d, n)| format!("{d}:{n}")).collect();
    helper_cmd(helper_args("install", store, root, &args))
}

/// A store package: its digest and size.
fn import(store: &PackageStore, file: &Path) -> (Sha256, u64) {
    let sha = Sha256::of_file(file).unwrap();
    store.import(file, &sha).unwrap();
    (sha, std::fs::metadata(file).unwrap().len())
}

#[test]
fn the_helper_installs_only_store_packages_the_systems_keys_vouch_for() {
    let w = World::build();
    let root = w.root("base", BASE);
    let dir = tempfile::tempdir().unwrap();
    let store = PackageStore::open(&dir.path().join("store")).unwrap();
    let good: Vec<(Sha256, u64)> = [
        "app-2.0-1.fc41.x86_64",
        "libfoo-2.0-1.fc41.x86_64",
        "libnew-1.0-1.fc41.x86_64",
    ]
    .iter()
    .map(|n| import(&store, &w.file(n)))
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
    let mut with_foreign = good.clone();
    with_foreign.push(import(&store, &foreign));
    let (code, err) = helper(store.root(), &root, &with_foreign);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("kernel-6.2.0-1.fc41.x86_64 is signed by key")
            && err.contains("which the rpm database of")
            && err.contains("--import KEY-FILE"),
        "{err}"
    );
    assert_eq!(qa(), before, "nothing of that transaction was installed");

    // An object whose bytes were changed after it entered the store.
    let tampered = good[0].0;
    let obj = store.object_path(&tampered);
    let mut bytes = std::fs::read(&obj).unwrap();
    let keep = bytes.clone();
    bytes[500] ^= 1;
    std::fs::write(&obj, &bytes).unwrap();
    let (code, err) = helper(store.root(), &root, &good);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("has SHA-256"), "{err}");
    std::fs::write(&obj, keep).unwrap();

    // A size other than the index pins is refused before a byte is copied.
    let (code, err) = helper(store.root(), &root, &[(good[0].0, good[0].1 - 1)]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("but its package index pins"), "{err}");

    // A link planted in the store (to a file only root could read) is not followed.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    let planted = Sha256::of(b"root only");
    let link = store.object_path(&planted);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let (code, err) = helper(store.root(), &root, &[(planted, 9)]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    // Not in the store at all, and arguments that are not packages.
    let (code, err) = helper(store.root(), &root, &[(Sha256::of(b"nothing"), 7)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no package"), "{err}");
    for bad in ["../../etc/shadow", &good[0].0.to_string()] {
        let (code, err) = helper_cmd(helper_args(
            "install",
            store.root(),
            &root,
            &[bad.to_owned()],
        ));
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("is not a package argument"), "{err}");
    }
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
fn install_never_downgrades_and_downgrade_takes_exactly_the_confirmed_build() {
    let w = World::build();
    let root = w.root("base", BASE);
    let dir = tempfile::tempdir().unwrap();
    let store = PackageStore::open(&dir.path().join("store")).unwrap();
    let new = import(&store, &w.file("unrelated-2.0-1.fc41.x86_64"));
    // Sorted: rpm lists in the database's order, which a reinstall changes.
    let qa = || {
        let mut l: Vec<String> = rpm("rpm", &root, &["-qa"])
            .lines()
            .map(str::to_owned)
            .collect();
        l.sort();
        l.join("\n")
    };
    let before_any = qa();
    let (code, err) = helper(store.root(), &root, &[new]);
    assert_eq!(code, 0, "{err}");
    let updated = qa();
    assert!(updated.contains("unrelated-2.0-1.fc41.x86_64"), "{updated}");

    // An older build, whole and signed by the system's key: `install` refuses it.
    let old = import(&store, &w.file("unrelated-1.0-1.fc41.x86_64"));
    let (code, err) = helper(store.root(), &root, &[old]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(
            "unrelated-1.0-1.fc41.x86_64 is older than the installed unrelated-2.0-1.fc41.x86_64"
        ),
        "{err}"
    );
    assert_eq!(qa(), updated);

    // `downgrade` names each build; a file that is not the named build is refused.
    let arg = |nevra: &str, (sha, size): (Sha256, u64)| format!("{nevra}={sha}:{size}");
    let (code, err) = helper_cmd(helper_args(
        "downgrade",
        store.root(),
        &root,
        &[arg("unrelated-1.9-1.fc41.x86_64", old)],
    ));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("not the confirmed unrelated-1.9-1.fc41.x86_64"),
        "{err}"
    );
    assert_eq!(qa(), updated);

    // Positive control: the confirmed build comes down.
    let (code, err) = helper_cmd(helper_args(
        "downgrade",
        store.root(),
        &root,
        &[arg("unrelated-1.0-1.fc41.x86_64", old)],
    ));
    assert_eq!(code, 0, "{err}");
    let after = qa();
    assert!(after.contains("unrelated-1.0-1.fc41.x86_64"), "{after}");
    assert!(!after.contains("unrelated-2.0-1.fc41.x86_64"), "{after}");

    // `undo N` reads transaction N from the root's history: 1 installed unrelated 2.0, 2 took it
    // to 1.0. Files other than the builds the undo restores are refused, whatever they are.
    let (code, err) = helper_cmd(helper_args(
        "undo",
        store.root(),
        &root,
        &[arg("unrelated-1.0-1.fc41.x86_64", old)],
    ));
    assert_eq!(code, 2, "the number comes first: {err}");
    let undo = |n: &str, files: &[String]| {
        let mut c = Command::new(crate::support::helper_exe());
        c.args(["undo", n, "--store"])
            .arg(store.root())
            .arg("--root")
            .arg(&root)
            .args(files);
        helper_cmd(c)
    };
    let (code, err) = undo("2", &[arg("unrelated-1.0-1.fc41.x86_64", old)]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("restores unrelated-2.0-1.fc41.x86_64") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(qa(), after);
    // Undoing 1 first is refused: its build was replaced since.
    let (code, err) = undo("1", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no longer installed"), "{err}");
    assert_eq!(qa(), after);
    // Positive controls: undo 2 brings 2.0 back; then undo 1 removes it, no file needed.
    let (code, err) = undo("2", &[arg("unrelated-2.0-1.fc41.x86_64", new)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(qa(), updated);
    let (code, err) = undo("1", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(qa(), before_any);
}

/// A user of this machine, made for one test and removed after it.
struct LocalUser {
    name: String,
    uid: u32,
    home: PathBuf,
}

impl LocalUser {
    fn create() -> LocalUser {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test plays a second user: run it as root"
        );
        let name = format!("sdatk{}", std::process::id() % 100_000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let st = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(st.success());
        let pw = nix::unistd::User::from_name(&name).unwrap().unwrap();
        LocalUser {
            name,
            uid: pw.uid.as_raw(),
            home: pw.dir,
        }
    }

    /// Hands `path` and everything in it to the user.
    fn own(&self, path: &Path) {
        let st = Command::new("chown")
            .args(["-R", "-h", &format!("{0}:{0}", self.name)])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.name]).output();
    }
}

/// Every path under `dir` with its mode, owner and length (links not followed).
fn tree(dir: &Path) -> Vec<(PathBuf, u32, u32, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, m.mode(), m.uid(), m.len()));
        }
    }
    out.sort();
    out
}

fn setuid_files(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|(_, mode, _, _)| mode & 0o4000 != 0)
        .map(|(p, ..)| p)
        .collect()
}

/// The attack as found: a local user hands the helper, as pkexec runs it, a root of their own
/// whose rpm database trusts the user's key, holding a package with a setuid shell signed by
/// that key, and a `var/log` linked to a folder of root's.
#[test]
fn under_pkexec_a_users_own_root_is_refused_before_anything_is_read() {
    let user = LocalUser::create();
    let gpg = Gpg::new();
    let uid = "Mallory <mallory@example.org>";
    let fpr = gpg.generate(uid, "ed25519", "never", None);
    let work = tempfile::tempdir().unwrap();
    let evil = rpmbuild(
        &Spec {
            name: "evil",
            version: "1.0",
            release: "1",
            setuid: true,
        },
        work.path(),
    );
    gpg.rpmsign(uid, &evil);

    // The user's store and root, in the user's home, owned by the user.
    let store = PackageStore::open(&user.home.join("store")).unwrap();
    let pkg = import(&store, &evil);
    let root = user.home.join("evilroot");
    std::fs::create_dir_all(&root).unwrap();
    rpm("rpm", &root, &["--initdb"]);
    let key = user.home.join("mallory.asc");
    std::fs::write(&key, gpg.export(&fpr)).unwrap();
    rpm("rpmkeys", &root, &["--import", key.to_str().unwrap()]);
    let root_logs = tempfile::tempdir().unwrap(); // stands for /root: root's own folder
    std::fs::create_dir_all(root.join("var")).unwrap();
    std::os::unix::fs::symlink(root_logs.path(), root.join("var/log")).unwrap();
    user.own(&user.home);
    let before = tree(&user.home);
    let qa_before = rpm("rpm", &root, &["-qa"]);

    // As pkexec runs it: as root, a clean environment, PKEXEC_UID naming the caller; strace
    // records every file the helper names.
    let trace = work.path().join("helper.strace");
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-e", "trace=%file", "-o"])
        .arg(&trace)
        .arg(crate::support::helper_exe())
        .args(["install", "--store"])
        .arg(store.root())
        .arg("--root")
        .arg(&root)
        .arg(format!("{}:{}", pkg.0, pkg.1))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PKEXEC_UID", user.uid.to_string());
    let (code, err) = helper_cmd(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--root is refused when run through pkexec"),
        "{err}"
    );
    let calls = std::fs::read_to_string(&trace).unwrap();
    assert!(calls.contains("execve("), "strace saw the helper: {calls}");
    let home = user.home.display().to_string();
    let touched: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains(&home) || l.contains("swarmdate-helper-") || l.contains("rpm"))
        .filter(|l| !l.contains("execve("))
        .collect();
    assert!(
        touched.is_empty(),
        "refused before anything was read: {touched:?}"
    );
    assert_eq!(
        tree(&user.home),
        before,
        "nothing in the user's folders changed"
    );
    assert!(setuid_files(&user.home).is_empty());
    assert_eq!(rpm("rpm", &root, &["-qa"]), qa_before);
    assert_eq!(std::fs::read_dir(root_logs.path()).unwrap().count(), 0);

    // Positive control: root, by its own choice (no PKEXEC_UID) and with a store of its own
    // (run directly, the store must be the caller's), does install into that root; so the
    // package and root were valid, and the checks above would have seen the result.
    let st = Command::new("chown")
        .args(["-R", "root:root"])
        .arg(store.root())
        .status()
        .unwrap();
    assert!(st.success());
    let (code, err) = helper_cmd(helper_args(
        "install",
        store.root(),
        &root,
        &[format!("{}:{}", pkg.0, pkg.1)],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(rpm("rpm", &root, &["-qa"]).contains("evil-1.0-1.noarch"));
    let shells = setuid_files(&user.home);
    assert_eq!(shells, vec![root.join("usr/bin/evil-shell")]);
    assert_eq!(std::fs::metadata(&shells[0]).unwrap().uid(), 0);
    assert!(std::fs::metadata(&shells[0]).unwrap().permissions().mode() & 0o4000 != 0);
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
    // pkexec picks the action by the helper's path and its first argument: installs may keep
    // the authorisation a few minutes, downgrades never do.
    let action = |id: &str| {
        let start = text.find(&format!(r#"<action id="{id}">"#)).unwrap();
        let end = start + text[start..].find("</action>").unwrap();
        text[start..end].to_owned()
    };
    let install = action("org.swarmdate.Swarmdate.install-packages");
    assert!(install.contains("/usr/libexec/swarmdate-helper"));
    assert!(install.contains(r#"exec.argv1">install<"#));
    assert!(install.contains("<allow_active>auth_admin_keep</allow_active>"));
    let downgrade = action("org.swarmdate.Swarmdate.downgrade-packages");
    assert!(downgrade.contains("/usr/libexec/swarmdate-helper"));
    assert!(downgrade.contains(r#"exec.argv1">downgrade<"#));
    assert_eq!(downgrade.matches("<allow_").count(), 3);
    assert_eq!(downgrade.matches(">auth_admin<").count(), 3, "{downgrade}");
    for (id, verb) in [
        (
            "org.swarmdate.Swarmdate.prepare-offline-update",
            "offline-prepare",
        ),
        (
            "org.swarmdate.Swarmdate.cancel-offline-update",
            "offline-cancel",
        ),
    ] {
        let a = action(id);
        assert!(a.contains(&format!(r#"exec.argv1">{verb}<"#)), "{a}");
    }
    // Boot's command has no action: pkexec falls back to its generic one, and the helper
    // refuses it under pkexec anyway.
    assert!(!text.contains(r#"exec.argv1">offline-apply<"#));
    let undo = action("org.swarmdate.Swarmdate.undo-transaction");
    assert!(undo.contains(r#"exec.argv1">undo<"#));
    assert_eq!(undo.matches(">auth_admin<").count(), 3, "{undo}");
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
