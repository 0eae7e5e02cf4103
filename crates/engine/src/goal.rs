//! The user's seeding goal: a finished image or download stops being shared once it uploaded its
//! size so many times, or after so many hours of sharing. Package torrents are exempt: the same
//! job fetches the next updates, and it shares only builds this machine holds anyway.

use std::collections::HashMap;
use std::time::Duration;

use super::job::{JobId, JobSpec};
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
        for c in self.candidates()? {
            if c.goal_met && !c.met {
                self.update_record(c.id, |r| r.goal_met = false)?;
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
        for c in self.candidates()? {
            if c.met && !c.goal_met && !c.paused {
                tracing::info!(job = %c.id, "the seeding goal is met: pausing");
                self.update_record(c.id, |r| r.goal_met = true)?;
                self.pause_torrent(c.id).await?;
            }
        }
        Ok(())
    }

    /// Every image or download job that is complete, with whether the goal covers it; notes when
    /// each started sharing.
    fn candidates(&self) -> anyhow::Result<Vec<Candidate>> {
        let goal = self.seed_goal();
        let uploaded: HashMap<_, _> = self
            .ledger
            .totals()?
            .into_iter()
            .map(|t| (t.info_hash, t.uploaded))
            .collect();
        let now = chrono::Utc::now().timestamp();
        let mut jobs = self.jobs.lock().unwrap();
        let mut started = false;
        let mut out = Vec::new();
        let super::Jobs { journal, live } = &mut *jobs;
        for (id, rec) in journal.jobs.iter_mut() {
            if matches!(rec.spec, JobSpec::Repository(_)) {
                continue;
            }
            let Some(job) = live.get(id) else { continue };
            let paused = job.state == JobState::Paused;
            let complete = job.state.is_complete()
                || (paused && job.handle.as_ref().is_some_and(|h| h.stats().finished));
            if !complete {
                continue;
            }
            let since = *rec.seeding_since.get_or_insert_with(|| {
                started = true;
                now
            });
            let shared_for = Duration::from_secs(now.saturating_sub(since).max(0) as u64);
            let up = uploaded.get(&rec.info_hash).copied().unwrap_or(0);
            out.push(Candidate {
                id: *id,
                met: goal.met(up, job.torrent.data_length(), shared_for),
                goal_met: rec.goal_met,
                paused,
            });
        }
        if started {
            self.save_journal(&jobs)?;
        }
        Ok(out)
    }
}
