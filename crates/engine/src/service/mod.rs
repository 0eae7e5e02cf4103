//! One engine per user: the first process that needs the engine runs it and owns a well-known name
//! on the session bus; processes started later drive it over D-Bus with the same intents and
//! snapshots. With no session bus, the engine runs in-process under the state directory's lock.

mod error;
mod remote;
mod server;
pub mod wire;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{
    Engine, EngineBusy, EngineConfig, EngineError, JobId, JobRecord, JobSnapshot, JobSpec,
    PieceMap, Snapshot, wait_for_job,
};
pub use error::{BusError, ERROR_PREFIX};
pub use remote::Remote;
pub use server::Host;
use swarmdate_core::config::SeedGoal;
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::packages::Nevra;
use swarmdate_core::store::TrimReport;
use swarmdate_core::torrent::Torrent;

/// The engine's object path.
pub const OBJECT_PATH: &str = "/org/swarmdate/Engine";
/// The engine's interface.
pub const INTERFACE: &str = "org.swarmdate.Engine1";

/// The bus name of the engine keeping its state in `state_dir`: the plain name for the user's
/// default folder, a suffixed one for another (tests, `--home`), so that two homes never share one.
pub fn bus_name(state_dir: &Path, default_state_dir: Option<&Path>) -> String {
    if default_state_dir == Some(state_dir) {
        return "org.swarmdate.Engine".to_owned();
    }
    let digest = swarmdate_core::hash::Sha256::of(state_dir.as_os_str().as_encoded_bytes());
    format!("org.swarmdate.Engine.h{}", &digest.to_string()[..16])
}

/// The user's engine, wherever it runs.
pub enum EngineHandle {
    /// Running in this process (and offered on the bus when there is one).
    Local {
        /// The engine.
        engine: Arc<Engine>,
        /// The bus service, if there is a session bus.
        host: Option<Host>,
    },
    /// Running in another process of this user.
    Remote(Remote),
}

/// How long to wait for a starting engine in another process to claim its bus name.
const CLAIM_WAIT: Duration = Duration::from_secs(10);

