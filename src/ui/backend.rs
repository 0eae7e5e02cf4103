//! The window's way to the core: the engine's tokio runtime runs every request, and results come
//! back as futures any executor can await (relm4 commands). The window holds no engine state.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use swarmdate_core::plan::{ChangeKind, Goal};
use swarmdate_engine::JobId;
use swarmdate_engine::service::EngineHandle;
use swarmdate_usecases::Client;
use swarmdate_usecases::switching::{self, Ended, OtherSwitch, Switch};
use swarmdate_usecases::updates::{OlderBuild, Outcome, Step, Transaction, older_builds};
use swarmdate_usecases::versions::Versions;
use swarmdate_usecases::{download, seeding};

/// One update as the Updates page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateItem {
    /// The package name.
    pub name: String,
    /// The installed version(s) it replaces (with their name when it differs), or empty.
    pub from: String,
    /// The version it brings.
    pub to: String,
    /// Bytes to download (0 when the store holds it).
    pub download: u64,
    /// The index's one-line summary.
    pub summary: String,
    /// What happens to it.
    pub kind: ChangeKind,
}

/// The updates on offer, and the transaction that installs them.
pub struct Available {
    /// The rows.
    pub items: Vec<UpdateItem>,
    /// Bytes to download in all.
    pub download: u64,
    /// Bytes the store already holds.
    pub held: u64,
    /// The planned transaction.
    pub transaction: Option<Transaction>,
}

impl std::fmt::Debug for Available {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Available")
            .field("items", &self.items)
            .field("download", &self.download)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// How a running update stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes the plan downloads.
    pub total: u64,
    /// Bytes from peers so far.
    pub from_peers: u64,
    /// Bytes from mirrors so far.
    pub from_mirrors: u64,
    /// Bytes the store held before.
    pub held: u64,
    /// Download speed in bytes/s.
    pub speed: u64,
    /// The packages are being checked and installed.
    pub installing: bool,
    /// Another package manager holds the rpm lock.
    pub waiting_for_lock: bool,
    /// The engine's job fetching the packages (the first, when there are several).
    pub job: Option<JobId>,
}

/// The engine's runtime, the user's client and the system the window updates.
pub struct Backend {
    rt: tokio::runtime::Handle,
    /// Replaced when the preferences change the settings.
    client: std::sync::RwLock<Arc<Client>>,
    root: PathBuf,
    engine: tokio::sync::OnceCell<EngineHandle>,
}

impl Backend {
    /// A backend updating `root` (`/` on a desktop, the demo's root in the demo).
    pub fn new(rt: tokio::runtime::Handle, client: Client, root: PathBuf) -> Arc<Self> {
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

    /// Plans an update of every installed package against the feed.
    pub fn check_updates(
        self: &Arc<Self>,
    ) -> impl Future<Output = Result<Available, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let tx = Transaction::prepare(&me.client(), Goal::Update, &me.root)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let plan = tx.plan();
            let items = plan
                .changes
                .iter()
                .map(|c| UpdateItem {
                    name: c.package.name.clone(),
                    from: c
                        .replaces
                        .iter()
                        // An obsoleted package keeps its own name in the row.
                        .map(|r| match r.name == c.package.name {
                            true => r.evr.to_string(),
                            false => format!("{} {}", r.name, r.evr),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    to: c.package.evr.to_string(),
                    download: plan
                        .downloads
                        .iter()
                        .find(|d| d.package == c.package && !d.held)
                        .map_or(0, |d| d.size),
                    summary: tx.summary(c).to_owned(),
                    kind: c.kind,
                })
                .collect();
            Ok(Available {
                items,
                download: plan.download_bytes,
                held: plan.held_bytes,
                transaction: (!plan.is_empty()).then_some(tx),
            })
        })
    }

