//! The transfer view's call: one job's snapshots and piece map while it is shown.

use std::future::Future;
use std::sync::Arc;

use super::Backend;

use swarmdate_engine::JobId;

use super::seeding::SEEDING_EVERY;

impl Backend {
    /// Sends the job's snapshot and its piece map (asked of the engine each time: snapshots
    /// carry none) to `show` whenever the engine publishes one, until it returns false or the job
    /// is gone.
    pub fn watch_job(
        self: &Arc<Self>,
        job: JobId,
        show: impl Fn(swarmdate_engine::JobSnapshot, swarmdate_engine::PieceMap) -> bool
        + Send
        + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let Ok(engine) = me.engine().await else {
                return;
            };
            let mut rx = engine.subscribe();
            let mut last = std::time::Instant::now() - SEEDING_EVERY;
            loop {
                if last.elapsed() >= SEEDING_EVERY {
                    let snap = rx.borrow_and_update().clone();
                    let Some(j) = snap.jobs.into_iter().find(|j| j.id == job) else {
                        return;
                    };
                    match engine.piece_map(job).await {
                        Ok(map) => {
                            if !show(j, map) {
                                return;
                            }
                            last = std::time::Instant::now();
                        }
                        Err(swarmdate_engine::EngineError::NotFound(_)) => return,
                        // A call that failed on the bus skips this update; the next one asks again.
                        Err(e) => tracing::debug!("no piece map for job {job}: {e}"),
                    }
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