impl EngineHandle {
    /// Connects to the user's engine on the session bus, or starts it here (and offers it on the
    /// bus). Without a session bus, starts it here under the lock.
    pub async fn connect_or_start(cfg: EngineConfig, name: &str) -> anyhow::Result<Self> {
        let Ok(conn) = zbus::Connection::session().await else {
            return Ok(EngineHandle::Local {
                engine: Engine::start(cfg).await?,
                host: None,
            });
        };
        let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
        loop {
            if remote::name_has_owner(&conn, name).await? {
                return Ok(EngineHandle::Remote(Remote::connect(&conn, name).await?));
            }
            match Engine::start(cfg.clone()).await {
                Ok(engine) => {
                    let host = Host::serve(&conn, name, engine.clone()).await?;
                    return Ok(EngineHandle::Local {
                        engine,
                        host: Some(host),
                    });
                }
                // Another process holds the lock and is about to claim the name (or runs without
                // a bus, and then the error says so once the wait is over).
                Err(e) if e.is::<EngineBusy>() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The port peers reach the engine on, when it runs in this process.
    pub fn listen_port(&self) -> Option<u16> {
        match self {
            EngineHandle::Local { engine, .. } => engine.listen_port(),
            EngineHandle::Remote(_) => None,
        }
    }

    /// Whether the engine runs in another process.
    pub fn is_remote(&self) -> bool {
        matches!(self, EngineHandle::Remote(_))
    }

    /// Adds a job (see [`Engine::add_job`]).
    pub async fn add_job(&self, torrent: &Torrent, spec: JobSpec) -> Result<JobId, EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => engine
                .add_job(torrent, spec)
                .await
                .map_err(EngineError::from),
            EngineHandle::Remote(r) => r.add_job(torrent, &spec).await,
        }
    }

    /// Starts or resumes a switch (see [`Engine::switch_image`]).
    pub async fn switch_image(
        &self,
        image: &Path,
        to: &Torrent,
        mode: SwitchMode,
        space_needed: u64,
        keep_old: bool,
    ) -> Result<JobId, EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => engine
                .switch_image(image, to, mode, space_needed, keep_old)
                .await
                .map_err(EngineError::from),
            EngineHandle::Remote(r) => {
                r.switch_image(image, to, mode, space_needed, keep_old)
                    .await
            }
        }
    }

    /// Aborts a switch (see [`Engine::abort_switch`]).
    pub async fn abort_switch(&self, id: JobId) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.abort_switch(id).await.map_err(EngineError::from)
            }
            EngineHandle::Remote(r) => r.abort_switch(id).await,
        }
    }

    /// Pauses a job (see [`Engine::pause`]).
    pub async fn pause(&self, id: JobId) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => engine.pause(id).await.map_err(EngineError::from),
            EngineHandle::Remote(r) => r.pause(id).await,
        }
    }

    /// Stops fetching a repository job's `files` (see [`Engine::withdraw`]).
    pub async fn withdraw(
        &self,
        id: JobId,
        files: std::collections::BTreeSet<usize>,
    ) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.withdraw(id, files).await.map_err(EngineError::from)
            }
            EngineHandle::Remote(r) => r.withdraw(id, files).await,
        }
    }

    /// Stops a job and forgets it (see [`Engine::remove`]).
    pub async fn remove(&self, id: JobId) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.remove(id).await.map_err(EngineError::from)
            }
            EngineHandle::Remote(r) => r.remove(id).await,
        }
    }

    /// Resumes a paused job (see [`Engine::resume`]).
    pub async fn resume(&self, id: JobId) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.resume(id).await.map_err(EngineError::from)
            }
            EngineHandle::Remote(r) => r.resume(id).await,
        }
    }

    /// Changes the upload and download limits (see [`Engine::set_limits`]).
    pub async fn set_limits(
        &self,
        upload: Option<u32>,
        download: Option<u32>,
    ) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.set_limits(upload, download);
                Ok(())
            }
            EngineHandle::Remote(r) => r.set_limits(upload, download).await,
        }
    }

    /// Changes the seeding goal (see [`Engine::set_seed_goal`]).
    pub async fn set_seed_goal(&self, goal: SeedGoal) -> Result<(), EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => {
                engine.set_seed_goal(goal).await.map_err(EngineError::from)
            }
            EngineHandle::Remote(r) => r.set_seed_goal(goal).await,
        }
    }

    /// Evicts superseded builds over the store's cap (see [`Engine::trim_store`]).
    pub async fn trim_store(
        &self,
        cap: u64,
        installed: &HashSet<Nevra>,
    ) -> Result<TrimReport, EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => engine
                .trim_store(cap, installed)
                .await
                .map_err(EngineError::from),
            EngineHandle::Remote(r) => r.trim_store(cap, installed).await,
        }
    }

    /// The jobs in the engine's journal.
    pub async fn jobs(&self) -> Result<Vec<JobRecord>, EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => Ok(engine.jobs()),
            EngineHandle::Remote(r) => r.jobs().await,
        }
    }

    /// A job's piece map as of the latest snapshot (snapshots carry none): asked for only by
    /// whoever draws it.
    pub async fn piece_map(&self, id: JobId) -> Result<PieceMap, EngineError> {
        match self {
            EngineHandle::Local { engine, .. } => engine.piece_map(id),
            EngineHandle::Remote(r) => r.piece_map(id).await,
        }
    }

    /// Receives every snapshot the engine publishes.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        match self {
            EngineHandle::Local { engine, .. } => engine.subscribe(),
            EngineHandle::Remote(r) => r.subscribe(),
        }
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.subscribe().borrow().clone()
    }

    /// Waits until a job is complete or has failed; returns its last snapshot.
    pub async fn wait(&self, id: JobId) -> Result<JobSnapshot, EngineError> {
        wait_for_job(self.subscribe(), id).await
    }

    /// Ends this process's use of the engine. An engine running here waits until the other
    /// processes using it over the bus are done, then stops; a remote one goes on.
    pub async fn shutdown(&self) {
        match self {
            EngineHandle::Local { engine, host } => {
                if let Some(h) = host {
                    h.wait_for_clients().await;
                    h.release().await;
                }
                engine.shutdown().await;
            }
            EngineHandle::Remote(r) => r.release().await,
        }
    }
}