    /// Carries out `tx`, reporting its progress to `progress`; the engine stays up afterwards to
    /// seed what arrived.
    pub fn apply(
        self: &Arc<Self>,
        tx: Transaction,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<Outcome, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move { me.carry_out(tx, progress).await })
    }

    /// The builds of `name` older than the installed one, newest first.
    pub fn older_builds(
        self: &Arc<Self>,
        name: String,
    ) -> impl Future<Output = Result<Vec<OlderBuild>, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            older_builds(&me.client(), &me.root, &name)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Downgrades `name` to `version` (and what must come down with it), reporting progress.
    pub fn downgrade(
        self: &Arc<Self>,
        name: String,
        version: String,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<Outcome, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let goal = Goal::Downgrade {
                name,
                version: Some(version),
            };
            let tx = Transaction::prepare(&me.client(), goal, &me.root)
                .await
                .map_err(|e| format!("{e:#}"))?;
            me.carry_out(tx, progress).await
        })
    }

    /// Runs a transaction on the engine, turning its steps into [`Progress`].
    async fn carry_out(
        &self,
        tx: Transaction,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Outcome, String> {
        let total = tx.plan().download_bytes;
        let held = tx.plan().held_bytes;
        let engine = self.engine().await.map_err(|e| format!("{e:#}"))?;
        let mut p = Progress {
            total,
            held,
            ..Progress::default()
        };
        let mut on = |step: Step<'_>| {
            p.waiting_for_lock = false;
            match step {
                Step::Fetching(jobs) => {
                    p.from_peers = jobs.iter().map(|j| j.bytes_fetched).sum();
                    p.from_mirrors = jobs.iter().map(|j| j.bytes_from_mirrors).sum();
                    p.speed = jobs.iter().map(|j| j.down_speed).sum();
                    p.job = jobs.first().map(|j| j.id);
                }
                Step::WaitingForLock => p.waiting_for_lock = true,
                Step::Replanned(_) => {}
                Step::Installing => {
                    p.installing = true;
                    p.speed = 0;
                }
            }
            progress(p);
        };
        tx.run(&self.client(), engine, &mut on, std::future::pending())
            .await
            .map_err(|e| format!("{e:#}"))
    }

    /// The user's client as the settings are now.
    pub fn client(&self) -> Arc<Client> {
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
    ) -> anyhow::Result<JobId> {
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

/// One published ISO version as the Versions page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionItem {
    /// Its place in the feed.
    pub index: usize,
    /// Its name.
    pub version: String,
    /// Its date (YYYY-MM-DD).
    pub date: String,
    /// The image's size.
    pub size: u64,
    /// Whether the local image is this version.
    pub current: bool,
    /// Bytes a switch to it downloads (none for the current one).
    pub download: Option<u64>,
    /// Whether it is newer than the local image.
    pub newer: bool,
}

/// The versions and the local image.
pub struct VersionsView {
    /// The rows.
    pub items: Vec<VersionItem>,
    /// The local image.
    pub image: PathBuf,
    /// What the rows were made from.
    pub versions: Versions,
}

impl std::fmt::Debug for VersionsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionsView")
            .field("items", &self.items)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

/// How a running switch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchProgress {
    /// The engine's job.
    pub job: JobId,
    /// Bytes fetched so far.
    pub fetched: u64,
    /// Bytes the plan fetches.
    pub total: u64,
    /// Download speed in bytes/s.
    pub speed: u64,
    /// Peers connected.
    pub peers: usize,
}

