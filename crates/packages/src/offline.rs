//! Offline updates as systemd runs them (systemd.offline-updates(7), the mechanism GNOME
//! Software's "Restart & Update" uses): the packages wait in the user's store, checked; the
//! helper, as root, writes what to install into `/var/lib/swarmdate/offline/prepared.json` and
//! points `/system-update` at that folder; at the next boot systemd enters
//! `system-update.target`, whose `swarmdate-offline-update.service` runs `swarmdate-helper
//! offline-apply`. That removes the link first (a failing update must not loop the boot), installs
//! by the same checks as a live update (each file copied out of the store and checked against its
//! digest, its signature against the system's keys), writes the result beside the manifest, and
//! systemd reboots. The next `update --check` and the window report the result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::durable::write_atomic_mode;
use super::helper::{HelperError, HelperPackage, HelperRequest, HelperVerb, check_request};
use super::history::unix_now;
use crate::hash::Sha256;

/// The folder of a prepared update below a root.
pub const OFFLINE_DIR: &str = "var/lib/swarmdate/offline";
/// The link systemd looks for below a root.
pub const SYSTEM_UPDATE: &str = "system-update";
/// The unit that installs at boot.
pub const OFFLINE_UNIT: &str = "swarmdate-offline-update.service";

/// An update prepared for the next boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// When it was prepared (Unix seconds).
    pub prepared_at: i64,
    /// Who asked.
    pub asked_by: u32,
    /// What was asked (a label).
    pub command: String,
    /// The store the packages wait in (the user's).
    pub store: PathBuf,
    /// The packages, as `SHA256:SIZE`.
    pub packages: Vec<String>,
    /// Where each was fetched from (labels), by digest.
    #[serde(default)]
    pub from: Vec<(Sha256, String)>,
}

/// How a prepared update ended at boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum OfflineOutcome {
    /// Installed, recorded as this history entry.
    Installed {
        /// Its number in the root's history.
        history: i64,
        /// Packages installed.
        packages: usize,
    },
    /// Refused or failed; nothing was installed.
    Failed {
        /// Why.
        message: String,
    },
}

/// A prepared update's result, kept until the next one is prepared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineResult {
    /// What was prepared.
    pub prepared: Prepared,
    /// When it was applied.
    pub applied_at: i64,
    /// How it ended.
    pub outcome: OfflineOutcome,
}

/// The offline state of a root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OfflineState {
    /// An update armed for the next boot.
    pub prepared: Option<Prepared>,
    /// The last one applied.
    pub result: Option<OfflineResult>,
}

/// Why an offline update could not be prepared, applied or read.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Reading or writing its files failed.
    #[error("the offline update in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Its manifest does not read.
    #[error("the prepared update {path} does not read: {reason}")]
    Manifest { path: PathBuf, reason: String },
    /// The packages do not pass the helper's checks.
    #[error(transparent)]
    Helper(#[from] Box<HelperError>),
    /// The prepared update was refused at boot (recorded for the next start).
    #[error("the prepared update was refused, nothing was installed: {0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OfflineError + '_ {
    move |source| OfflineError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks `req`'s packages now (as a live install would, without installing), then writes the
/// manifest and arms `<root>/system-update`. The last result is cleared.
pub fn prepare_offline(req: &HelperRequest) -> Result<Prepared, OfflineError> {
    check_request(req).map_err(Box::new)?;
    let dir = req.root.join(OFFLINE_DIR);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let prepared = Prepared {
        prepared_at: unix_now(),
        asked_by: req.owner,
        command: req.command.clone(),
        store: req.store.clone(),
        packages: req.packages.iter().map(HelperPackage::arg).collect(),
        from: req.from.iter().map(|(k, v)| (*k, v.clone())).collect(),
    };
    let manifest = dir.join("prepared.json");
    let text = serde_json::to_vec_pretty(&prepared).expect("a manifest serializes");
    write_atomic_mode(&manifest, &text, 0o644).map_err(io(&manifest))?;
    let result = dir.join("result.json");
    match std::fs::remove_file(&result) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&result)(e)),
        _ => {}
    }
    // Relative, so the same link serves the system and a test root.
    let link = req.root.join(SYSTEM_UPDATE);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(OFFLINE_DIR, &link).map_err(io(&link))?;
    Ok(prepared)
}

/// Whether `<root>/system-update` is Swarmdate's (another updater may have armed it).
fn armed(root: &Path) -> bool {
    std::fs::read_link(root.join(SYSTEM_UPDATE))
        .is_ok_and(|t| t == Path::new(OFFLINE_DIR) || t == Path::new("/").join(OFFLINE_DIR))
}

/// Disarms the prepared update of `root` (the packages stay in the store).
pub fn cancel_offline(root: &Path) -> Result<bool, OfflineError> {
    if !armed(root) {
        return Ok(false);
    }
    let link = root.join(SYSTEM_UPDATE);
    std::fs::remove_file(&link).map_err(io(&link))?;
    let manifest = root.join(OFFLINE_DIR).join("prepared.json");
    let _ = std::fs::remove_file(manifest);
    Ok(true)
}

/// What boot runs: applies the prepared update of `root`, if `system-update` is Swarmdate's, and
/// records how it ended. `None` when nothing of Swarmdate's was armed.
pub fn apply_offline(root: &Path) -> Result<Option<OfflineResult>, OfflineError> {
    if !armed(root) {
        return Ok(None);
    }
    // First of all: a boot that fails from here on must not come back to this update.
    let link = root.join(SYSTEM_UPDATE);
    std::fs::remove_file(&link).map_err(io(&link))?;
    let dir = root.join(OFFLINE_DIR);
    let manifest = dir.join("prepared.json");
    let prepared = read_json::<Prepared>(&manifest)?.ok_or_else(|| OfflineError::Manifest {
        path: manifest.clone(),
        reason: "it is missing".into(),
    })?;
    let outcome = match request_of(&prepared, root).and_then(|req| super::run_helper(&req)) {
        Ok(report) => OfflineOutcome::Installed {
            history: report.history,
            packages: report.packages.len(),
        },
        Err(e) => OfflineOutcome::Failed {
            message: e.to_string(),
        },
    };
    let result = OfflineResult {
        prepared,
        applied_at: unix_now(),
        outcome,
    };
    let path = dir.join("result.json");
    let text = serde_json::to_vec_pretty(&result).expect("a result serializes");
    write_atomic_mode(&path, &text, 0o644).map_err(io(&path))?;
    std::fs::remove_file(&manifest).map_err(io(&manifest))?;
    Ok(Some(result))
}

/// The install request a manifest stands for; its packages are checked again as they are read.
fn request_of(p: &Prepared, root: &Path) -> Result<HelperRequest, HelperError> {
    let mut args = vec![
        HelperVerb::Install.word().to_owned(),
        "--store".into(),
        p.store.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--command".into(),
        p.command.clone(),
    ];
    for (sha, label) in &p.from {
        args.push("--from".into());
        args.push(format!("{sha}={label}"));
    }
    args.extend(p.packages.iter().cloned());
    // As the user who prepared it asked: the store must be theirs.
    HelperRequest::parse(args, None, p.asked_by)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, OfflineError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OfflineError::Manifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// The offline state of `root`: what is armed, and how the last update ended.
pub fn offline_state(root: &Path) -> Result<OfflineState, OfflineError> {
    let dir = root.join(OFFLINE_DIR);
    Ok(OfflineState {
        prepared: if armed(root) {
            read_json(&dir.join("prepared.json"))?
        } else {
            None
        },
        result: read_json(&dir.join("result.json"))?,
    })
}
