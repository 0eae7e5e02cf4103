//! Package updates and downgrades as a client runs them: plan against the feed's repositories,
//! join their swarms for the packages the store lacks, install in one transaction, trim the
//! store. Each face drives these steps and shows their progress its own way.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use futures::StreamExt;

use super::User;
use swarmdate_core::feed::Location;
use swarmdate_core::fsutil;
use swarmdate_core::packages::{
    Candidate, FileOrigin, HelperPackage, HelperVerb, INDEX_FORMAT, IndexedPackage, Inventory,
    Nevra, PackageIndex, PackageKeys, TransactionNote,
};
use swarmdate_core::plan::{
    Catalogue, Download, Goal, LeftOut, LoadedRepo, PlainRepo, Plan, Repo, load_plain_repositories,
    plan,
};
use swarmdate_core::store::{PackageStore, TrimReport};
use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{JobId, JobSnapshot, JobSpec, JobState, RepoSpec, Snapshot};

/// The privileged installer, as the polkit policy in `data/` names it.
pub const HELPER: &str = "/usr/libexec/swarmdate-helper";

/// A plan and the catalogue it was made from.
struct Planned {
    /// What to install and download.
    plan: Plan,
    /// The packages of every repository the plan may take from.
    catalogue: Catalogue,
}

/// Plans `goal` for the system in `root` over the feed's `repos` and then the `plain` ones (so a
/// build both offer comes over the swarm), counting what `store` holds as held.
fn make_plan(
    root: &Path,
    repos: &[LoadedRepo],
    plain: &[PlainRepo],
    goal: &Goal,
    store: &PackageStore,
) -> anyhow::Result<Planned> {
    let inventory = Inventory::read(root)?;
    let mut all: Vec<Repo> = repos
        .iter()
        .map(|r| r.repo.clone())
        .chain(plain.iter().map(|p| p.repo.clone()))
        .collect();
    if let Goal::Undo { undo, .. } = goal {
        all.extend(held_builds(undo, store));
    }
    let catalogue = Catalogue::new(all);
    let held = |sha: &swarmdate_core::hash::Sha256| store.holds(sha);
    let plan = plan(&inventory, &catalogue, goal, &held, &AtomicBool::new(false))?;
    Ok(Planned { plan, catalogue })
}

/// The builds an undo restores that the store still holds from the transaction that installed
/// them, as one more repository of the catalogue, last (a build a repository lists comes from
/// there). Its packages are held, so nothing is ever fetched from it.
fn held_builds(undo: &swarmdate_core::packages::Undo, store: &PackageStore) -> Option<Repo> {
    let packages: Vec<IndexedPackage> = undo
        .restore
        .iter()
        .filter_map(|(nevra, origin)| {
            let o = origin.as_ref().filter(|o| store.holds(&o.sha256))?;
            Some((nevra, o))
        })
        .enumerate()
        .map(|(i, (nevra, o))| IndexedPackage {
            file_index: i,
            path: nevra.file_name(),
            nevra: nevra.clone(),
            size: o.size,
            sha256: o.sha256,
            summary: String::new(),
            relations: Default::default(),
            changelog: Vec::new(),
        })
        .collect();
    (!packages.is_empty()).then(|| Repo {
        kind: swarmdate_core::feed::RepoKind::Updates,
        index: PackageIndex {
            format: INDEX_FORMAT,
            // A tag no swarm has.
            info_hash: swarmdate_core::torrent::InfoHash([0; 20]),
            name: "store".into(),
            piece_length: 0,
            packages,
            advisories: Vec::new(),
        },
    })
}

/// The files to fetch over swarms, per repository (by its place in `repos`, the first `swarms`
/// of the catalogue): the plan's downloads the store lacks, each from its newest swarm. Those
/// only a plain repository offers are fetched from it ([`plain_downloads`]).
fn wanted_files(
    planned: &Planned,
    store: &PackageStore,
    swarms: usize,
) -> BTreeMap<usize, BTreeSet<usize>> {
    let mut wanted: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for d in planned
        .plan
        .downloads
        .iter()
        .filter(|d| !store.holds(&d.sha256) && d.sources[0].repo < swarms)
    {
        let s = d.sources[0];
        wanted
            .entry(s.repo)
            .or_default()
            .insert(planned.catalogue.package(&s).file_index);
    }
    wanted
}

/// Packages fetched at once from plain repositories (dnf's `max_parallel_downloads` is 3).
const PLAIN_PARALLEL: usize = 4;

