//! The privileged side of installing into the system (run as root through pkexec and the polkit
//! policy in `data/`). It takes nothing from the calling user it cannot check:
//! - under pkexec (`PKEXEC_UID` set) the only root is the system's `/`; a `--root` is refused
//!   before anything is read, since a root the user made holds keys and links the user chose;
//! - packages are named by SHA-256 digest and the size their index pins; each file is copied out
//!   of the user's reach (refused unread if its size is not the pinned one), and the copy is
//!   checked against its digest and its signature against the keys the system's rpm database
//!   trusts, by the same rule as every other install (`PackageKeys::of_root`) and by `rpmkeys`;
//! - `install` never takes a build older than an installed one; `downgrade` (its own polkit
//!   action, always authenticated, chosen by pkexec from the verb: docs/platform.md §8) takes
//!   exactly the builds the user confirmed, each named by its NEVRA on the command line that the
//!   authentication dialog shows;
//! - `undo N` (its own action too) reads transaction N from the root's history, which only root
//!   writes, and works out itself what to remove and which builds to restore: the files given
//!   must be exactly those builds, so no other package can be removed or put back this way;
//! - every transaction is recorded in the root's history with the caller as the one who asked;
//!   the command label and sources the caller gives are labels only, cut to a bound.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use super::Nevra;
use super::history::{FileOrigin, History, HistoryError, TransactionNote, Undo, undo_of};
use super::install::{InstallError, InstallReport, LocalPackage, transaction};
use super::inventory::{DB_PATH, Inventory};
use super::verify::{PackageError, PackageKeys};
use crate::hash::Sha256;

/// Why the helper refused.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The command line is not one the helper takes.
    #[error("{0}")]
    Usage(String),
    /// Under pkexec, another root than the system's was asked for.
    #[error(
        "--root is refused when run through pkexec: the privileged helper installs only into the system (/); install into another root as its owner, without pkexec"
    )]
    RootUnderPkexec,
    /// No such package in the store.
    #[error("the store has no package {0}")]
    NotInStore(Sha256),
    /// The store's entry is not a regular file of the calling user (a link, a device, ...).
    #[error("the store's entry for {0} is not a regular file of the calling user; refusing it")]
    NotRegular(Sha256),
    /// The file's size is not the one its index pins.
    #[error(
        "the store's file for {sha256} is {actual} bytes, but its package index pins {pinned}; refusing it unread"
    )]
    SizeMismatch {
        sha256: Sha256,
        actual: u64,
        pinned: u64,
    },
    /// The file's bytes are not the digest it is named by.
    #[error("the store's file for {named} has SHA-256 {actual}; refusing it")]
    DigestMismatch { named: Sha256, actual: Sha256 },
    /// The package's signature is not one the system's keys vouch for.
    #[error("{0}")]
    Signature(#[from] PackageError),
    /// rpm's own check disagrees.
    #[error("rpm's own check refused the package {0}: {1}; nothing was installed")]
    RpmRefused(Sha256, String),
    /// `install` was given a build older than one installed.
    #[error(
        "{package} is older than the installed {installed}; the install action never downgrades (confirm a downgrade with `swarmdate downgrade`)"
    )]
    Downgrade {
        package: Box<Nevra>,
        installed: Box<Nevra>,
    },
    /// A `downgrade` file is not the build the user confirmed.
    #[error(
        "the file named {sha256} is {actual}, not the confirmed {confirmed}; nothing was installed"
    )]
    NotConfirmed {
        sha256: Sha256,
        confirmed: Box<Nevra>,
        actual: Box<Nevra>,
    },
    /// What is installed could not be read.
    #[error("reading what is installed: {0}")]
    Inventory(String),
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The transaction cannot be undone as the root is now.
    #[error("{0}; nothing was changed")]
    Undo(#[from] crate::history::UndoError),
    /// The files given for an undo are not the builds it restores.
    #[error(
        "undoing transaction {id} restores {wanted}, but the packages given are {given}; nothing was changed"
    )]
    UndoMismatch {
        id: i64,
        wanted: String,
        given: String,
    },
    /// Reading or copying failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The transaction failed.
    #[error(transparent)]
    Install(#[from] InstallError),
}

