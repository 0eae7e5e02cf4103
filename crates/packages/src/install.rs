//! One transaction per run: every package's signature checked first, then `dnf install` of the
//! local files into a root (dnf upgrades, downgrades, replaces obsoleted packages and keeps
//! installonly ones beside the old builds, and its own check refuses a broken set).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Nevra;
use super::inventory::DB_PATH;
use super::verify::{PackageError, PackageKeys};

/// Why a transaction did not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A package failed its check: nothing of the transaction was installed.
    #[error("{0}; nothing was installed")]
    Refused(#[source] PackageError),
    /// dnf refused or failed the transaction.
    #[error("the transaction failed and nothing was changed:\n{0}")]
    Transaction(String),
    /// dnf could not be run.
    #[error("cannot run dnf ({0}); install dnf (Debian: apt-get install dnf)")]
    NoDnf(String),
    /// Another package manager holds rpm's lock and did not let go in time.
    #[error(
        "another package manager is working on {root} (it holds {lock}); try again when it has finished"
    )]
    Locked { root: PathBuf, lock: PathBuf },
    /// Preparing the transaction failed.
    #[error("preparing the transaction: {0}")]
    Io(#[from] std::io::Error),
}

impl InstallError {
    /// Whether this is a refusal for trust (a bad signature).
    pub fn is_trust(&self) -> bool {
        matches!(self, InstallError::Refused(e) if e.is_trust())
    }
}

/// rpm's transaction lock in `root`.
pub fn rpm_lock_path(root: &Path) -> PathBuf {
    root.join(DB_PATH.trim_start_matches('/')).join(".rpm.lock")
}

/// Whether another process holds rpm's transaction lock (an fcntl write lock, as rpm takes it).
pub fn rpm_lock_held(root: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(rpm_lock_path(root))
    else {
        return false;
    };
    let mut probe = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: F_GETLK only fills `probe`, which outlives the call.
    let r = unsafe { nix::libc::fcntl(f.as_raw_fd(), nix::libc::F_GETLK, &mut probe) };
    r == 0 && probe.l_type != nix::libc::F_UNLCK as i16
}

/// Waits until rpm's lock is free, up to `patience`; calls `waiting` once if it has to wait.
pub fn wait_for_rpm_lock(
    root: &Path,
    patience: Duration,
    mut waiting: impl FnMut(),
) -> Result<(), InstallError> {
    let start = std::time::Instant::now();
    let mut told = false;
    while rpm_lock_held(root) {
        if start.elapsed() >= patience {
            return Err(InstallError::Locked {
                root: root.to_owned(),
                lock: rpm_lock_path(root),
            });
        }
        if !told {
            waiting();
            told = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// What a transaction installed.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The packages, as checked.
    pub packages: Vec<Nevra>,
    /// dnf's report.
    pub output: String,
}

/// Checks every file against the keys it must be signed with; one that fails refuses them all.
pub fn check_all(files: &[(PathBuf, PackageKeys)]) -> Result<Vec<Nevra>, InstallError> {
    files
        .iter()
        .map(|(f, keys)| keys.verify(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(InstallError::Refused)
}

/// Checks every file (each against its keys), then installs them all in one dnf transaction
/// into `root`.
pub fn install(
    root: &Path,
    files: &[(PathBuf, PackageKeys)],
) -> Result<InstallReport, InstallError> {
    // Every signature before anything runs: one bad package refuses the whole transaction.
    let packages = check_all(files)?;
    let paths: Vec<PathBuf> = files.iter().map(|(f, _)| f.clone()).collect();
    let output = transaction(root, &paths)?;
    Ok(InstallReport { packages, output })
}

/// Installs already checked local packages in one `dnf install` into `root`; returns dnf's report.
pub fn transaction(root: &Path, files: &[PathBuf]) -> Result<String, InstallError> {
    if files.is_empty() {
        return Ok(String::new());
    }
    let work = tempfile::tempdir()?;
    // dnf reads rpm's macros; Debian's rpm keeps its database in ~/.rpmdb, Fedora's in
    // /var/lib/rpm. A private HOME with one macro makes both use Fedora's path.
    std::fs::write(
        work.path().join(".rpmmacros"),
        format!("%_dbpath {DB_PATH}\n"),
    )?;
    let conf = work.path().join("dnf.conf");
    std::fs::write(
        &conf,
        "[main]\nreposdir=/dev/null\n# Every signature was checked against this root's own rpm keys before dnf runs.\nlocalpkg_gpgcheck=0\ninstall_weak_deps=0\n",
    )?;
    let out = super::tool::clean_command("dnf")
        .env("HOME", work.path())
        .arg("-c")
        .arg(&conf)
        .arg(format!("--installroot={}", root.display()))
        // No repository is used, so the release version only has to be set.
        .args([
            "--releasever=0",
            "--disablerepo=*",
            "--assumeyes",
            "--quiet",
            "install",
        ])
        .args(files)
        .output()
        .map_err(|e| InstallError::NoDnf(e.to_string()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(InstallError::Transaction(text.trim().to_owned()));
    }
    Ok(text)
}
