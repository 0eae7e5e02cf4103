//! The torrent engine: one librqbit session per user on a multi-thread tokio runtime, the jobs it
//! runs (seed, fetch, switch), their journal, the snapshots it publishes for the faces, and the
//! D-Bus service (`service`) that lets another process drive it.

mod error;
mod fallback;
mod fault;
mod goal;
mod holdings;
mod job;
mod journal;
mod layout_from_swarm;
mod ledger_writer;
mod lock;
mod mirror;
mod mirror_peer;
mod notice;
mod order;
mod pace;
mod peer_wire;
mod poll;
mod prefill;
mod repository;
mod run;
pub mod scope;
mod snapshot;
mod storage;
mod store_storage;
mod super_seed;
mod switch;
mod tracker_probe;
mod undo;
mod verify;

pub mod service;

pub use error::{EngineError, is_trust_refusal};
pub use job::{JobId, JobRecord, JobSpec, Payload, RepoSpec, SpecError, SwitchSpec};
pub use layout_from_swarm::{LocalDiscovery, PLAN_PATIENCE, SWITCH_PATIENCE, Swarm};
pub use lock::{EngineBusy, StateLock};
pub use notice::{MAX_REASON_CHARS, Notice, SkipReason};
pub use prefill::{LAYOUT_CACHE, Prefilled, refined_fetch};
pub use snapshot::{JobKind, JobSnapshot, JobState, PeerSnapshot, PieceMap, PieceState, Snapshot};
pub use store_storage::{Slot, StoreStorageFactory, StoreTorrent};
pub use undo::UndoError;
pub use verify::{LengthMismatch, PayloadError};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use librqbit::{ListenerMode, ListenerOptions, Session, SessionOptions};
use tokio::sync::watch;

use journal::{Journal, JournalFile};
use storage::PieceLog;
use swarmdate_core::config::SeedGoal;
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::torrent::{InfoHash, Torrent};
use undo::UndoLog;

/// The folder, inside a destination, where payloads are built before they enter it.
pub const STAGING_DIR: &str = ".swarmdate-partial";

/// A torrent running in the session.
type ManagedTorrentHandle = Arc<librqbit::ManagedTorrent>;

/// How often snapshots are published.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);
/// The seeding goal is checked every this many snapshots (10 s).
const GOALS_EVERY: u64 = 40;

/// How the engine's session is set up; every network feature is switchable.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The engine's own folder: lock, job journal, torrents.
    pub state_dir: PathBuf,
    /// Where to accept peers (port 0 picks a free one); `None` accepts none.
    pub listen: Option<SocketAddr>,
    /// Use the DHT.
    pub dht: bool,
    /// Use local peer discovery.
    pub local_discovery: bool,
    /// Announce to trackers.
    pub trackers: bool,
    /// Ask the router for a port mapping.
    pub upnp: bool,
    /// Upload limit in bytes/s.
    pub upload_limit: Option<u32>,
    /// Download limit in bytes/s.
    pub download_limit: Option<u32>,
    /// Peers every torrent connects to besides those trackers and the DHT name.
    pub known_peers: Vec<SocketAddr>,
    /// The package store repository torrents share.
    pub store_dir: PathBuf,
    /// Switches to roll back instead of resuming (`iso switch --abort` starting the engine): a
    /// resumed switch could otherwise finish before the abort reaches it.
    pub abort_on_start: Vec<JobId>,
    /// When finished images and downloads stop being shared.
    pub seed_goal: SeedGoal,
    /// Downloads ask for random missing pieces (`order.rs`); off, librqbit's index order (a
    /// benchmark's reference).
    pub diverse_order: bool,
    /// Accept and dial only private, loopback and link-local addresses ("local network only").
    pub local_network_only: bool,
    /// How long a switch looks for a peer that serves the target's directories before it
    /// fetches every differing piece instead ([`SWITCH_PATIENCE`]; tests shorten it).
    pub layout_patience: Duration,
}

