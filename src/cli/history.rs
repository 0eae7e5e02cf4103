//! `swarmdate history`: the transactions of a root (Swarmdate's, and dnf's made outside it),
//! one transaction's changes, and `undo`, which carries out its reverse like any update.

use std::path::PathBuf;

use clap::Subcommand;
use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::packages::{DnfTransaction, HistoryEntry, HistoryResult, ItemAction};
use swarmdate_usecases::history::{Listed, counts, entry, history, result_word, user_name};
use swarmdate_usecases::updates::Transaction;

use super::context::Ctx;
use super::update::{TxArgs, carry_out};

/// `swarmdate history`.
#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    action: Option<HistoryCmd>,
    /// The root whose history to list (the system's by default).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// What one transaction changed.
    Show {
        /// Its number, as `swarmdate history` lists it.
        id: i64,
        /// The root whose history it is (the system's by default).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Reverse one transaction: the builds it replaced or removed come back, those it added go.
    #[command(
        after_help = "Examples:\n  swarmdate history undo 4 --check\n  swarmdate history undo 4 --yes"
    )]
    Undo {
        /// Its number, as `swarmdate history` lists it.
        id: i64,
        #[command(flatten)]
        tx: TxArgs,
    },
}

fn root_of(root: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match root {
        Some(r) => std::path::absolute(r)?,
        None => PathBuf::from("/"),
    })
}

pub async fn run(ctx: &Ctx, a: HistoryArgs) -> anyhow::Result<()> {
    match a.action {
        None => list(ctx, &root_of(a.root)?),
        Some(HistoryCmd::Show { id, root }) => show(ctx, &entry(&root_of(root)?, id)?),
        Some(HistoryCmd::Undo { id, tx }) => {
            let root = tx.root()?;
            let transaction = Transaction::prepare_undo(ctx, id, &root).await?;
            carry_out(ctx, transaction, &tx, &root, false).await
        }
    }
}

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn list(ctx: &Ctx, root: &std::path::Path) -> anyhow::Result<()> {
    let h = history(root)?;
    if h.transactions.is_empty() {
        ctx.out.say(trf(
            "No transaction is recorded in {root} yet.",
            &[("root", &root.display())],
        ));
    }
    for t in &h.transactions {
        ctx.out.say(match t {
            Listed::Swarmdate(e) => trf(
                "{id:>4}  {when}  {command}  {result}: {changes}  (by {user})",
                &[
                    ("id", &e.id),
                    ("when", &when(e.began)),
                    ("command", &e.command),
                    ("result", &result_word(&e.result)),
                    ("changes", &counts(e.items.iter().map(|i| i.action))),
                    ("user", &user_name(e.asked_by)),
                ],
            ),
            Listed::Dnf(d) => dnf_line(d),
        });
    }
    if let Some(why) = &h.dnf_unreadable {
        ctx.out.say(trf(
            "dnf's own history could not be read ({why}); only Swarmdate's transactions are listed.",
            &[("why", why)],
        ));
    }
    ctx.out.summary(&h);
    Ok(())
}

fn dnf_line(d: &DnfTransaction) -> String {
    trf(
        " dnf  {when}  {command}  {result}: {n} packages  (with dnf outside Swarmdate, transaction {id} of dnf's history)",
        &[
            ("when", &when(d.begin)),
            ("command", &d.command),
            ("result", &if d.ok { tr("done") } else { tr("failed") }),
            ("n", &d.items.len()),
            ("id", &d.id),
        ],
    )
}

fn show(ctx: &Ctx, e: &HistoryEntry) -> anyhow::Result<()> {
    ctx.out.say(trf(
        "Transaction {id}: {command}, {when}, by {user}: {result}",
        &[
            ("id", &e.id),
            ("command", &e.command),
            ("when", &when(e.began)),
            ("user", &user_name(e.asked_by)),
            ("result", &result_word(&e.result)),
        ],
    ));
    if let HistoryResult::Failed(why) = &e.result {
        ctx.out.say(format!("  {why}"));
    }
    for i in &e.items {
        let from = i
            .file
            .as_ref()
            .and_then(|f| f.from.clone())
            .map(|f| trf(" (from {source})", &[("source", &f)]))
            .unwrap_or_default();
        let line = match i.action {
            ItemAction::Remove => trf("  removed {what}", &[("what", &i.package)]),
            ItemAction::Install => trf("  installed {what}", &[("what", &i.package)]),
            ItemAction::Upgrade | ItemAction::Downgrade => trf(
                "  {what} {from} → {to}",
                &[
                    (
                        "what",
                        &if i.action == ItemAction::Upgrade {
                            tr("upgraded")
                        } else {
                            tr("downgraded")
                        },
                    ),
                    (
                        "from",
                        &i.replaced
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    ("to", &i.package),
                ],
            ),
        };
        ctx.out.say(format!("{line}{from}"));
    }
    ctx.out.summary(e);
    Ok(())
}
