//! The history of a root as both faces show it: the transactions Swarmdate ran there (its own
//! record, kept in the root) and, where dnf's history of the root is readable, those made outside
//! Swarmdate (dnf's entries for Swarmdate's own runs carry its comment and are left out).

use std::path::Path;

use serde::Serialize;
use swarmdate_core::packages::{
    DNF_COMMENT, DnfTransaction, History, HistoryEntry, read_dnf_history,
};

/// How many transactions of each history are read.
pub const HISTORY_LIMIT: usize = 500;

/// One transaction of a root.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Listed {
    /// Run by Swarmdate: it can be undone here.
    Swarmdate(HistoryEntry),
    /// Made with dnf outside Swarmdate.
    Dnf(DnfTransaction),
}

impl Listed {
    /// When it began (Unix seconds).
    pub fn began(&self) -> i64 {
        match self {
            Listed::Swarmdate(e) => e.began,
            Listed::Dnf(t) => t.begin,
        }
    }
}

/// A root's history, oldest first.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RootHistory {
    /// The transactions.
    pub transactions: Vec<Listed>,
    /// Why dnf's history could not be read, when it exists and could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnf_unreadable: Option<String>,
}

/// Reads the history of `root`.
pub fn history(root: &Path) -> anyhow::Result<RootHistory> {
    let mut transactions: Vec<Listed> = match History::open_read(root)? {
        Some(h) => h
            .list(HISTORY_LIMIT)?
            .into_iter()
            .map(Listed::Swarmdate)
            .collect(),
        None => Vec::new(),
    };
    let mut dnf_unreadable = None;
    match read_dnf_history(root, HISTORY_LIMIT) {
        Ok(dnf) => transactions.extend(
            dnf.into_iter()
                .filter(|t| !t.comment.starts_with(DNF_COMMENT))
                .map(Listed::Dnf),
        ),
        Err(e) => dnf_unreadable = Some(e.to_string()),
    }
    transactions.sort_by_key(Listed::began);
    Ok(RootHistory {
        transactions,
        dnf_unreadable,
    })
}

/// Transaction `id` of Swarmdate's history of `root`.
pub fn entry(root: &Path, id: i64) -> anyhow::Result<HistoryEntry> {
    let h =
        History::open_read(root)?.ok_or(swarmdate_core::packages::HistoryError::NoSuchEntry(id))?;
    Ok(h.get(id)?
        .ok_or(swarmdate_core::packages::HistoryError::NoSuchEntry(id))?)
}

/// A user's name for people (the number when the system has no such user).
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}
