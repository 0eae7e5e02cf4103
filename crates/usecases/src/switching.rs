//! Switching the local image to another version, as both faces run it: start from a plan (or
//! resume the image's unfinished switch), follow the engine's job to its end, stop it (keeping
//! what was fetched where the engine can), and say how it ended. The faces never build a
//! switch's job or read the journal themselves.

use std::path::{Path, PathBuf};

use super::User;
use super::versions::Versions;
use swarmdate_core::fsutil;
use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::iso::{Plan, PublishedIso, SwitchMode};
use swarmdate_core::torrent::InfoHash;
use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{
    EngineConfig, JobId, JobRecord, JobSnapshot, JobSpec, JobState, Prefilled, read_journal,
};

/// Why a switch did not start or did not end with the new version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// The image has an unfinished switch to another version.
    #[error(
        "{} has an unfinished switch to {to}: run `swarmdate iso switch {to}` to finish it, or `swarmdate iso switch --abort` to put the old version back",
        .image.display()
    )]
    Unfinished {
        /// The image.
        image: PathBuf,
        /// The version that switch goes to (its torrent's name when the feed no longer has it).
        to: String,
    },
    /// There is no unfinished switch to abort or resume.
    #[error("no unfinished switch of {}", .0.display())]
    NoneUnfinished(PathBuf),
    /// The engine's job failed; the engine's reason (a full disk rolls back first and says so).
    #[error("{0}")]
    Job(String),
    /// The user interrupted the command; the engine's journal keeps the switch.
    #[error("interrupted; the job resumes where it stopped the next time the engine runs")]
    Interrupted,
    /// An abort came after the new version was complete: it stays.
    #[error("the switch to {0} had already completed; switch back to the old version instead")]
    Complete(String),
    /// The engine went away before the job ended.
    #[error("the engine stopped before job {0} ended")]
    EngineStopped(JobId),
}

/// How a switch ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// The image is the new version.
    Switched(Switched),
    /// Stopped before the end: the image is still (or again) the old version.
    Stopped(Stopped),
    /// The job failed.
    Failed(SwitchError),
}

/// A switch that reached its version (or had nothing to do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Switched {
    /// The version the image is now.
    pub version: String,
    /// The image, under the new version's name.
    pub image: PathBuf,
    /// Bytes the plan fetched.
    pub planned_bytes: u64,
    /// Payload bytes fetched from the swarm.
    pub fetched_bytes: u64,
    /// Bytes received from peers on the wire.
    pub received_bytes: u64,
    /// Bytes already right before any transfer (the old image, the pre-fill).
    pub had_bytes: u64,
    /// What the pre-fill from local files did (the old image's files, the package store's).
    // The name `--json` readers have.
    #[serde(rename = "rebuilt")]
    pub prefilled: Option<Prefilled>,
    /// The new image's size.
    pub image_size: u64,
    /// What the job told on the way (a tracker's refusal, a pre-fill skipped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<swarmdate_engine::Notice>,
    /// The image already was this version: nothing ran.
    #[serde(skip)]
    pub already: bool,
}

impl Switched {
    /// The image of `versions` already is version `to` (`plan` has nothing to do).
    pub fn unchanged(versions: &Versions, to: usize, plan: &Plan) -> Switched {
        Switched {
            version: versions.versions[to].version().to_owned(),
            image: versions.image.clone(),
            planned_bytes: 0,
            fetched_bytes: 0,
            received_bytes: 0,
            had_bytes: plan.target_size,
            prefilled: None,
            image_size: plan.target_size,
            notices: Vec::new(),
            already: true,
        }
    }
}

/// A switch stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stopped {
    /// The version it was going to.
    pub to: String,
    /// The image, under its old name.
    pub image: PathBuf,
    /// The version the image is (`None`: one the feed does not know).
    pub version: Option<String>,
    /// Payload bytes fetched and kept in the working copy for the next try.
    pub kept_bytes: u64,
    /// Payload bytes the next try still fetches (pieces that were arriving included).
    pub left_bytes: u64,
    /// The switch was undone (an in-place switch, or an abort): nothing is kept.
    pub rolled_back: bool,
}

