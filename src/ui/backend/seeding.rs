//! The Seeding page's calls: the figures every second, pause and resume.

use std::future::Future;
use std::sync::Arc;

use super::Backend;

use swarmdate_engine::JobId;
use swarmdate_usecases::seeding;

pub use swarmdate_usecases::seeding::{SeedItem, SeedingView, Shared};

/// How often the Seeding page's figures are refreshed.
pub(super) const SEEDING_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Backend {
    /// Starts the engine (it seeds what the journal holds), then sends the seeding figures to
    /// `show` every second until it returns false.
    pub fn watch_seeding(
        self: &Arc<Self>,
        show: impl Fn(Result<SeedingView, String>) -> bool + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let engine = match me.engine().await {
                Ok(e) => e,
                Err(e) => {
                    show(Err(format!("{e:#}")));
                    return;
                }
            };
            // What each torrent is, from the feed, read once (it names the rows for people),
            // while the local image is looked at: the first figures wait for one feed fetch.
            let client = me.client();
            let (shared, names) = tokio::join!(
                seeding::share_local_image(&client, engine),
                seeding::Names::load(&client)
            );
            if let Err(e) = shared {
                tracing::info!("not sharing the local image: {e:#}");
            }
            // Opened once: opening sets the tables up (a write), not worth doing every second.
            let ledger_path = client.dirs.engine().join("ledger.sqlite");
            let ledger = swarmdate_core::ledger::Ledger::open(&ledger_path).ok();
            loop {
                let view = seeding::view(engine, ledger.as_ref(), &names);
                if !show(Ok(view)) {
                    return;
                }
                tokio::time::sleep(SEEDING_EVERY).await;
            }
        })
    }

    /// Pauses or resumes a seeded torrent.
    pub fn set_paused(
        self: &Arc<Self>,
        job: JobId,
        paused: bool,
    ) -> impl Future<Output = Result<(), String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let engine = me.engine().await.map_err(|e| format!("{e:#}"))?;
            seeding::set_paused(engine, job, paused)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }
}

impl Backend {
    /// Pauses every torrent that is sharing (metered connection, battery); returns them, to
    /// resume the same ones later. With `resume`, resumes those instead.
    pub fn pause_sharing(
        self: &Arc<Self>,
        resume: Option<Vec<JobId>>,
    ) -> impl Future<Output = Result<Vec<JobId>, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let r: anyhow::Result<Vec<JobId>> = async {
                let engine = me.engine().await?;
                if let Some(jobs) = resume {
                    seeding::resume_all(engine, &jobs).await?;
                    return Ok(jobs);
                }
                Ok(seeding::pause_all(engine).await?)
            }
            .await;
            r.map_err(|e| format!("{e:#}"))
        })
    }
}
