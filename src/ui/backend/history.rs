//! The History dialog's calls: the root's transactions, and the plan of an undo (which runs as
//! any update does, through [`Backend::apply`]).

use std::future::Future;
use std::sync::Arc;

use super::Backend;

use swarmdate_core::packages::Nevra;
use swarmdate_core::plan::Change;
use swarmdate_usecases::history::{Listed, history, user_name};
use swarmdate_usecases::updates::Transaction;

/// One transaction as the History dialog lists it.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    /// The transaction, Swarmdate's or dnf's.
    pub listed: Listed,
    /// The name of the user who asked (read off the GTK thread: it may ask NSS).
    pub user: Option<String>,
}

/// A root's transactions, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryView {
    /// The rows.
    pub items: Vec<HistoryItem>,
    /// Why dnf's own history could not be read, when it could not.
    pub dnf_unreadable: Option<String>,
}

/// A planned undo: what comes back, what goes, and the transaction that does it.
pub struct UndoPlan {
    /// The transaction it undoes.
    pub id: i64,
    /// The builds it installs (older or newer ones, or packages that were removed).
    pub changes: Vec<Change>,
    /// The builds it removes.
    pub removals: Vec<Nevra>,
    /// Bytes to download.
    pub download: u64,
    /// The planned transaction, until it is run.
    pub transaction: Option<Transaction>,
}

impl std::fmt::Debug for UndoPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UndoPlan")
            .field("id", &self.id)
            .field("changes", &self.changes)
            .field("removals", &self.removals)
            .field("download", &self.download)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Reads the history of the root the window updates, newest first.
    pub fn load_history(
        self: &Arc<Self>,
    ) -> impl Future<Output = Result<HistoryView, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let root = me.root.clone();
            // SQLite and the user database are blocking reads.
            tokio::task::spawn_blocking(move || {
                let h = history(&root).map_err(|e| format!("{e:#}"))?;
                let items = h
                    .transactions
                    .into_iter()
                    .rev()
                    .map(|listed| {
                        let user = match &listed {
                            Listed::Swarmdate(e) => Some(user_name(e.asked_by)),
                            Listed::Dnf(t) => t.user.map(user_name),
                        };
                        HistoryItem { listed, user }
                    })
                    .collect();
                Ok(HistoryView {
                    items,
                    dnf_unreadable: h.dnf_unreadable,
                })
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }

    /// Plans undoing transaction `id` as the root is now; the error says why it cannot be.
    pub fn plan_undo(
        self: &Arc<Self>,
        id: i64,
    ) -> impl Future<Output = Result<UndoPlan, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let tx = Transaction::prepare_undo(&me.client(), id, &me.root)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let plan = tx.plan();
            Ok(UndoPlan {
                id,
                changes: plan.changes.clone(),
                removals: plan.removals.clone(),
                download: plan.download_bytes,
                transaction: Some(tx),
            })
        })
    }
}
