//! Packages and keys made the way a distribution makes them: GnuPG keys (RSA 4096 like Fedora's),
//! `rpmbuild` packages signed with `rpmsign`, keys revoked and expired by GnuPG itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private GnuPG home; its agent is stopped when dropped.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

/// `out`, when its command succeeded; otherwise fails the test with `what` and its output.
pub fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Gpg {
    /// An empty home.
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gnupg").tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Gpg { home }
    }

    /// gpg in this home, in batch mode.
    pub fn command(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .env("LC_ALL", "C")
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ]);
        c
    }

    /// Makes a key without a passphrase (`algo`: "rsa4096", "ed25519"), valid for `expire`
    /// ("never", "1d"), created at `faked_time` if given; returns its fingerprint.
    pub fn generate(
        &self,
        uid: &str,
        algo: &str,
        expire: &str,
        faked_time: Option<&str>,
    ) -> String {
        let mut c = self.command();
        if let Some(t) = faked_time {
            c.args(["--faked-system-time", t]);
        }
        ok(
            c.args(["--quick-gen-key", uid, algo, "sign", expire])
                .output()
                .unwrap(),
            "gpg --quick-gen-key",
        );
        let out = ok(
            self.command()
                .args(["--with-colons", "--list-keys", uid])
                .output()
                .unwrap(),
            "gpg --list-keys",
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned()
    }

    /// The armored public key.
    pub fn export(&self, fpr: &str) -> String {
        let out = ok(
            self.command()
                .args(["--armor", "--export", fpr])
                .output()
                .unwrap(),
            "gpg --export",
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Revokes the key with the revocation certificate GnuPG made beside it.
    pub fn revoke(&self, fpr: &str) {
        let cert = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{fpr}.rev"));
        // GnuPG guards the certificate with a leading colon against importing it by mistake.
        let text = std::fs::read_to_string(&cert).unwrap().replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let armored = self.home.path().join("revoke.asc");
        std::fs::write(&armored, text).unwrap();
        ok(
            self.command()
                .arg("--import")
                .arg(&armored)
                .output()
                .unwrap(),
            "gpg --import revocation",
        );
    }

    /// An armored detached signature of `file`, made at `faked_time` if given.
    pub fn sign_detached(&self, fpr: &str, file: &Path, faked_time: Option<&str>) -> Vec<u8> {
        let mut c = self.command();
        if let Some(t) = faked_time {
            c.args(["--faked-system-time", t]);
        }
        let out = ok(
            c.args([
                "--armor",
                "--local-user",
                fpr,
                "--detach-sign",
                "--output",
                "-",
            ])
            .arg(file)
            .output()
            .unwrap(),
            "gpg --detach-sign",
        );
        out.stdout
    }

    /// Signs an RPM in place as a distribution does (`rpmsign --addsign`; its gpg and key name
    /// must be given on Debian: docs/platform.md §8).
    pub fn rpmsign(&self, uid: &str, rpm: &Path) {
        ok(
            Command::new("rpmsign")
                .env("GNUPGHOME", self.home.path())
                .args(["--define", "__gpg /usr/bin/gpg"])
                .arg("--define")
                .arg(format!("_gpg_name {uid}"))
                .arg("--addsign")
                .arg(rpm)
                .output()
                .unwrap(),
            "rpmsign",
        );
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Runs a repodata tool (`createrepo_c`, `modifyrepo_c`) on `at`; fails the test with its
/// output when it fails.
pub fn tool(program: &str, args: &[&str], at: &Path) {
    let out = Command::new(program)
        .args(args)
        .arg(at)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    ok(out, &format!("{program} {args:?}"));
}

/// Adds `xml` to the repodata of `repo` as its updateinfo, as a distribution does
/// (`modifyrepo_c`).
pub fn add_updateinfo(repo: &Path, xml: &str) {
    // modifyrepo_c names the record by the file's name up to its first dot.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("updateinfo.xml");
    std::fs::write(&file, xml).unwrap();
    tool(
        "modifyrepo_c",
        &["--mdtype", "updateinfo", file.to_str().unwrap()],
        &repo.join("repodata"),
    );
}

/// One noarch package built by `rpmbuild`: `/usr/share/<name>/version` holds its version, and
/// `setuid` adds `/usr/bin/<name>-shell`, a copy of a shell with mode 4755 owned by root.
pub struct Spec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub setuid: bool,
}

/// Builds the package into `out`; returns its path.
pub fn rpmbuild(spec: &Spec, out: &Path) -> PathBuf {
    rpmbuild_requiring(spec, &[], out)
}

/// Builds the package, requiring `requires` (`Requires:` lines), into `out`; returns its path.
pub fn rpmbuild_requiring(spec: &Spec, requires: &[&str], out: &Path) -> PathBuf {
    let top = tempfile::tempdir().unwrap();
    let setuid_install = if spec.setuid {
        format!(
            "mkdir -p %{{buildroot}}/usr/bin\ncp /bin/sh %{{buildroot}}/usr/bin/{}-shell\n",
            spec.name
        )
    } else {
        String::new()
    };
    let setuid_files = if spec.setuid {
        format!("%attr(4755,root,root) /usr/bin/{}-shell\n", spec.name)
    } else {
        String::new()
    };
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: {name} for tests\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\n{requires}\n%description\n{name}, built by rpmbuild for Swarmdate's tests.\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho {version}-{release} > %{{buildroot}}/usr/share/{name}/version\n{setuid_install}\n%files\n/usr/share/{name}/version\n{setuid_files}\n%changelog\n* Mon Dec 07 2026 Packager <packager@example.org> - {version}-{release}\n- {name} {version}\n\n* Sun Dec 06 2026 Packager <packager@example.org> - 1.0-0\n- First packaged\n",
        name = spec.name,
        version = spec.version,
        release = spec.release,
        requires = requires
            .iter()
            .map(|r| format!("Requires: {r}\n"))
            .collect::<String>(),
    );
    let spec_file = top.path().join(format!("{}.spec", spec.name));
    std::fs::write(&spec_file, text).unwrap();
    ok(
        Command::new("rpmbuild")
            .env("LC_ALL", "C")
            .arg("--define")
            .arg(format!("_topdir {}", top.path().display()))
            .args(["--define", "_build_id_links none"])
            // The setuid file is a copy of the build machine's shell.
            .args([
                "--define",
                "_binaries_in_noarch_packages_terminate_build 0",
                "-bb",
            ])
            .arg(&spec_file)
            .output()
            .unwrap(),
        "rpmbuild",
    );
    let file = format!("{}-{}-{}.noarch.rpm", spec.name, spec.version, spec.release);
    std::fs::create_dir_all(out).unwrap();
    let dest = out.join(&file);
    std::fs::copy(top.path().join("RPMS/noarch").join(&file), &dest).unwrap();
    dest
}
