//! Switching an image to another version: by reflink or copy beside the old image, or in place
//! with an undo journal; and rolling an in-place switch back.
//!
//! At every moment the image is either a complete version under its own name or recoverable to one
//! by this code alone: every step below is safe to repeat after a kill, and the journal says which.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::fault;
use super::job::{JobId, JobSpec, Payload, SwitchSpec};
use super::snapshot::JobState;
use super::storage::ImageStorageFactory;
use super::undo::UndoLog;
use super::{Engine, STAGING_DIR};
use swarmdate_core::fsutil;
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::torrent::Torrent;

/// Copies in steps so a kill can land inside the copy (and progress could be shown).
const COPY_STEP: u64 = 8 << 20;

impl Engine {
    pub(super) async fn run_switch(
        self: &Arc<Self>,
        id: JobId,
        spec: SwitchSpec,
    ) -> anyhow::Result<()> {
        if spec.aborting {
            self.roll_back(id, &spec).await?;
            self.set_state(id, JobState::Done);
            return Ok(());
        }
        if spec.renamed() {
            // Killed between the rename and the journal update: the check confirms the new image.
            return self.finish_switch(id, &spec).await;
        }
        let forward = match spec.mode {
            SwitchMode::InPlace => self.switch_in_place(id, &spec).await,
            SwitchMode::Reflink | SwitchMode::Copy => self.switch_beside(id, &spec).await,
        };
        match forward {
            Err(e) if fsutil::is_full_disk(&e) => {
                // A full disk never leaves a half-built version behind: undo, then say what is missing.
                // Measured before the rollback gives the space back.
                let dir = fsutil::parent_dir(&spec.target).to_owned();
                let err = fsutil::no_space(&dir, self.bytes_still_needed(id)).context(
                    "the disk filled up during the switch; the old image is back as it was",
                );
                self.update_record(id, |r| {
                    if let JobSpec::Switch(s) = &mut r.spec {
                        s.aborting = true;
                    }
                })
                .await?;
                let mut spec = spec.clone();
                spec.aborting = true;
                self.roll_back(id, &spec).await?;
                self.fail(id, &err);
                Ok(())
            }
            other => other,
        }
    }

