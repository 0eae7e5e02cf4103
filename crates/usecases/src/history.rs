//! The history of a root as both faces show it: the transactions Swarmdate ran there (its own
//! record, kept in the root) and, where dnf's history of the root is readable, those made outside
//! Swarmdate (dnf's entries for Swarmdate's own runs carry its comment and are left out).

use std::path::Path;

use serde::Serialize;
use swarmdate_core::i18n::{tr, trn};
use swarmdate_core::packages::{
    DNF_COMMENT, DnfTransaction, History, HistoryEntry, HistoryResult, ItemAction, read_dnf_history,
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

/// "3 upgraded, 1 installed" for the items of a transaction (both faces say it the same way).
pub fn counts(actions: impl Iterator<Item = ItemAction>) -> String {
    let mut n = [0u64; 4];
    for a in actions {
        n[a as usize] += 1;
    }
    let count = |a: ItemAction| n[a as usize];
    // Each phrase written out in its call, so that xgettext finds it.
    let mut parts = Vec::new();
    let k = count(ItemAction::Upgrade);
    if k > 0 {
        parts.push(trn("{n} upgraded", "{n} upgraded", k, &[("n", &k)]));
    }
    let k = count(ItemAction::Downgrade);
    if k > 0 {
        parts.push(trn("{n} downgraded", "{n} downgraded", k, &[("n", &k)]));
    }
    let k = count(ItemAction::Install);
    if k > 0 {
        parts.push(trn("{n} installed", "{n} installed", k, &[("n", &k)]));
    }
    let k = count(ItemAction::Remove);
    if k > 0 {
        parts.push(trn("{n} removed", "{n} removed", k, &[("n", &k)]));
    }
    if parts.is_empty() {
        tr("no change")
    } else {
        parts.join(", ")
    }
}

/// How a transaction ended, in one word for people.
pub fn result_word(r: &HistoryResult) -> String {
    match r {
        HistoryResult::Done => tr("done"),
        HistoryResult::Failed(_) => tr("failed"),
        HistoryResult::Unfinished => tr("unfinished"),
    }
}

/// What a dnf command line did, for a title: the command and its arguments without dnf's options
/// (`-c /tmp/x/dnf.conf --installroot=/r -y remove vim` is `dnf remove vim`); the whole line stays
/// in the details.
pub fn dnf_what(command: &str) -> String {
    // dnf's options that take their value as the next word.
    const VALUED: [&str; 12] = [
        "-c",
        "--config",
        "-d",
        "--debuglevel",
        "-e",
        "--errorlevel",
        "-R",
        "--randomwait",
        "-x",
        "--exclude",
        "--comment",
        "--setopt",
    ];
    let mut words = command.split_whitespace().peekable();
    // dnf 5 records the program name too.
    if words
        .peek()
        .is_some_and(|w| w.rsplit('/').next().is_some_and(|n| n.starts_with("dnf")))
    {
        words.next();
    }
    let mut kept = vec!["dnf"];
    while let Some(w) = words.next() {
        if VALUED.contains(&w) {
            words.next();
        } else if !w.starts_with('-') {
            kept.push(w);
        }
    }
    kept.join(" ")
}

#[cfg(test)]
mod tests {
    use super::dnf_what;

    #[test]
    fn a_dnf_title_keeps_the_command_and_its_arguments() {
        assert_eq!(
            dnf_what(
                "-c /tmp/.tmpZ3BDFD/dnf.conf --installroot=/tmp/r --releasever=41 --disablerepo=* --assumeyes -q remove app001"
            ),
            "dnf remove app001"
        );
        assert_eq!(
            dnf_what("/usr/bin/dnf5 upgrade --refresh -x kernel* --setopt install_weak_deps=0 vim"),
            "dnf upgrade vim"
        );
        assert_eq!(dnf_what("install vim git"), "dnf install vim git");
        assert_eq!(dnf_what(""), "dnf");
    }
}
