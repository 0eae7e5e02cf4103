//! The Updates page's calls: plan, apply, older builds and downgrades.

use std::future::Future;
use std::sync::Arc;

use super::Backend;

use swarmdate_core::packages::Nevra;
use swarmdate_core::packages::{OfflineResult, Prepared};
use swarmdate_core::plan::{Change, ChangeKind, Goal};
use swarmdate_engine::JobId;
use swarmdate_usecases::updates::{
    Downgradable, Outcome, Step, Stopped, Transaction, downgradable,
};

/// One update as the Updates page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateItem {
    /// The build it brings.
    pub package: Nevra,
    /// The package name.
    pub name: String,
    /// The installed version(s) it replaces (with their name when it differs), or empty.
    pub from: String,
    /// The version it brings.
    pub to: String,
    /// Bytes to download (0 when the store holds it).
    pub download: u64,
    /// The system's own repository it comes from over HTTP, when no swarm has it.
    pub repository: Option<String>,
    /// The index's one-line summary.
    pub summary: String,
    /// What happens to it.
    pub kind: ChangeKind,
    /// The advisories it brings, most urgent first.
    pub advisories: Vec<swarmdate_core::repos::Advisory>,
    /// The changelog entries it brings, newest first.
    pub changelog: Vec<swarmdate_core::repos::ChangelogEntry>,
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
    /// Configured repositories left out of the plan, and why.
    pub left_out: Vec<swarmdate_core::plan::LeftOut>,
    /// What is armed for the next restart.
    pub prepared: Option<Prepared>,
    /// How the last restart's update went, if the user has not been told yet (told now).
    pub restarted: Option<OfflineResult>,
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

/// A planned downgrade: the build, what comes down with it, and the transaction that does it.
pub struct DowngradePlan {
    /// The build the package goes to.
    pub build: Nevra,
    /// The other packages the transaction changes.
    pub others: Vec<Change>,
    /// Bytes to download.
    pub download: u64,
    /// Bytes the store already holds.
    pub held: u64,
    /// The planned transaction, until it is run.
    pub transaction: Option<Transaction>,
}

impl std::fmt::Debug for DowngradePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DowngradePlan")
            .field("build", &self.build)
            .field("others", &self.others)
            .field("download", &self.download)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// How a running update stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Why a mirror fetch is failing, while the engine retries it.
    pub mirror_error: Option<String>,
    /// The plan's packages that arrived in the store so far, in order.
    pub arrived: Vec<Nevra>,
    /// What the jobs told so far (a tracker's refusal, mirrors used), as sentences.
    pub notes: Vec<String>,
}

/// How an update that did not install ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halted {
    /// Its user stopped it before the install: nothing was installed.
    Stopped(Stopped),
    /// It failed; the message says what and what to do.
    Failed(String),
}

/// Stops a running update before its install (from the GTK thread; the update runs elsewhere).
#[derive(Debug, Clone, Default)]
pub struct StopSwitch(Arc<tokio::sync::Notify>);

impl StopSwitch {
    /// Asks the update to stop; it does if the install has not started.
    pub fn stop(&self) {
        // A permit kept for the waiter that has not started waiting yet.
        self.0.notify_one();
    }
}

