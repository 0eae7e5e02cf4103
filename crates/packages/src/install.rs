//! One transaction per run: every package's signature checked first, then `dnf install` of the
//! local files into a root (dnf upgrades, downgrades, replaces obsoleted packages and keeps
//! installonly ones beside the old builds, and its own check refuses a broken set), or, when
//! an undo also removes packages, a `dnf shell` script doing both at once; each recorded in the
//! root's history.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Nevra;
use super::history::{
    FileOrigin, History, HistoryError, HistoryItem, HistoryResult, TransactionNote, diff, unix_now,
};
use super::inventory::{DB_PATH, Inventory};
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
    /// The history could not be written: nothing was changed.
    #[error("{0}; nothing was changed")]
    History(#[source] HistoryError),
    /// What is installed could not be read.
    #[error("reading what is installed: {0}")]
    Inventory(String),
    /// A package to remove is not installed: nothing was changed.
    #[error("{0} is not installed, so it cannot be removed; nothing was changed")]
    NotInstalled(String),
    /// dnf succeeded but left out part of the transaction.
    #[error(
        "dnf did only part of the transaction: it left out {skipped} (a leading - is a package it did not remove); `swarmdate history` shows what changed. dnf said:\n{output}"
    )]
    Partial { skipped: String, output: String },
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

/// What a transaction did.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The packages installed, as checked.
    pub packages: Vec<Nevra>,
    /// dnf's report.
    pub output: String,
    /// Its number in the root's history.
    pub history: i64,
    /// What went in and out, as rpm's database says.
    pub items: Vec<HistoryItem>,
    /// Why the end of the transaction could not be recorded (it ran all the same).
    pub history_error: Option<String>,
}

/// A package file for a transaction, with the keys it must be signed with and where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The file (named `NEVRA.rpm`: dnf takes local packages by name).
    pub path: PathBuf,
    /// The keys that must have signed it.
    pub keys: PackageKeys,
    /// Its digest, size and source, for the history.
    pub origin: FileOrigin,
}

/// A checked package file.
#[derive(Debug, Clone)]
pub struct LocalPackage {
    /// The file.
    pub path: PathBuf,
    /// The build it is, as its checked header says.
    pub nevra: Nevra,
    /// Its digest, size and source.
    pub origin: FileOrigin,
}