impl HelperError {
    /// The helper's exit code: 2 usage, 3 refused for trust, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            HelperError::Usage(_) | HelperError::RootUnderPkexec => 2,
            HelperError::NotRegular(_)
            | HelperError::SizeMismatch { .. }
            | HelperError::DigestMismatch { .. }
            | HelperError::RpmRefused(..)
            | HelperError::Downgrade { .. }
            | HelperError::NotConfirmed { .. }
            | HelperError::UndoMismatch { .. } => 3,
            HelperError::Signature(e) if e.is_trust() => 3,
            _ => 1,
        }
    }
}

/// What the helper is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperVerb {
    /// Install or update; never to an older build.
    Install,
    /// Exactly the confirmed builds, older ones included.
    Downgrade,
    /// Undo one transaction of the root's history: restore the builds it replaced or removed,
    /// remove those it added.
    Undo,
    /// Check packages as `install` would and arm them for the next boot (`offline`).
    OfflinePrepare,
}

impl HelperVerb {
    /// The word on the command line (and in the polkit policy's `exec.argv1`).
    pub fn word(self) -> &'static str {
        match self {
            HelperVerb::Install => "install",
            HelperVerb::Downgrade => "downgrade",
            HelperVerb::Undo => "undo",
            HelperVerb::OfflinePrepare => "offline-prepare",
        }
    }
}

/// One package of a request: its digest, the size its index pins, and for a downgrade the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperPackage {
    /// The store object.
    pub sha256: Sha256,
    /// The size the package index pins.
    pub size: u64,
    /// The confirmed build (downgrades only).
    pub nevra: Option<Nevra>,
}

impl HelperPackage {
    /// The argument: `SHA256:SIZE`, or `NEVRA=SHA256:SIZE` for a downgrade.
    pub fn arg(&self) -> String {
        match &self.nevra {
            Some(n) => format!("{n}={}:{}", self.sha256, self.size),
            None => format!("{}:{}", self.sha256, self.size),
        }
    }

    fn parse(verb: HelperVerb, s: &str) -> Result<Self, HelperError> {
        let bad = |why: &str| HelperError::Usage(format!("{s:?} is not a package argument: {why}"));
        let (nevra, rest) = match verb {
            HelperVerb::Install | HelperVerb::OfflinePrepare => (None, s),
            HelperVerb::Downgrade | HelperVerb::Undo => {
                let (n, rest) = s
                    .split_once('=')
                    .ok_or_else(|| bad("expected NEVRA=SHA256:SIZE"))?;
                (
                    Some(n.parse::<Nevra>().map_err(|e| bad(&e.to_string()))?),
                    rest,
                )
            }
        };
        let (sha, size) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected SHA256:SIZE"))?;
        Ok(HelperPackage {
            sha256: sha
                .parse()
                .map_err(|e: crate::hash::HexError| bad(&e.to_string()))?,
            size: size.parse().map_err(|_| bad("the size is not a number"))?,
            nevra,
        })
    }
}

/// What the helper is asked to do.
#[derive(Debug, Clone)]
pub struct HelperRequest {
    /// Install or downgrade.
    pub verb: HelperVerb,
    /// The user's package store.
    pub store: PathBuf,
    /// The system root (`/`), or, run without pkexec, a root of the caller's own.
    pub root: PathBuf,
    /// The packages.
    pub packages: Vec<HelperPackage>,
    /// The user the store must belong to (`PKEXEC_UID`, else the caller).
    pub owner: u32,
    /// For the history: what the user asked (a label).
    pub command: String,
    /// For the history: where each file was fetched from (labels).
    pub from: HashMap<Sha256, String>,
    /// The transaction to undo (`undo` only).
    pub undo: Option<i64>,
}

/// Longest source label taken for the history.
const FROM_LIMIT: usize = 100;

/// The usage line.
pub const HELPER_USAGE: &str = "usage: swarmdate-helper install|offline-prepare --store DIR [--root DIR] [--command TEXT] [--from SHA256=LABEL]... SHA256:SIZE...\n       swarmdate-helper downgrade --store DIR [--root DIR] [--command TEXT] [--from SHA256=LABEL]... NEVRA=SHA256:SIZE...\n       swarmdate-helper undo N --store DIR [--root DIR] [--from SHA256=LABEL]... [NEVRA=SHA256:SIZE...]\n       swarmdate-helper offline-apply|offline-cancel [--root DIR]";

