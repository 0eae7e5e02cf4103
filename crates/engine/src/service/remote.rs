//! A process driving the user's engine in another process over the session bus.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use futures::StreamExt;
use tokio::sync::watch;

use super::error::BusError;
use super::wire::{self, WireGoal, WireRecord, WireSnapshot, WireSpec, WireTrim};
use crate::{EngineError, JobId, JobRecord, JobSpec, PieceMap, Snapshot};
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
    fn snapshot(&self) -> Result<WireSnapshot, BusError>;
    fn piece_map(&self, job: u64) -> Result<Vec<u8>, BusError>;
    fn jobs(&self) -> Result<Vec<WireRecord>, BusError>;
    fn add_job(&self, torrent_bytes: &[u8], spec: &WireSpec) -> Result<u64, BusError>;
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
    fn withdraw(&self, id: u64, files: Vec<u64>) -> Result<(), BusError>;
    fn trim_store(&self, cap: u64, installed: Vec<String>) -> Result<WireTrim, BusError>;
    fn set_limits(&self, upload: u32, download: u32) -> Result<(), BusError>;
    fn set_seed_goal(&self, goal: &WireGoal) -> Result<(), BusError>;
    fn hold(&self) -> Result<(), BusError>;
    fn release(&self) -> Result<(), BusError>;
    #[zbus(signal)]
    fn changed(&self, snapshot: WireSnapshot) -> zbus::Result<()>;
}

/// Whether a process owns `name` on the bus.
pub(super) async fn name_has_owner(conn: &zbus::Connection, name: &str) -> anyhow::Result<bool> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    Ok(dbus
        .name_has_owner(zbus::names::BusName::try_from(name)?)
        .await?)
}

/// A reply from the engine that does not convert (another build's engine), as an engine error.
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
        let first = Snapshot::try_from(proxy.snapshot().await?)?;
        let (tx, snapshots) = watch::channel(first);
        let task = tokio::spawn(async move {
            while let Some(signal) = changes.next().await {
                let Ok(args) = signal.args() else { continue };
                match Snapshot::try_from(args.snapshot().clone()) {
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
        let id = self
            .proxy
            .add_job(torrent.bytes(), &WireSpec::from(spec))
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
        let id = self
            .proxy
            .switch_image(
                image.as_os_str().as_bytes(),
                to.bytes(),
                wire::mode_word(mode),
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

    pub(super) async fn withdraw(
        &self,
        id: JobId,
        files: std::collections::BTreeSet<usize>,
    ) -> Result<(), EngineError> {
        let files = files.into_iter().map(|f| f as u64).collect();
        self.proxy
            .withdraw(id.0, files)
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
        self.proxy
            .set_seed_goal(&WireGoal::from(goal))
            .await
            .map_err(EngineError::from)
    }

    pub(super) async fn trim_store(
        &self,
        cap: u64,
        installed: &HashSet<Nevra>,
    ) -> Result<TrimReport, EngineError> {
        let installed = installed.iter().map(|n| n.to_string()).collect();
        let report = self
            .proxy
            .trim_store(cap, installed)
            .await
            .map_err(EngineError::from)?;
        Ok(report.into())
    }

    pub(super) async fn jobs(&self) -> Result<Vec<JobRecord>, EngineError> {
        let jobs = self.proxy.jobs().await.map_err(EngineError::from)?;
        jobs.into_iter()
            .map(|j| JobRecord::try_from(j).map_err(local))
            .collect()
    }

    pub(super) async fn piece_map(&self, id: JobId) -> Result<PieceMap, EngineError> {
        let bytes = self
            .proxy
            .piece_map(id.0)
            .await
            .map_err(EngineError::from)?;
        wire::piece_map(bytes).map_err(local)
    }

    pub(super) async fn release(&self) {
        self.task.abort();
        let _ = self.proxy.release().await;
    }
}
