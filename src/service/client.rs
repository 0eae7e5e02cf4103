//! A process driving the user's engine in another process over the session bus.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use futures::StreamExt;
use tokio::sync::watch;

use crate::config::SeedGoal;
use crate::engine::{JobId, JobRecord, JobSpec, Snapshot};
use crate::iso::SwitchMode;
use crate::packages::Nevra;
use crate::store::TrimReport;
use crate::torrent::Torrent;

#[zbus::proxy(
    interface = "org.swarmdate.Engine1",
    default_path = "/org/swarmdate/Engine"
)]
trait Engine1 {
    fn snapshot(&self) -> zbus::Result<String>;
    fn jobs(&self) -> zbus::Result<String>;
    fn add_job(&self, torrent_bytes: &[u8], spec: &str) -> zbus::Result<u64>;
    fn switch_image(
        &self,
        image: &[u8],
        torrent_bytes: &[u8],
        mode: &str,
        space_needed: u64,
        keep_old: bool,
    ) -> zbus::Result<u64>;
    fn abort_switch(&self, id: u64) -> zbus::Result<()>;
    fn pause(&self, id: u64) -> zbus::Result<()>;
    fn resume(&self, id: u64) -> zbus::Result<()>;
    fn remove(&self, id: u64) -> zbus::Result<()>;
    fn trim_store(&self, cap: u64, installed: Vec<String>) -> zbus::Result<String>;
    fn set_limits(&self, upload: u32, download: u32) -> zbus::Result<()>;
    fn set_seed_goal(&self, goal: &str) -> zbus::Result<()>;
    fn hold(&self) -> zbus::Result<()>;
    fn release(&self) -> zbus::Result<()>;
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

/// The engine's own message for a failed call, without the D-Bus wrapping.
fn remote(e: zbus::Error) -> anyhow::Error {
    match e {
        zbus::Error::MethodError(_, Some(msg), _) => anyhow::anyhow!(msg),
        zbus::Error::FDO(f) => match *f {
            zbus::fdo::Error::Failed(msg) => anyhow::anyhow!(msg),
            other => anyhow::anyhow!("the engine's process: {other}"),
        },
        other => anyhow::anyhow!("the engine's process: {other}"),
    }
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
        proxy.hold().await.map_err(remote)?;
        // Subscribed before the first snapshot is read, so no change falls between the two.
        let mut changes = proxy.receive_changed().await?;
        let first: Snapshot = serde_json::from_str(&proxy.snapshot().await.map_err(remote)?)?;
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

    pub(super) async fn add_job(&self, torrent: &Torrent, spec: &JobSpec) -> anyhow::Result<JobId> {
        let spec = serde_json::to_string(spec)?;
        let id = self
            .proxy
            .add_job(torrent.bytes(), &spec)
            .await
            .map_err(remote)?;
        Ok(JobId(id))
    }

    pub(super) async fn switch_image(
        &self,
        image: &Path,
        to: &Torrent,
        mode: SwitchMode,
        space_needed: u64,
        keep_old: bool,
    ) -> anyhow::Result<JobId> {
        let mode = serde_json::to_value(mode)?;
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
            .map_err(remote)?;
        Ok(JobId(id))
    }

    pub(super) async fn abort_switch(&self, id: JobId) -> anyhow::Result<()> {
        self.proxy.abort_switch(id.0).await.map_err(remote)
    }

    pub(super) async fn pause(&self, id: JobId) -> anyhow::Result<()> {
        self.proxy.pause(id.0).await.map_err(remote)
    }

    pub(super) async fn resume(&self, id: JobId) -> anyhow::Result<()> {
        self.proxy.resume(id.0).await.map_err(remote)
    }

    pub(super) async fn remove(&self, id: JobId) -> anyhow::Result<()> {
        self.proxy.remove(id.0).await.map_err(remote)
    }

    pub(super) async fn set_limits(
        &self,
        upload: Option<u32>,
        download: Option<u32>,
    ) -> anyhow::Result<()> {
        let (up, down) = (upload.unwrap_or(0), download.unwrap_or(0));
        self.proxy.set_limits(up, down).await.map_err(remote)
    }

    pub(super) async fn set_seed_goal(&self, goal: SeedGoal) -> anyhow::Result<()> {
        let goal = serde_json::to_string(&goal)?;
        self.proxy.set_seed_goal(&goal).await.map_err(remote)
    }

    pub(super) async fn trim_store(
        &self,
        cap: u64,
        installed: &HashSet<Nevra>,
    ) -> anyhow::Result<TrimReport> {
        let installed = installed.iter().map(|n| n.to_string()).collect();
        let json = self
            .proxy
            .trim_store(cap, installed)
            .await
            .map_err(remote)?;
        Ok(serde_json::from_str(&json)?)
    }

    pub(super) async fn jobs(&self) -> anyhow::Result<Vec<JobRecord>> {
        Ok(serde_json::from_str(
            &self.proxy.jobs().await.map_err(remote)?,
        )?)
    }

    pub(super) async fn release(&self) {
        self.task.abort();
        let _ = self.proxy.release().await;
    }
}