/// One run of the helper.
#[derive(Debug, Clone)]
pub enum HelperCommand {
    /// A transaction, or an update prepared for the next boot.
    Request(HelperRequest),
    /// At boot (`swarmdate-offline-update.service`): install the prepared update.
    OfflineApply {
        /// The root (`/` at boot).
        root: PathBuf,
    },
    /// Disarm the prepared update.
    OfflineCancel {
        /// The root.
        root: PathBuf,
    },
}

impl HelperCommand {
    /// Reads a command line (without the program name); see [`HelperRequest::parse`].
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        pkexec_uid: Option<&str>,
        caller: u32,
    ) -> Result<Self, HelperError> {
        let args: Vec<String> = args.into_iter().collect();
        let usage = |why: String| HelperError::Usage(format!("{why}\n{HELPER_USAGE}"));
        let root_only = |rest: &[String]| -> Result<PathBuf, HelperError> {
            match rest {
                [] => Ok(PathBuf::from("/")),
                [flag, root] if flag == "--root" && pkexec_uid.is_none() => {
                    let root = PathBuf::from(root);
                    if root.is_absolute() {
                        Ok(root)
                    } else {
                        Err(usage("--root needs an absolute path".into()))
                    }
                }
                [flag, _] if flag == "--root" => Err(HelperError::RootUnderPkexec),
                _ => Err(usage(format!("unexpected arguments {rest:?}"))),
            }
        };
        match args.first().map(String::as_str) {
            Some("offline-apply") => {
                if pkexec_uid.is_some() {
                    return Err(usage(
                        "offline-apply runs at boot, from swarmdate-offline-update.service, not through pkexec".into(),
                    ));
                }
                Ok(HelperCommand::OfflineApply {
                    root: root_only(&args[1..])?,
                })
            }
            Some("offline-cancel") => Ok(HelperCommand::OfflineCancel {
                root: root_only(&args[1..])?,
            }),
            _ => HelperRequest::parse(args, pkexec_uid, caller).map(HelperCommand::Request),
        }
    }
}

impl HelperRequest {
    /// Reads a command line (without the program name). `pkexec_uid` is `PKEXEC_UID`: when set,
    /// the caller is another user than the one the helper runs as, and only `/` is a root.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        pkexec_uid: Option<&str>,
        caller: u32,
    ) -> Result<Self, HelperError> {
        let usage = |why: String| HelperError::Usage(format!("{why}\n{HELPER_USAGE}"));
        let mut args = args.into_iter();
        let verb = match args.next().as_deref() {
            Some("install") => HelperVerb::Install,
            Some("downgrade") => HelperVerb::Downgrade,
            Some("undo") => HelperVerb::Undo,
            Some("offline-prepare") => HelperVerb::OfflinePrepare,
            other => return Err(usage(format!("unknown action {other:?}"))),
        };
        let undo = match verb {
            HelperVerb::Undo => Some(
                args.next()
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| usage("undo needs the number of a transaction".into()))?,
            ),
            _ => None,
        };
        let (mut store, mut root, mut packages) = (None, None, Vec::new());
        let mut command = verb.word().to_owned();
        let mut from = HashMap::new();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--store" => store = args.next().map(PathBuf::from),
                "--root" => root = Some(args.next().map(PathBuf::from).unwrap_or_default()),
                "--command" if verb != HelperVerb::Undo => {
                    command = args.next().unwrap_or_default();
                }
                "--from" => {
                    let v = args.next().unwrap_or_default();
                    let (sha, label) = v
                        .split_once('=')
                        .and_then(|(sha, label)| Some((sha.parse::<Sha256>().ok()?, label)))
                        .ok_or_else(|| usage(format!("{v:?} is not SHA256=LABEL")))?;
                    let label: String = label
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(FROM_LIMIT)
                        .collect();
                    from.insert(sha, label);
                }
                p => packages.push(HelperPackage::parse(verb, p)?),
            }
        }
        if let Some(n) = undo {
            // The same label the use case gives an undo it runs itself.
            command = format!("history undo {n}");
        }
        let owner = match pkexec_uid {
            Some(uid) => {
                if root.is_some() {
                    return Err(HelperError::RootUnderPkexec);
                }
                uid.parse()
                    .map_err(|_| usage(format!("PKEXEC_UID {uid:?} is not a user id")))?
            }
            None => caller,
        };
        let store = store
            .filter(|s| s.is_absolute())
            .ok_or_else(|| usage("--store needs an absolute path".into()))?;
        let root = root.unwrap_or_else(|| PathBuf::from("/"));
        if !root.is_absolute() {
            return Err(usage("--root needs an absolute path".into()));
        }
        // An undo of an install only removes: it may name no file.
        if packages.is_empty() && verb != HelperVerb::Undo {
            return Err(usage("no package named".into()));
        }
        Ok(HelperRequest {
            verb,
            store,
            root,
            packages,
            owner,
            command,
            from,
            undo,
        })
    }
}

