//! The window's way to the core: the engine's tokio runtime runs every request, and results come
//! back as futures any executor can await (relm4 commands). The window holds no engine state.
//!
//! One file per page: `updates`, `versions`, `seeding`, `transfer` (a job's live view), `open`
//! (links) and `history` (the History dialog); each is an `impl Backend` that calls the use cases.

mod history;
mod open;
mod seeding;
mod transfer;
mod updates;
mod versions;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use swarmdate_engine::service::EngineHandle;
use swarmdate_usecases::User;

pub use history::{HistoryItem, HistoryView, UndoPlan};
pub use open::TorrentInfo;
pub use seeding::{SeedItem, SeedingView, Shared};
pub use updates::{Available, DowngradePlan, Halted, Progress, StopSwitch, UpdateItem};
pub use versions::{SwitchProgress, VersionItem, VersionsView};

/// The engine's runtime, the user's client and the system the window updates.
pub struct Backend {
    rt: tokio::runtime::Handle,
    /// Replaced when the preferences change the settings.
    client: std::sync::RwLock<Arc<User>>,
    root: PathBuf,
    engine: tokio::sync::OnceCell<EngineHandle>,
}

impl Backend {
    /// A backend updating `root` (`/` on a desktop, the demo's root in the demo).
    pub fn new(rt: tokio::runtime::Handle, client: User, root: PathBuf) -> Arc<Self> {
        Arc::new(Backend {
            rt,
            client: std::sync::RwLock::new(Arc::new(client)),
            root,
            engine: Default::default(),
        })
    }

    /// Runs `fut` on the engine's runtime; the result arrives through the returned future.
    pub fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send + 'static {
        let task = self.rt.spawn(fut);
        async move {
            match task.await {
                Ok(v) => v,
                // The runtime is going away with the app: nobody waits for an answer any more.
                Err(e) if e.is_cancelled() => std::future::pending().await,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }

    /// The user's client as the settings are now.
    pub fn client(&self) -> Arc<User> {
        self.client.read().unwrap().clone()
    }

    /// Saves new settings; a running engine takes the limits and the seeding goal at once, the
    /// network choices at its next start.
    pub fn save_settings(
        self: &Arc<Self>,
        settings: &swarmdate_core::config::Settings,
    ) -> anyhow::Result<()> {
        let client = self.client();
        settings.save(&client.dirs.config)?;
        *self.client.write().unwrap() = Arc::new(client.reload()?);
        // A running engine follows the limits and the goal at once.
        if self.engine.initialized() {
            let me = self.clone();
            let s = settings.clone();
            self.rt.spawn(async move {
                let Some(engine) = me.engine.get() else {
                    return;
                };
                let applied = async {
                    engine.set_limits(s.upload_limit, s.download_limit).await?;
                    engine.set_seed_goal(s.seed_goal).await
                };
                if let Err(e) = applied.await {
                    tracing::warn!("the engine did not take the new settings: {e:#}");
                }
            });
        }
        Ok(())
    }

    /// The user's engine, started (or connected to) on first use; it keeps seeding until the
    /// app quits.
    async fn engine(&self) -> anyhow::Result<&EngineHandle> {
        let client = self.client();
        self.engine
            .get_or_try_init(|| async move { client.engine_with(client.engine_config()).await })
            .await
    }

    /// The port the engine takes peers on, once started here (tests).
    #[cfg(test)]
    pub fn listen_port(&self) -> Option<u16> {
        self.engine.get().and_then(|e| e.listen_port())
    }

    /// Adds a job to the running engine (tests).
    #[cfg(test)]
    pub fn add_job(
        &self,
        torrent: &swarmdate_core::torrent::Torrent,
        spec: swarmdate_engine::JobSpec,
    ) -> anyhow::Result<swarmdate_engine::JobId> {
        let engine = self
            .engine
            .get()
            .ok_or_else(|| anyhow::anyhow!("the engine has not started"))?;
        Ok(self.rt.block_on(engine.add_job(torrent, spec))?)
    }

    /// The engine's latest snapshot, once started here (tests).
    #[cfg(test)]
    pub fn snapshot(&self) -> Option<swarmdate_engine::Snapshot> {
        self.engine.get().map(|e| e.snapshot())
    }

    /// Stops the engine (when the app quits).
    pub fn shutdown(&self) {
        if let Some(e) = self.engine.get() {
            self.rt.block_on(e.shutdown());
        }
    }
}