    /// Builds the new version in a reflink or copy of the old image; the old one stays seeded.
    async fn switch_beside(self: &Arc<Self>, id: JobId, spec: &SwitchSpec) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        if !spec.copied {
            self.set_state(id, JobState::Preparing);
            let dir = make_staging(&spec.working)?;
            let (from, working) = (spec.from.clone(), spec.working.clone());
            let needed = torrent.total_length();
            let reflink = spec.mode == SwitchMode::Reflink;
            self.on_disk(move || prepare_copy(&from, &working, &dir, needed, reflink))
                .await??;
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    s.copied = true;
                }
            })
            .await?;
        }
        if spec.prefilled.is_none()
            && let Some(prefilled) = self.prefill_from_local(id, spec).await?
        {
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    s.prefilled = Some(prefilled);
                }
            })
            .await?;
        }
        let handle = self
            .add_image(id, ImageStorageFactory::boxed(&spec.working), &spec.working)
            .await?;
        self.check_and_fetch(id, &handle).await?;
        self.set_state(id, JobState::Finalizing);
        let (working, target) = (spec.working.clone(), spec.target.clone());
        self.on_disk(move || put_in_place(&working, &target))
            .await??;
        // The torrent keeps its open descriptor across the rename and goes on seeding.
        self.finish_switch(id, spec).await
    }

    /// Rewrites the image itself, every region's old bytes journaled first.
    async fn switch_in_place(self: &Arc<Self>, id: JobId, spec: &SwitchSpec) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        if !spec.moved {
            self.set_state(id, JobState::Preparing);
            // Nothing may read the image while it changes: stop its seeders, to restart on abort.
            let readers: Vec<_> = self
                .jobs()
                .into_iter()
                .filter(|r| {
                    r.id != id
                        && matches!(&r.spec, JobSpec::Seed { payload: Payload::Image(p) } if *p == spec.from)
                })
                .collect();
            let hashes: Vec<_> = readers.iter().map(|r| r.info_hash).collect();
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    for h in &hashes {
                        if !s.reseed.contains(h) {
                            s.reseed.push(*h);
                        }
                    }
                }
            })
            .await?;
            for r in readers {
                self.remove(r.id).await?;
            }
            // Repository jobs that serve packages from inside it stop reading it too: its
            // bytes are about to change under the places they were found at. They name the
            // target, which holds nothing until it is in place.
            self.repoint_image_readers(&spec.from, &spec.target).await?;
            let (from, working) = (spec.from.clone(), spec.working.clone());
            self.on_disk(move || -> anyhow::Result<()> {
                if !working.exists() {
                    make_staging(&working)?;
                    fault::point("move");
                    std::fs::rename(&from, &working)?;
                    fsutil::fsync_dir(fsutil::parent_dir(&working))?;
                    fsutil::fsync_dir(fsutil::parent_dir(&from))?;
                }
                Ok(())
            })
            .await??;
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    s.moved = true;
                }
            })
            .await?;
        }
        let (working, journal) = (spec.working.clone(), spec.undo_path());
        let region = torrent.piece_length;
        let undo = tokio::task::spawn_blocking(move || -> anyhow::Result<UndoLog> {
            let len = std::fs::metadata(&working)
                .with_context(|| format!("{} is gone", working.display()))?
                .len();
            Ok(UndoLog::open_or_create(&journal, len, region)?)
        })
        .await??;
        let undo = Arc::new(undo);
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.undo = Some(undo.clone());
        }
        // Grown first, as a copy is: librqbit counts pieces past a file's end as missing, even
        // the target's zeros there. Growth needs no saving; a rollback cuts the image back.
        let (working, len, u) = (spec.working.clone(), torrent.total_length(), undo.clone());
        self.on_disk(move || -> anyhow::Result<()> {
            let file = OpenOptions::new().read(true).write(true).open(&working)?;
            let old = file.metadata()?.len();
            if old < len {
                u.guarded(&file, old, len - old, || file.set_len(len))?;
            }
            Ok(())
        })
        .await??;
        if spec.prefilled.is_none()
            && let Some(prefilled) = self.rebuild_in_place(id, spec, undo.clone()).await?
        {
            self.update_record(id, |r| {
                if let JobSpec::Switch(s) = &mut r.spec {
                    s.prefilled = Some(prefilled);
                }
            })
            .await?;
        }
        let handle = self
            .add_image(
                id,
                ImageStorageFactory::in_place(&spec.working, undo.clone()),
                &spec.working,
            )
            .await?;
        self.check_and_fetch(id, &handle).await?;

        self.set_state(id, JobState::Finalizing);
        let (working, target, len) = (
            spec.working.clone(),
            spec.target.clone(),
            torrent.total_length(),
        );
        self.on_disk(move || -> anyhow::Result<()> {
            let file = OpenOptions::new().read(true).write(true).open(&working)?;
            let old_len = file.metadata()?.len();
            if old_len > len {
                // The old tail goes into the journal before it is cut.
                undo.guarded(&file, len, old_len - len, || file.set_len(len))?;
            }
            // Whoever closes the journal first wins: this rename, or an abort's rollback.
            anyhow::ensure!(undo.close(), "the switch was aborted");
            put_in_place(&working, &target)?;
            Ok(())
        })
        .await??;
        self.finish_switch(id, spec).await
    }

    /// Puts the old version back: drops the working copy, or replays an in-place switch's journal.
    /// The job leaves the journal; its final state is the caller's to set.
    async fn roll_back(self: &Arc<Self>, id: JobId, spec: &SwitchSpec) -> anyhow::Result<()> {
        self.set_state(id, JobState::RollingBack);
        self.stop_torrent(id).await?;
        let spec2 = spec.clone();
        let rolled_back = self
            .on_disk(move || -> anyhow::Result<bool> {
                if spec2.renamed() && spec2.target != spec2.from {
                    return Ok(false);
                }
                undo_on_disk(&spec2)?;
                Ok(true)
            })
            .await??;
        if !rolled_back {
            // Too late: the new version was complete before the abort. Keep it, seeded.
            self.finish_switch(id, spec).await?;
            anyhow::bail!(
                "the switch to {} had already completed; switch back to the old version instead",
                spec.target.display()
            );
        }
        if spec.mode == SwitchMode::InPlace {
            // The jobs the switch pointed at the target read the old image again.
            self.repoint_image_readers(&spec.target, &spec.from).await?;
        }
        for hash in &spec.reseed {
            let path = self.torrent_path(hash);
            let torrent = Torrent::from_bytes(std::fs::read(&path)?)?;
            let seed = JobSpec::Seed {
                payload: Payload::Image(spec.from.clone()),
            };
            if !self.jobs().iter().any(|r| r.info_hash == *hash) {
                self.add_job(&torrent, seed).await?;
            }
        }
        self.forget(id).await
    }

    /// Records the new image as seeded and retires the old one.
    pub(super) async fn finish_switch(
        self: &Arc<Self>,
        id: JobId,
        spec: &SwitchSpec,
    ) -> anyhow::Result<()> {
        let payload = Payload::Image(spec.target.clone());
        self.update_record(id, |r| {
            r.spec = JobSpec::Seed {
                payload: payload.clone(),
            }
        })
        .await?;
        let _ = std::fs::remove_file(spec.undo_path());
        remove_staging(&spec.working);
        let running = self
            .live
            .lock()
            .unwrap()
            .get(&id)
            .is_some_and(|j| j.handle.is_some());
        if !running {
            let handle = self
                .add_image(id, ImageStorageFactory::boxed(&spec.target), &spec.target)
                .await?;
            self.check_and_fetch(id, &handle).await?;
        }
        if spec.remove_from && spec.from != spec.target {
            self.retire_image(&spec.from).await?;
        }
        // The image in place is the one to read packages from: the old one is gone, or was
        // rewritten in place, so what was found inside it no longer holds.
        let old_gone = spec.remove_from || spec.mode == SwitchMode::InPlace;
        if old_gone {
            self.repoint_image_readers(&spec.from, &spec.target).await?;
        }
        self.set_state(id, JobState::Seeding);
        Ok(())
    }

    /// Makes every repository job that reads packages from inside `old` read them from `new`
    /// instead, and restarts it (and any job already naming `new`) so it finds them again: a
    /// job left naming a replaced image would fail at its next start, or serve bytes that moved.
    async fn repoint_image_readers(self: &Arc<Self>, old: &Path, new: &Path) -> anyhow::Result<()> {
        // A descriptor kept open would go on reading the old file (and keep its space in use).
        self.store.open_files().forget(old);
        self.store.open_files().forget(new);
        let readers: Vec<JobId> = self
            .jobs()
            .into_iter()
            .filter(|r| {
                matches!(&r.spec, JobSpec::Repository(s)
                    if s.images.iter().any(|p| p == old || p == new))
            })
            .map(|r| r.id)
            .collect();
        for id in readers {
            self.update_record(id, |r| {
                if let JobSpec::Repository(s) = &mut r.spec {
                    s.images.retain(|p| p != old);
                    if !s.images.iter().any(|p| p == new) {
                        s.images.push(new.to_owned());
                        s.images.sort();
                    }
                }
            })
            .await?;
            self.restart_on_fresh_storage(id).await?;
        }
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

    /// Runs a step that changes an image's files on a blocking thread, one at a time: a step
    /// outlives a cancelled job task, and an abort's rollback must never run beside it.
    pub(super) async fn on_disk<T: Send + 'static>(
        &self,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let guard = self.disk.clone().lock_owned().await;
        Ok(tokio::task::spawn_blocking(move || {
            let _held = guard;
            step()
        })
        .await?)
    }

    /// Bytes a failed job still had to write.
    fn bytes_still_needed(&self, id: JobId) -> u64 {
        self.snapshot()
            .job(id)
            .map(|j| {
                let done = j.bytes_had + j.bytes_fetched;
                j.bytes_wanted.saturating_sub(done)
            })
            .unwrap_or(0)
    }
}

