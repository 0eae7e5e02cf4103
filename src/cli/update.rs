//! `swarmdate update` and `swarmdate downgrade`: plan against the feed's repositories, fetch the
//! packages into the store over their swarms, check every signature, install in one transaction
//! (recorded in the root's history; `history undo` carries out its reverse the same way).

use std::path::PathBuf;

use serde_json::json;
use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::packages::OfflineOutcome;
use swarmdate_core::plan::{ChangeKind, Goal, Plan};
use swarmdate_core::repos::{Advisory, AdvisoryKind};
use swarmdate_usecases::updates::{Step, Transaction};

use super::context::Ctx;
use super::output::bytes;

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
    /// Only the packages that security advisories name (and what they need).
    #[arg(long)]
    security: bool,
    /// Fetch and check the packages now, install them at the next restart (the system's
    /// offline-update mechanism) so that nothing running is replaced under it.
    #[arg(long, conflicts_with = "cancel_offline")]
    offline: bool,
    /// Cancel the update prepared for the next restart (its packages stay in the store).
    #[arg(long)]
    cancel_offline: bool,
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
    let root = a.tx.root()?;
    if a.cancel_offline {
        let was = swarmdate_usecases::offline::cancel(&root).await?;
        ctx.out.say(if was {
            tr("The update prepared for the next restart is cancelled; its packages stay in the store.")
        } else {
            tr("No update was prepared for the next restart.")
        });
        ctx.out.summary(json!({ "cancelled": was }));
        return Ok(());
    }
    let goal = if a.security {
        Goal::Security
    } else {
        Goal::Update
    };
    let transaction = Transaction::prepare(ctx, goal, &root).await?;
    carry_out(ctx, transaction, &a.tx, &root, a.offline).await
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

fn list(packages: &[swarmdate_core::packages::Nevra]) -> String {
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
        for a in &c.advisories {
            advisory(ctx, a);
        }
    }
    for r in &plan.removals {
        ctx.out.say(trf("  remove {what}", &[("what", r)]));
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

/// Where each download comes from (the swarm, a plain repository over HTTP, or the store), said
/// for people per plain repository and returned for `--json`.
fn sources(ctx: &Ctx, tx: &Transaction) -> Vec<serde_json::Value> {
    let mut by_repo: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
    let out = tx
        .plan()
        .downloads
        .iter()
        .map(|d| {
            let from = match (d.held, tx.plain_source(d)) {
                (true, _) => "store".to_owned(),
                (false, Some(id)) => {
                    let e = by_repo.entry(id).or_default();
                    e.0 += 1;
                    e.1 += d.size;
                    format!("repository:{id}")
                }
                (false, None) => "swarm".to_owned(),
            };
            json!({ "package": d.package, "size": d.size, "held": d.held, "from": from })
        })
        .collect();
    for (id, (n, size)) in by_repo {
        ctx.out.say(trn(
            "{n} package comes from the repository {id} over HTTP ({size}).",
            "{n} packages come from the repository {id} over HTTP ({size}).",
            n as u64,
            &[("n", &n), ("id", &id), ("size", &bytes(size))],
        ));
    }
    out
}

/// An advisory under the change it comes with: id, kind, severity, title; its CVEs; a restart.
fn advisory(ctx: &Ctx, a: &Advisory) {
    let kind = match a.kind {
        AdvisoryKind::Security => tr("security update"),
        AdvisoryKind::Bugfix => tr("bug fix"),
        AdvisoryKind::Enhancement => tr("enhancement"),
        AdvisoryKind::Newpackage => tr("new package"),
        AdvisoryKind::Other => tr("update"),
    };
    let line = match a
        .severity
        .as_deref()
        .filter(|s| !s.eq_ignore_ascii_case("none"))
    {
        Some(severity) => trf(
            "    {id}: {kind}, severity {severity}: {title}",
            &[
                ("id", &a.id),
                ("kind", &kind),
                ("severity", &severity),
                ("title", &a.title),
            ],
        ),
        None => trf(
            "    {id}: {kind}: {title}",
            &[("id", &a.id), ("kind", &kind), ("title", &a.title)],
        ),
    };
    ctx.out.say(line);
    let cves: Vec<&str> = a.cves().collect();
    if !cves.is_empty() {
        ctx.out
            .say(trf("      fixes {cves}", &[("cves", &cves.join(", "))]));
    }
    if a.reboot_suggested {
        ctx.out.say(tr("      a restart is suggested after it"));
    }
}

async fn run_goal(ctx: &Ctx, goal: Goal, tx: &TxArgs) -> anyhow::Result<()> {
    let root = tx.root()?;
    let transaction = Transaction::prepare(ctx, goal, &root).await?;
    carry_out(ctx, transaction, tx, &root, false).await
}

/// Says what is armed for the next restart, and once how the last one went.
fn report_offline(ctx: &Ctx, root: &std::path::Path) -> anyhow::Result<()> {
    let (state, unseen) = swarmdate_usecases::offline::state(ctx, root)?;
    if let Some(p) = &state.prepared {
        ctx.out.say(trn(
            "An update of {n} package is prepared for the next restart; `swarmdate update --cancel-offline` cancels it.",
            "An update of {n} packages is prepared for the next restart; `swarmdate update --cancel-offline` cancels it.",
            p.packages.len() as u64,
            &[("n", &p.packages.len())],
        ));
    }
    if let Some(r) = &unseen {
        ctx.out.say(match &r.outcome {
            OfflineOutcome::Installed { history, packages } => trn(
                "At the last restart {n} package was installed (transaction {id} of the history).",
                "At the last restart {n} packages were installed (transaction {id} of the history).",
                *packages as u64,
                &[("n", packages), ("id", history)],
            ),
            OfflineOutcome::Failed { message } => trf(
                "The update prepared for the last restart was refused, and nothing was installed: {why}",
                &[("why", message)],
            ),
        });
        ctx.out.event("offline_result", r);
        swarmdate_usecases::offline::mark_seen(ctx, r)?;
    }
    ctx.out.event("offline", &state);
    Ok(())
}

impl TxArgs {
    /// The root to work on: the system's unless `--root` names another.
    pub fn root(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.root {
            Some(r) => std::path::absolute(r)?,
            None => PathBuf::from("/"),
        })
    }
}