impl Backend {
    /// Reads the feed's versions, identifies the local image (`image`, or the one in the images
    /// folder) and plans a switch to every other version.
    pub fn load_versions(
        self: &Arc<Self>,
        image: Option<PathBuf>,
    ) -> impl Future<Output = Result<VersionsView, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let versions = Versions::load(&me.client(), image.as_deref())
                .await
                .map_err(|e| format!("{e:#}"))?;
            let current_date = versions.current.map(|i| versions.versions[i].entry.date);
            let mut items = Vec::new();
            for (i, v) in versions.versions.iter().enumerate() {
                let current = versions.current == Some(i);
                let download = if current {
                    None
                } else {
                    let plan = versions.plan(i, None).await.map_err(|e| format!("{e:#}"))?;
                    Some(plan.fetch_bytes)
                };
                items.push(VersionItem {
                    index: i,
                    version: v.version().to_owned(),
                    date: v.entry.date.format("%Y-%m-%d").to_string(),
                    size: v.entry.size,
                    current,
                    download,
                    newer: current_date.is_some_and(|d| v.entry.date > d),
                });
            }
            Ok(VersionsView {
                items,
                image: versions.image.clone(),
                versions,
            })
        })
    }

    /// Switches the local image to version `to` (resuming its stopped switch to it, rolling
    /// back one to another version), reporting progress; returns how the switch ended.
    pub fn switch(
        self: &Arc<Self>,
        versions: Versions,
        to: usize,
        progress: impl Fn(SwitchProgress) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<Ended, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let r: anyhow::Result<Ended> = async {
                let plan = versions.plan(to, None).await?;
                let engine = me.engine().await?;
                let switch =
                    Switch::start(engine, &versions, to, &plan, false, OtherSwitch::RollBack)
                        .await?;
                let mut on = |step: switching::Step<'_>| {
                    let j = step.job;
                    progress(SwitchProgress {
                        job: j.id,
                        fetched: j.bytes_fetched,
                        // A resumed switch counts what is left from what it had.
                        total: match step.planned {
                            0 => j.bytes_wanted.saturating_sub(j.bytes_had),
                            p => p,
                        },
                        speed: j.down_speed,
                        peers: j.peers.len(),
                    })
                };
                switch.follow(engine, &mut on, std::future::pending()).await
            }
            .await;
            r.map_err(|e| format!("{e:#}"))
        })
    }

    /// Stops a running switch, keeping what it fetched where it can (see
    /// [`switching::stop`]); the switch's own result says how it ended.
    pub fn stop_switch(
        self: &Arc<Self>,
        job: JobId,
    ) -> impl Future<Output = Result<(), String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let engine = me.engine().await.map_err(|e| format!("{e:#}"))?;
            switching::stop(engine, job)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }
}

pub use swarmdate_usecases::seeding::{SeedItem, SeedingView};

/// How often the Seeding page's figures are refreshed.
const SEEDING_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
            if let Err(e) = seeding::share_local_image(&me.client(), engine).await {
                tracing::info!("not sharing the local image: {e:#}");
            }
            // Opened once: opening sets the tables up (a write), not worth doing every second.
            let ledger_path = me.client().dirs.engine().join("ledger.sqlite");
            let ledger = swarmdate_core::ledger::Ledger::open(&ledger_path).ok();
            loop {
                let view = seeding::view(engine, ledger.as_ref());
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
    /// Sends the job's snapshot and its piece map (asked of the engine each time: snapshots
    /// carry none) to `show` whenever the engine publishes one, until it returns false or the job
    /// is gone.
    pub fn watch_job(
        self: &Arc<Self>,
        job: JobId,
        show: impl Fn(swarmdate_engine::JobSnapshot, swarmdate_engine::PieceMap) -> bool
        + Send
        + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let Ok(engine) = me.engine().await else {
                return;
            };
            let mut rx = engine.subscribe();
            let mut last = std::time::Instant::now() - SEEDING_EVERY;
            loop {
                if last.elapsed() >= SEEDING_EVERY {
                    let snap = rx.borrow_and_update().clone();
                    let Some(j) = snap.jobs.into_iter().find(|j| j.id == job) else {
                        return;
                    };
                    match engine.piece_map(job).await {
                        Ok(map) => {
                            if !show(j, map) {
                                return;
                            }
                            last = std::time::Instant::now();
                        }
                        Err(swarmdate_engine::EngineError::NotFound(_)) => return,
                        // A call that failed on the bus skips this update; the next one asks again.
                        Err(e) => tracing::debug!("no piece map for job {job}: {e}"),
                    }
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}

pub use swarmdate_usecases::download::Opened as TorrentInfo;

impl Backend {
    /// Fetches and checks the torrent a link or path names.
    pub fn inspect(
        self: &Arc<Self>,
        reference: String,
    ) -> impl Future<Output = Result<TorrentInfo, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            download::inspect(&me.client(), &reference)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Downloads `torrent` into `dir` (built in staging, then renamed) and shares it after.
    pub fn download(
        self: &Arc<Self>,
        torrent: swarmdate_core::torrent::Torrent,
        dir: PathBuf,
    ) -> impl Future<Output = Result<JobId, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let r: anyhow::Result<JobId> = async {
                let engine = me.engine().await?;
                let options = download::Options {
                    seed_after: true,
                    replace: false,
                };
                download::start(engine, &torrent, &dir, options).await
            }
            .await;
            r.map_err(|e| format!("{e:#}"))
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