/// Checks every file against the keys it must be signed with; one that fails refuses them all.
/// Returns the builds they are, in order.
pub fn check_all(files: &[Candidate]) -> Result<Vec<Nevra>, InstallError> {
    files
        .iter()
        .map(|c| c.keys.verify(&c.path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(InstallError::Refused)
}

/// Checks every file (each against its keys), then installs them and removes `remove` in one dnf
/// transaction into `root`, recorded in its history.
pub fn install(
    root: &Path,
    files: &[Candidate],
    remove: &[Nevra],
    note: &TransactionNote,
) -> Result<InstallReport, InstallError> {
    // Every signature before anything runs: one bad package refuses the whole transaction.
    let checked: Vec<LocalPackage> = files
        .iter()
        .zip(check_all(files)?)
        .map(|(c, nevra)| LocalPackage {
            path: c.path.clone(),
            nevra,
            origin: c.origin.clone(),
        })
        .collect();
    transaction(root, &checked, remove, note)
}

/// Installs already checked local packages and removes `remove` in one dnf transaction into
/// `root`. The root's history records it: begun before dnf runs (a history that cannot be
/// written refuses the transaction), ended with what rpm's database says changed.
pub fn transaction(
    root: &Path,
    files: &[LocalPackage],
    remove: &[Nevra],
    note: &TransactionNote,
) -> Result<InstallReport, InstallError> {
    let mut history = History::open(root).map_err(InstallError::History)?;
    let before = Inventory::read(root).map_err(|e| InstallError::Inventory(e.to_string()))?;
    let missing: Vec<String> = remove
        .iter()
        .filter(|r| !before.packages.iter().any(|p| p.nevra == **r))
        .map(Nevra::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(InstallError::NotInstalled(missing.join(", ")));
    }
    let id = history
        .begin(note, unix_now())
        .map_err(InstallError::History)?;
    let ran = run_dnf(root, files, remove, id);
    let after = Inventory::read(root).map_err(|e| InstallError::Inventory(e.to_string()));
    let origins: HashMap<Nevra, FileOrigin> = files
        .iter()
        .map(|f| (f.nevra.clone(), f.origin.clone()))
        .collect();
    // What changed, as rpm says, even when dnf failed (it should have changed nothing).
    let items = match &after {
        Ok(after) => diff(&before, after, &origins),
        Err(_) => Vec::new(),
    };
    // dnf may skip a package and still succeed (an obsoleted build, a shell line it refused):
    // what rpm has now must be what was asked.
    let ran = ran.and_then(|out| match &after {
        Ok(after) => {
            let has = |n: &Nevra| after.packages.iter().any(|p| p.nevra == *n);
            let skipped: Vec<String> = files
                .iter()
                .filter(|f| !has(&f.nevra))
                .map(|f| f.nevra.to_string())
                .chain(remove.iter().filter(|r| has(r)).map(|r| format!("-{r}")))
                .collect();
            if skipped.is_empty() {
                Ok(out)
            } else {
                Err(InstallError::Partial {
                    skipped: skipped.join(", "),
                    output: out.trim().to_owned(),
                })
            }
        }
        Err(_) => Ok(out),
    });
    let result = match &ran {
        Ok(_) => HistoryResult::Done,
        Err(e) => HistoryResult::Failed(e.to_string()),
    };
    let recorded = history.finish(id, &result, &items, unix_now());
    let output = ran?;
    after?;
    Ok(InstallReport {
        packages: files.iter().map(|f| f.nevra.clone()).collect(),
        output,
        history: id,
        items,
        history_error: recorded.err().map(|e| e.to_string()),
    })
}

/// One dnf run: `install` of the files, or, with removals, a `shell` script that installs and
/// removes in one transaction (dnf installs an older local file as a downgrade). Its comment
/// names the history entry, so dnf's own history tells Swarmdate's transactions apart.
fn run_dnf(
    root: &Path,
    files: &[LocalPackage],
    remove: &[Nevra],
    id: i64,
) -> Result<String, InstallError> {
    if files.is_empty() && remove.is_empty() {
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
    let mut cmd = super::tool::clean_command("dnf");
    cmd.env("HOME", work.path())
        .arg("-c")
        .arg(&conf)
        .arg(format!("--installroot={}", root.display()))
        // No repository is used, so the release version only has to be set.
        .args([
            "--releasever=0",
            "--disablerepo=*",
            "--assumeyes",
            "--quiet",
        ])
        .arg(format!("--comment={DNF_COMMENT} {id}"));
    if remove.is_empty() {
        cmd.arg("install").args(files.iter().map(|f| &f.path));
    } else {
        // One `install` line for every file (dnf takes local files once per transaction) and
        // one `remove` line. dnf's shell reports a failing line and runs the rest: the caller
        // checked the removals first, and checks the result against rpm after.
        let mut script = String::new();
        if !files.is_empty() {
            script.push_str("install");
            for f in files {
                script.push_str(&format!(" {}", f.path.display()));
            }
            script.push('\n');
        }
        script.push_str("remove");
        for r in remove {
            script.push_str(&format!(" {r}"));
        }
        script.push_str("\nrun\n");
        let path = work.path().join("transaction.dnf");
        std::fs::write(&path, script)?;
        cmd.arg("shell").arg(path);
    }
    let out = cmd
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

/// What Swarmdate's dnf runs say in dnf's history (`--comment`), before the entry's number.
pub const DNF_COMMENT: &str = "swarmdate history";
