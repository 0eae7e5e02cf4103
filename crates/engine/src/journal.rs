//! The job journal (`jobs.json`): every job that should run when the engine starts. One owner
//! holds the records and the file; every change is saved atomically, with fsync, on tokio's
//! blocking pool, and a call that changes a job returns only once the file is durable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::job::{JobId, JobRecord};

/// The journal file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    /// Journal format version.
    pub version: u32,
    /// The highest id ever given: ids are never reused, so a finished job's last snapshot is
    /// never mistaken for a new job's.
    #[serde(default)]
    pub last_id: u64,
    /// The jobs by id.
    pub jobs: BTreeMap<JobId, JobRecord>,
}

impl Journal {
    /// Reads the journal, or an empty one if there is none.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(b) => Ok(serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!("the job journal {} is damaged: {e}", path.display())
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Journal {
                version: 1,
                ..Default::default()
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the next id.
    pub fn take_id(&mut self) -> JobId {
        let last = self.jobs.keys().last().map_or(0, |k| k.0);
        self.last_id = self.last_id.max(last) + 1;
        JobId(self.last_id)
    }
}

/// The engine's journal: its records in memory and the file they are saved to.
pub(crate) struct JournalFile(Arc<Shared>);

struct Shared {
    path: PathBuf,
    records: Mutex<Journal>,
    /// Held by the save that writes: each save serializes the records once it holds this, so the
    /// last write is always the newest state.
    writer: Mutex<()>,
}

impl JournalFile {
    /// Reads the journal at `path` (an empty one if there is none).
    pub(crate) async fn open(path: PathBuf) -> anyhow::Result<Self> {
        let (journal, path) =
            tokio::task::spawn_blocking(move || Journal::load(&path).map(|j| (j, path))).await??;
        Ok(JournalFile(Arc::new(Shared {
            path,
            records: Mutex::new(journal),
            writer: Mutex::new(()),
        })))
    }

    /// A job's record.
    pub(crate) fn get(&self, id: JobId) -> Option<JobRecord> {
        self.read(|j| j.jobs.get(&id).cloned())
    }

    /// Every record, by id.
    pub(crate) fn records(&self) -> Vec<JobRecord> {
        self.read(|j| j.jobs.values().cloned().collect())
    }

    /// Looks at the records without copying them (for the snapshot, 4×/s).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Journal) -> R) -> R {
        f(&self.0.records.lock().unwrap())
    }

    /// Changes the records and returns once the change is on disk. The closure runs under the
    /// journal's lock, so a look-then-change in it is atomic; it must not take the engine's locks.
    pub(crate) async fn change<R>(&self, f: impl FnOnce(&mut Journal) -> R) -> anyhow::Result<R> {
        let r = f(&mut self.0.records.lock().unwrap());
        self.save().await?;
        Ok(r)
    }

    /// Changes one job's record, durably; a job not in the journal is not found.
    pub(crate) async fn update(
        &self,
        id: JobId,
        f: impl FnOnce(&mut JobRecord),
    ) -> anyhow::Result<()> {
        self.change(|j| j.jobs.get_mut(&id).map(f))
            .await?
            .ok_or_else(|| EngineError::no_job(id).into())
    }

    /// Drops a job's record, durably.
    pub(crate) async fn remove(&self, id: JobId) -> anyhow::Result<()> {
        self.change(|j| {
            j.jobs.remove(&id);
        })
        .await
    }

    /// Writes the records on the blocking pool. The write is started before the first await,
    /// so a caller cancelled while waiting still has its change saved.
    async fn save(&self) -> anyhow::Result<()> {
        let shared = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let _writing = shared.writer.lock().unwrap();
            let bytes = serde_json::to_vec_pretty(&*shared.records.lock().unwrap())?;
            swarmdate_core::fsutil::write_atomic(&shared.path, &bytes)
        })
        .await
        .context("saving the job journal")?
        .context("saving the job journal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobSpec, Payload};
    use swarmdate_core::torrent::InfoHash;

    fn record(id: JobId) -> JobRecord {
        JobRecord {
            id,
            info_hash: InfoHash([id.0 as u8; 20]),
            name: format!("job {id}"),
            spec: JobSpec::Seed {
                payload: Payload::Folder("/srv".into()),
            },
            paused: false,
            seeding_since: None,
            goal_met: false,
        }
    }

    #[tokio::test]
    async fn every_change_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.json");
        let journal = JournalFile::open(path.clone()).await.unwrap();
        let id = journal
            .change(|j| {
                let id = j.take_id();
                j.jobs.insert(id, record(id));
                id
            })
            .await
            .unwrap();
        assert_eq!(Journal::load(&path).unwrap().jobs[&id], record(id));
        journal.update(id, |r| r.paused = true).await.unwrap();
        assert!(Journal::load(&path).unwrap().jobs[&id].paused);
        journal.remove(id).await.unwrap();
        let on_disk = Journal::load(&path).unwrap();
        assert!(on_disk.jobs.is_empty());
        assert_eq!(on_disk.last_id, id.0, "ids are never reused");
        assert!(journal.update(id, |_| {}).await.is_err());
    }
}
