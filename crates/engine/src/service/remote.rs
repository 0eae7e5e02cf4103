//! A process driving the user's engine in another process over the session bus.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use futures::StreamExt;
use tokio::sync::watch;

use super::error::BusError;
use crate::{EngineError, JobId, JobRecord, JobSpec, Snapshot};
use swarmdate_core::config::SeedGoal;
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::packages::Nevra;
use swarmdate_core::store::TrimReport;
use swarmdate_core::torrent::Torrent;

#[zbus::proxy(
    interface = "org.swarmdate.Engine1",
    default_path = "/org/swarmdate/Engine"
)]
trait Engine1 {
    fn snapshot(&self) -> Result<String, BusError>;
    fn jobs(&self) -> Result<String, BusError>;
    fn add_job(&self, torrent_bytes: &[u8], spec: &str) -> Result<u64, BusError>;
    fn switch_image(
        &self,
        image: &[u8],
        torrent_bytes: &[u8],
        mode: &str,
        space_needed: u64,
        keep_old: bool,
    ) -> Result<u64, BusError>;
    fn abort_switch(&self, id: u64) -> Result<(), BusError>;
    fn pause(&self, id: u64) -> Result<(), BusError>;
    fn resume(&self, id: u64) -> Result<(), BusError>;
    fn remove(&self, id: u64) -> Result<(), BusError>;
    fn trim_store(&self, cap: u64, installed: Vec<String>) -> Result<String, BusError>;
    fn set_limits(&self, upload: u32, download: u32) -> Result<(), BusError>;
    fn set_seed_goal(&self, goal: &str) -> Result<(), BusError>;
    fn hold(&self) -> Result<(), BusError>;
    fn release(&self) -> Result<(), BusError>;
    #[zbus(signal)]
    fn changed(&self, snapshot: String) -> zbus::Result<()>;
}

/// Whether a process owns `name` on the bus.
pub(super) async fn name_has_owner(conn: &zbus::Connection, name: &str) -> anyhow::Result<bool> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    Ok(dbus
        .name_has_owner(zbus::names::BusName::try_from(name)?)
        .await?)
}

/// A failure on this side of the bus (a value that does not serialize, a reply that does not
/// parse), as an engine error.
fn local(e: impl std::fmt::Display) -> EngineError {
    EngineError::Other(format!("the engine's process: {e}"))
}

/// The user's engine in another process.
pub struct Remote {
    proxy: Engine1Proxy<'static>,
    snapshots: watch::Receiver<Snapshot>,
    task: tokio::task::JoinHandle<()>,
}

impl Remote {
    /// Connects to the engine owning `name`, holds it, and follows its snapshots.
    pub async fn connect(conn: &zbus::Connection, name: &str) -> anyhow::Result<Remote> {
        let proxy = Engine1Proxy::builder(conn)
            .destination(name.to_owned())?
            .build()
            .await?;
        proxy.hold().await?;
        // Subscribed before the first snapshot is read, so no change falls between the two.
        let mut changes = proxy.receive_changed().await?;
        let first: Snapshot = serde_json::from_str(&proxy.snapshot().await?)?;
        let (tx, snapshots) = watch::channel(first);
        let task = tokio::spawn(async move {
            while let Some(signal) = changes.next().await {
                let Ok(args) = signal.args() else { continue };
                match serde_json::from_str::<Snapshot>(args.snapshot()) {
                    Ok(s) => {
                        if tx.send(s).is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::debug!("an unreadable snapshot from the engine: {e}"),
                }
            }
        });
        Ok(Remote {
            proxy,
            snapshots,
            task,
        })
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    pub(super) async fn add_job(
        &self,
        torrent: &Torrent,
        spec: &JobSpec,
    ) -> Result<JobId, EngineError> {
        let spec = serde_json::to_string(spec).map_err(local)?;
        let id = self
            .proxy
            .add_job(torrent.bytes(), &spec)
            .await
            .map_err(EngineError::from)?;
        Ok(JobId(id))
    }

    pub(super) async fn switch_image(
        &self,
        image: &Path,
        to: &Torrent,
        mode: SwitchMode,
        space_needed: u64,
        keep_old: bool,
    ) -> Result<JobId, EngineError> {
        let mode = serde_json::to_value(mode).map_err(local)?;
        let id = self
            .proxy
            .switch_image(
                image.as_os_str().as_bytes(),
                to.bytes(),
                mode.as_str().unwrap_or_default(),
                space_needed,
                keep_old,
            )
            .await
            .map_err(EngineError::from)?;
        Ok(JobId(id))
    }

    pub(super) async fn abort_switch(&self, id: JobId) -> Result<(), EngineError> {
        self.proxy
            .abort_switch(id.0)
            .await
            .map_err(EngineError::from)
    }

    pub(super) async fn pause(&self, id: JobId) -> Result<(), EngineError> {
        self.proxy.pause(id.0).await.map_err(EngineError::from)
    }

    pub(super) async fn resume(&self, id: JobId) -> Result<(), EngineError> {
        self.proxy.resume(id.0).await.map_err(EngineError::from)
    }

    pub(super) async fn remove(&self, id: JobId) -> Result<(), EngineError> {
        self.proxy.remove(id.0).await.map_err(EngineError::from)
    }

    pub(super) async fn set_limits(
        &self,
        upload: Option<u32>,
        download: Option<u32>,
    ) -> Result<(), EngineError> {
        let (up, down) = (upload.unwrap_or(0), download.unwrap_or(0));
        self.proxy
            .set_limits(up, down)
            .await
            .map_err(EngineError::from)
    }

    pub(super) async fn set_seed_goal(&self, goal: SeedGoal) -> Result<(), EngineError> {
        let goal = serde_json::to_string(&goal).map_err(local)?;
        self.proxy
            .set_seed_goal(&goal)
            .await
            .map_err(EngineError::from)
    }

    pub(super) async fn trim_store(
        &self,
        cap: u64,
        installed: &HashSet<Nevra>,
    ) -> Result<TrimReport, EngineError> {
        let installed = installed.iter().map(|n| n.to_string()).collect();
        let json = self
            .proxy
            .trim_store(cap, installed)
            .await
            .map_err(EngineError::from)?;
        serde_json::from_str(&json).map_err(local)
    }

    pub(super) async fn jobs(&self) -> Result<Vec<JobRecord>, EngineError> {
        let json = self.proxy.jobs().await.map_err(EngineError::from)?;
        serde_json::from_str(&json).map_err(local)
    }

    pub(super) async fn release(&self) {
        self.task.abort();
        let _ = self.proxy.release().await;
    }
}