/// The plan's downloads that only a plain repository offers and the store lacks, with where each
/// is fetched from.
fn plain_downloads<'a>(
    planned: &'a Planned,
    store: &PackageStore,
    swarms: usize,
    plain: &[PlainRepo],
) -> anyhow::Result<Vec<(&'a Download, Location)>> {
    planned
        .plan
        .downloads
        .iter()
        .filter(|d| !store.holds(&d.sha256) && d.sources[0].repo >= swarms)
        .map(|d| {
            let s = d.sources[0];
            let path = &planned.catalogue.package(&s).path;
            // Past the plain repositories: a build the store held when planned, and lost since.
            let repo = plain.get(s.repo - swarms).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has left the store since the plan, and no repository has it; nothing was changed",
                    d.package
                )
            })?;
            Ok((d, repo.package_location(path)?))
        })
        .collect()
}

/// Where a run's packages came from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes from peers.
    pub from_peers: u64,
    /// Bytes from the mirrors.
    pub from_mirrors: u64,
}

impl Fetched {
    /// What a job's counters say.
    fn of(j: &JobSnapshot) -> Fetched {
        Fetched {
            from_peers: j.bytes_fetched,
            from_mirrors: j.bytes_from_mirrors,
        }
    }

    /// In all.
    pub fn total(&self) -> u64 {
        self.from_peers + self.from_mirrors
    }
}

/// The counters of the jobs a fetch joins, as they were when it began. A repository job lives on
/// after a transaction (it seeds) and counts every byte it ever fetched; the next transaction that
/// joins it counts only what arrived since.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Baseline(BTreeMap<JobId, Fetched>);

impl Baseline {
    /// Every job's counters in `snap`.
    fn of(snap: &Snapshot) -> Baseline {
        Baseline(snap.jobs.iter().map(|j| (j.id, Fetched::of(j))).collect())
    }

    /// What `jobs` fetched since the baseline (a job new since then counts from zero).
    fn since(&self, jobs: &[&JobSnapshot]) -> Fetched {
        let mut f = Fetched::default();
        for j in jobs {
            let now = Fetched::of(j);
            let then = self.0.get(&j.id).copied().unwrap_or_default();
            f.from_peers += now.from_peers.saturating_sub(then.from_peers);
            f.from_mirrors += now.from_mirrors.saturating_sub(then.from_mirrors);
        }
        f
    }
}

/// How the fetch of a plan's packages stands in an engine snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FetchStatus {
    /// Still fetching.
    Running,
    /// A job stopped with this error.
    Failed(String),
    /// The store holds every planned package.
    Done(Fetched),
}

/// Reads the fetch's state off a snapshot of the engine running `jobs`, counting the bytes
/// fetched since `baseline`.
fn fetch_status(
    snap: &Snapshot,
    jobs: &[JobId],
    baseline: &Baseline,
    planned: &Planned,
    store: &PackageStore,
) -> FetchStatus {
    let mine: Vec<_> = snap.jobs.iter().filter(|j| jobs.contains(&j.id)).collect();
    if let Some(e) = mine.iter().find_map(|j| match &j.state {
        JobState::Failed(e) => Some(e.clone()),
        _ => None,
    }) {
        return FetchStatus::Failed(e);
    }
    // The jobs say they are done only after counting where every package came from.
    let done = mine.len() == jobs.len() && mine.iter().all(|j| j.state.is_complete());
    if done
        && planned
            .plan
            .downloads
            .iter()
            .all(|d| store.holds(&d.sha256))
    {
        FetchStatus::Done(baseline.since(&mine))
    } else {
        FetchStatus::Running
    }
}

/// Adds the repository's job to the engine, or extends it with `wanted` files.
async fn join_repository(
    client: &User,
    engine: &EngineHandle,
    repo: &LoadedRepo,
    mirrors: &[String],
    wanted: BTreeSet<usize>,
    images: Vec<std::path::PathBuf>,
) -> anyhow::Result<JobId> {
    let indexes = client.dirs.engine().join("indexes");
    std::fs::create_dir_all(&indexes)?;
    let index = indexes.join(format!("{}.json", repo.torrent.info_hash()));
    fsutil::write_atomic(&index, &repo.index_bytes)?;
    let spec = RepoSpec {
        index,
        wanted,
        mirrors: mirrors.to_vec(),
        images,
    };
    Ok(engine
        .add_job(&repo.torrent, JobSpec::Repository(spec))
        .await?)
}

