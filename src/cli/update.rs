//! `swarmdate update` and `swarmdate downgrade`: plan against the feed's repositories, fetch the
//! packages into the store over their swarms, check every signature, install in one transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use swarmdate::client::updates::{
    self, FetchStatus, Fetched, HELPER, Planned, fetch_status, install_plan, join_repository,
    make_plan, wanted_files,
};
use swarmdate::engine::JobId;
use swarmdate::i18n::{tr, trf};
use swarmdate::packages::{PackageKeys, rpm_lock_held, wait_for_rpm_lock};
use swarmdate::plan::{ChangeKind, Goal, LoadedRepo, Plan, load_repositories};
use swarmdate::service::EngineHandle;
use swarmdate::store::PackageStore;

use super::context::Ctx;
use super::output::bytes;

/// How long to wait for another package manager to finish.
const LOCK_PATIENCE: Duration = Duration::from_secs(600);

/// Options of a package transaction.
#[derive(clap::Args)]
pub struct TxArgs {
    /// Only show what would be installed and downloaded.
    #[arg(long)]
    check: bool,
    /// Install into this root instead of the system (tests, containers, the demo).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Install without asking.
    #[arg(long)]
    yes: bool,
}

/// `swarmdate update`.
#[derive(clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    tx: TxArgs,
}

/// `swarmdate downgrade`.
#[derive(clap::Args)]
pub struct DowngradeArgs {
    /// The package to downgrade.
    name: String,
    /// The version to go to (`1.2` or `1.2-3.fc41`); default: the newest older one.
    version: Option<String>,
    #[command(flatten)]
    tx: TxArgs,
}

pub async fn update(ctx: &Ctx, a: UpdateArgs) -> anyhow::Result<()> {
    run_goal(ctx, Goal::Update, &a.tx).await
}

/// Updates `root` without asking (the demo's client).
pub async fn update_root(ctx: &Ctx, root: PathBuf) -> anyhow::Result<()> {
    let tx = TxArgs {
        check: false,
        root: Some(root),
        yes: true,
    };
    run_goal(ctx, Goal::Update, &tx).await
}

pub async fn downgrade(ctx: &Ctx, a: DowngradeArgs) -> anyhow::Result<()> {
    let goal = Goal::Downgrade {
        name: a.name,
        version: a.version,
    };
    run_goal(ctx, goal, &a.tx).await
}

fn list(packages: &[swarmdate::packages::Nevra]) -> String {
    packages
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(ctx: &Ctx, plan: &Plan) {
    for c in &plan.changes {
        let line = match c.kind {
            ChangeKind::Upgrade | ChangeKind::Downgrade => trf(
                "  {what} {from} → {to}",
                &[
                    (
                        "what",
                        &if c.kind == ChangeKind::Upgrade {
                            tr("upgrade")
                        } else {
                            tr("downgrade")
                        },
                    ),
                    ("from", &list(&c.replaces)),
                    ("to", &c.package),
                ],
            ),
            ChangeKind::InstallBeside => trf(
                "  install {to} beside the installed builds",
                &[("to", &c.package)],
            ),
            ChangeKind::Install if !c.replaces.is_empty() => trf(
                "  install {to}, replacing {from}",
                &[("to", &c.package), ("from", &list(&c.replaces))],
            ),
            ChangeKind::Install => trf(
                "  install {to} (needed by the others)",
                &[("to", &c.package)],
            ),
        };
        ctx.out.say(line);
    }
    ctx.out.say(trf(
        "{n} packages: {fetch} to download, {held} already in the store.",
        &[
            ("n", &plan.changes.len()),
            ("fetch", &bytes(plan.download_bytes)),
            ("held", &bytes(plan.held_bytes)),
        ],
    ));
    ctx.out.event("plan", plan);
}

async fn run_goal(ctx: &Ctx, goal: Goal, tx: &TxArgs) -> anyhow::Result<()> {
    let root = match &tx.root {
        Some(r) => std::path::absolute(r)?,
        None => PathBuf::from("/"),
    };
    let feed = ctx.feed().await?;
    let repos = load_repositories(&feed, ctx.fetcher()).await?;
    let keys = PackageKeys::from_trusted(&ctx.trusted_keys()?)?;
    let store = PackageStore::open(&ctx.dirs.store())?;
    let mut planned = make_plan(&root, &repos, &goal, &store)?;
    describe(ctx, &planned.plan);
    if tx.check || planned.plan.is_empty() {
        if planned.plan.is_empty() {
            ctx.out.say(tr("Nothing to do: the system is up to date."));
        }
        ctx.out.summary(json!({
            "changes": planned.plan.changes,
            "download_bytes": planned.plan.download_bytes,
            "held_bytes": planned.plan.held_bytes,
            "installed": false,
        }));
        return Ok(());
    }
    let privileged = root == Path::new("/") && !nix::unistd::geteuid().is_root();
    if privileged && !Path::new(HELPER).is_file() {
        anyhow::bail!(
            "installing into this system needs administrator rights, and the privileged helper {HELPER} is not installed: run the command as root, or install Swarmdate's helper and polkit policy"
        );
    }
    if !tx.yes && !ctx.out.confirm(&tr("Download and install these packages?")) {
        anyhow::bail!("not confirmed: add --yes to install without asking");
    }

    // One engine for the fetch and, after the transaction, the store's trim.
    let mut engine = None;
    let outcome = async {
        let mut fetched = Fetched::default();
        loop {
            let f = fetch(
                ctx,
                &mut engine,
                &repos,
                &feed.feed.web_seeds,
                &planned,
                &store,
            )
            .await?;
            fetched.from_peers += f.from_peers;
            fetched.from_mirrors += f.from_mirrors;
            if !rpm_lock_held(&root) {
                break;
            }
            ctx.out.say(tr(
                "Another package manager is working; waiting for it to finish…",
            ));
            ctx.out.event("waiting", json!({ "for": "rpm lock" }));
            let r = root.clone();
            tokio::task::spawn_blocking(move || wait_for_rpm_lock(&r, LOCK_PATIENCE, || {}))
                .await??;
            // It may have changed what is installed: plan again.
            let again = make_plan(&root, &repos, &goal, &store)?;
            let same = again.plan.changes == planned.plan.changes;
            planned = again;
            if same {
                break;
            }
            describe(ctx, &planned.plan);
            if planned.plan.is_empty() {
                ctx.out.say(tr("Nothing to do: the system is up to date."));
                return Ok(None);
            }
        }

        let n = install_plan(&root, &planned, &store, keys, privileged).await?;
        if let Some(e) = &engine {
            trim(ctx, e, &root).await?;
        }
        anyhow::Ok(Some((fetched, planned, n)))
    }
    .await;
    if let Some(e) = engine {
        e.shutdown().await;
    }
    let Some((fetched, planned, n)) = outcome? else {
        return Ok(());
    };
    ctx.out.say(trf(
        "Installed {n} packages into {root}: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        &[
            ("n", &n),
            ("root", &root.display()),
            ("peers", &bytes(fetched.from_peers)),
            ("mirrors", &bytes(fetched.from_mirrors)),
            ("held", &bytes(planned.plan.held_bytes)),
        ],
    ));
    ctx.out.summary(json!({
        "changes": planned.plan.changes,
        "download_bytes": planned.plan.download_bytes,
        "held_bytes": planned.plan.held_bytes,
        "bytes_from_peers": fetched.from_peers,
        "bytes_from_mirrors": fetched.from_mirrors,
        "installed": true,
        "root": root,
    }));
    Ok(())
}

