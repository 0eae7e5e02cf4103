//! The engine offered on the session bus: intents as methods, snapshots (without piece maps) as a
//! `Changed` signal, a job's piece map on request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::message::Header;

use super::error::BusError;
use super::wire::{self, WireGoal, WireRecord, WireSnapshot, WireSpec, WireTrim};
use super::{INTERFACE, OBJECT_PATH};
use crate::{Engine, EngineError, JobId, JobSpec};
use swarmdate_core::config::SeedGoal;
use swarmdate_core::torrent::Torrent;

/// Processes (unique bus names) that hold the engine: it stays up while any of them runs.
type Clients = Arc<Mutex<HashSet<String>>>;

struct EngineBus {
    engine: Arc<Engine>,
    clients: Clients,
}

/// The torrent's bytes, checked as any torrent is (an unsafe one is a trust refusal).
fn torrent(bytes: Vec<u8>) -> Result<Torrent, BusError> {
    Torrent::from_bytes(bytes).map_err(|e| anyhow::Error::from(e).into())
}

/// A value from the bus the engine does not accept, as the named error `Spec`.
fn malformed(e: wire::Malformed) -> BusError {
    EngineError::from(e).into()
}

#[zbus::interface(name = "org.swarmdate.Engine1")]
impl EngineBus {
    /// The latest snapshot, without piece maps (ask `PieceMap`).
    fn snapshot(&self) -> WireSnapshot {
        WireSnapshot::from(&self.engine.snapshot())
    }

    /// One job's piece map as of the latest snapshot: a byte per piece, the state's number
    /// (0 missing, 1 had before, 2 fetched, 3 in flight); empty until its check is over.
    fn piece_map(&self, job: u64) -> Result<Vec<u8>, BusError> {
        let map = self.engine.piece_map(JobId(job)).map_err(BusError::from)?;
        Ok(wire::piece_bytes(&map))
    }

    /// The journal's jobs.
    fn jobs(&self) -> Vec<WireRecord> {
        self.engine.jobs().iter().map(WireRecord::from).collect()
    }

    /// Adds a job: the .torrent's bytes and what to do with it, checked against the torrent
    /// as any spec is.
    async fn add_job(&self, torrent_bytes: Vec<u8>, spec: WireSpec) -> Result<u64, BusError> {
        let spec = JobSpec::try_from(spec).map_err(malformed)?;
        let id = self
            .engine
            .add_job(&torrent(torrent_bytes)?, spec)
            .await
            .map_err(BusError::from)?;
        Ok(id.0)
    }

    /// Starts or resumes switching the image at `image` (path bytes) to the torrent's version;
    /// `mode` is `reflink`, `copy` or `in_place`.
    async fn switch_image(
        &self,
        image: Vec<u8>,
        torrent_bytes: Vec<u8>,
        mode: String,
        space_needed: u64,
        keep_old: bool,
    ) -> Result<u64, BusError> {
        let image = wire::path(image, "the image").map_err(malformed)?;
        let mode = wire::mode(&mode).map_err(malformed)?;
        let id = self
            .engine
            .switch_image(
                &image,
                &torrent(torrent_bytes)?,
                mode,
                space_needed,
                keep_old,
            )
            .await
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

    /// Changes the seeding goal.
    async fn set_seed_goal(&self, goal: WireGoal) -> Result<(), BusError> {
        let goal = SeedGoal::try_from(goal).map_err(malformed)?;
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

    /// Stops fetching these files of a repository job.
    async fn withdraw(&self, id: u64, files: Vec<u64>) -> Result<(), BusError> {
        // An index past usize cannot name a file of any torrent: nothing to withdraw there.
        let files = files
            .into_iter()
            .filter_map(|f| usize::try_from(f).ok())
            .collect();
        self.engine
            .withdraw(JobId(id), files)
            .await
            .map_err(BusError::from)
    }

    /// Stops a job and forgets it; its files stay on disk.
    async fn remove(&self, id: u64) -> Result<(), BusError> {
        self.engine.remove(JobId(id)).await.map_err(BusError::from)
    }

    /// Evicts superseded builds until the store fits `cap` bytes, keeping the `installed` NEVRAs.
    async fn trim_store(&self, cap: u64, installed: Vec<String>) -> Result<WireTrim, BusError> {
        let installed = wire::nevras(installed).map_err(malformed)?;
        let report = self
            .engine
            .trim_store(cap, &installed)
            .await
            .map_err(BusError::from)?;
        Ok(report.into())
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
                let snapshot = WireSnapshot::from(&*rx.borrow_and_update());
                let sent = conn2
                    .emit_signal(None::<()>, OBJECT_PATH, INTERFACE, "Changed", &(snapshot,))
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
