//! The engine offered on the session bus: intents as methods, snapshots as a `Changed` signal.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::message::Header;

use super::error::BusError;
use super::{INTERFACE, OBJECT_PATH};
use crate::{Engine, JobId, JobSpec};
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::torrent::Torrent;

/// Processes (unique bus names) that hold the engine: it stays up while any of them runs.
type Clients = Arc<Mutex<HashSet<String>>>;

struct EngineBus {
    engine: Arc<Engine>,
    clients: Clients,
}

/// An argument that does not parse: the caller's build does not match this one.
fn failed(e: impl std::fmt::Display) -> BusError {
    BusError::Other(e.to_string())
}

/// The torrent's bytes, checked as any torrent is (an unsafe one is a trust refusal).
fn torrent(bytes: Vec<u8>) -> Result<Torrent, BusError> {
    Torrent::from_bytes(bytes).map_err(|e| anyhow::Error::from(e).into())
}

#[zbus::interface(name = "org.swarmdate.Engine1")]
impl EngineBus {
    /// The latest snapshot, as JSON.
    fn snapshot(&self) -> Result<String, BusError> {
        serde_json::to_string(&self.engine.snapshot()).map_err(failed)
    }

    /// The journal's jobs, as JSON.
    fn jobs(&self) -> Result<String, BusError> {
        serde_json::to_string(&self.engine.jobs()).map_err(failed)
    }

    /// Adds a job: the .torrent's bytes and the job's spec as JSON.
    fn add_job(&self, torrent_bytes: Vec<u8>, spec: String) -> Result<u64, BusError> {
        let spec: JobSpec = serde_json::from_str(&spec).map_err(failed)?;
        let id = self
            .engine
            .add_job(&torrent(torrent_bytes)?, spec)
            .map_err(BusError::from)?;
        Ok(id.0)
    }

    /// Starts or resumes switching the image at `image` (path bytes) to the torrent's version.
    fn switch_image(
        &self,
        image: Vec<u8>,
        torrent_bytes: Vec<u8>,
        mode: String,
        space_needed: u64,
        keep_old: bool,
    ) -> Result<u64, BusError> {
        let image = Path::new(std::ffi::OsStr::from_bytes(&image));
        let mode: SwitchMode = serde_json::from_value(mode.into()).map_err(failed)?;
        let id = self
            .engine
            .switch_image(
                image,
                &torrent(torrent_bytes)?,
                mode,
                space_needed,
                keep_old,
            )
            .map_err(BusError::from)?;
        Ok(id.0)
    }

    /// Stops a switch and puts the old version back.
    async fn abort_switch(&self, id: u64) -> Result<(), BusError> {
        self.engine
            .abort_switch(JobId(id))
            .await
            .map_err(BusError::from)
    }

    /// Changes the upload and download limits in bytes/s (0: none).
    async fn set_limits(&self, upload: u32, download: u32) {
        let some = |n: u32| (n > 0).then_some(n);
        self.engine.set_limits(some(upload), some(download));
    }

    /// Changes the seeding goal (JSON, as in the settings file).
    async fn set_seed_goal(&self, goal: String) -> Result<(), BusError> {
        let goal = serde_json::from_str(&goal).map_err(failed)?;
        self.engine
            .set_seed_goal(goal)
            .await
            .map_err(BusError::from)
    }

    /// Pauses a job's torrent.
    async fn pause(&self, id: u64) -> Result<(), BusError> {
        self.engine.pause(JobId(id)).await.map_err(BusError::from)
    }

    /// Resumes a paused job.
    async fn resume(&self, id: u64) -> Result<(), BusError> {
        self.engine.resume(JobId(id)).await.map_err(BusError::from)
    }

    /// Stops a job and forgets it; its files stay on disk.
    async fn remove(&self, id: u64) -> Result<(), BusError> {
        self.engine.remove(JobId(id)).await.map_err(BusError::from)
    }

    /// Evicts superseded builds until the store fits `cap` bytes, keeping the `installed` NEVRAs;
    /// returns the report as JSON.
    async fn trim_store(&self, cap: u64, installed: Vec<String>) -> Result<String, BusError> {
        let installed = installed
            .iter()
            .map(|n| n.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| failed(format!("{e}")))?;
        let report = self
            .engine
            .trim_store(cap, &installed)
            .await
            .map_err(BusError::from)?;
        Ok(serde_json::to_string(&report).expect("reports always serialize"))
    }

    /// The calling process uses the engine: it is not stopped before the caller releases it or
    /// leaves the bus.
    fn hold(&self, #[zbus(header)] header: Header<'_>) {
        if let Some(sender) = header.sender() {
            self.clients.lock().unwrap().insert(sender.to_string());
        }
    }

    /// The calling process is done with the engine.
    fn release(&self, #[zbus(header)] header: Header<'_>) {
        if let Some(sender) = header.sender() {
            self.clients.lock().unwrap().remove(sender.as_str());
        }
    }
}

/// The engine's service on the bus, for as long as this value lives.
pub struct Host {
    conn: zbus::Connection,
    name: String,
    clients: Clients,
    task: tokio::task::JoinHandle<()>,
}

impl Host {
    /// Offers `engine` at the well-known `name` and forwards its snapshots as signals.
    pub async fn serve(
        conn: &zbus::Connection,
        name: &str,
        engine: Arc<Engine>,
    ) -> anyhow::Result<Host> {
        let clients = Clients::default();
        let iface = EngineBus {
            engine: engine.clone(),
            clients: clients.clone(),
        };
        conn.object_server().at(OBJECT_PATH, iface).await?;
        conn.request_name(name).await?;
        let (conn2, mut rx) = (conn.clone(), engine.subscribe());
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let json = match serde_json::to_string(&*rx.borrow_and_update()) {
                    Ok(j) => j,
                    Err(_) => continue,
                };
                let sent = conn2
                    .emit_signal(None::<()>, OBJECT_PATH, INTERFACE, "Changed", &(json,))
                    .await;
                if let Err(e) = sent {
                    tracing::debug!("cannot send a snapshot on the bus: {e}");
                }
            }
        });
        Ok(Host {
            conn: conn.clone(),
            name: name.to_owned(),
            clients,
            task,
        })
    }

    /// Waits until every process holding the engine has released it or left the bus.
    pub async fn wait_for_clients(&self) {
        let Ok(dbus) = zbus::fdo::DBusProxy::new(&self.conn).await else {
            return;
        };
        loop {
            let held: Vec<String> = self.clients.lock().unwrap().iter().cloned().collect();
            let mut alive = HashSet::new();
            for c in held {
                let Ok(name) = zbus::names::BusName::try_from(c.as_str()) else {
                    continue;
                };
                if dbus.name_has_owner(name).await.unwrap_or(false) {
                    alive.insert(c);
                }
            }
            if alive.is_empty() {
                return;
            }
            self.clients.lock().unwrap().retain(|c| alive.contains(c));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Gives up the bus name and stops forwarding snapshots.
    pub async fn release(&self) {
        self.task.abort();
        let _ = self.conn.release_name(self.name.as_str()).await;
        let _ = self
            .conn
            .object_server()
            .remove::<EngineBus, _>(OBJECT_PATH)
            .await;
    }
}
