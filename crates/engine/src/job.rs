//! Jobs the engine runs, and their journal on disk so they resume after a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use swarmdate_core::iso::SwitchMode;
use swarmdate_core::torrent::{InfoHash, Torrent};

/// Identifies a job within one engine's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a torrent's payload lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A single-file torrent's file at this exact path (an image).
    Image(PathBuf),
    /// A torrent laid out under this folder as its name says.
    Folder(PathBuf),
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Seed a complete payload.
    Seed { payload: Payload },
    /// Seed a complete payload to a new swarm, showing each peer only pieces the swarm lacks
    /// (BEP 16 initial seeding, `super_seed.rs`): for an origin whose upload is the bottleneck.
    SuperSeed { payload: Payload },
    /// Download a payload into a folder, through a staging folder inside it.
    Fetch {
        dest: PathBuf,
        seed_after: bool,
        /// The payload there is an older version: its bytes are reused and it is replaced once
        /// the new one is complete.
        #[serde(default)]
        replace: bool,
    },
    /// Switch an image to another version: copy, fetch the differing pieces, rename, seed.
    Switch(SwitchSpec),
    /// A repository torrent on the package store: fetch the wanted packages, seed the held ones.
    Repository(RepoSpec),
}

/// A job spec that cannot run with its torrent: refused where it enters the engine (a call, the
/// bus, the journal at start), before anything runs or is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A wanted file index past the torrent's files.
    #[error(
        "file {index} is wanted from {torrent}, which has {files} files; ask for files by their index in the torrent (0 to {last})",
        last = .files.saturating_sub(1)
    )]
    WantedOutOfRange {
        /// The torrent's name.
        torrent: String,
        /// The index asked for.
        index: usize,
        /// How many files the torrent has.
        files: usize,
    },
    /// A wanted file that is BEP 47 padding, no package.
    #[error("file {index} of {torrent} is padding, not a package; it cannot be wanted")]
    WantedPad {
        /// The torrent's name.
        torrent: String,
        /// The index asked for.
        index: usize,
    },
    /// An image payload or a switch for a torrent of several files.
    #[error(
        "{torrent} has several files, and an image (a seeded file or a switch) needs a single-file torrent; give the folder holding its files instead"
    )]
    NotSingleFile {
        /// The torrent's name.
        torrent: String,
    },
    /// A path that is not absolute: the engine may run in another process, in another folder.
    #[error("{} is not an absolute path; give the job absolute paths", .path.display())]
    RelativePath {
        /// The path.
        path: PathBuf,
    },
}

impl JobSpec {
    /// Checks the spec against its torrent: indexes in range, paths absolute, images single-file.
    pub fn validate(&self, torrent: &Torrent) -> Result<(), SpecError> {
        let absolute = |p: &Path| match p.is_absolute() {
            true => Ok(()),
            false => Err(SpecError::RelativePath { path: p.to_owned() }),
        };
        let single = || match torrent.single_file {
            true => Ok(()),
            false => Err(SpecError::NotSingleFile {
                torrent: torrent.name.clone(),
            }),
        };
        match self {
            JobSpec::Seed { payload } | JobSpec::SuperSeed { payload } => match payload {
                Payload::Image(path) => {
                    single()?;
                    absolute(path)
                }
                Payload::Folder(dir) => absolute(dir),
            },
            JobSpec::Fetch { dest, .. } => absolute(dest),
            JobSpec::Switch(s) => {
                single()?;
                [&s.from, &s.target, &s.working]
                    .into_iter()
                    .try_for_each(|p| absolute(p))
            }
            JobSpec::Repository(r) => {
                absolute(&r.index)?;
                r.images.iter().try_for_each(|p| absolute(p))?;
                for &index in &r.wanted {
                    match torrent.files.get(index) {
                        None => {
                            return Err(SpecError::WantedOutOfRange {
                                torrent: torrent.name.clone(),
                                index,
                                files: torrent.files.len(),
                            });
                        }
                        Some(f) if f.pad => {
                            return Err(SpecError::WantedPad {
                                torrent: torrent.name.clone(),
                                index,
                            });
                        }
                        Some(_) => {}
                    }
                }
                Ok(())
            }
        }
    }
}

/// A repository torrent's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSpec {
    /// Its package index (checked against the feed's pin by whoever added the job).
    pub index: PathBuf,
    /// Files (by index in the torrent) to fetch into the store.
    pub wanted: std::collections::BTreeSet<usize>,
    /// Mirror roots (the feed's web seeds) besides the torrent's own, for packages the swarm
    /// does not deliver.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Images whose packages the job seeds straight from the image (those the store lacks).
    #[serde(default)]
    pub images: Vec<PathBuf>,
}

/// The state of an image switch that must survive a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchSpec {
    /// The image being replaced (untouched until the new one is complete, unless in place).
    pub from: PathBuf,
    /// Where the new version ends up.
    pub target: PathBuf,
    /// The working file the new version is built in.
    pub working: PathBuf,
    /// How the new version is built.
    pub mode: SwitchMode,
    /// Whether the working copy of `from` is complete.
    pub copied: bool,
    /// In place: `from` has been moved to `working`.
    #[serde(default)]
    pub moved: bool,
    /// The switch is being undone: the old version goes back under its name.
    #[serde(default)]
    pub aborting: bool,
    /// Torrents that seeded `from` and were stopped for an in-place switch; an abort restarts them.
    #[serde(default)]
    pub reseed: Vec<InfoHash>,
    /// Remove `from` once the new version is in place.
    pub remove_from: bool,
    /// What the pre-fill from local files did, once it ran.
    // Named as journals written before the rename have it.
    #[serde(default, rename = "rebuilt")]
    pub prefilled: Option<super::prefill::Prefilled>,
}

impl SwitchSpec {
    /// The undo journal of an in-place switch, beside its working file.
    pub fn undo_path(&self) -> PathBuf {
        swarmdate_core::fsutil::parent_dir(&self.working).join("undo.journal")
    }

    /// Whether the new version is already under its final name.
    pub fn renamed(&self) -> bool {
        (self.copied || self.moved) && !self.working.exists() && self.target.exists()
    }
}

/// A job as written to the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// The torrent's info hash; its .torrent is kept in the engine's folder under this name.
    pub info_hash: InfoHash,
    /// A name for people.
    pub name: String,
    /// What to do.
    pub spec: JobSpec,
    /// Paused by the user.
    #[serde(default)]
    pub paused: bool,
    /// When the job was first seen complete and sharing (seconds since the epoch).
    #[serde(default)]
    pub seeding_since: Option<i64>,
    /// The seeding goal paused it (once: a job the user resumes after that keeps sharing).
    #[serde(default)]
    pub goal_met: bool,
}
