//! Running jobs: seed, fetch into a staging folder, and switch an image to another version.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use librqbit::storage::StorageFactoryExt;
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse};

use super::job::{JobId, JobSpec, Payload, SwitchSpec};
use super::snapshot::JobState;
use super::storage::{ImageStorageFactory, RecordingFactory};
use super::{Engine, ManagedTorrentHandle};
use crate::fsutil;
use crate::torrent::Torrent;

/// The folder, inside a destination, where payloads are built before they enter it.
pub(super) const STAGING_DIR: &str = ".swarmdate-partial";

impl Engine {
    pub(super) async fn run_job(self: Arc<Self>, id: JobId) {
        let result = async {
            let rec = self.record(id)?;
            match rec.spec.clone() {
                JobSpec::Seed { payload } => self.run_seed(id, &payload, rec.paused).await,
                JobSpec::Fetch { dest, seed_after } => self.run_fetch(id, &dest, seed_after).await,
                JobSpec::Switch(spec) => self.run_switch(id, spec).await,
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(job = %id, "job failed: {e:#}");
            self.set_state(id, JobState::Failed(format!("{e:#}")));
        }
    }

    fn torrent_of(&self, id: JobId) -> anyhow::Result<Arc<Torrent>> {
        self.jobs
            .lock()
            .unwrap()
            .live
            .get(&id)
            .map(|j| j.torrent.clone())
            .with_context(|| format!("no job {id}"))
    }

    /// Adds the job's torrent to the session over `payload`, with existing data reused.
    async fn add_torrent(
        &self,
        id: JobId,
        payload: &Payload,
        paused: bool,
    ) -> anyhow::Result<ManagedTorrentHandle> {
        let torrent = self.torrent_of(id)?;
        let log = self
            .jobs
            .lock()
            .unwrap()
            .live
            .get(&id)
            .map(|j| j.log.clone())
            .unwrap_or_default();
        let (inner, folder) = match payload {
            Payload::Image(path) => (
                ImageStorageFactory::boxed(path),
                fsutil::parent_dir(path).to_owned(),
            ),
            Payload::Folder(dir) => (
                FilesystemStorageFactory {}.boxed(),
                if torrent.single_file {
                    dir.clone()
                } else {
                    dir.join(&torrent.name)
                },
            ),
        };
        let opts = AddTorrentOptions {
            paused,
            overwrite: true,
            output_folder: Some(folder.to_string_lossy().into_owned()),
            storage_factory: Some(RecordingFactory::boxed(inner, log)),
            ..Default::default()
        };
        let resp = self
            .session
            .add_torrent(AddTorrent::from_bytes(torrent.bytes().clone()), Some(opts))
            .await
            .context("adding the torrent to the session")?;
        let handle = match resp {
            AddTorrentResponse::Added(_, h) | AddTorrentResponse::AlreadyManaged(_, h) => h,
            AddTorrentResponse::ListOnly(_) => anyhow::bail!("the session only listed the torrent"),
        };
        if let Some(job) = self.jobs.lock().unwrap().live.get_mut(&id) {
            job.handle = Some(handle.clone());
        }
        Ok(handle)
    }

    /// Checks existing data, then fetches what is missing; returns when the payload is complete.
    async fn check_and_fetch(
        &self,
        id: JobId,
        handle: &ManagedTorrentHandle,
    ) -> anyhow::Result<()> {
        self.set_state(id, JobState::Checking);
        handle.wait_until_initialized().await?;
        if !handle.stats().finished {
            self.set_state(id, JobState::Downloading);
        }
        handle.wait_until_completed().await
    }

    async fn run_seed(&self, id: JobId, payload: &Payload, paused: bool) -> anyhow::Result<()> {
        if let Payload::Image(path) = payload {
            // Never download a whole image silently because the user moved or deleted it.
            anyhow::ensure!(
                path.is_file(),
                "{} is gone; remove this seeding job or put the image back",
                path.display()
            );
        }
        let handle = self.add_torrent(id, payload, paused).await?;
        if paused {
            self.set_state(id, JobState::Paused);
            return Ok(());
        }
        self.check_and_fetch(id, &handle).await?;
        self.set_state(id, JobState::Seeding);
        Ok(())
    }

    async fn run_fetch(&self, id: JobId, dest: &Path, seed_after: bool) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        let staging = dest.join(STAGING_DIR).join(torrent.info_hash().to_string());
        std::fs::create_dir_all(&staging)?;
        let handle = self
            .add_torrent(id, &Payload::Folder(staging.clone()), false)
            .await?;
        self.check_and_fetch(id, &handle).await?;

        self.set_state(id, JobState::Finalizing);
        self.freeze(id);
        self.session.delete(handle.id().into(), false).await?;
        let (from, to) = (staging.join(&torrent.name), dest.join(&torrent.name));
        tokio::task::spawn_blocking(move || publish_tree(&from, &to)).await??;
        let _ = std::fs::remove_dir(&staging);
        let _ = std::fs::remove_dir(dest.join(STAGING_DIR));

        if seed_after {
            let payload = Payload::Folder(dest.to_owned());
            self.update_record(id, |r| {
                r.spec = JobSpec::Seed {
                    payload: payload.clone(),
                }
            })?;
            let handle = self.add_torrent(id, &payload, false).await?;
            self.check_and_fetch(id, &handle).await?;
            self.set_state(id, JobState::Seeding);
        } else {
            let mut jobs = self.jobs.lock().unwrap();
            jobs.journal.jobs.remove(&id);
            self.save_journal(&jobs)?;
            drop(jobs);
            self.set_state(id, JobState::Done);
        }
        Ok(())
    }