/// Fetches the plan's packages the store lacks, each from its newest swarm; returns the bytes
/// fetched.
async fn fetch(
    ctx: &Ctx,
    engine: &mut Option<EngineHandle>,
    repos: &[LoadedRepo],
    mirrors: &[String],
    planned: &Planned,
    store: &PackageStore,
) -> anyhow::Result<Fetched> {
    let wanted = wanted_files(planned, store);
    if wanted.is_empty() {
        return Ok(Fetched::default());
    }
    if engine.is_none() {
        *engine = Some(ctx.engine().await?);
    }
    let engine = engine.as_ref().expect("started above");
    let mut jobs = Vec::new();
    for (r, files) in wanted {
        jobs.push(join_repository(ctx, engine, &repos[r], mirrors, files).await?);
    }
    follow_fetch(ctx, engine, &jobs, planned, store).await
}

/// Trims the store after a transaction and says what left it.
async fn trim(ctx: &Ctx, engine: &EngineHandle, root: &Path) -> anyhow::Result<()> {
    let report = updates::trim(ctx, engine, root).await?;
    if !report.evicted.is_empty() {
        ctx.out.say(trf(
            "The store was over its size of {cap}: removed {n} superseded packages ({freed}).",
            &[
                ("cap", &bytes(report.cap)),
                ("n", &report.evicted.len()),
                ("freed", &bytes(report.before - report.after)),
            ],
        ));
    }
    ctx.out.event("trim", &report);
    Ok(())
}

/// Waits until the store holds every planned package, showing the jobs' progress.
async fn follow_fetch(
    ctx: &Ctx,
    engine: &EngineHandle,
    jobs: &[JobId],
    planned: &Planned,
    store: &PackageStore,
) -> anyhow::Result<Fetched> {
    let mut progress = ctx.out.job_progress(&tr("packages"));
    let mut rx = engine.subscribe();
    loop {
        let snap = rx.borrow_and_update().clone();
        if let Some(j) = snap.jobs.iter().find(|j| jobs.contains(&j.id)) {
            progress.update(j);
        }
        match fetch_status(&snap, jobs, planned, store) {
            FetchStatus::Running => {}
            FetchStatus::Failed(e) => {
                progress.finish();
                anyhow::bail!("fetching packages: {e}");
            }
            FetchStatus::Done(fetched) => {
                progress.finish();
                return Ok(fetched);
            }
        }
        tokio::select! {
            changed = rx.changed() => changed.context("the engine stopped")?,
            _ = tokio::signal::ctrl_c() => {
                progress.finish();
                anyhow::bail!("interrupted before anything was installed; what arrived stays in the store");
            }
        }
    }
}