impl Stopped {
    /// What both faces say about it; `size` formats byte counts.
    pub fn message(&self, size: impl Fn(u64) -> String) -> String {
        let image = self
            .image
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let version = self
            .version
            .clone()
            .unwrap_or_else(|| tr("an unpublished version"));
        if self.rolled_back {
            trf(
                "Stopped: {image} is {version} again; the switch to {to} was undone, nothing fetched is kept.",
                &[("image", &image), ("version", &version), ("to", &self.to)],
            )
        } else {
            trf(
                "Stopped: {image} is still {version}; {kept} fetched for {to} are kept for the next try.",
                &[
                    ("image", &image),
                    ("version", &version),
                    ("kept", &size(self.kept_bytes)),
                    ("to", &self.to),
                ],
            )
        }
    }
}

/// A step of a running switch, for the face to show.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The engine's job as the latest snapshot has it.
    pub job: &'a JobSnapshot,
    /// Bytes the plan fetches.
    pub planned: u64,
}

/// A switch the engine's journal holds unfinished: killed, interrupted, stopped or failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The engine's job.
    pub job: JobId,
    /// The image being replaced.
    pub image: PathBuf,
    /// Where the new version lands.
    pub target: PathBuf,
    /// The new version's torrent.
    pub info_hash: InfoHash,
    /// The new version's torrent name.
    pub name: String,
    /// How the new version is built.
    pub mode: SwitchMode,
    /// Stopped by the user: it runs again only when resumed.
    pub stopped: bool,
    /// The file the new version is built in.
    pub working: PathBuf,
    /// Whether the working file holds all of the old image (a reflink or copy made to its end).
    pub copied: bool,
}

impl Unfinished {
    fn of(rec: JobRecord) -> Option<Self> {
        let JobSpec::Switch(s) = rec.spec else {
            return None;
        };
        Some(Unfinished {
            job: rec.id,
            image: s.from,
            target: s.target,
            info_hash: rec.info_hash,
            name: rec.name,
            mode: s.mode,
            stopped: rec.paused,
            working: s.working,
            copied: s.copied,
        })
    }

    /// The unfinished switch of `image`, or of any image in the images folder, as the journal
    /// on disk has it (no engine is started to ask).
    pub fn find(client: &User, image: Option<&Path>) -> anyhow::Result<Option<Self>> {
        Unfinished::find_in(&client.dirs.engine(), &client.images_dir(), image)
    }

    /// [`Unfinished::find`] in the journal of the engine's state folder `state_dir`.
    pub(crate) fn find_in(
        state_dir: &Path,
        images_dir: &Path,
        image: Option<&Path>,
    ) -> anyhow::Result<Option<Self>> {
        let image = image.map(std::path::absolute).transpose()?;
        Ok(read_journal(state_dir)?
            .into_iter()
            .filter_map(Unfinished::of)
            .find(|u| match &image {
                Some(i) => u.image == *i,
                None => fsutil::parent_dir(&u.image) == images_dir,
            }))
    }

    /// The unfinished switch of `image` the running engine holds.
    pub async fn of_image(engine: &EngineHandle, image: &Path) -> anyhow::Result<Option<Self>> {
        Ok(engine
            .jobs()
            .await?
            .into_iter()
            .filter_map(Unfinished::of)
            .find(|u| u.image == image))
    }

    /// The version it goes to, by the feed's versions (its torrent's name when they lack it).
    pub fn to_version(&self, versions: &[PublishedIso]) -> String {
        versions
            .iter()
            .find(|v| v.torrent.info_hash() == self.info_hash)
            .map_or(self.name.clone(), |v| v.version().to_owned())
    }

    /// Refuses unless it goes to `version` of the feed's versions.
    pub fn check_goes_to(
        &self,
        versions: &[PublishedIso],
        version: &str,
    ) -> Result<(), SwitchError> {
        let pending = versions
            .iter()
            .find(|v| v.torrent.info_hash() == self.info_hash);
        match pending.is_some_and(|v| v.version() == version) {
            true => Ok(()),
            false => Err(SwitchError::Unfinished {
                image: self.image.clone(),
                to: self.to_version(versions),
            }),
        }
    }