/// Copies, checks and installs the requested packages (for an undo, also removes what the
/// history says it added); returns what the transaction did.
pub fn run_helper(req: &HelperRequest) -> Result<InstallReport, HelperError> {
    // Out of the user's reach: a private folder of the helper's own, not `$TMPDIR`.
    let private = private_dir()?;
    let installed =
        Inventory::read(&req.root).map_err(|e| HelperError::Inventory(e.to_string()))?;
    // An undo is worked out from the root's own history, not from the caller.
    let undo = match req.undo {
        Some(id) => Some(undo_from_history(&req.root, id, &installed)?),
        None => None,
    };
    let copies = checked_copies(req, &installed, private.path())?;
    let remove = match (&undo, req.undo) {
        (Some(u), Some(id)) => {
            let mut wanted: Vec<String> = u.restore.iter().map(|(n, _)| n.to_string()).collect();
            let mut given: Vec<String> = copies.iter().map(|c| c.nevra.to_string()).collect();
            wanted.sort();
            given.sort();
            if wanted != given {
                return Err(HelperError::UndoMismatch {
                    id,
                    wanted: list_or_nothing(&wanted),
                    given: list_or_nothing(&given),
                });
            }
            u.remove.clone()
        }
        _ => Vec::new(),
    };
    let note = TransactionNote {
        command: req.command.clone(),
        asked_by: req.owner,
        undoes: req.undo,
    };
    Ok(transaction(&req.root, &copies, &remove, &note)?)
}

/// A private folder of the helper's own, out of the user's reach (not `$TMPDIR`).
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("swarmdate-helper-")
        .tempdir_in("/var/tmp")
}

/// Checks `req`'s packages as a transaction would, without installing: for an update prepared
/// for the next boot, so that what cannot install is said now.
pub fn check_request(req: &HelperRequest) -> Result<(), HelperError> {
    let private = private_dir()?;
    let installed =
        Inventory::read(&req.root).map_err(|e| HelperError::Inventory(e.to_string()))?;
    checked_copies(req, &installed, private.path()).map(drop)
}

/// Each requested package copied out of the store into `private` and checked there: its size
/// and digest, its signature against the root's keys, the verb's rule, then rpm's own check.
fn checked_copies(
    req: &HelperRequest,
    installed: &Inventory,
    private: &Path,
) -> Result<Vec<LocalPackage>, HelperError> {
    let keys = PackageKeys::of_root(&req.root)?;
    let mut copies = Vec::with_capacity(req.packages.len());
    for (n, p) in req.packages.iter().enumerate() {
        let hex = p.sha256.to_string();
        let object = req.store.join("objects").join(&hex[..2]).join(&hex);
        let copy = private.join(format!("{n}.rpm"));
        copy_checked(&object, p, req.owner, &copy)?;
        let nevra = keys.verify(&copy)?;
        match (&p.nevra, req.verb) {
            (Some(confirmed), HelperVerb::Downgrade | HelperVerb::Undo) if *confirmed != nevra => {
                return Err(HelperError::NotConfirmed {
                    sha256: p.sha256,
                    confirmed: Box::new(confirmed.clone()),
                    actual: Box::new(nevra),
                });
            }
            (_, HelperVerb::Install | HelperVerb::OfflinePrepare) => {
                let newer = installed
                    .named(&nevra.name)
                    .find(|i| i.nevra.evr.rpm_cmp(&nevra.evr).is_gt())
                    .map(|i| i.nevra.clone());
                if let Some(installed) = newer {
                    return Err(HelperError::Downgrade {
                        package: Box::new(nevra),
                        installed: Box::new(installed),
                    });
                }
            }
            _ => {}
        }
        rpm_checksig(&req.root, &p.sha256, &copy)?;
        copies.push(LocalPackage {
            path: copy,
            nevra,
            origin: FileOrigin {
                sha256: p.sha256,
                size: p.size,
                from: req.from.get(&p.sha256).cloned(),
            },
        });
    }
    Ok(copies)
}