/// Says what a prepared transaction will do, then (unless `--check`) asks, fetches and installs.
pub async fn carry_out(
    ctx: &Ctx,
    transaction: Transaction,
    tx: &TxArgs,
    root: &std::path::Path,
    offline: bool,
) -> anyhow::Result<()> {
    report_offline(ctx, root)?;
    let security = *transaction.goal() == Goal::Security;
    for l in transaction.left_out() {
        ctx.out.say(trf(
            "The repository {id} is left out: {reason}",
            &[("id", &l.id), ("reason", &l.reason)],
        ));
        ctx.out.event(
            "left_out",
            json!({ "repository": l.id, "reason": l.reason }),
        );
    }
    let plan = transaction.plan();
    describe(ctx, plan);
    let sources = sources(ctx, &transaction);
    if tx.check || plan.is_empty() {
        if plan.is_empty() && security {
            ctx.out.say(tr(
                "Nothing to do: no security advisory applies to this system.",
            ));
        } else if plan.is_empty() {
            ctx.out.say(tr("Nothing to do: the system is up to date."));
        }
        ctx.out.summary(json!({
            "changes": plan.changes,
            "removals": plan.removals,
            "downloads": sources,
            "download_bytes": plan.download_bytes,
            "held_bytes": plan.held_bytes,
            "installed": false,
        }));
        return Ok(());
    }
    let question = if offline {
        tr("Download these packages now and install them at the next restart?")
    } else {
        tr("Download and install these packages?")
    };
    if !tx.yes && !ctx.out.confirm(&question) {
        anyhow::bail!("not confirmed: add --yes to install without asking");
    }

    // One engine for the fetch and, after the transaction, the store's trim.
    let engine = ctx.engine().await?;
    let mut progress = None;
    let mut on = |step: Step<'_>| match step {
        Step::Fetching { jobs, .. } => {
            let bar = progress.get_or_insert_with(|| ctx.out.job_progress(&tr("packages")));
            if let Some(j) = jobs.first() {
                bar.update(j);
            }
        }
        Step::Arrived(package) => ctx.out.event("arrived", json!({ "package": package })),
        Step::WaitingForLock => {
            ctx.out.say(tr(
                "Another package manager is working; waiting for it to finish…",
            ));
            ctx.out.event("waiting", json!({ "for": "rpm lock" }));
        }
        Step::Replanned(plan) => {
            describe(ctx, plan);
            if plan.is_empty() {
                ctx.out.say(tr("Nothing to do: the system is up to date."));
            }
        }
        Step::Installing => {
            if let Some(bar) = progress.take() {
                bar.finish();
            }
        }
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if offline {
        let prepared =
            swarmdate_usecases::offline::prepare(&transaction, ctx, &engine, &mut on, cancel).await;
        if let Some(bar) = progress.take() {
            bar.finish();
        }
        engine.shutdown().await;
        let prepared = prepared?;
        ctx.out.say(trn(
            "{n} package is checked and ready: it is installed at the next restart.",
            "{n} packages are checked and ready: they are installed at the next restart.",
            prepared.packages.len() as u64,
            &[("n", &prepared.packages.len())],
        ));
        ctx.out.summary(json!({
            "changes": transaction.plan().changes,
            "prepared": prepared,
            "installed": false,
            "root": root,
        }));
        return Ok(());
    }
    let outcome = transaction.run(ctx, &engine, &mut on, cancel).await;
    if let Some(bar) = progress.take() {
        bar.finish();
    }
    engine.shutdown().await;
    let outcome = outcome?;
    if outcome.plan.is_empty() {
        return Ok(());
    }
    if let Some(report) = &outcome.trim {
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
        ctx.out.event("trim", report);
    }
    let installed = outcome.installed;
    ctx.out.say(trf(
        "Installed {n} packages into {root}: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        &[
            ("n", &installed.packages),
            ("root", &root.display()),
            ("peers", &bytes(outcome.fetched.from_peers)),
            ("mirrors", &bytes(outcome.fetched.from_mirrors)),
            ("held", &bytes(outcome.plan.held_bytes)),
        ],
    ));
    if installed.removed > 0 {
        ctx.out.say(trn(
            "Removed {n} package.",
            "Removed {n} packages.",
            installed.removed as u64,
            &[("n", &installed.removed)],
        ));
    }
    if let Some(id) = installed.history {
        ctx.out.say(trf(
            "Recorded as transaction {id} of the history: `swarmdate history undo {id}` reverts it.",
            &[("id", &id)],
        ));
    }
    ctx.out.summary(json!({
        "changes": outcome.plan.changes,
        "removals": outcome.plan.removals,
        "history": installed.history,
        "download_bytes": outcome.plan.download_bytes,
        "held_bytes": outcome.plan.held_bytes,
        "bytes_from_peers": outcome.fetched.from_peers,
        "bytes_from_mirrors": outcome.fetched.from_mirrors,
        "installed": true,
        "root": root,
    }));
    Ok(())
}