impl EngineConfig {
    /// Loopback only, trackers on, nothing else: for tests, the demo and benchmarks.
    pub fn loopback(state_dir: &Path) -> Self {
        EngineConfig {
            state_dir: state_dir.to_owned(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            dht: false,
            local_discovery: false,
            trackers: true,
            upnp: false,
            upload_limit: None,
            download_limit: None,
            known_peers: Vec::new(),
            store_dir: state_dir.join("store"),
            abort_on_start: Vec::new(),
            seed_goal: SeedGoal::Forever,
            diverse_order: true,
            local_network_only: false,
            layout_patience: SWITCH_PATIENCE,
        }
    }

    /// Where local discovery looks: on `lo` alone for an engine that listens on loopback (its
    /// peers can be nowhere else, and no announce leaves the machine, docs/platform.md §2).
    pub fn local_discovery_scope(&self) -> LocalDiscovery {
        match self.listen {
            _ if !self.local_discovery => LocalDiscovery::Off,
            Some(a) if a.ip().is_loopback() => LocalDiscovery::Device("lo".into()),
            _ => LocalDiscovery::Everywhere,
        }
    }
}

/// A running job's live parts.
struct LiveJob {
    torrent: Arc<Torrent>,
    handle: Option<ManagedTorrentHandle>,
    state: JobState,
    log: Arc<PieceLog>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The last counters of a torrent that left the session (a finished fetch), kept for display.
    frozen: Option<JobSnapshot>,
    /// The undo journal of a running in-place switch.
    undo: Option<Arc<UndoLog>>,
    /// A super-seeding job's server (it stops when dropped).
    super_seeder: Option<super_seed::SuperSeeder>,
    /// Why the job failed, typed, while its state is failed.
    failure: Option<EngineError>,
    /// Peers found serving the job's torrent before it entered the session (the layout link's):
    /// its first peers, since local discovery may not answer its announce again for 5 minutes
    /// (docs/platform.md §2).
    found_peers: Vec<SocketAddr>,
}

/// The engine. Faces send it intents and read its snapshots; they never touch librqbit.
pub struct Engine {
    session: Arc<Session>,
    api: librqbit::Api,
    state_dir: PathBuf,
    _lock: StateLock,
    /// Every job that should run, on disk.
    journal: JournalFile,
    /// The running jobs' live parts (never locked while the journal's lock is held).
    live: Mutex<BTreeMap<JobId, LiveJob>>,
    snapshots: watch::Sender<Snapshot>,
    /// Each live job's latest piece map, kept beside the snapshots (see [`Engine::piece_map`]).
    piece_maps: Mutex<std::collections::HashMap<JobId, PieceMap>>,
    listen_port: Option<u16>,
    /// The address peers are accepted on (super-seeders listen there too).
    listen_ip: Option<std::net::IpAddr>,
    known_peers: Vec<SocketAddr>,
    /// Whether peers can be found without a tracker (DHT, local discovery).
    discovery: bool,
    /// Where local discovery looks (the layout link looks there too).
    local_discovery: LocalDiscovery,
    /// See [`EngineConfig::layout_patience`].
    layout_patience: Duration,
    /// The session's peer id.
    peer_id: [u8; 20],
    /// Whether torrents announce to their trackers.
    trackers: bool,
    /// Peers only from the local network (see [`EngineConfig::local_network_only`]).
    local_only: bool,
    peer_rates: poll::PeerRates,
    /// The contribution ledger's writer task (`ledger_writer.rs`).
    ledger: ledger_writer::LedgerWriter,
    contribution: poll::Contribution,
    /// Held by every step that moves or rewrites an image's files (see `switch.rs`).
    disk: Arc<tokio::sync::Mutex<()>>,
    /// Held while jobs re-check for each other's packages or the store is trimmed.
    holdings: tokio::sync::Mutex<()>,
    /// The package store of repository jobs.
    store: Arc<swarmdate_core::store::PackageStore>,
    /// When finished images and downloads stop being shared.
    seed_goal: Mutex<SeedGoal>,
    /// See [`EngineConfig::diverse_order`].
    diverse_order: bool,
    /// Permits for the streams that diversify the piece order (`order.rs`).
    order_streams: Arc<tokio::sync::Semaphore>,
}

/// Limits below this make peers drop the connection (docs/platform.md §2).
pub const MIN_RATE_LIMIT: u32 = 16 << 10;

fn limit(bps: Option<u32>) -> Option<NonZeroU32> {
    bps.map(|b| b.max(MIN_RATE_LIMIT)).and_then(NonZeroU32::new)
}

impl Engine {
    /// Takes the user's engine lock, starts the session and resumes the journal's jobs.
    pub async fn start(cfg: EngineConfig) -> anyhow::Result<Arc<Engine>> {
        let lock = StateLock::acquire(&cfg.state_dir)?;
        std::fs::create_dir_all(cfg.state_dir.join("torrents"))?;
        let journal = JournalFile::open(cfg.state_dir.join("jobs.json")).await?;
        // Marked before anything resumes them (see `EngineConfig::abort_on_start`).
        if !cfg.abort_on_start.is_empty() {
            journal
                .change(|j| {
                    for id in &cfg.abort_on_start {
                        if let Some(JobRecord {
                            spec: JobSpec::Switch(s),
                            ..
                        }) = j.jobs.get_mut(id)
                        {
                            s.aborting = true;
                        }
                    }
                })
                .await?;
        }

        let listen = match cfg.listen {
            Some(mut addr) => {
                if addr.port() == 0 {
                    // The announced port must be known up front (docs/platform.md §2), so pick it here.
                    addr.set_port(std::net::TcpListener::bind(addr)?.local_addr()?.port());
                }
                Some(ListenerOptions {
                    mode: ListenerMode::TcpOnly,
                    listen_addr: addr,
                    enable_upnp_port_forwarding: cfg.upnp,
                    announce_port: Some(addr.port()),
                    ipv4_only: addr.is_ipv4(),
                    ..Default::default()
                })
            }
            None => None,
        };
        let listen_port = listen.as_ref().map(|l| l.listen_addr.port());
        let listen_ip = listen.as_ref().map(|l| l.listen_addr.ip());
        // Local network only: librqbit's session refuses and never dials other addresses (the
        // known peers included), by an allowlist it reads from a file.
        let allowlist_url = if cfg.local_network_only {
            let path = scope::write_allowlist(&cfg.state_dir)?;
            Some(
                url::Url::from_file_path(&path)
                    .map_err(|_| anyhow::anyhow!("{} is not an absolute path", path.display()))?
                    .to_string(),
            )
        } else {
            None
        };
        let bind_device_name = match cfg.local_discovery_scope() {
            LocalDiscovery::Device(d) => Some(d),
            _ => None,
        };
        // Made here, as librqbit would make it, so the trackers' probe announces as the session
        // (`tracker_probe.rs`): one entry per engine on a tracker.
        let peer_id = librqbit::generate_azereus_style(*b"rQ", (9, 1, 0, 0));
        let opts = SessionOptions {
            allowlist_url,
            bind_device_name,
            peer_id: Some(peer_id),
            dht: cfg.dht.then(librqbit::DhtSessionConfig::default),
            disable_trackers: !cfg.trackers,
            disable_local_service_discovery: !cfg.local_discovery,
            listen,
            ratelimits: librqbit::limits::LimitsConfig {
                upload_bps: limit(cfg.upload_limit),
                download_bps: limit(cfg.download_limit),
            },
            client_name_and_version: Some(format!("Swarmdate {}", env!("CARGO_PKG_VERSION"))),
            ..Default::default()
        };
        let session = Session::new_with_opts(cfg.state_dir.join("downloads"), opts)
            .await
            .context("starting the torrent session")?;
        let api = librqbit::Api::new(session.clone(), None);
        let ledger_path = cfg.state_dir.join("ledger.sqlite");
        let ledger =
            tokio::task::spawn_blocking(move || swarmdate_core::ledger::Ledger::open(&ledger_path))
                .await??;
        let records: Vec<JobId> = journal.read(|j| j.jobs.keys().copied().collect());
        let engine = Arc::new(Engine {
            session,
            api,
            state_dir: cfg.state_dir.clone(),
            _lock: lock,
            journal,
            live: Default::default(),
            snapshots: watch::channel(Snapshot::default()).0,
            piece_maps: Default::default(),
            listen_port,
            listen_ip,
            known_peers: cfg.known_peers.clone(),
            discovery: cfg.dht || cfg.local_discovery,
            local_discovery: cfg.local_discovery_scope(),
            layout_patience: cfg.layout_patience,
            peer_id: peer_id.0,
            trackers: cfg.trackers,
            local_only: cfg.local_network_only,
            peer_rates: Default::default(),
            ledger: ledger_writer::LedgerWriter::start(ledger, ledger_writer::WRITE_EVERY),
            contribution: Default::default(),
            disk: Default::default(),
            holdings: Default::default(),
            store: swarmdate_core::store::PackageStore::open(&cfg.store_dir)?,
            seed_goal: Mutex::new(cfg.seed_goal),
            diverse_order: cfg.diverse_order,
            order_streams: order::stream_permits(),
        });
        for id in records {
            // One damaged entry must not keep the others from running.
            if let Err(e) = engine.spawn_job(id) {
                tracing::warn!(job = %id, "cannot resume the job: {e:#}");
            }
        }
        let weak = Arc::downgrade(&engine);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
            let mut n = 0u64;
            loop {
                tick.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                engine.publish();
                n += 1;
                if n.is_multiple_of(GOALS_EVERY)
                    && let Err(e) = engine.check_goals().await
                {
                    tracing::warn!("checking the seeding goal: {e:#}");
                }
            }
        });
        Ok(engine)
    }

    /// The port peers reach this engine on.
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_port
    }

    fn torrent_path(&self, hash: &InfoHash) -> PathBuf {
        self.state_dir
            .join("torrents")
            .join(format!("{hash}.torrent"))
    }

    /// Adds a job; it starts at once and is resumed after a restart.
    /// A spec that cannot run with `torrent` is refused ([`SpecError`]) before anything is kept.
    pub async fn add_job(
        self: &Arc<Self>,
        torrent: &Torrent,
        spec: JobSpec,
    ) -> anyhow::Result<JobId> {
        spec.validate(torrent)?;
        let hash = torrent.info_hash();
        // The .torrent is on disk before a record names it; its name is its hash, so one already
        // there holds these bytes.
        let path = self.torrent_path(&hash);
        if !path.exists() {
            let bytes = torrent.bytes().to_vec();
            tokio::task::spawn_blocking(move || {
                swarmdate_core::fsutil::write_atomic(&path, &bytes)
            })
            .await??;
        }
        let added = self
            .journal
            .change(|j| {
                if let Some(existing) = j.jobs.values_mut().find(|r| r.info_hash == hash) {
                    if existing.spec == spec {
                        return Added::Same(existing.id);
                    }
                    // More packages from a repository it already follows: one job, the wanted
                    // sets joined, restarted to select them.
                    if let (JobSpec::Repository(have), JobSpec::Repository(more)) =
                        (&mut existing.spec, &spec)
                    {
                        have.wanted.extend(more.wanted.iter().copied());
                        have.index = more.index.clone();
                        // The caller listed the images as they are now: one the record still
                        // names may have been switched away since, and reading it fails the job.
                        let images_changed = have.images != more.images;
                        have.images = more.images.clone();
                        return Added::Joined(existing.id, images_changed);
                    }
                    return Added::Busy(format!(
                        "job {} already holds torrent {hash} ({}); remove it first",
                        existing.id, existing.name
                    ));
                }
                let id = j.take_id();
                j.jobs.insert(
                    id,
                    JobRecord {
                        id,
                        info_hash: hash,
                        name: torrent.name.clone(),
                        spec,
                        paused: false,
                        seeding_since: None,
                        goal_met: false,
                    },
                );
                Added::New(id)
            })
            .await?;
        match added {
            Added::Same(id) => Ok(id),
            Added::Joined(id, false) => {
                self.restart_job(id);
                Ok(id)
            }
            Added::Joined(id, true) => {
                self.restart_on_fresh_storage(id).await?;
                Ok(id)
            }
            Added::New(id) => {
                self.spawn_job(id)?;
                Ok(id)
            }
            Added::Busy(why) => Err(EngineError::Busy(why).into()),
        }
    }

    fn spawn_job(self: &Arc<Self>, id: JobId) -> anyhow::Result<()> {
        let hash = self.record(id)?.info_hash;
        let path = self.torrent_path(&hash);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let torrent = Arc::new(Torrent::from_bytes(bytes)?);
        // A journal written by another version, or by hand, may hold a spec that cannot run: the
        // job is shown failed with the reason and kept for the user to remove; it never runs.
        let invalid = self.record(id)?.spec.validate(&torrent).err();
        // Registered before the task starts: the task looks itself up. A restarted job keeps its
        // log, which the storage of its torrent (still in the session) writes to.
        let mut live = self.live.lock().unwrap();
        let log = live.get(&id).map(|j| j.log.clone()).unwrap_or_default();
        live.insert(
            id,
            LiveJob {
                torrent,
                handle: None,
                state: JobState::Checking,
                log,
                task: None,
                frozen: None,
                undo: None,
                super_seeder: None,
                failure: None,
                found_peers: Vec::new(),
            },
        );
        drop(live);
        if let Some(e) = invalid {
            tracing::warn!(job = %id, "the journal's job cannot run: {e}");
            self.fail(id, &e.into());
            return Ok(());
        }
        let engine = self.clone();
        let task = tokio::spawn(async move {
            // A bug in one job's runner fails that job, visibly, instead of leaving it checking
            // forever with nothing said.
            let run = std::panic::AssertUnwindSafe(engine.clone().run_job(id));
            if let Err(panic) = futures::FutureExt::catch_unwind(run).await {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                engine.fail(
                    id,
                    &anyhow::anyhow!("the job stopped on an internal error: {what}"),
                );
            }
        });
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.task = Some(task);
        }
        Ok(())
    }

    /// Stops a job's runner and starts it again from its journal record.
    fn restart_job(self: &Arc<Self>, id: JobId) {
        let old = self.take_task(id);
        let engine = self.clone();
        tokio::spawn(async move {
            stop_task(old).await;
            if let Err(e) = engine.spawn_job(id) {
                engine.fail(id, &e);
            }
        });
    }

    /// Runs a job again on a fresh storage: its task stopped and its torrent out of the session
    /// first, since re-adding a torrent the session still manages keeps the old storage (and
    /// with it where packages inside images were found).
    pub(crate) async fn restart_on_fresh_storage(
        self: &Arc<Self>,
        id: JobId,
    ) -> anyhow::Result<()> {
        stop_task(self.take_task(id)).await;
        self.stop_torrent(id).await?;
        self.spawn_job(id)
    }

    /// Takes a job's runner out of its record.
    fn take_task(&self, id: JobId) -> Option<tokio::task::JoinHandle<()>> {
        self.live
            .lock()
            .unwrap()
            .get_mut(&id)
            .and_then(|j| j.task.take())
    }

    fn record(&self, id: JobId) -> anyhow::Result<JobRecord> {
        self.journal
            .get(id)
            .ok_or_else(|| anyhow::Error::from(EngineError::no_job(id)))
    }

    /// Changes a job's record; returns once the journal is on disk.
    async fn update_record(&self, id: JobId, f: impl FnOnce(&mut JobRecord)) -> anyhow::Result<()> {
        self.journal.update(id, f).await
    }

    fn set_state(&self, id: JobId, state: JobState) {
        tracing::debug!(job = %id, ?state, "job state");
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.state = state;
            job.failure = None;
        }
        self.publish();
    }

    /// Marks a job failed: its state says why in words, its failure says what kind (so that a
    /// face in another process tells a trust refusal from a full disk).
    fn fail(&self, id: JobId, e: &anyhow::Error) {
        let failure = EngineError::from(e);
        tracing::debug!(job = %id, ?failure, "job failed");
        if let Some(job) = self.live.lock().unwrap().get_mut(&id) {
            job.state = JobState::Failed(failure.message().to_owned());
            job.failure = Some(failure);
        }
        self.publish();
    }

    fn handle(&self, id: JobId) -> anyhow::Result<ManagedTorrentHandle> {
        self.live
            .lock()
            .unwrap()
            .get(&id)
            .and_then(|j| j.handle.clone())
            .with_context(|| format!("job {id} has no running torrent"))
    }

    /// Starts switching `image` to the version `to` in the same folder (or resumes that switch if
    /// the journal has it); the old image is replaced once the new one is complete unless `keep_old`.
    /// `space_needed` is the plan's figure for `mode`, checked before anything is written.
    pub async fn switch_image(
        self: &Arc<Self>,
        image: &Path,
        to: &Torrent,
        mode: SwitchMode,
        space_needed: u64,
        keep_old: bool,
    ) -> anyhow::Result<JobId> {
        let target = swarmdate_core::fsutil::parent_dir(image).join(&to.name);
        if let Some(r) = self.switch_of(image) {
            return Ok(r.id);
        }
        let existing = self
            .jobs()
            .into_iter()
            .find(|r| r.info_hash == to.info_hash());
        match existing {
            Some(r)
                if r.spec
                    == (JobSpec::Seed {
                        payload: Payload::Image(target.clone()),
                    }) =>
            {
                Ok(r.id)
            }
            Some(r) => Err(EngineError::Busy(format!(
                "job {} already uses the torrent of {}",
                r.id, to.name
            ))
            .into()),
            None => {
                anyhow::ensure!(
                    !(mode == SwitchMode::InPlace && keep_old),
                    "an in-place switch replaces the old image; it cannot keep it"
                );
                let dir = swarmdate_core::fsutil::parent_dir(image);
                if mode == SwitchMode::Reflink && !swarmdate_core::fsutil::supports_reflink(dir) {
                    anyhow::bail!("{} cannot reflink; plan the switch again", dir.display());
                }
                // Checked before anything is written: a switch that cannot fit touches nothing.
                swarmdate_core::fsutil::ensure_space(dir, space_needed)?;
                let spec = SwitchSpec {
                    from: image.to_owned(),
                    working: switch::working_path(&target, to),
                    target,
                    mode,
                    copied: false,
                    moved: false,
                    aborting: false,
                    reseed: Vec::new(),
                    remove_from: !keep_old,
                    prefilled: None,
                };
                self.add_job(to, JobSpec::Switch(spec)).await
            }
        }
    }

    /// The unfinished switch of `image`, if the journal has one.
    pub fn switch_of(&self, image: &Path) -> Option<JobRecord> {
        self.jobs()
            .into_iter()
            .find(|r| matches!(&r.spec, JobSpec::Switch(s) if s.from == image))
    }

    /// Stops a switch and puts the old version back under its name (replaying the undo journal of
    /// an in-place switch). Safe to repeat; a killed rollback continues at the next start.
    pub async fn abort_switch(self: &Arc<Self>, id: JobId) -> anyhow::Result<()> {
        let rec = self.record(id).map_err(|_| {
            EngineError::NotFound(format!(
                "the switch (job {id}) finished before the abort reached it; switch back to the previous version instead"
            ))
        })?;
        match &rec.spec {
            // Already rolling back (resumed at start): let that run finish.
            JobSpec::Switch(s) if s.aborting => return Ok(()),
            JobSpec::Switch(_) => {}
            _ => return Err(EngineError::NotFound(format!("job {id} is not a switch")).into()),
        }
        self.update_record(id, |r| {
            if let JobSpec::Switch(s) = &mut r.spec {
                s.aborting = true;
            }
        })
        .await?;
        // The forward run may be inside a blocking step (librqbit checks pieces in
        // block_in_place) that an abort does not interrupt: wait until it has really stopped,
        // or it would write into the image, or report on the job, while the rollback runs.
        stop_task(self.take_task(id)).await;
        self.stop_torrent(id).await?;
        self.spawn_job(id)
    }

    /// Takes a job's torrent out of the session, refusing further writes into an in-place image.
    async fn stop_torrent(&self, id: JobId) -> anyhow::Result<()> {
        let (handle, undo) = match self.live.lock().unwrap().get_mut(&id) {
            Some(j) => (j.handle.take(), j.undo.take()),
            None => (None, None),
        };
        if let Some(u) = undo {
            u.close();
        }
        match handle {
            Some(h) => self.session.delete(h.id().into(), false).await?,
            // A run stopped between adding its torrent and noting the handle leaves it behind.
            None => {
                let hash = self.record(id)?.info_hash;
                let by_hash =
                    librqbit::api::TorrentIdOrHash::Hash(librqbit_core::Id20::new(hash.0));
                let _ = self.session.delete(by_hash, false).await;
            }
        }
        Ok(())
    }

    /// Drops a job from the journal; its last state stays visible until the engine stops.
    async fn forget(&self, id: JobId) -> anyhow::Result<()> {
        self.journal.remove(id).await
    }

    /// Stops fetching `files` for a repository job (a stopped update no longer wants them): they
    /// leave its wanted set; whole packages the store holds stay seeded, pieces already staged
    /// stay for a later fetch. Other kinds of job are refused.
    pub async fn withdraw(
        self: &Arc<Self>,
        id: JobId,
        files: std::collections::BTreeSet<usize>,
    ) -> anyhow::Result<()> {
        let JobSpec::Repository(mut spec) = self.record(id)?.spec else {
            return Err(EngineError::Busy(format!(
                "job {id} is not a repository job: only packages can be withdrawn"
            ))
            .into());
        };
        let before = spec.wanted.len();
        spec.wanted.retain(|f| !files.contains(f));
        if spec.wanted.len() == before {
            return Ok(());
        }
        self.update_record(id, |r| r.spec = JobSpec::Repository(spec))
            .await?;
        // A fresh storage: the torrent re-added with the smaller selection.
        self.restart_on_fresh_storage(id).await
    }

    /// Pauses a job's torrent (it keeps its place in the journal). A switch beside the image
    /// stops with its working copy kept, and stays stopped across restarts until resumed.
    pub async fn pause(self: &Arc<Self>, id: JobId) -> anyhow::Result<()> {
        if let JobSpec::Switch(s) = self.record(id)?.spec {
            return self.stop_switch(id, &s).await;
        }
        self.pause_torrent(id).await
    }

    /// Pauses a job's torrent (the seeding goal's way; it pauses complete jobs only).
    pub(crate) async fn pause_torrent(&self, id: JobId) -> anyhow::Result<()> {
        if self.take_super_seeder(id).is_none() {
            self.session.pause(&self.handle(id)?).await?;
        }
        self.update_record(id, |r| r.paused = true).await?;
        self.set_state(id, JobState::Paused);
        Ok(())
    }

    /// Stops a switch keeping what it built: its working copy (with every piece fetched so far)
    /// stays in staging and its record in the journal, marked paused, for [`Engine::resume`].
    /// An in-place switch cannot stop half-way: its image is the working file (abort it instead).
    async fn stop_switch(self: &Arc<Self>, id: JobId, spec: &SwitchSpec) -> anyhow::Result<()> {
        if spec.aborting {
            return Err(EngineError::Busy(format!(
                "the switch (job {id}) is being rolled back already"
            ))
            .into());
        }
        if spec.mode == SwitchMode::InPlace {
            return Err(SwitchStopError::InPlace.into());
        }
        stop_task(self.take_task(id)).await;
        // A step on disk outlives its task: once the lock is ours, none runs, and a rename
        // that happened before is seen below.
        let disk = self.disk.clone().lock_owned().await;
        if !matches!(self.record(id)?.spec, JobSpec::Switch(s) if !s.renamed()) {
            drop(disk);
            // Too late: the new version is in place; the job runs on to seed it.
            self.spawn_job(id)?;
            return Err(SwitchStopError::Complete.into());
        }
        self.freeze(id);
        self.stop_torrent(id).await?;
        self.update_record(id, |r| r.paused = true).await?;
        self.set_state(id, JobState::Paused);
        Ok(())
    }

    /// Resumes a paused job.
    pub async fn resume(self: &Arc<Self>, id: JobId) -> anyhow::Result<()> {
        if let JobRecord {
            spec: JobSpec::Switch(_),
            paused,
            ..
        } = self.record(id)?
        {
            // A running switch goes on as it is; a stopped one runs again from its record.
            if paused {
                // The runner that found it stopped at the start may still be about to say so.
                stop_task(self.take_task(id)).await;
                self.update_record(id, |r| r.paused = false).await?;
                self.spawn_job(id)?;
            }
            return Ok(());
        }
        self.resume_torrent(id).await
    }

    /// Resumes a paused torrent (the seeding goal's way, and every job's but a switch).
    pub(crate) async fn resume_torrent(&self, id: JobId) -> anyhow::Result<()> {
        if let JobSpec::SuperSeed { payload } = self.record(id)?.spec {
            // A seeder that runs (or is checking its payload) goes on; a second would hash the
            // payload again and drop every peer.
            let paused = self
                .live
                .lock()
                .unwrap()
                .get(&id)
                .is_some_and(|j| j.state == JobState::Paused);
            if !paused {
                return Ok(());
            }
            self.update_record(id, |r| r.paused = false).await?;
            return self.run_super_seed(id, &payload, false).await;
        }
        let handle = self.handle(id)?;
        self.session.unpause(&handle).await?;
        self.update_record(id, |r| r.paused = false).await?;
        let finished = handle.stats().finished;
        self.set_state(
            id,
            if finished {
                JobState::Seeding
            } else {
                JobState::Downloading
            },
        );
        Ok(())
    }

    /// Stops a job and forgets it; its files stay on disk.
    pub async fn remove(&self, id: JobId) -> anyhow::Result<()> {
        self.publish();
        self.ledger.flush().await;
        self.journal.remove(id).await?;
        let live = self.live.lock().unwrap().remove(&id);
        if let Some(live) = live {
            if let Some(task) = live.task {
                task.abort();
            }
            if let Some(h) = live.handle {
                // Never delete files through librqbit: other torrents may use them (docs/platform.md §6).
                self.session.delete(h.id().into(), false).await?;
            }
        }
        self.publish();
        Ok(())
    }

    /// A super-seeding job's server, taken out (dropping it stops it).
    fn take_super_seeder(&self, id: JobId) -> Option<super_seed::SuperSeeder> {
        let mut live = self.live.lock().unwrap();
        live.get_mut(&id).and_then(|j| j.super_seeder.take())
    }

    /// Changes the session-wide limits (bytes/s; clamped to at least 16 KiB/s).
    pub fn set_limits(&self, upload: Option<u32>, download: Option<u32>) {
        for j in self.live.lock().unwrap().values() {
            if let Some(s) = &j.super_seeder {
                s.set_limit(limit(upload));
            }
        }
        self.session.ratelimits.set_upload_bps(limit(upload));
        self.session.ratelimits.set_download_bps(limit(download));
        self.publish();
    }

    /// The jobs in the journal.
    pub fn jobs(&self) -> Vec<JobRecord> {
        self.journal.records()
    }

    /// Receives every snapshot the engine publishes.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.subscribe()
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }

    /// A job's piece map as of the latest snapshot: empty until its initial check is over.
    pub fn piece_map(&self, id: JobId) -> Result<PieceMap, EngineError> {
        if let Some(map) = self.piece_maps.lock().unwrap().get(&id) {
            return Ok(map.clone());
        }
        match self.snapshots.borrow().job(id) {
            Some(_) => Ok(PieceMap::default()),
            None => Err(EngineError::no_job(id)),
        }
    }

    /// Waits until a job is complete (seeding or done) or has failed; returns its last snapshot.
    pub async fn wait(&self, id: JobId) -> anyhow::Result<JobSnapshot> {
        Ok(wait_for_job(self.subscribe(), id).await?)
    }

    /// Stops the session; the journal keeps the jobs for the next start.
    pub async fn shutdown(&self) {
        self.publish();
        // Everything counted is written before the session goes: a clean stop loses nothing.
        self.ledger.shutdown().await;
        let tasks: Vec<_> = self
            .live
            .lock()
            .unwrap()
            .values_mut()
            .filter_map(|j| {
                j.super_seeder = None;
                j.task.take()
            })
            .collect();
        for t in tasks {
            t.abort();
        }
        self.session.stop().await;
    }
}