/// Joins every repository of the feed that carries a package the store or a local image holds,
/// so it is seeded there too: a newer snapshot as soon as the feed lists it, older ones while they
/// still carry superseded builds, the release while an image carries its packages (seeded from
/// the image itself). Returns how many repositories were joined, and the feed's refresh interval.
pub async fn follow_feed(client: &User, engine: &EngineHandle) -> anyhow::Result<(usize, u64)> {
    let feed = client.feed().await?;
    let repos = swarmdate_core::plan::load_repositories(&feed, client.fetcher()).await?;
    let store = PackageStore::open(&client.dirs.store())?;
    let images = swarmdate_core::iso::images_in(&client.dirs.images());
    let cache = client.dirs.engine().join("image-packages.json");
    let imgs = images.clone();
    let inside =
        tokio::task::spawn_blocking(move || swarmdate_core::iso::packages_in_images(&imgs, &cache))
            .await??;
    let have: BTreeSet<String> = engine
        .jobs()
        .await?
        .into_iter()
        .map(|j| j.info_hash.to_string())
        .collect();
    let mut joined = 0;
    for repo in &repos {
        let holds = repo
            .repo
            .index
            .packages
            .iter()
            .any(|p| store.holds(&p.sha256) || inside.contains_key(&p.sha256));
        if holds && !have.contains(&repo.torrent.info_hash().to_string()) {
            let (mirrors, images) = (&feed.feed.web_seeds, images.clone());
            join_repository(client, engine, repo, mirrors, BTreeSet::new(), images).await?;
            joined += 1;
        }
    }
    Ok((joined, feed.feed.refresh_interval_secs))
}

/// Evicts superseded builds the store no longer has room for, keeping what `root` has installed.
async fn trim(client: &User, engine: &EngineHandle, root: &Path) -> anyhow::Result<TrimReport> {
    let installed: HashSet<Nevra> = Inventory::read(root)?
        .packages
        .into_iter()
        .map(|p| p.nevra)
        .collect();
    Ok(engine
        .trim_store(client.settings.store_cap(), &installed)
        .await?)
}

/// The keys each download must be signed with: the root's, narrowed to those the feed names for
/// the repositories that carry it (the union, when several do).
fn keys_for(
    d: &swarmdate_core::plan::Download,
    repos: &[LoadedRepo],
    keys: &PackageKeys,
) -> Result<PackageKeys, swarmdate_core::packages::PackageError> {
    let named: BTreeSet<_> = d
        .sources
        .iter()
        .filter_map(|s| repos.get(s.repo))
        .flat_map(|r| r.signing_keys.iter().cloned())
        .collect();
    keys.restricted_to(&named.into_iter().collect::<Vec<_>>())
}

/// Where a planned download comes from, as the history and `--json` name it: `store` (held when
/// planned), `repository:<id>` (a plain repository over HTTP) or `swarm`.
pub fn source_label(d: &Download, swarms: usize, plain: &[PlainRepo]) -> String {
    if d.held {
        return "store".into();
    }
    match d
        .sources
        .first()
        .and_then(|s| s.repo.checked_sub(swarms))
        .and_then(|p| plain.get(p))
    {
        Some(p) => format!("repository:{}", p.config.id),
        None => "swarm".into(),
    }
}

/// What a carried-out transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// Packages installed.
    pub packages: usize,
    /// Packages removed.
    pub removed: usize,
    /// Its number in the root's history, when known.
    pub history: Option<i64>,
}

/// Installs the planned packages from the store (and removes the planned removals) in one
/// transaction: through the privileged helper into the running system, or with dnf into
/// another root; either way recorded in the root's history. Every package is checked first
/// against the keys the root's rpm database trusts (the helper checks again, as root, against
/// the system's).
async fn install_plan(
    tx: &Transaction,
    keys: &PackageKeys,
    privileged: bool,
) -> anyhow::Result<Installed> {
    let (root, planned, store) = (&tx.root, &tx.planned, &tx.store);
    let downloads = &planned.plan.downloads;
    let keys: Vec<PackageKeys> = downloads
        .iter()
        .map(|d| keys_for(d, &tx.repos, keys))
        .collect::<Result<_, _>>()?;
    let removals = &planned.plan.removals;
    let history = if privileged {
        let candidates: Vec<Candidate> = downloads
            .iter()
            .zip(keys)
            .map(|(d, keys)| Candidate {
                path: store.object_path(&d.sha256),
                keys,
                origin: origin_of(d, tx),
            })
            .collect();
        swarmdate_core::packages::check_all(&candidates)?;
        // A plan that takes any package to an older build needs the downgrade action, which
        // names every build on the command line the authentication dialog shows; an undo has
        // its own, and the helper works out from the root's history what it removes.
        let downgrade = planned
            .plan
            .changes
            .iter()
            .any(|c| c.kind == swarmdate_core::plan::ChangeKind::Downgrade);
        let verb = match &tx.goal {
            Goal::Undo { .. } => HelperVerb::Undo,
            _ if downgrade => HelperVerb::Downgrade,
            _ => HelperVerb::Install,
        };
        let mut cmd = tokio::process::Command::new("pkexec");
        cmd.arg(HELPER).args(tx.helper_args(verb));
        helper_history_number(&privileged_output(cmd).await?)
    } else {
        // dnf takes local packages by their .rpm names: link the store's objects under them.
        let links = tempfile::tempdir()?;
        let mut files = Vec::new();
        for (d, keys) in downloads.iter().zip(keys) {
            let object = store.object_path(&d.sha256);
            anyhow::ensure!(
                object.is_file(),
                "{} is not in the store after the download",
                d.package
            );
            let link = links.path().join(d.package.file_name());
            std::os::unix::fs::symlink(&object, &link)?;
            files.push(Candidate {
                path: link,
                keys,
                origin: origin_of(d, tx),
            });
        }
        let note = TransactionNote {
            command: tx.goal.label(),
            asked_by: nix::unistd::getuid().as_raw(),
            undoes: match tx.goal {
                Goal::Undo { id, .. } => Some(id),
                _ => None,
            },
        };
        let (r, removals) = (root.to_owned(), removals.clone());
        let report = tokio::task::spawn_blocking(move || {
            swarmdate_core::packages::install(&r, &files, &removals, &note)
        })
        .await??;
        if let Some(e) = &report.history_error {
            tracing::warn!("the transaction ran, but its end was not recorded: {e}");
        }
        Some(report.history)
    };
    Ok(Installed {
        packages: downloads.len(),
        removed: removals.len(),
        history,
    })
}