    async fn run_switch(&self, id: JobId, spec: SwitchSpec) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        if spec.copied && !spec.working.exists() && spec.target.exists() {
            // Killed between the rename and the journal update: the check confirms the new image.
            return self.finish_switch(id, &spec).await;
        }
        if !spec.copied {
            self.set_state(id, JobState::Preparing);
            let dir = fsutil::parent_dir(&spec.working).to_owned();
            std::fs::create_dir_all(&dir)?;
            let (from, working) = (spec.from.clone(), spec.working.clone());
            let needed = torrent.total_length();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let _ = std::fs::remove_file(&working);
                if !fsutil::supports_reflink(&dir) {
                    fsutil::ensure_space(&dir, needed)?;
                }
                fsutil::clone_or_copy(&from, &working)
                    .with_context(|| format!("copying {} to work on it", from.display()))?;
                // librqbit counts pieces past the end of a short file as missing; at the target's
                // length they read as zeros and a zero piece of the target is kept, as planned.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&working)?
                    .set_len(needed)?;
                Ok(())
            })
            .await??;
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    s.copied = true;
                }
            })?;
        }
        let handle = self
            .add_torrent(id, &Payload::Image(spec.working.clone()), false)
            .await?;
        self.check_and_fetch(id, &handle).await?;

        self.set_state(id, JobState::Finalizing);
        let (working, target) = (spec.working.clone(), spec.target.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            fsutil::durable_rename(&working, &target)?;
            let _ = std::fs::remove_dir(fsutil::parent_dir(&working));
            let _ = std::fs::remove_dir(fsutil::parent_dir(fsutil::parent_dir(&working)));
            Ok(())
        })
        .await??;
        // The torrent keeps its open descriptor across the rename and goes on seeding.
        self.finish_switch(id, &spec).await
    }

    /// Keeps the job's last counters for display once its torrent leaves the session.
    fn freeze(&self, id: JobId) {
        self.publish();
        let last = self.snapshot().jobs.into_iter().find(|j| j.id == id);
        if let Some(job) = self.jobs.lock().unwrap().live.get_mut(&id) {
            job.frozen = last;
            job.handle = None;
        }
    }

    /// Records the new image as seeded and retires the old one.
    async fn finish_switch(&self, id: JobId, spec: &SwitchSpec) -> anyhow::Result<()> {
        let payload = Payload::Image(spec.target.clone());
        self.update_record(id, |r| {
            r.spec = JobSpec::Seed {
                payload: payload.clone(),
            }
        })?;
        let running = self
            .jobs
            .lock()
            .unwrap()
            .live
            .get(&id)
            .is_some_and(|j| j.handle.is_some());
        if !running {
            let handle = self.add_torrent(id, &payload, false).await?;
            self.check_and_fetch(id, &handle).await?;
        }
        if spec.remove_from && spec.from != spec.target {
            self.retire_image(&spec.from).await?;
        }
        self.set_state(id, JobState::Seeding);
        Ok(())
    }

    /// Stops every job seeding `image`, then deletes the file.
    async fn retire_image(&self, image: &Path) -> anyhow::Result<()> {
        let ids: Vec<JobId> = self
            .jobs()
            .into_iter()
            .filter(
                |r| matches!(&r.spec, JobSpec::Seed { payload: Payload::Image(p) } if p == image),
            )
            .map(|r| r.id)
            .collect();
        for id in ids {
            self.remove(id).await?;
        }
        match std::fs::remove_file(image) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Moves a finished file or folder from staging into place, flushed first; refuses to replace.
fn publish_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !to.exists(),
        "{} exists already; move it away and fetch again",
        to.display()
    );
    sync_tree(from)?;
    std::fs::rename(from, to)?;
    fsutil::fsync_dir(fsutil::parent_dir(to))?;
    Ok(())
}

fn sync_tree(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        for e in std::fs::read_dir(path)? {
            sync_tree(&e?.path())?;
        }
    }
    std::fs::File::open(path)?.sync_all()
}

/// The working file of a switch to `torrent` next to `target`.
pub(super) fn working_path(target: &Path, torrent: &Torrent) -> PathBuf {
    fsutil::parent_dir(target)
        .join(STAGING_DIR)
        .join(torrent.info_hash().to_string())
        .join(&torrent.name)
}
