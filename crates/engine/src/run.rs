//! Running jobs: seed, and fetch into a staging folder (switches are in `switch.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactoryExt};
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse};

use super::EngineError;
use super::job::{JobId, JobSpec, Payload};
use super::snapshot::JobState;
use super::storage::{ImageStorageFactory, PieceLog, ReadOnlyFactory, RecordingFactory};
use super::verify::{payload_files, verify};
use super::{Engine, ManagedTorrentHandle, STAGING_DIR};
use swarmdate_core::fsutil;
use swarmdate_core::torrent::Torrent;

impl Engine {
    pub(super) async fn run_job(self: Arc<Self>, id: JobId) {
        let result = async {
            let rec = self.record(id)?;
            // A super-seeder announces a port of its own: it asks once it has one.
            if !matches!(rec.spec, JobSpec::SuperSeed { .. }) {
                let complete = matches!(rec.spec, JobSpec::Seed { .. });
                self.ask_trackers(id, self.listen_port, complete);
            }
            match rec.spec.clone() {
                JobSpec::Seed { payload } => self.run_seed(id, &payload, rec.paused).await,
                JobSpec::SuperSeed { payload } => {
                    self.run_super_seed(id, &payload, rec.paused).await
                }
                JobSpec::Fetch {
                    dest,
                    seed_after,
                    replace,
                } => self.run_fetch(id, &dest, seed_after, replace).await,
                // Stopped by the user: it waits, its working copy kept, until resumed.
                JobSpec::Switch(spec) if rec.paused && !spec.aborting => {
                    self.set_state(id, JobState::Paused);
                    Ok(())
                }
                JobSpec::Switch(spec) => self.run_switch(id, spec).await,
                JobSpec::Repository(spec) => self.run_repository(id, &spec).await,
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(job = %id, "job failed: {e:#}");
            self.fail(id, &e);
        }
    }

    pub(super) fn torrent_of(&self, id: JobId) -> anyhow::Result<Arc<Torrent>> {
        self.live
            .lock()
            .unwrap()
            .get(&id)
            .map(|j| j.torrent.clone())
            .ok_or_else(|| anyhow::Error::from(EngineError::no_job(id)))
    }

    /// What the job's storage has seen so far.
    pub(super) fn log_of(&self, id: JobId) -> Option<Arc<PieceLog>> {
        self.live.lock().unwrap().get(&id).map(|j| j.log.clone())
    }

    /// Adds the job's torrent to the session over `payload`, with existing data reused; a
    /// payload only seeded (`seed_only`) is opened read-only, so librqbit can neither resize it
    /// nor write into it.
    async fn add_torrent(
        &self,
        id: JobId,
        payload: &Payload,
        paused: bool,
        seed_only: bool,
    ) -> anyhow::Result<ManagedTorrentHandle> {
        let torrent = self.torrent_of(id)?;
        let (inner, folder) = match payload {
            Payload::Image(path) if seed_only => (
                ReadOnlyFactory::boxed(payload_files(&torrent, payload)),
                fsutil::parent_dir(path).to_owned(),
            ),
            Payload::Folder(dir) if seed_only => (
                ReadOnlyFactory::boxed(payload_files(&torrent, payload)),
                if torrent.single_file {
                    dir.clone()
                } else {
                    dir.join(&torrent.name)
                },
            ),
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
        self.add_with_storage(id, inner, &folder, paused).await
    }

    /// Adds the job's single-file torrent over the image at `path`, through `storage`.
    pub(super) async fn add_image(
        &self,
        id: JobId,
        storage: BoxStorageFactory,
        path: &Path,
    ) -> anyhow::Result<ManagedTorrentHandle> {
        self.add_with_storage(id, storage, fsutil::parent_dir(path), false)
            .await
    }

    async fn add_with_storage(
        &self,
        id: JobId,
        inner: BoxStorageFactory,
        folder: &Path,
        paused: bool,
    ) -> anyhow::Result<ManagedTorrentHandle> {
        self.add_selected(id, inner, folder, paused, None).await
    }

    /// Adds the job's torrent with only `files` selected (`None`: all). A torrent the session
    /// already has keeps running with the new selection.
    pub(super) async fn add_selected(
        &self,
        id: JobId,
        inner: BoxStorageFactory,
        folder: &Path,
        paused: bool,
        files: Option<Vec<usize>>,
    ) -> anyhow::Result<ManagedTorrentHandle> {
        let torrent = self.torrent_of(id)?;
        let log = self.log_of(id).unwrap_or_default();
        let mut peers = self.known_peers.clone();
        if let Some(job) = self.live.lock().unwrap().get(&id) {
            for p in &job.found_peers {
                if !peers.contains(p) {
                    peers.push(*p);
                }
            }
        }
        let opts = AddTorrentOptions {
            paused,
            only_files: files.clone(),
            overwrite: true,
            output_folder: Some(folder.to_string_lossy().into_owned()),
            storage_factory: Some(RecordingFactory::boxed(inner, log)),
            initial_peers: (!peers.is_empty()).then_some(peers),
            ..Default::default()
        };
        let resp = self
            .session
            .add_torrent(AddTorrent::from_bytes(torrent.bytes().clone()), Some(opts))
            .await
            .context("adding the torrent to the session")?;
        let handle = match resp {
            AddTorrentResponse::Added(_, h) => h,
            AddTorrentResponse::AlreadyManaged(_, h) => {
                if let Some(f) = &files {
                    self.session
                        .update_only_files(&h, &f.iter().copied().collect())
                        .await
                        .context("selecting the files of a running torrent")?;
                }
                h
            }
            AddTorrentResponse::ListOnly(_) => anyhow::bail!("the session only listed the torrent"),
        };
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.handle = Some(handle.clone());
        }
        Ok(handle)
    }

    /// Checks existing data, then fetches what is missing; returns when the payload is complete,
    /// or with the storage's error when a write fails (librqbit then stops the torrent silently).
    pub(super) async fn check_and_fetch(
        &self,
        id: JobId,
        handle: &ManagedTorrentHandle,
    ) -> anyhow::Result<()> {
        self.set_state(id, JobState::Checking);
        let log = self.log_of(id);
        let done = async {
            handle.wait_until_initialized().await?;
            if !handle.stats().finished {
                self.set_state(id, JobState::Downloading);
            }
            handle.wait_until_completed().await
        };
        let failed = async {
            loop {
                if let Some(e) = log.as_ref().and_then(|l| l.write_error()) {
                    return e;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            // librqbit flattens the storage's error into text; the log keeps its I/O kind, which
            // tells a full disk apart.
            r = done => r.map_err(|e| log.as_ref().and_then(|l| l.write_error()).unwrap_or(e)),
            e = failed => Err(e),
        }
    }

    /// Seeds a payload that is complete: checked first (every length and piece), then opened
    /// read-only. Seeding never fetches: a payload that is not the torrent's is refused, whatever
    /// peers would send.
    async fn run_seed(&self, id: JobId, payload: &Payload, paused: bool) -> anyhow::Result<()> {
        if !paused {
            self.set_state(id, JobState::Checking);
            let (torrent, p) = (self.torrent_of(id)?, payload.clone());
            tokio::task::spawn_blocking(move || verify(&torrent, &p)).await??;
        }
        let handle = self.add_torrent(id, payload, paused, true).await?;
        if paused {
            self.set_state(id, JobState::Paused);
            return Ok(());
        }
        self.check_and_fetch(id, &handle).await?;
        self.set_state(id, JobState::Seeding);
        Ok(())
    }

    /// Serves the payload through a super-seeder of its own instead of the session.
    pub(super) async fn run_super_seed(
        &self,
        id: JobId,
        payload: &Payload,
        paused: bool,
    ) -> anyhow::Result<()> {
        if paused {
            self.set_state(id, JobState::Paused);
            return Ok(());
        }
        let ip = self
            .listen_ip
            .context("super-seeding needs a listening port; share with others to use it")?;
        self.set_state(id, JobState::Checking);
        let seeder = super::super_seed::SuperSeeder::start(
            self.torrent_of(id)?,
            payload,
            std::net::SocketAddr::new(ip, 0),
            self.session.ratelimits.get_upload_bps(),
            self.trackers,
            self.local_only,
        )
        .await?;
        tracing::info!(job = %id, port = seeder.port(), "super-seeding");
        self.ask_trackers(id, Some(seeder.port()), true);
        if let Some(j) = self.live.lock().unwrap().get_mut(&id) {
            j.super_seeder = Some(seeder);
        }
        self.set_state(id, JobState::Seeding);
        Ok(())
    }

    async fn run_fetch(
        &self,
        id: JobId,
        dest: &Path,
        seed_after: bool,
        replace: bool,
    ) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        // Never through a link someone planted: the folder may be shared, the info hash is public.
        std::fs::create_dir_all(dest)?;
        let staging = fsutil::private_dirs(dest, &[STAGING_DIR, &torrent.info_hash().to_string()])?;
        let (old, new) = (dest.join(&torrent.name), staging.join(&torrent.name));
        if replace && !new.exists() && old.exists() {
            self.set_state(id, JobState::Checking);
            let t = torrent.clone();
            tokio::task::spawn_blocking(move || reuse_old(&t, &old, &new)).await??;
        }
        let handle = self
            .add_torrent(id, &Payload::Folder(staging.clone()), false, false)
            .await?;
        let order = self
            .diverse_order
            .then(|| super::order::diversify(&self.api, &self.order_streams, &handle, &torrent))
            .flatten();
        let fetched = self.check_and_fetch(id, &handle).await;
        if let Some(task) = order {
            task.abort();
            let _ = task.await;
        }
        if let Err(e) = fetched {
            if fsutil::is_full_disk(&e) {
                let needed = torrent.total_length() - handle.stats().progress_bytes;
                return Err(fsutil::no_space(dest, needed).context(
                    "the disk filled up during the download; what arrived is kept, and the same command resumes once there is room",
                ));
            }
            return Err(e);
        }

        self.set_state(id, JobState::Finalizing);
        self.freeze(id);
        self.session.delete(handle.id().into(), false).await?;
        let (from, to) = (staging.join(&torrent.name), dest.join(&torrent.name));
        let retired = staging.with_extension("old");
        tokio::task::spawn_blocking(move || {
            publish_tree(&from, &to, replace.then_some(retired.as_path()))?;
            Ok::<_, anyhow::Error>(remove_tree(&retired)?)
        })
        .await??;
        let _ = std::fs::remove_dir(&staging);
        let _ = std::fs::remove_dir(dest.join(STAGING_DIR));

        if seed_after {
            let payload = Payload::Folder(dest.to_owned());
            self.update_record(id, |r| {
                r.spec = JobSpec::Seed {
                    payload: payload.clone(),
                }
            })
            .await?;
            // Just fetched and checked: librqbit's check at the add is enough.
            let handle = self.add_torrent(id, &payload, false, true).await?;
            self.check_and_fetch(id, &handle).await?;
            self.set_state(id, JobState::Seeding);
        } else {
            self.journal.remove(id).await?;
            self.set_state(id, JobState::Done);
        }
        Ok(())
    }

    /// Keeps the job's last counters for display once its torrent leaves the session.
    pub(super) fn freeze(&self, id: JobId) {
        self.publish();
        let last = self.snapshot().jobs.into_iter().find(|j| j.id == id);
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.frozen = last;
            job.handle = None;
        }
    }
}

/// Moves a finished file or folder from staging into place, flushed first. An older payload
/// there moves to `retired` when one is given (only once the new one is durable), and is
/// refused otherwise.
fn publish_tree(from: &Path, to: &Path, retired: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(
        retired.is_some() || !to.exists(),
        "{} exists already; move it away and fetch again",
        to.display()
    );
    sync_tree(from)?;
    if let Some(old) = retired
        && to.exists()
    {
        std::fs::rename(to, old)?;
    }
    std::fs::rename(from, to)?;
    fsutil::fsync_dir(fsutil::parent_dir(to))?;
    Ok(())
}

/// Copies (by reflink where the file system can) the files of an older payload at `old` that the
/// torrent also has to the same paths under `new`, so that the check keeps every piece still right.
fn reuse_old(torrent: &Torrent, old: &Path, new: &Path) -> anyhow::Result<()> {
    for f in torrent.files.iter().filter(|f| !f.pad) {
        // A single file is the payload itself (joining an empty path would add a slash).
        let (from, to) = if torrent.single_file {
            (old.to_owned(), new.to_owned())
        } else {
            let rel: PathBuf = f.path.iter().collect();
            (old.join(&rel), new.join(&rel))
        };
        if from.is_file() {
            std::fs::create_dir_all(fsutil::parent_dir(&to))?;
            fsutil::clone_or_copy(&from, &to)
                .with_context(|| format!("reusing {}", from.display()))?;
            // Cut or zero-extended to the new length: no old tail survives, and a zero piece
            // past the old end is kept as it is.
            std::fs::OpenOptions::new()
                .write(true)
                .open(&to)?
                .set_len(f.length)?;
        }
    }
    Ok(())
}

/// Removes a file or folder if it exists.
fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_tree(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        for e in std::fs::read_dir(path)? {
            sync_tree(&e?.path())?;
        }
    }
    std::fs::File::open(path)?.sync_all()
}
