//! Repository jobs: a release master or updates snapshot on the package store. The wanted
//! packages arrive through staging and enter the store as each completes; every package the
//! store holds stays selected, so it is seeded.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;

use super::Engine;
use super::job::{JobId, RepoSpec};
use super::snapshot::JobState;
use crate::packages::PackageIndex;
use crate::store::{Slot, StoreTorrent};

/// How often a running repository job moves completed files into the store.
const ADMIT_EVERY: Duration = Duration::from_millis(200);

impl Engine {
    pub(super) async fn run_repository(&self, id: JobId, spec: &RepoSpec) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        let index_bytes = std::fs::read(&spec.index)
            .with_context(|| format!("reading the package index {}", spec.index.display()))?;
        let index = PackageIndex::from_json(&index_bytes)?;
        let st = StoreTorrent::new(self.store.clone(), &torrent, &index)?;
        let held: BTreeSet<usize> = st.held_files().into_iter().collect();
        let selected: BTreeSet<usize> = held.union(&spec.wanted).copied().collect();
        self.store.set_refs(
            &torrent.info_hash(),
            selected.iter().filter_map(|&i| match &st.slots()[i] {
                Slot::Package { sha256, .. } => Some(*sha256),
                Slot::Pad => None,
            }),
        )?;
        // librqbit gets a folder it never writes to: the storage maps every file to the store.
        let folder = self.state_dir.join("repositories");
        let handle = self
            .add_selected(
                id,
                st.factory(),
                &folder,
                false,
                Some(selected.iter().copied().collect()),
            )
            .await?;
        self.set_state(id, JobState::Checking);
        handle.wait_until_initialized().await?;
        let log = self.log_of(id);
        loop {
            let stats = handle.stats();
            let (_, refused) = st.admit_complete(&stats.file_progress);
            if let Some(e) = refused.into_iter().next() {
                return Err(e.into());
            }
            let missing = spec
                .wanted
                .iter()
                .filter(|&&i| match &st.slots()[i] {
                    Slot::Package { sha256, .. } => !self.store.holds(sha256),
                    Slot::Pad => false,
                })
                .count();
            if missing == 0 {
                break;
            }
            self.set_state(id, JobState::Downloading);
            if let Some(e) = log.as_ref().and_then(|l| l.write_error()) {
                return Err(e.context("writing packages into the store's staging folder"));
            }
            if let Some(e) = stats.error {
                anyhow::bail!("the repository torrent stopped: {e}");
            }
            tokio::time::sleep(ADMIT_EVERY).await;
        }
        self.set_state(id, JobState::Seeding);
        Ok(())
    }
}