/// What adding a job did to the journal.
enum Added {
    /// The same job was there already.
    Same(JobId),
    /// A repository job there got the new wanted files; `true` when its images changed too.
    Joined(JobId, bool),
    /// A new record.
    New(JobId),
    /// Another job holds the torrent.
    Busy(String),
}

/// Why a switch could not stop with its work kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SwitchStopError {
    /// The image itself is being rewritten: only a rollback leaves it whole.
    #[error("an in-place switch cannot stop half-way: abort it to put the old version back")]
    InPlace,
    /// The new version was already in place.
    #[error("the switch had already completed; switch back to the old version instead")]
    Complete,
}

/// Stops a job's runner and waits until it has (an abort takes effect at its next await).
async fn stop_task(task: Option<tokio::task::JoinHandle<()>>) {
    if let Some(t) = task {
        t.abort();
        let _ = t.await;
    }
}

/// Follows snapshots until job `id` is complete (seeding or done) or has failed.
pub async fn wait_for_job(
    mut rx: watch::Receiver<Snapshot>,
    id: JobId,
) -> Result<JobSnapshot, EngineError> {
    loop {
        let found = rx.borrow_and_update().job(id).cloned();
        match found {
            Some(j) if j.state.is_complete() => return Ok(j),
            Some(
                j @ JobSnapshot {
                    state: JobState::Failed(_),
                    ..
                },
            ) => return Err(j.failure_error()),
            _ => {}
        }
        if rx.changed().await.is_err() {
            return Err(EngineError::Other(format!(
                "the engine stopped before job {id} ended"
            )));
        }
    }
}

/// Reads the job journal without starting an engine (for status displays).
pub fn read_journal(state_dir: &Path) -> anyhow::Result<Vec<JobRecord>> {
    Ok(Journal::load(&state_dir.join("jobs.json"))?
        .jobs
        .into_values()
        .collect())
}
