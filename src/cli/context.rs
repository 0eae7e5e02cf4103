//! What every command needs: the user's client (folders, settings, keys, feed) and the output.

use std::net::SocketAddr;
use std::path::PathBuf;

use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{EngineConfig, JobId};
use swarmdate_usecases::{Overrides, User};

use super::output::Out;

/// Options every command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Print newline-delimited JSON events and a final summary object.
    #[arg(long, global = true)]
    pub json: bool,
    /// Keep config and data under this folder instead of the XDG folders.
    #[arg(long, global = true, env = "SWARMDATE_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The feed to use (overrides the settings).
    #[arg(long, global = true, value_name = "URL")]
    pub feed: Option<String>,
    /// Also trust this armored public key for feeds.
    #[arg(long = "trust", global = true, value_name = "KEY.asc")]
    pub trust: Vec<PathBuf>,
    /// Accept peers on this address (default 0.0.0.0:6881 or the settings').
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

impl Global {
    /// What the options override of the settings.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            home: self.home.clone(),
            feed: self.feed.clone(),
            trust: self.trust.clone(),
            listen: self.listen,
        }
    }
}

/// A command's context: the [`User`] and the command's output.
pub struct Ctx {
    pub out: Out,
    client: User,
}

impl std::ops::Deref for Ctx {
    type Target = User;

    fn deref(&self) -> &User {
        &self.client
    }
}

impl Ctx {
    /// Reads folders and settings.
    pub fn new(global: Global) -> anyhow::Result<Self> {
        Ok(Ctx {
            out: Out::new(global.json),
            client: User::new(global.overrides())?,
        })
    }

    /// This user's engine: the one another process runs (over the session bus), or a new one here.
    pub async fn engine(&self) -> anyhow::Result<EngineHandle> {
        self.engine_with(self.engine_config()).await
    }

    /// This user's engine; `cfg` applies only when it starts here.
    pub async fn engine_with(&self, cfg: EngineConfig) -> anyhow::Result<EngineHandle> {
        let name = self.bus_name(&cfg);
        let handle = self.client.engine_with(cfg).await?;
        self.out.event(
            "engine",
            serde_json::json!({ "remote": handle.is_remote(), "bus_name": name }),
        );
        Ok(handle)
    }

    /// Runs a job to completion with a progress display; returns its last snapshot.
    pub async fn follow(
        &self,
        engine: &EngineHandle,
        id: JobId,
        label: &str,
    ) -> anyhow::Result<swarmdate_engine::JobSnapshot> {
        let mut progress = self.out.job_progress(label);
        let mut rx = engine.subscribe();
        let waiter = engine.wait(id);
        tokio::pin!(waiter);
        // One listener, made before the first turn, for the whole wait: a Ctrl+C between two
        // turns is not lost.
        let mut interrupted =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        loop {
            tokio::select! {
                r = &mut waiter => {
                    progress.finish();
                    return Ok(r?);
                }
                changed = rx.changed() => {
                    changed?;
                    if let Some(j) = rx.borrow_and_update().job(id) {
                        progress.update(j);
                    }
                }
                _ = interrupted.recv() => {
                    progress.finish();
                    anyhow::bail!("interrupted; the job resumes where it stopped the next time the engine runs");
                }
            }
        }
    }
}