    /// The engine settings to abort it with: an engine started with them rolls the switch back
    /// at once instead of resuming it first.
    pub fn abort_config(&self, client: &User) -> EngineConfig {
        let mut cfg = client.engine_config();
        cfg.abort_on_start = vec![self.job];
        cfg
    }

    /// Puts the old version back under its name, following the rollback to its end.
    pub async fn abort(
        &self,
        engine: &EngineHandle,
        on: &mut (dyn FnMut(Step<'_>) + Send),
        cancel: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<Ended> {
        if let Err(e) = engine.abort_switch(self.job).await {
            // Started with the abort applied first, the engine may have finished the rollback
            // before this call reached it.
            let gone = !engine.jobs().await?.iter().any(|j| j.id == self.job);
            if engine.is_remote() || !gone {
                return Err(e.into());
            }
        }
        let following = Switch {
            work: Work::Job(self.job),
            to: self.name.clone(),
            from: self.image.clone(),
            from_version: None,
            target: self.target.clone(),
            planned: 0,
            image_size: 0,
            // A stopped switch's last snapshot says so until the rollback runs.
            seen_running: !self.stopped,
        };
        Ok(match following.follow(engine, on, cancel).await? {
            // Too late to undo: the engine kept the new version, seeded.
            Ended::Switched(done) => Ended::Failed(SwitchError::Complete(done.version)),
            ended => ended,
        })
    }
}

/// A switch the engine runs: made by [`Switch::start`] or [`Switch::resume`], followed to its
/// end by [`Switch::follow`], stopped from anywhere by [`stop`].
#[derive(Debug, Clone)]
pub struct Switch {
    work: Work,
    to: String,
    from: PathBuf,
    from_version: Option<String>,
    target: PathBuf,
    planned: u64,
    image_size: u64,
    /// A resumed job's snapshot may still say it is stopped: only a stop after it ran counts.
    seen_running: bool,
}

/// What a switch runs.
#[derive(Debug, Clone)]
enum Work {
    /// The engine's job.
    Job(JobId),
    /// Nothing: the image already is the version.
    Nothing(Box<Switched>),
}

/// What to do with an unfinished switch of the image to another version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherSwitch {
    /// Refuse, naming it ([`SwitchError::Unfinished`]).
    Refuse,
    /// Roll it back first: the user chose another version.
    RollBack,
}

impl Switch {
    /// Starts switching the local image of `versions` to version `to` as `plan` says; the
    /// image's unfinished switch to the same version is resumed instead, one to another version
    /// is refused or rolled back first (`other`).
    pub async fn start(
        engine: &EngineHandle,
        versions: &Versions,
        to: usize,
        plan: &Plan,
        keep_old: bool,
        other: OtherSwitch,
    ) -> anyhow::Result<Switch> {
        let version = versions.versions[to].clone();
        let mut switch = Switch {
            work: Work::Nothing(Box::new(Switched::unchanged(versions, to, plan))),
            to: version.version().to_owned(),
            from: versions.image.clone(),
            from_version: plan.from.clone(),
            target: versions.target_path(to),
            planned: plan.fetch_bytes,
            image_size: plan.target_size,
            seen_running: false,
        };
        if plan.is_noop() {
            return Ok(switch);
        }
        if let Some(u) = Unfinished::of_image(engine, &versions.image).await? {
            if u.info_hash == version.torrent.info_hash() {
                return Switch::resume(engine, &u, &versions.versions).await;
            }
            if other == OtherSwitch::Refuse {
                let to = u.to_version(&versions.versions);
                return Err(SwitchError::Unfinished { image: u.image, to }.into());
            }
            let ended = u.abort(engine, &mut |_| {}, std::future::pending()).await?;
            if let Ended::Failed(e) = ended {
                return Err(e.into());
            }
        }
        let id = engine
            .switch_image(
                &versions.image,
                &version.torrent,
                plan.mode,
                plan.space_needed,
                keep_old,
            )
            .await?;
        switch.work = Work::Job(id);
        Ok(switch)
    }

    /// Takes up an unfinished switch as it was started: a stopped one runs again, keeping what it
    /// fetched; one the engine resumed at its start is followed as it is.
    pub async fn resume(
        engine: &EngineHandle,
        unfinished: &Unfinished,
        versions: &[PublishedIso],
    ) -> anyhow::Result<Switch> {
        // The old image is named like its version's torrent.
        let from_version = versions
            .iter()
            .find(|v| unfinished.image.file_name() == Some(v.torrent.name.as_ref()))
            .map(|v| v.version().to_owned());
        if unfinished.stopped {
            engine.resume(unfinished.job).await?;
        }
        Ok(Switch {
            work: Work::Job(unfinished.job),
            to: unfinished.to_version(versions),
            from: unfinished.image.clone(),
            from_version,
            target: unfinished.target.clone(),
            planned: 0,
            // Both read off the job at its end.
            image_size: 0,
            seen_running: !unfinished.stopped,
        })
    }

    /// The engine's job (`None` when there is nothing to do).
    pub fn job(&self) -> Option<JobId> {
        match &self.work {
            Work::Job(id) => Some(*id),
            Work::Nothing(_) => None,
        }
    }

    /// The version it goes to.
    pub fn version(&self) -> &str {
        &self.to
    }

    /// Follows the job to its end, reporting every snapshot of it to `on`. `cancel` stops
    /// following (the engine's journal keeps the switch for the next start).
    pub async fn follow(
        mut self,
        engine: &EngineHandle,
        on: &mut (dyn FnMut(Step<'_>) + Send),
        cancel: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<Ended> {
        let id = match &self.work {
            Work::Job(id) => *id,
            Work::Nothing(done) => return Ok(Ended::Switched((**done).clone())),
        };
        let mut rx = engine.subscribe();
        let mut cancel = std::pin::pin!(cancel);
        loop {
            let job = rx.borrow_and_update().job(id).cloned();
            if let Some(j) = job {
                if j.state != JobState::Paused {
                    self.seen_running = true;
                }
                if self.seen_running {
                    on(Step {
                        job: &j,
                        planned: self.planned,
                    });
                    if let Some(ended) = self.ended(&j) {
                        return Ok(ended);
                    }
                }
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(SwitchError::EngineStopped(id).into());
                    }
                }
                _ = cancel.as_mut() => return Err(SwitchError::Interrupted.into()),
            }
        }
    }

    /// How the job ended, if it has.
    fn ended(&self, j: &JobSnapshot) -> Option<Ended> {
        let stopped = |kept_bytes, rolled_back| {
            Ended::Stopped(Stopped {
                to: self.to.clone(),
                image: self.from.clone(),
                version: self.from_version.clone(),
                kept_bytes,
                left_bytes: j.bytes_wanted.saturating_sub(j.bytes_had + kept_bytes),
                rolled_back,
            })
        };
        Some(match &j.state {
            // The new version is in place and shared.
            JobState::Seeding => Ended::Switched(Switched {
                version: self.to.clone(),
                image: self.target.clone(),
                planned_bytes: match self.planned {
                    0 => j.bytes_wanted.saturating_sub(j.bytes_had),
                    p => p,
                },
                fetched_bytes: j.bytes_fetched,
                received_bytes: j.bytes_received,
                had_bytes: j.bytes_had,
                prefilled: j.prefilled,
                image_size: match self.image_size {
                    0 => j.bytes_wanted,
                    s => s,
                },
                notices: j.notices.clone(),
                already: false,
            }),
            // A switch is done only once rolled back: the old version is back.
            JobState::Done => stopped(0, true),
            JobState::Paused => stopped(j.bytes_fetched, false),
            JobState::Failed(e) => Ended::Failed(SwitchError::Job(e.clone())),
            _ => return None,
        })
    }
}

/// Stops a running switch, keeping what it fetched for the next try: a switch beside the image
/// stops with its working copy kept (the engine pauses it); an in-place switch is rolled back,
/// since its image is the working file. The switch's [`Switch::follow`] reports how it ended.
pub async fn stop(engine: &EngineHandle, job: JobId) -> anyhow::Result<()> {
    let Some(u) = engine
        .jobs()
        .await?
        .into_iter()
        .find(|r| r.id == job)
        .and_then(Unfinished::of)
    else {
        // Ended already: its follower says how.
        return Ok(());
    };
    match u.mode {
        SwitchMode::InPlace => Ok(engine.abort_switch(job).await?),
        SwitchMode::Reflink | SwitchMode::Copy => Ok(engine.pause(job).await?),
    }
}

/// Whether `image` is being switched (or has a switch stopped half-way): it is not to be
/// shared on its own then.
pub async fn is_switching(engine: &EngineHandle, image: &Path) -> anyhow::Result<bool> {
    Ok(Unfinished::of_image(engine, image).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch() -> Switch {
        Switch {
            work: Work::Job(JobId(7)),
            to: "1.02".into(),
            from: "/images/os-1.00.iso".into(),
            from_version: Some("1.00".into()),
            target: "/images/os-1.02.iso".into(),
            planned: 0,
            image_size: 0,
            seen_running: true,
        }
    }

    fn job(state: JobState) -> JobSnapshot {
        serde_json::from_value(serde_json::json!({
            "id": 7, "kind": "switch", "name": "os-1.02.iso", "info_hash": "00".repeat(20),
            "state": state, "bytes_wanted": 1000, "bytes_had": 600, "bytes_fetched": 150,
            "bytes_uploaded": 0, "bytes_received": 170, "bytes_discarded": 0,
            "down_speed": 0, "up_speed": 0, "peers": [],
        }))
        .unwrap()
    }

    #[test]
    fn the_jobs_last_state_says_how_the_switch_ended() {
        let s = switch();
        for running in [
            JobState::Preparing,
            JobState::Checking,
            JobState::Downloading,
            JobState::Finalizing,
            JobState::RollingBack,
        ] {
            assert!(s.ended(&job(running.clone())).is_none(), "{running:?}");
        }
        let Some(Ended::Switched(done)) = s.ended(&job(JobState::Seeding)) else {
            panic!("seeding is switched");
        };
        assert_eq!((done.version.as_str(), done.fetched_bytes), ("1.02", 150));
        // Resumed: what was left is read off the job.
        assert_eq!((done.planned_bytes, done.image_size), (400, 1000));
        let Some(Ended::Stopped(kept)) = s.ended(&job(JobState::Paused)) else {
            panic!("paused is stopped");
        };
        assert_eq!(kept, stopped_at_100());
        let Some(Ended::Stopped(undone)) = s.ended(&job(JobState::Done)) else {
            panic!("done is rolled back");
        };
        assert!(undone.rolled_back && undone.kept_bytes == 0);
        let failed = s.ended(&job(JobState::Failed("disk full".into())));
        assert!(matches!(failed, Some(Ended::Failed(SwitchError::Job(e))) if e == "disk full"));
    }

    /// A switch to 1.02 stopped with the image still 1.00, 150 of 400 bytes kept.
    fn stopped_at_100() -> Stopped {
        Stopped {
            to: "1.02".into(),
            image: "/images/os-1.00.iso".into(),
            version: Some("1.00".into()),
            kept_bytes: 150,
            left_bytes: 250,
            rolled_back: false,
        }
    }

    #[test]
    fn the_stop_message_names_the_image_its_version_and_what_is_kept() {
        let mut s = stopped_at_100();
        let size = |n: u64| format!("{n} B");
        assert_eq!(
            s.message(size),
            "Stopped: os-1.00.iso is still 1.00; 150 B fetched for 1.02 are kept for the next try."
        );
        s.rolled_back = true;
        s.version = None;
        assert_eq!(
            s.message(size),
            "Stopped: os-1.00.iso is an unpublished version again; the switch to 1.02 was undone, nothing fetched is kept."
        );
    }
}
