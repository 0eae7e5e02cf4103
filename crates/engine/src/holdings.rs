//! What the repository jobs hold together on the package store: a package one job admits is
//! seeded by every other job whose torrent contains it, and the store's size cap evicts
//! superseded builds from all of them.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use anyhow::Context;

use super::job::{JobId, JobSpec, RepoSpec};
use super::snapshot::JobState;
use super::{Engine, stop_task};
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{Nevra, PackageIndex};
use swarmdate_core::store::{HeldPackage, TrimReport, choose_evictions};
use swarmdate_core::torrent::InfoHash;

/// A repository job as the holdings see it.
struct RepoJob {
    id: JobId,
    info_hash: InfoHash,
    spec: RepoSpec,
    seeding: bool,
}

/// What one repository job selects, and its files by digest.
struct Holding {
    selected: BTreeSet<Sha256>,
    files: Vec<(usize, Sha256)>,
}

impl Engine {
    fn repository_jobs(&self) -> Vec<RepoJob> {
        let records = self.journal.records();
        let live = self.live.lock().unwrap();
        records
            .into_iter()
            .filter_map(|r| match r.spec {
                JobSpec::Repository(spec) => Some(RepoJob {
                    id: r.id,
                    info_hash: r.info_hash,
                    spec,
                    seeding: live
                        .get(&r.id)
                        .is_some_and(|j| j.state == JobState::Seeding),
                }),
                _ => None,
            })
            .collect()
    }

    /// Re-adds a seeding repository job so librqbit checks it again and sees the store anew.
    async fn reload_repository(self: &Arc<Self>, id: JobId) -> anyhow::Result<()> {
        stop_task(self.take_task(id)).await;
        self.stop_torrent(id).await?;
        self.spawn_job(id)
    }

    /// Lets every other seeding repository job serve the packages `from` has just admitted: those
    /// whose torrent contains one re-check (once per run of `from`, as DESIGN.md asks).
    pub(super) async fn share_admitted(
        self: &Arc<Self>,
        from: JobId,
        admitted: &HashSet<Sha256>,
    ) -> anyhow::Result<()> {
        if admitted.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self.holdings.lock().await;
        for job in self.repository_jobs() {
            if job.id == from || !job.seeding {
                continue;
            }
            let selected = self.store.refs_of(&job.info_hash);
            let index = read_index(&job.spec)?;
            let gains = index
                .packages
                .iter()
                .any(|p| admitted.contains(&p.sha256) && !selected.contains(&p.sha256));
            if gains {
                tracing::debug!(job = %job.id, "re-checking for packages another job admitted");
                self.reload_repository(job.id).await?;
            }
        }
        Ok(())
    }

    /// Brings the store within `cap` bytes by evicting superseded builds (`store::evict`), never
    /// one in `installed` nor one a job that is not seeding yet selects. Jobs that held an
    /// evicted build stop selecting it and re-check.
    pub async fn trim_store(
        self: &Arc<Self>,
        cap: u64,
        installed: &HashSet<Nevra>,
    ) -> anyhow::Result<TrimReport> {
        let _one_at_a_time = self.holdings.lock().await;
        let jobs = self.repository_jobs();
        let mut held = Vec::new();
        let mut holdings: Vec<Holding> = Vec::new();
        for job in &jobs {
            let index = read_index(&job.spec)?;
            let selected = self.store.refs_of(&job.info_hash);
            let files = index
                .packages
                .iter()
                .map(|p| (p.file_index, p.sha256))
                .collect();
            for p in index.packages {
                if !self.store.holds(&p.sha256) {
                    continue;
                }
                let busy = !job.seeding && selected.contains(&p.sha256);
                held.push(HeldPackage {
                    pinned: busy || installed.contains(&p.nevra),
                    sha256: p.sha256,
                    nevra: p.nevra,
                    size: p.size,
                });
            }
            holdings.push(Holding { selected, files });
        }
        let mut seen = HashSet::new();
        let before = held
            .iter()
            .filter(|p| seen.insert(p.sha256))
            .map(|p| p.size)
            .sum();
        let chosen = choose_evictions(&held, cap);
        let gone: BTreeSet<Sha256> = chosen.iter().map(|p| p.sha256).collect();
        let mut report = TrimReport {
            cap,
            before,
            after: before,
            evicted: chosen.iter().map(|p| p.nevra.to_string()).collect(),
        };
        if gone.is_empty() {
            return Ok(report);
        }
        // The torrents that select a build stop reading it before it goes, and stop wanting it.
        let mut affected = Vec::new();
        for (job, h) in jobs.iter().zip(&holdings) {
            if h.selected.is_disjoint(&gone) {
                continue;
            }
            affected.push(job.id);
            stop_task(self.take_task(job.id)).await;
            self.stop_torrent(job.id).await?;
            let dropped: HashSet<usize> = h
                .files
                .iter()
                .filter(|(_, sha)| gone.contains(sha))
                .map(|(i, _)| *i)
                .collect();
            self.update_record(job.id, |r| {
                if let JobSpec::Repository(s) = &mut r.spec {
                    s.wanted.retain(|i| !dropped.contains(i));
                }
            })
            .await?;
        }
        let ordered: Vec<Sha256> = chosen.iter().map(|p| p.sha256).collect();
        let freed = self.store.evict(&ordered)?;
        report.after = before.saturating_sub(freed);
        for id in affected {
            self.spawn_job(id)?;
        }
        Ok(report)
    }
}

fn read_index(spec: &RepoSpec) -> anyhow::Result<PackageIndex> {
    let bytes = std::fs::read(&spec.index)
        .with_context(|| format!("reading the package index {}", spec.index.display()))?;
    Ok(PackageIndex::from_json(&bytes)?)
}