/// Makes the working copy of `from` at the target's length; a failed copy leaves nothing behind.
fn prepare_copy(
    from: &Path,
    working: &Path,
    dir: &Path,
    needed: u64,
    reflink: bool,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(working);
    let result = (|| -> anyhow::Result<()> {
        if !reflink {
            fsutil::ensure_space(dir, needed)?;
        }
        if !(reflink && fsutil::reflink(from, working)) {
            fsutil::copy_in_steps(from, working, COPY_STEP, || fault::point("copy"))
                .with_context(|| format!("copying {} to work on it", from.display()))?;
        }
        // librqbit counts pieces past the end of a short file as missing; at the target's
        // length they read as zeros and a zero piece of the target is kept, as planned.
        OpenOptions::new()
            .write(true)
            .open(working)?
            .set_len(needed)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(working);
    }
    result
}

/// Flushes the finished image and gives it its final name.
fn put_in_place(working: &Path, target: &Path) -> std::io::Result<()> {
    fault::point("rename");
    fsutil::durable_rename(working, target)?;
    fault::point("rename");
    Ok(())
}

/// The on-disk half of a rollback: the old image back under its name, the working files gone.
fn undo_on_disk(spec: &SwitchSpec) -> anyhow::Result<()> {
    match spec.mode {
        SwitchMode::InPlace if spec.working.exists() => {
            let journal = spec.undo_path();
            if journal.exists() {
                let undo = UndoLog::open(&journal)?;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&spec.working)?;
                undo.rollback(&file)?;
            }
            // No journal: nothing was ever written into the image.
            fsutil::durable_rename(&spec.working, &spec.from)?;
        }
        SwitchMode::InPlace => {}
        SwitchMode::Reflink | SwitchMode::Copy => {
            let _ = std::fs::remove_file(&spec.working);
        }
    }
    let _ = std::fs::remove_file(spec.undo_path());
    remove_staging(&spec.working);
    anyhow::ensure!(
        spec.from.exists(),
        "{} is missing after the rollback; nothing more can be restored",
        spec.from.display()
    );
    Ok(())
}

/// Removes the working file's folders if they are empty.
fn remove_staging(working: &Path) {
    let dir = fsutil::parent_dir(working);
    let _ = std::fs::remove_dir(dir);
    if dir.parent().and_then(|p| p.file_name()) == Some(STAGING_DIR.as_ref()) {
        let _ = std::fs::remove_dir(fsutil::parent_dir(dir));
    }
}

/// Creates the folders of a working file from [`working_path`] without following links, as
/// folders of this user that no one else may write to: the images folder may be shared and the
/// info hash is public.
fn make_staging(working: &Path) -> Result<std::path::PathBuf, fsutil::StagingError> {
    let hash_dir = fsutil::parent_dir(working);
    let staging = fsutil::parent_dir(hash_dir);
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    fsutil::private_dirs(
        fsutil::parent_dir(staging),
        &[&name(staging), &name(hash_dir)],
    )
}

/// The working file of a switch to `torrent` next to `target`.
pub(super) fn working_path(target: &Path, torrent: &Torrent) -> std::path::PathBuf {
    fsutil::parent_dir(target)
        .join(STAGING_DIR)
        .join(torrent.info_hash().to_string())
        .join(&torrent.name)
}
