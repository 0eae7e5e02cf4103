//! The user's seeding goal: a finished image or download stops being shared once it uploaded its
//! size so many times, or after so many hours of sharing. Package torrents are exempt: the same
//! job fetches the next updates, and it shares only builds this machine holds anyway.

use std::collections::HashMap;
use std::time::Duration;

use super::job::{JobId, JobRecord, JobSpec};
use super::journal::Journal;
use super::{Engine, JobState};
use swarmdate_core::config::SeedGoal;

/// One goal-bound job as the check sees it.
struct Candidate {
    id: JobId,
    met: bool,
    goal_met: bool,
    paused: bool,
}

impl Engine {
    /// The goal in force.
    pub fn seed_goal(&self) -> SeedGoal {
        *self.seed_goal.lock().unwrap()
    }

    /// Changes the seeding goal. Jobs the old goal paused and the new one no longer covers share
    /// again; jobs the new one covers pause.
    pub async fn set_seed_goal(&self, goal: SeedGoal) -> anyhow::Result<()> {
        *self.seed_goal.lock().unwrap() = goal;
        for c in self.candidates().await? {
            if c.goal_met && !c.met {
                self.update_record(c.id, |r| r.goal_met = false).await?;
                if c.paused {
                    self.resume_torrent(c.id).await?;
                }
            }
        }
        self.check_goals().await
    }

    /// Pauses every sharing image or download that met the goal, once: a job the user resumes
    /// after that keeps sharing until the goal changes.
    pub(super) async fn check_goals(&self) -> anyhow::Result<()> {
        for c in self.candidates().await? {
            if c.met && !c.goal_met && !c.paused {
                tracing::info!(job = %c.id, "the seeding goal is met: pausing");
                self.update_record(c.id, |r| r.goal_met = true).await?;
                self.pause_torrent(c.id).await?;
            }
        }
        Ok(())
    }

    /// Every image or download job that is complete, with whether the goal covers it; notes when
    /// each started sharing.
    async fn candidates(&self) -> anyhow::Result<Vec<Candidate>> {
        let goal = self.seed_goal();
        let uploaded: HashMap<_, _> = self
            .ledger
            .totals()
            .await?
            .into_iter()
            .map(|t| (t.info_hash, t.uploaded))
            .collect();
        let now = chrono::Utc::now().timestamp();
        // The live part first, on its own: the engine's two locks are never held together.
        let complete: HashMap<JobId, (bool, u64)> = self
            .live
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(id, job)| {
                let paused = job.state == JobState::Paused;
                let complete = job.state.is_complete()
                    || (paused && job.handle.as_ref().is_some_and(|h| h.stats().finished));
                complete.then_some((*id, (paused, job.torrent.data_length())))
            })
            .collect();
        let bound = |rec: &JobRecord| {
            !matches!(rec.spec, JobSpec::Repository(_)) && complete.contains_key(&rec.id)
        };
        let pick = |j: &Journal| -> Vec<Candidate> {
            j.jobs
                .values()
                .filter(|rec| bound(rec))
                .map(|rec| {
                    let (paused, length) = complete[&rec.id];
                    let since = rec.seeding_since.unwrap_or(now);
                    let shared_for = Duration::from_secs(now.saturating_sub(since).max(0) as u64);
                    let up = uploaded.get(&rec.info_hash).copied().unwrap_or(0);
                    Candidate {
                        id: rec.id,
                        met: goal.met(up, length, shared_for),
                        goal_met: rec.goal_met,
                        paused,
                    }
                })
                .collect()
        };
        let started = |j: &Journal| {
            j.jobs
                .values()
                .any(|rec| bound(rec) && rec.seeding_since.is_none())
        };
        if !self.journal.read(started) {
            return Ok(self.journal.read(pick));
        }
        self.journal
            .change(|j| {
                for rec in j.jobs.values_mut() {
                    if bound(rec) {
                        rec.seeding_since.get_or_insert(now);
                    }
                }
                pick(j)
            })
            .await
    }
}