/// Whether changing `root` needs the privileged helper: the running system, not as root.
pub fn needs_helper(root: &Path) -> bool {
    root == Path::new("/") && !nix::unistd::geteuid().is_root()
}

/// A planned download's file as the history records it: digest, size and source.
fn origin_of(d: &Download, tx: &Transaction) -> FileOrigin {
    FileOrigin {
        sha256: d.sha256,
        size: d.size,
        from: Some(source_label(d, tx.repos.len(), &tx.plain)),
    }
}

/// Runs the privileged helper (a `pkexec` command); its standard output, or its refusal.
pub(crate) async fn privileged_output(mut cmd: tokio::process::Command) -> anyhow::Result<String> {
    let out = cmd.output().await.context("running pkexec")?;
    anyhow::ensure!(
        out.status.success(),
        "the privileged helper refused or failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The history entry the helper says it recorded the transaction as.
fn helper_history_number(stdout: &str) -> Option<i64> {
    stdout.lines().rev().find_map(|l| {
        l.strip_prefix("swarmdate-helper: recorded as transaction ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// How long to wait for another package manager to finish.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// A transaction stopped by its user before anything was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "stopped before anything was installed: {kept} of the {planned} packages are in the store and stay there for the next try"
)]
pub struct Stopped {
    /// The plan's packages the store holds (arrived, or held before).
    pub kept: usize,
    /// The plan's packages.
    pub planned: usize,
}

/// A step of a running transaction, for the face to show.
#[derive(Debug)]
pub enum Step<'a> {
    /// The engine's jobs for this transaction, as the latest snapshot has them, and the bytes
    /// they fetched for it so far (a job that fetched for earlier transactions counts those too).
    Fetching {
        /// The jobs.
        jobs: Vec<&'a JobSnapshot>,
        /// What arrived for this transaction.
        fetched: Fetched,
    },
    /// This package of the plan has arrived in the store (sent once per package).
    Arrived(&'a Nevra),
    /// Another package manager holds the rpm lock.
    WaitingForLock,
    /// What is installed changed while waiting: this is the new plan.
    Replanned(&'a Plan),
    /// The packages are being checked and installed.
    Installing,
}

/// What a transaction did.
#[derive(Debug)]
pub struct Outcome {
    /// The plan that was carried out (empty when waiting made it moot).
    pub plan: Plan,
    /// What the transaction did.
    pub installed: Installed,
    /// Where the fetched bytes came from.
    pub fetched: Fetched,
    /// What the store's trim removed afterwards.
    pub trim: Option<TrimReport>,
}

/// A planned package transaction: made by [`Transaction::prepare`], carried out by
/// [`Transaction::run`].
pub struct Transaction {
    root: std::path::PathBuf,
    goal: Goal,
    planned: Planned,
    repos: Vec<LoadedRepo>,
    plain: Vec<PlainRepo>,
    notices: Vec<LeftOut>,
    web_seeds: Vec<String>,
    store: std::sync::Arc<PackageStore>,
}

impl Transaction {
    /// Plans undoing transaction `id` of `root`'s history, as the root is now.
    pub async fn prepare_undo(client: &User, id: i64, root: &Path) -> anyhow::Result<Self> {
        let installed = Inventory::read(root)?;
        let undo = swarmdate_core::packages::undo_from_history(root, id, &installed)?;
        Self::prepare(client, Goal::Undo { id, undo }, root).await
    }

    /// Reads the feed, its repositories and what `root` has installed, and plans `goal`.
    pub async fn prepare(client: &User, goal: Goal, root: &Path) -> anyhow::Result<Self> {
        let feed = client.feed().await?;
        let repos = swarmdate_core::plan::load_repositories(&feed, client.fetcher()).await?;
        // The root's own repositories (its .repo files), beside the feed's.
        let (plain, notices) =
            load_plain_repositories(root, &client.dirs.cache.join("repos"), client.fetcher())
                .await?;
        let store = PackageStore::open(&client.dirs.store())?;
        let planned = make_plan(root, &repos, &plain, &goal, &store)?;
        Ok(Transaction {
            root: root.to_owned(),
            goal,
            planned,
            repos,
            plain,
            notices,
            web_seeds: feed.feed.web_seeds.clone(),
            store,
        })
    }

    /// What it was asked to do.
    pub fn goal(&self) -> &Goal {
        &self.goal
    }

    /// The root it changes.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The helper's command line for `verb` on this plan: the store, the label the history
    /// keeps (an undo's is the helper's own), each file's source, and the files (named by
    /// their build for the verbs that take exactly the builds confirmed).
    pub(crate) fn helper_args(&self, verb: HelperVerb) -> Vec<String> {
        let mut args = vec![verb.word().to_owned()];
        match &self.goal {
            Goal::Undo { id, .. } => args.push(id.to_string()),
            goal => args.extend(["--command".to_owned(), goal.label()]),
        }
        args.extend([
            "--store".to_owned(),
            self.store.root().display().to_string(),
        ]);
        let downloads = &self.planned.plan.downloads;
        for d in downloads {
            let from = source_label(d, self.repos.len(), &self.plain);
            args.extend(["--from".to_owned(), format!("{}={from}", d.sha256)]);
        }
        let named = matches!(verb, HelperVerb::Downgrade | HelperVerb::Undo);
        args.extend(downloads.iter().map(|d| {
            HelperPackage {
                sha256: d.sha256,
                size: d.size,
                nevra: named.then(|| d.package.clone()),
            }
            .arg()
        }));
        args
    }

    /// Fetches what the store lacks (nothing is installed): for an update installed later.
    pub async fn fetch_all(
        &self,
        client: &User,
        engine: &EngineHandle,
        on: &mut (dyn FnMut(Step<'_>) + Send),
        cancel: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> anyhow::Result<Fetched> {
        anyhow::ensure!(
            !self.needs_helper() || Path::new(HELPER).is_file(),
            "preparing an update of this system needs administrator rights, and the privileged helper {HELPER} is not installed: run the command as root, or install Swarmdate's helper and polkit policy"
        );
        self.fetch(client, engine, on, cancel).await
    }

    /// What it will do.
    pub fn plan(&self) -> &Plan {
        &self.planned.plan
    }

    /// The configured repositories left out of the plan, and why.
    pub fn left_out(&self) -> &[LeftOut] {
        &self.notices
    }

    /// Where a planned download comes from: the repository id of a plain repository, or `None`
    /// for the feed's swarms.
    pub fn plain_source(&self, d: &swarmdate_core::plan::Download) -> Option<&str> {
        let r = d.sources.first()?.repo;
        r.checked_sub(self.repos.len())
            .and_then(|p| self.plain.get(p))
            .map(|p| p.config.id.as_str())
    }

    /// The one-line summary the index gives for a change's package.
    pub fn summary(&self, change: &swarmdate_core::plan::Change) -> &str {
        &self.planned.catalogue.build(change.build).summary
    }

    /// Whether installing needs the privileged helper (the running system, not as root).
    pub fn needs_helper(&self) -> bool {
        needs_helper(&self.root)
    }

    /// Fetches what the store lacks over the repositories' swarms, waits for the rpm lock,
    /// installs in one transaction and trims the store. `cancel` stops it while fetching, before
    /// anything is installed: the jobs let go of what has not arrived, and the error is
    /// [`Stopped`].
    pub async fn run(
        mut self,
        client: &User,
        engine: &EngineHandle,
        on: &mut (dyn FnMut(Step<'_>) + Send),
        cancel: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<Outcome> {
        anyhow::ensure!(
            !self.needs_helper() || Path::new(HELPER).is_file(),
            "installing into this system needs administrator rights, and the privileged helper {HELPER} is not installed: run the command as root, or install Swarmdate's helper and polkit policy"
        );
        let mut cancel = std::pin::pin!(cancel);
        let mut fetched = Fetched::default();
        loop {
            let f = self.fetch(client, engine, on, cancel.as_mut()).await?;
            fetched.from_peers += f.from_peers;
            fetched.from_mirrors += f.from_mirrors;
            if !swarmdate_core::packages::rpm_lock_held(&self.root) {
                break;
            }
            on(Step::WaitingForLock);
            let r = self.root.clone();
            tokio::task::spawn_blocking(move || {
                swarmdate_core::packages::wait_for_rpm_lock(&r, LOCK_PATIENCE, || {})
            })
            .await??;
            // It may have changed what is installed: plan again.
            let again = make_plan(
                &self.root,
                &self.repos,
                &self.plain,
                &self.goal,
                &self.store,
            )?;
            let same = again.plan.changes == self.planned.plan.changes;
            self.planned = again;
            if same {
                break;
            }
            on(Step::Replanned(&self.planned.plan));
            if self.planned.plan.is_empty() {
                return Ok(Outcome {
                    plan: self.planned.plan,
                    installed: Installed {
                        packages: 0,
                        removed: 0,
                        history: None,
                    },
                    fetched,
                    trim: None,
                });
            }
        }
        on(Step::Installing);
        let privileged = self.needs_helper();
        // Packages are trusted as rpm and dnf trust them: by the keys the root's rpm database
        // has imported, read now (the feed's keys sign feeds only).
        let keys = PackageKeys::of_root(&self.root)?;
        let installed = install_plan(&self, &keys, privileged).await?;
        let trim = Some(trim(client, engine, &self.root).await?);
        Ok(Outcome {
            plan: self.planned.plan,
            installed,
            fetched,
            trim,
        })
    }

    /// Fetches the plan's packages the store lacks, each from its newest swarm.
    async fn fetch(
        &self,
        client: &User,
        engine: &EngineHandle,
        on: &mut (dyn FnMut(Step<'_>) + Send),
        mut cancel: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> anyhow::Result<Fetched> {
        // What only a plain repository offers comes from it over HTTP, a few files at a time
        // (as dnf's `max_parallel_downloads`), beside the swarms' jobs, each checked against its
        // repodata's SHA-256 as it enters the store.
        let swarms = self.repos.len();
        let mut from_plain = 0;
        let plain = plain_downloads(&self.planned, &self.store, swarms, &self.plain)?;
        // Made before streaming (not mapped lazily), so the stream holds plain futures and stays
        // `Send` for any lifetime (a lazily mapped closure is not, rust-lang/rust#102211).
        let plain: Vec<_> = plain
            .into_iter()
            .map(|(d, loc)| self.fetch_plain(client, d, loc))
            .collect();
        let mut plain = futures::stream::iter(plain).buffer_unordered(PLAIN_PARALLEL);
        let mut plain_done = false;
        let wanted = wanted_files(&self.planned, &self.store, swarms);
        if wanted.is_empty() {
            loop {
                tokio::select! {
                    got = plain.next() => match got {
                        Some(got) => {
                            let (d, n) = got?;
                            from_plain += n;
                            on(Step::Arrived(&d.package));
                        }
                        None => break,
                    },
                    // No job asked: nothing to withdraw, only what arrived to count.
                    _ = cancel.as_mut() => return Err(self.stop(engine, Vec::new()).await.into()),
                }
            }
            return Ok(Fetched {
                from_peers: 0,
                from_mirrors: from_plain,
            });
        }
        // Before joining: a job joined counts from here.
        let baseline = Baseline::of(&engine.subscribe().borrow());
        let mut asked = Vec::new();
        for (r, files) in wanted {
            let repo = &self.repos[r];
            let images = swarmdate_core::iso::images_in(&client.dirs.images());
            let job = join_repository(client, engine, repo, &self.web_seeds, files.clone(), images)
                .await?;
            asked.push((job, files));
        }
        let jobs: Vec<JobId> = asked.iter().map(|(j, _)| *j).collect();
        let downloads = &self.planned.plan.downloads;
        let mut arrived: Vec<bool> = downloads
            .iter()
            .map(|d| self.store.holds(&d.sha256))
            .collect();
        let mut rx = engine.subscribe();
        loop {
            let snap = rx.borrow_and_update().clone();
            let mine: Vec<_> = snap.jobs.iter().filter(|j| jobs.contains(&j.id)).collect();
            let fetched = baseline.since(&mine);
            on(Step::Fetching {
                jobs: mine,
                fetched,
            });
            for (d, seen) in downloads.iter().zip(arrived.iter_mut()) {
                if !*seen && self.store.holds(&d.sha256) {
                    *seen = true;
                    on(Step::Arrived(&d.package));
                }
            }
            match fetch_status(&snap, &jobs, &baseline, &self.planned, &self.store) {
                FetchStatus::Running => {}
                FetchStatus::Failed(e) => anyhow::bail!("fetching packages: {e}"),
                FetchStatus::Done(fetched) if plain_done => {
                    return Ok(Fetched {
                        from_mirrors: fetched.from_mirrors + from_plain,
                        ..fetched
                    });
                }
                FetchStatus::Done(_) => {}
            }
            tokio::select! {
                changed = rx.changed() => changed.context("the engine stopped")?,
                got = plain.next(), if !plain_done => match got {
                    Some(got) => {
                        let (d, n) = got?;
                        from_plain += n;
                        on(Step::Arrived(&d.package));
                    }
                    None => plain_done = true,
                },
                _ = cancel.as_mut() => return Err(self.stop(engine, asked).await.into()),
            }
        }
    }

    /// Fetches one package only a plain repository offers into the store; returns its bytes.
    async fn fetch_plain<'a>(
        &self,
        client: &User,
        d: &'a Download,
        loc: Location,
    ) -> anyhow::Result<(&'a Download, u64)> {
        let staging = self.store.root().join("staging");
        std::fs::create_dir_all(&staging)?;
        let staged = tempfile::NamedTempFile::new_in(&staging)?.into_temp_path();
        let got = client.fetcher().save(&loc, &staged, d.size).await?;
        let staged = staged.keep()?;
        self.store.admit(&staged, &d.sha256).with_context(|| {
            format!(
                "{} from {}: not the package its repository's repodata describes",
                d.package,
                loc.display()
            )
        })?;
        Ok((d, got))
    }

    /// Stops the jobs fetching what the store still lacks; says how many packages arrived.
    async fn stop(&self, engine: &EngineHandle, asked: Vec<(JobId, BTreeSet<usize>)>) -> Stopped {
        for (job, files) in asked {
            // Files whose package arrived stay selected by being held; the rest are let go.
            if let Err(e) = engine.withdraw(job, files).await {
                tracing::warn!(%job, "withdrawing the stopped update's packages: {e}");
            }
        }
        let downloads = &self.planned.plan.downloads;
        Stopped {
            kept: downloads
                .iter()
                .filter(|d| self.store.holds(&d.sha256))
                .count(),
            planned: downloads.len(),
        }
    }
}

/// An older build of an installed package that the feed's repositories offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OlderBuild {
    /// The build.
    pub nevra: Nevra,
    /// Its size.
    pub size: u64,
}

/// An installed package that can go back to an older build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downgradable {
    /// Its newest installed build.
    pub installed: Nevra,
    /// The builds it can go to, newest first.
    pub older: Vec<OlderBuild>,
}

impl Downgradable {
    /// The package name.
    pub fn name(&self) -> &str {
        &self.installed.name
    }
}

/// Every installed package that `catalogue` has an older build of, by name, in one pass over
/// the catalogue. A package's newest installed build is the one compared (for its architecture);
/// builds installed already (a kernel beside the newer one) are not offered.
pub fn downgradable_in(inventory: &Inventory, catalogue: &Catalogue) -> Vec<Downgradable> {
    let installed: HashSet<&Nevra> = inventory.packages.iter().map(|p| &p.nevra).collect();
    let mut newest: BTreeMap<&str, &Nevra> = BTreeMap::new();
    for p in &inventory.packages {
        let n = &p.nevra;
        let e = newest.entry(n.name.as_str()).or_insert(n);
        if n.evr.rpm_cmp(&e.evr).is_gt() {
            *e = n;
        }
    }
    let mut older: BTreeMap<&str, Vec<OlderBuild>> = BTreeMap::new();
    for (b, (n, _)) in catalogue.builds.iter().enumerate() {
        let Some(top) = newest.get(n.name.as_str()) else {
            continue;
        };
        if n.arch == top.arch && n.evr.rpm_cmp(&top.evr).is_lt() && !installed.contains(n) {
            older.entry(n.name.as_str()).or_default().push(OlderBuild {
                nevra: n.clone(),
                size: catalogue.build(b).size,
            });
        }
    }
    older
        .into_iter()
        .map(|(name, mut builds)| {
            builds.sort_by(|a, b| b.nevra.evr.rpm_cmp(&a.nevra.evr));
            Downgradable {
                installed: newest[name].clone(),
                older: builds,
            }
        })
        .collect()
}

/// Every package installed in `root` that the feed's repositories or the root's own (its `.repo`
/// files) have an older build of, by name (see [`downgradable_in`]). The store and the packages
/// inside local images hold only builds the repositories index, so the repositories are where
/// every build is found; a plain repository that cannot be loaded offers none.
pub async fn downgradable(client: &User, root: &Path) -> anyhow::Result<Vec<Downgradable>> {
    let feed = client.feed().await?;
    // Every snapshot the feed lists, the release included.
    let repos = swarmdate_core::plan::load_repositories(&feed, client.fetcher()).await?;
    let (plain, _) =
        load_plain_repositories(root, &client.dirs.cache.join("repos"), client.fetcher()).await?;
    let catalogue = Catalogue::new(
        repos
            .into_iter()
            .map(|r| r.repo)
            .chain(plain.into_iter().map(|p| p.repo))
            .collect(),
    );
    Ok(downgradable_in(&Inventory::read(root)?, &catalogue))
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmdate_core::feed::RepoKind;
    use swarmdate_core::packages::{
        INDEX_FORMAT, IndexedPackage, Installed, InventorySource, PackageIndex,
    };
    use swarmdate_core::plan::Repo;
    use swarmdate_core::torrent::InfoHash;

    fn inventory(nevras: &[&str]) -> Inventory {
        Inventory {
            packages: nevras
                .iter()
                .map(|n| Installed {
                    nevra: n.parse().unwrap(),
                    summary: String::new(),
                    size: 0,
                    relations: Default::default(),
                })
                .collect(),
            source: InventorySource::Sqlite,
        }
    }

    fn repo(kind: RepoKind, tag: u8, nevras: &[&str]) -> Repo {
        let packages = nevras
            .iter()
            .enumerate()
            .map(|(i, n)| IndexedPackage {
                file_index: i,
                path: format!("Packages/{n}.rpm"),
                nevra: n.parse().unwrap(),
                size: 1000 + i as u64,
                sha256: swarmdate_core::hash::Sha256([tag; 32]),
                summary: String::new(),
                relations: Default::default(),
                changelog: Vec::new(),
            })
            .collect();
        Repo {
            kind,
            index: PackageIndex {
                format: INDEX_FORMAT,
                info_hash: InfoHash([tag; 20]),
                name: format!("repo{tag}"),
                piece_length: 16384,
                packages,
                advisories: Vec::new(),
            },
        }
    }

    #[test]
    fn every_installed_package_with_an_older_build_anywhere_is_listed_once_with_its_builds() {
        let inv = inventory(&[
            "app-1.2-1.fc41.x86_64",
            "lib-2.0-1.fc41.x86_64",
            "kernel-6.11.4-301.fc41.x86_64",
            "kernel-6.11.5-300.fc41.x86_64",
            "tool-1.0-1.fc41.noarch",
            "gone-1.0-1.fc41.x86_64",
        ]);
        let cat = Catalogue::new(vec![
            repo(
                RepoKind::Updates,
                2,
                &["app-1.2-1.fc41.x86_64", "kernel-6.11.5-300.fc41.x86_64"],
            ),
            repo(
                RepoKind::Updates,
                1,
                &["app-1.1-1.fc41.x86_64", "lib-2.0-1.fc41.x86_64"],
            ),
            repo(
                RepoKind::Release,
                0,
                &[
                    "app-1.0-1.fc41.x86_64",
                    // Another architecture is no build of the installed package.
                    "app-1.0-1.fc41.aarch64",
                    "app-1.1-1.fc41.x86_64",
                    "lib-2.0-1.fc41.x86_64",
                    "kernel-6.11.4-301.fc41.x86_64",
                    "tool-0.9-1.fc41.noarch",
                    // Not installed: nothing to go back from.
                    "other-0.1-1.fc41.x86_64",
                ],
            ),
        ]);
        let listed: Vec<(String, Vec<String>)> = downgradable_in(&inv, &cat)
            .into_iter()
            .map(|d| {
                (
                    d.installed.to_string(),
                    d.older.iter().map(|b| b.nevra.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "app-1.2-1.fc41.x86_64".to_owned(),
                    vec![
                        "app-1.1-1.fc41.x86_64".to_owned(),
                        "app-1.0-1.fc41.x86_64".to_owned()
                    ]
                ),
                (
                    "tool-1.0-1.fc41.noarch".to_owned(),
                    vec!["tool-0.9-1.fc41.noarch".to_owned()]
                ),
            ]
        );
        // The size is the build's own, from its newest repository.
        let app = &downgradable_in(&inv, &cat)[0];
        assert_eq!(app.older[0].size, 1000);
    }

    fn job(id: u64, fetched: u64, mirrors: u64) -> JobSnapshot {
        serde_json::from_value(serde_json::json!({
            "id": id, "kind": "packages", "name": "repo", "info_hash": "00".repeat(20),
            "state": JobState::Seeding, "bytes_wanted": 1000, "bytes_had": 0, "bytes_fetched": fetched,
            "bytes_uploaded": 0, "bytes_received": 0, "bytes_discarded": 0,
            "bytes_from_mirrors": mirrors, "down_speed": 0, "up_speed": 0, "peers": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_transaction_counts_only_what_its_jobs_fetched_since_it_began() {
        // Job 1 fetched 700 + 50 for an earlier transaction; job 2 is new.
        let before = Snapshot {
            jobs: vec![job(1, 700, 50), job(3, 10, 0)],
            ..Default::default()
        };
        let baseline = Baseline::of(&before);
        let (j1, j2) = (job(1, 900, 80), job(2, 40, 5));
        assert_eq!(
            baseline.since(&[&j1, &j2]),
            Fetched {
                from_peers: 200 + 40,
                from_mirrors: 30 + 5
            }
        );
        // A counter that went down (a job restarted on a fresh storage) counts nothing, never
        // wraps.
        assert_eq!(baseline.since(&[&job(1, 600, 0)]), Fetched::default());
    }
}