impl Backend {
    /// Plans an update of every installed package against the feed.
    pub fn check_updates(
        self: &Arc<Self>,
    ) -> impl Future<Output = Result<Available, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let client = me.client();
            let (state, restarted) = swarmdate_usecases::offline::state(&client, &me.root)
                .map_err(|e| format!("{e:#}"))?;
            // Told once: the page shows it from now on until it is refreshed.
            if let Some(r) = &restarted {
                swarmdate_usecases::offline::mark_seen(&client, r).map_err(|e| format!("{e:#}"))?;
            }
            let tx = Transaction::prepare(&client, Goal::Update, &me.root)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let plan = tx.plan();
            let items = plan
                .changes
                .iter()
                .map(|c| {
                    // The file to fetch for it, if the store lacks it.
                    let fetch = plan
                        .downloads
                        .iter()
                        .find(|d| d.package == c.package && !d.held);
                    UpdateItem {
                        package: c.package.clone(),
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
                        download: fetch.map_or(0, |d| d.size),
                        repository: fetch.and_then(|d| tx.plain_source(d)).map(str::to_owned),
                        summary: tx.summary(c).to_owned(),
                        kind: c.kind,
                        advisories: c.advisories.clone(),
                        changelog: c.changelog.clone(),
                    }
                })
                .collect();
            let left_out = tx.left_out().to_vec();
            Ok(Available {
                items,
                download: plan.download_bytes,
                held: plan.held_bytes,
                transaction: (!plan.is_empty()).then_some(tx),
                left_out,
                prepared: state.prepared,
                restarted,
            })
        })
    }

    /// Carries out `tx`, reporting its progress to `progress`, until `stop` says otherwise; the
    /// engine stays up afterwards to seed what arrived.
    pub fn apply(
        self: &Arc<Self>,
        tx: Transaction,
        progress: impl Fn(Progress) + Send + Sync + 'static,
        stop: StopSwitch,
    ) -> impl Future<Output = Result<Outcome, Halted>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let stopped = async move { stop.0.notified().await };
            me.carry_out(tx, progress, stopped)
                .await
                .map_err(|e| match e.downcast::<Stopped>() {
                    Ok(s) => Halted::Stopped(s),
                    Err(e) => Halted::Failed(format!("{e:#}")),
                })
        })
    }

    /// Fetches and checks `tx`'s packages, then arms them for the next restart, reporting
    /// progress as [`Backend::apply`] does.
    pub fn prepare_offline(
        self: &Arc<Self>,
        tx: Transaction,
        progress: impl Fn(Progress) + Send + Sync + 'static,
        stop: StopSwitch,
    ) -> impl Future<Output = Result<Prepared, Halted>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let engine = me
                .engine()
                .await
                .map_err(|e| Halted::Failed(format!("{e:#}")))?;
            let mut on = steps(tx.plan().download_bytes, tx.plan().held_bytes, progress);
            let stopped = async move { stop.0.notified().await };
            swarmdate_usecases::offline::prepare(&tx, &me.client(), engine, &mut on, stopped)
                .await
                .map_err(|e| match e.downcast::<Stopped>() {
                    Ok(s) => Halted::Stopped(s),
                    Err(e) => Halted::Failed(format!("{e:#}")),
                })
        })
    }

    /// Restarts into the prepared update: the computer for the system; for another root (the
    /// demo's), what its boot would do, here and now.
    pub fn restart(self: &Arc<Self>) -> impl Future<Output = Result<(), String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            if me.root == std::path::Path::new("/") {
                // logind lets the active session's user restart; it runs the update at boot.
                let out = tokio::process::Command::new("systemctl")
                    .arg("reboot")
                    .output()
                    .await
                    .map_err(|e| format!("running systemctl: {e}"))?;
                return if out.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
                };
            }
            let root = me.root.clone();
            tokio::task::spawn_blocking(move || swarmdate_core::packages::apply_offline(&root))
                .await
                .map_err(|e| e.to_string())?
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    /// Disarms the update prepared for the next restart.
    pub fn cancel_offline(
        self: &Arc<Self>,
    ) -> impl Future<Output = Result<bool, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            swarmdate_usecases::offline::cancel(&me.root)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Every installed package with an older build in the feed's repositories, by name.
    pub fn downgradable(
        self: &Arc<Self>,
    ) -> impl Future<Output = Result<Vec<Downgradable>, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            downgradable(&me.client(), &me.root)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Plans taking `build`'s package down to `build` (and what must come down with it).
    pub fn plan_downgrade(
        self: &Arc<Self>,
        build: Nevra,
    ) -> impl Future<Output = Result<DowngradePlan, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let goal = Goal::Downgrade {
                name: build.name.clone(),
                version: Some(build.evr.to_string()),
            };
            let tx = Transaction::prepare(&me.client(), goal, &me.root)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let plan = tx.plan();
            Ok(DowngradePlan {
                others: plan
                    .changes
                    .iter()
                    .filter(|c| c.package.name != build.name)
                    .cloned()
                    .collect(),
                download: plan.download_bytes,
                held: plan.held_bytes,
                build,
                transaction: Some(tx),
            })
        })
    }

    /// Runs a transaction on the engine, turning its steps into [`Progress`].
    async fn carry_out(
        &self,
        tx: Transaction,
        progress: impl Fn(Progress) + Send + Sync + 'static,
        cancel: impl Future<Output = ()>,
    ) -> anyhow::Result<Outcome> {
        let engine = self.engine().await?;
        let mut on = steps(tx.plan().download_bytes, tx.plan().held_bytes, progress);
        tx.run(&self.client(), engine, &mut on, cancel).await
    }
}

/// Turns a transaction's steps into [`Progress`] for `progress`.
fn steps(
    total: u64,
    held: u64,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> impl FnMut(Step<'_>) + Send {
    let mut p = Progress {
        total,
        held,
        ..Progress::default()
    };
    move |step: Step<'_>| {
        p.waiting_for_lock = false;
        match step {
            Step::Fetching { jobs, fetched } => {
                p.from_peers = fetched.from_peers;
                p.from_mirrors = fetched.from_mirrors;
                p.speed = jobs.iter().map(|j| j.down_speed).sum();
                p.job = jobs.first().map(|j| j.id);
                p.mirror_error = jobs.iter().find_map(|j| j.mirror_error.clone());
                for n in jobs.iter().flat_map(|j| &j.notices) {
                    let note = swarmdate_usecases::notices::text(n);
                    if !p.notes.contains(&note) {
                        p.notes.push(note);
                    }
                }
            }
            Step::Arrived(package) => p.arrived.push(package.clone()),
            Step::WaitingForLock => p.waiting_for_lock = true,
            Step::Replanned(_) => {}
            Step::Installing => {
                p.installing = true;
                p.speed = 0;
            }
        }
        progress(p.clone());
    }
}