fn list_or_nothing(v: &[String]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

/// What undoing transaction `id` of `root`'s history does, as the root is now.
pub fn undo_from_history(root: &Path, id: i64, installed: &Inventory) -> Result<Undo, HelperError> {
    let history = History::open_read(root)?.ok_or(HistoryError::NoSuchEntry(id))?;
    let entry = history.get(id)?.ok_or(HistoryError::NoSuchEntry(id))?;
    let all = history.list(usize::MAX >> 1)?;
    Ok(undo_of(&entry, installed, &all)?)
}

/// Copies `object` to `copy` without following links, refusing anything but a regular file of
/// `owner` of the pinned size whose bytes are the pinned digest.
fn copy_checked(
    object: &Path,
    p: &HelperPackage,
    owner: u32,
    copy: &Path,
) -> Result<(), HelperError> {
    let digest = p.sha256;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(object)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENOENT) => HelperError::NotInStore(digest),
            Some(nix::libc::ELOOP) => HelperError::NotRegular(digest),
            _ => HelperError::Io(e),
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != owner {
        return Err(HelperError::NotRegular(digest));
    }
    if meta.len() != p.size {
        return Err(HelperError::SizeMismatch {
            sha256: digest,
            actual: meta.len(),
            pinned: p.size,
        });
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(copy)?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    // The file may grow after the check: read no more than the pinned size and one byte.
    let mut reader = file.take(p.size + 1);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut hasher, &buf[..n]);
        std::io::Write::write_all(&mut out, &buf[..n])?;
    }
    let actual = Sha256(sha2::Digest::finalize(hasher).into());
    if actual != digest {
        return Err(HelperError::DigestMismatch {
            named: digest,
            actual,
        });
    }
    Ok(())
}

/// rpm's own check of the copy against the root's keys, as a second opinion.
fn rpm_checksig(root: &Path, digest: &Sha256, file: &Path) -> Result<(), HelperError> {
    let out = super::tool::clean_command("rpmkeys")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DB_PATH, "--checksig"])
        .arg(file)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !text.ends_with("signatures OK") {
        return Err(HelperError::RpmRefused(*digest, text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn boot_and_cancel_commands_take_only_a_root_and_pkexec_gets_only_the_system() {
        let sha = "ab".repeat(32);
        // Positive controls.
        assert!(matches!(
            HelperCommand::parse(args(&["offline-apply"]), None, 0),
            Ok(HelperCommand::OfflineApply { root }) if root == Path::new("/")
        ));
        assert!(matches!(
            HelperCommand::parse(args(&["offline-cancel", "--root", "/tmp/r"]), None, 1000),
            Ok(HelperCommand::OfflineCancel { root }) if root == Path::new("/tmp/r")
        ));
        assert!(matches!(
            HelperCommand::parse(args(&["offline-cancel"]), Some("1000"), 0),
            Ok(HelperCommand::OfflineCancel { .. })
        ));
        let prepare = HelperCommand::parse(
            args(&["offline-prepare", "--store", "/s", &format!("{sha}:10")]),
            Some("1000"),
            0,
        );
        assert!(
            matches!(&prepare, Ok(HelperCommand::Request(r)) if r.verb == HelperVerb::OfflinePrepare && r.owner == 1000),
            "{prepare:?}"
        );
        // Refusals: boot's command through pkexec, another root through pkexec, stray words.
        assert!(HelperCommand::parse(args(&["offline-apply"]), Some("1000"), 0).is_err());
        assert!(matches!(
            HelperCommand::parse(
                args(&["offline-cancel", "--root", "/tmp/r"]),
                Some("1000"),
                0
            ),
            Err(HelperError::RootUnderPkexec)
        ));
        assert!(HelperCommand::parse(args(&["offline-apply", "--root", "rel"]), None, 0).is_err());
        assert!(HelperCommand::parse(args(&["offline-apply", "extra"]), None, 0).is_err());
        // An undo needs its number.
        assert!(HelperCommand::parse(args(&["undo", "--store", "/s"]), None, 0).is_err());
        assert!(HelperCommand::parse(args(&["undo", "0", "--store", "/s"]), None, 0).is_err());
        assert!(matches!(
            HelperCommand::parse(args(&["undo", "3", "--store", "/s"]), None, 0),
            Ok(HelperCommand::Request(r)) if r.undo == Some(3) && r.command == "history undo 3"
        ));
    }
}
