//! The transaction history dnf keeps in a root, read without writing to it, so that transactions
//! made outside Swarmdate can be shown beside its own.
//!
//! dnf 4 (libdnf) keeps `var/lib/dnf/history.sqlite`; dnf 5 (Fedora 41 and later) keeps
//! `usr/lib/sysimage/libdnf5/transaction_history.sqlite` with another schema (names and
//! architectures in their own tables, actions and states as rows of lookup tables). Both are read
//! into the same types. The file is another program's and may be large or damaged: what is read is
//! bounded, a malformed row is skipped, and a database of neither schema is a typed error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;

use super::evr::{Evr, Nevra};

/// Where dnf 4 keeps its history below the root.
pub const DNF4_HISTORY: &str = "var/lib/dnf/history.sqlite";

/// Where dnf 5 keeps its history below the root (its default `transaction_history_dir`).
pub const DNF5_HISTORY: &str = "usr/lib/sysimage/libdnf5/transaction_history.sqlite";

/// At most this many transactions are read, whatever `limit` asks for.
pub const HISTORY_MAX_TRANSACTIONS: usize = 10_000;

/// At most this many items (packages in transactions) are read in all.
pub const HISTORY_MAX_ITEMS: usize = 100_000;

/// Longer command lines and comments are cut to this many bytes.
const MAX_TEXT: usize = 4096;

/// A name, version, release or architecture longer than this is not one rpm made.
const MAX_FIELD: usize = 1024;

/// One transaction dnf recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnfTransaction {
    /// dnf's number for it (each dnf counts its own).
    pub id: i64,
    /// When it began, in seconds since the Unix epoch.
    pub begin: i64,
    /// When it ended; `None` when dnf did not record an end (it was interrupted).
    pub end: Option<i64>,
    /// The login user who ran it; `None` when dnf stored -1 (no login uid) or something else.
    pub user: Option<u32>,
    /// The command line dnf recorded (dnf 4 leaves the program's name out, dnf 5 keeps it).
    pub command: String,
    /// The `--comment` given; empty when none.
    pub comment: String,
    /// Whether dnf recorded that it finished without error.
    pub ok: bool,
    /// Its packages, in the order dnf stored them.
    pub items: Vec<DnfItem>,
    /// Which dnf recorded it.
    pub dnf: DnfVersion,
}

/// One package in a transaction and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnfItem {
    /// What was done.
    pub action: DnfAction,
    /// To which build.
    pub nevra: Nevra,
}

/// What a transaction did to a package (libdnf's `TransactionItemAction`).
///
/// dnf 5 records a package that left the system for another only as "Replaced" (its
/// `item_replaced_by` table stays empty); such an item is named here by the package of the same
/// name that came in: `Upgraded`, `Downgraded` or `Reinstalled`, else `Obsoleted`. dnf 5 records
/// no `Obsolete`: the obsoleting package is an `Install` or an `Upgrade`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnfAction {
    /// A package new to the system.
    Install,
    /// The newer build that came in.
    Upgrade,
    /// The older build that left for it.
    Upgraded,
    /// The older build that came in.
    Downgrade,
    /// The newer build that left for it.
    Downgraded,
    /// A package that came in obsoleting another.
    Obsolete,
    /// A package that left, obsoleted by another.
    Obsoleted,
    /// A package removed.
    Remove,
    /// The same build installed again.
    Reinstall,
    /// The copy that the reinstall replaced.
    Reinstalled,
    /// A package kept whose reason (user, dependency, ...) changed.
    ReasonChange,
    /// An action this version does not know, by dnf's number for it.
    Other(i64),
}

/// Which dnf recorded a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnfVersion {
    /// dnf 4 (libdnf), `var/lib/dnf/history.sqlite`.
    Dnf4,
    /// dnf 5 (libdnf5), `usr/lib/sysimage/libdnf5/transaction_history.sqlite`.
    Dnf5,
}

impl std::fmt::Display for DnfVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DnfVersion::Dnf4 => "dnf 4",
            DnfVersion::Dnf5 => "dnf 5",
        })
    }
}

/// Why dnf's history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DnfHistoryError {
    /// Whether the file is there could not be found out.
    #[error("cannot look for dnf's history {}: {source}", path.display())]
    Io {
        /// The history file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an SQLite database, or SQLite could not read it.
    #[error("cannot read dnf's history {}: {source}", path.display())]
    Sqlite {
        /// The history file.
        path: PathBuf,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is a database, but not one in the schema its dnf writes.
    #[error(
        "{} is not a {dnf} history database this version can read: {missing} is missing",
        path.display()
    )]
    UnknownSchema {
        /// The history file.
        path: PathBuf,
        /// The dnf whose place it is in.
        dnf: DnfVersion,
        /// The first table or column (`table.column`) that is not there.
        missing: String,
    },
    /// The newest transaction alone holds more items than are read in all.
    #[error(
        "transaction {transaction} in dnf's history {} has more than {max} packages; not read",
        path.display()
    )]
    TooManyItems {
        /// The history file.
        path: PathBuf,
        /// dnf's number for the transaction.
        transaction: i64,
        /// [`HISTORY_MAX_ITEMS`].
        max: usize,
    },
}

/// The newest `limit` transactions dnf recorded in `root` (at most
/// [`HISTORY_MAX_TRANSACTIONS`]), oldest first. Where both dnf 4's and dnf 5's history are there
/// (a system upgraded to dnf 5 keeps the old one), both are read and interleaved by when each
/// transaction began. A root without history gives an empty list. When the transactions hold more
/// than [`HISTORY_MAX_ITEMS`] packages in all, the older ones that do not fit are left out.
pub fn read_dnf_history(root: &Path, limit: usize) -> Result<Vec<DnfTransaction>, DnfHistoryError> {
    read_bounded(root, limit, HISTORY_MAX_ITEMS)
}

fn read_bounded(
    root: &Path,
    limit: usize,
    max_items: usize,
) -> Result<Vec<DnfTransaction>, DnfHistoryError> {
    let limit = limit.min(HISTORY_MAX_TRANSACTIONS);
    let mut sources = Vec::new();
    for (rel, dnf) in [
        (DNF4_HISTORY, DnfVersion::Dnf4),
        (DNF5_HISTORY, DnfVersion::Dnf5),
    ] {
        let path = root.join(rel);
        match path.try_exists() {
            Ok(true) => sources.push(Source::open(path, dnf)?),
            Ok(false) => {}
            Err(source) => return Err(DnfHistoryError::Io { path, source }),
        }
    }

    // Each source's newest `limit`, oldest first; then the newest `limit` of them together.
    let mut all: Vec<(usize, DnfTransaction)> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let mut heads: Vec<_> = source.heads(limit)?.into_iter().map(|t| (i, t)).collect();
        heads.reverse();
        all = merge_by_begin(all, heads);
    }
    let newest = all.split_off(all.len().saturating_sub(limit));

    // Items newest first, so that what the bound leaves out is the oldest.
    let mut budget = max_items;
    let mut out = Vec::with_capacity(newest.len());
    for (i, mut t) in newest.into_iter().rev() {
        let source = &sources[i];
        let Some((items, read)) = source.items(t.id, budget)? else {
            if out.is_empty() {
                return Err(DnfHistoryError::TooManyItems {
                    path: source.path.clone(),
                    transaction: t.id,
                    max: max_items,
                });
            }
            break;
        };
        budget -= read;
        t.items = items;
        out.push(t);
    }
    out.reverse();
    Ok(out)
}

/// Interleaves two lists that are each oldest first by when each transaction began, keeping each
/// list's own order (dnf's numbering), and `a`'s first at equal times.
fn merge_by_begin(
    a: Vec<(usize, DnfTransaction)>,
    b: Vec<(usize, DnfTransaction)>,
) -> Vec<(usize, DnfTransaction)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.1.begin <= y.1.begin,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
}

/// One history database, opened and its schema checked.
struct Source {
    path: PathBuf,
    dnf: DnfVersion,
    conn: Connection,
    /// dnf 4 added `trans.comment` in its schema 1.2; older databases lack it.
    has_comment: bool,
}

/// The tables and columns read from dnf 4's database (libdnf `transaction/sql/create_tables.sql`).
const DNF4_NEEDS: &[(&str, &[&str])] = &[
    (
        "trans",
        &["id", "dt_begin", "dt_end", "user_id", "cmdline", "state"],
    ),
    ("trans_item", &["id", "trans_id", "item_id", "action"]),
    (
        "rpm",
        &["item_id", "name", "epoch", "version", "release", "arch"],
    ),
];

/// The tables and columns read from dnf 5's database (dnf5
/// `libdnf5/transaction/db/sql/create_tables.sql`).
const DNF5_NEEDS: &[(&str, &[&str])] = &[
    (
        "trans",
        &[
            "id",
            "dt_begin",
            "dt_end",
            "user_id",
            "description",
            "comment",
            "state_id",
        ],
    ),
    ("trans_state", &["id", "name"]),
    ("trans_item", &["id", "trans_id", "item_id", "action_id"]),
    ("trans_item_action", &["id", "name"]),
    (
        "rpm",
        &[
            "item_id", "name_id", "epoch", "version", "release", "arch_id",
        ],
    ),
    ("pkg_name", &["id", "name"]),
    ("arch", &["id", "name"]),
];

impl Source {
    fn open(path: PathBuf, dnf: DnfVersion) -> Result<Source, DnfHistoryError> {
        // Read-only, falling back to an immutable open where the `-shm` cannot be made or read (a
        // root-owned directory); reading the schema makes SQLite check that it is a database.
        // The immutable open does not see what is still only in the WAL (measured: the newest
        // transaction missing). dnf 4 and 5 leave a readable `-shm` beside the file, so that
        // fallback is for odd roots only.
        let conn = super::inventory::open_read_only(&path, "SELECT count(*) FROM sqlite_master")
            .map_err(|source| DnfHistoryError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let mut source = Source {
            path,
            dnf,
            conn,
            has_comment: false,
        };
        let needs = match dnf {
            DnfVersion::Dnf4 => DNF4_NEEDS,
            DnfVersion::Dnf5 => DNF5_NEEDS,
        };
        for (table, columns) in needs {
            let have = source.columns(table)?;
            if have.is_empty() {
                return Err(source.unknown(table.to_string()));
            }
            if let Some(c) = columns.iter().find(|c| !have.iter().any(|h| h == *c)) {
                return Err(source.unknown(format!("{table}.{c}")));
            }
            if *table == "trans" {
                source.has_comment = have.iter().any(|h| h == "comment");
            }
        }
        Ok(source)
    }

    /// The columns of `table`; none when it is not a table (a view could make a read unbounded).
    fn columns(&self, table: &str) -> Result<Vec<String>, DnfHistoryError> {
        let kind: Option<String> = self
            .conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(|e| self.sqlite(e))?;
        if kind.as_deref() != Some("table") {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(|e| self.sqlite(e))?;
        let names = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(names)
    }

    fn sqlite(&self, source: rusqlite::Error) -> DnfHistoryError {
        DnfHistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn unknown(&self, missing: String) -> DnfHistoryError {
        DnfHistoryError::UnknownSchema {
            path: self.path.clone(),
            dnf: self.dnf,
            missing,
        }
    }

    /// The newest `limit` transactions without their items, newest first; malformed rows skipped.
    fn heads(&self, limit: usize) -> Result<Vec<DnfTransaction>, DnfHistoryError> {
        let sql = match self.dnf {
            DnfVersion::Dnf4 => format!(
                "SELECT id, dt_begin, dt_end, user_id, cmdline, {}, state \
                 FROM trans ORDER BY id DESC LIMIT ?1",
                if self.has_comment { "comment" } else { "''" }
            ),
            // dnf 5 reads the state by its name in the lookup table, and so does this.
            DnfVersion::Dnf5 => "SELECT t.id, t.dt_begin, t.dt_end, t.user_id, t.description, \
                 t.comment, s.name FROM trans t LEFT JOIN trans_state s ON s.id = t.state_id \
                 ORDER BY t.id DESC LIMIT ?1"
                .to_owned(),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let mut rows = stmt.query([limit]).map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
            let get = |i| row.get_ref(i).map_err(|e| self.sqlite(e));
            let (Some(id), Some(begin)) = (int(get(0)?), int(get(1)?)) else {
                continue;
            };
            let ok = match self.dnf {
                // libdnf TransactionState: 0 unknown (unfinished), 1 done, 2 error.
                DnfVersion::Dnf4 => int(get(6)?) == Some(1),
                // libdnf5 TransactionState by name: Started, Ok, Error.
                DnfVersion::Dnf5 => text(get(6)?) == Some("Ok"),
            };
            out.push(DnfTransaction {
                id,
                begin,
                // An unfinished transaction holds 0 (or NULL); SOURCE_DATE_EPOCH=0 makes both 0.
                end: int(get(2)?).filter(|&e| e != 0 || begin == 0),
                // dnf 4 stores a missing login uid as -1, dnf 5 could as 4294967295.
                user: int(get(3)?)
                    .and_then(|u| u32::try_from(u).ok())
                    .filter(|&u| u != u32::MAX),
                command: lossy_text(get(4)?),
                comment: lossy_text(get(5)?),
                ok,
                items: Vec::new(),
                dnf: self.dnf,
            });
        }
        Ok(out)
    }

    /// The packages of transaction `id` and how many rows that read; `None` when it has more than
    /// `budget` rows. Rows whose NEVRA is malformed are skipped (but counted: they were read).
    fn items(
        &self,
        id: i64,
        budget: usize,
    ) -> Result<Option<(Vec<DnfItem>, usize)>, DnfHistoryError> {
        // Items that are not packages (comps groups and environments) have no `rpm` row.
        let sql = match self.dnf {
            DnfVersion::Dnf4 => {
                "SELECT ti.action, NULL, r.name, r.epoch, r.version, r.release, r.arch \
                 FROM trans_item ti JOIN rpm r ON r.item_id = ti.item_id \
                 WHERE ti.trans_id = ?1 ORDER BY ti.id LIMIT ?2"
            }
            DnfVersion::Dnf5 => {
                "SELECT ti.action_id, a.name, n.name, r.epoch, r.version, r.release, ar.name \
                 FROM trans_item ti JOIN rpm r ON r.item_id = ti.item_id \
                 LEFT JOIN pkg_name n ON n.id = r.name_id \
                 LEFT JOIN arch ar ON ar.id = r.arch_id \
                 LEFT JOIN trans_item_action a ON a.id = ti.action_id \
                 WHERE ti.trans_id = ?1 ORDER BY ti.id LIMIT ?2"
            }
        };
        // One row past the budget tells that the transaction does not fit.
        let cap = i64::try_from(budget.saturating_add(1)).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.sqlite(e))?;
        let mut rows = stmt.query((id, cap)).map_err(|e| self.sqlite(e))?;
        let mut read = 0;
        let mut raw = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
            read += 1;
            if read > budget {
                return Ok(None);
            }
            let get = |i| row.get_ref(i).map_err(|e| self.sqlite(e));
            let Some(nevra) = nevra(get(2)?, get(3)?, get(4)?, get(5)?, get(6)?) else {
                continue;
            };
            let Some(number) = int(get(0)?) else {
                continue;
            };
            let action = match self.dnf {
                DnfVersion::Dnf4 => Some(dnf4_action(number)),
                DnfVersion::Dnf5 => dnf5_action(text(get(1)?), number),
            };
            raw.push((action, nevra));
        }
        let items = match self.dnf {
            DnfVersion::Dnf4 => raw
                .into_iter()
                .filter_map(|(action, nevra)| {
                    Some(DnfItem {
                        action: action?,
                        nevra,
                    })
                })
                .collect(),
            DnfVersion::Dnf5 => name_replaced(raw),
        };
        Ok(Some((items, read)))
    }
}

/// libdnf's `TransactionItemAction` numbers (dnf 4).
fn dnf4_action(n: i64) -> DnfAction {
    match n {
        1 => DnfAction::Install,
        2 => DnfAction::Downgrade,
        3 => DnfAction::Downgraded,
        4 => DnfAction::Obsolete,
        5 => DnfAction::Obsoleted,
        6 => DnfAction::Upgrade,
        7 => DnfAction::Upgraded,
        8 => DnfAction::Remove,
        9 => DnfAction::Reinstall,
        10 => DnfAction::Reinstalled,
        11 => DnfAction::ReasonChange,
        n => DnfAction::Other(n),
    }
}

/// libdnf5's action by the name in `trans_item_action` (dnf 5 itself reads it by name); `None`
/// for "Replaced", which [`name_replaced`] names.
fn dnf5_action(name: Option<&str>, n: i64) -> Option<DnfAction> {
    Some(match name {
        Some("Install") => DnfAction::Install,
        Some("Upgrade") => DnfAction::Upgrade,
        Some("Downgrade") => DnfAction::Downgrade,
        Some("Reinstall") => DnfAction::Reinstall,
        Some("Remove") => DnfAction::Remove,
        Some("Replaced") => return None,
        Some("Reason Change") => DnfAction::ReasonChange,
        _ => DnfAction::Other(n),
    })
}

/// Names each dnf 5 "Replaced" package by what came in under its name (same architecture first:
/// multilib pairs): the other half of an upgrade, downgrade or reinstall; else it was obsoleted.
fn name_replaced(raw: Vec<(Option<DnfAction>, Nevra)>) -> Vec<DnfItem> {
    let mut by_name_arch: HashMap<(&str, &str), DnfAction> = HashMap::new();
    let mut by_name: HashMap<&str, DnfAction> = HashMap::new();
    for (action, nevra) in &raw {
        let outgoing = match action {
            Some(DnfAction::Upgrade) => DnfAction::Upgraded,
            Some(DnfAction::Downgrade) => DnfAction::Downgraded,
            Some(DnfAction::Reinstall) => DnfAction::Reinstalled,
            _ => continue,
        };
        by_name_arch.entry(nevra.name_arch()).or_insert(outgoing);
        by_name.entry(&nevra.name).or_insert(outgoing);
    }
    let named: Vec<DnfAction> = raw
        .iter()
        .map(|(action, nevra)| {
            action.unwrap_or_else(|| {
                by_name_arch
                    .get(&nevra.name_arch())
                    .or_else(|| by_name.get(nevra.name.as_str()))
                    .copied()
                    .unwrap_or(DnfAction::Obsoleted)
            })
        })
        .collect();
    raw.into_iter()
        .zip(named)
        .map(|((_, nevra), action)| DnfItem { action, nevra })
        .collect()
}

/// A NEVRA from a row, or `None` when a part is missing or not what rpm allows.
fn nevra(
    name: ValueRef,
    epoch: ValueRef,
    version: ValueRef,
    release: ValueRef,
    arch: ValueRef,
) -> Option<Nevra> {
    // rpm forbids '-' in versions and releases, and ':' would read as an epoch.
    let epoch = u32::try_from(int(epoch)?).ok()?;
    Some(Nevra::new(
        word(name, &[])?,
        Evr::new(
            epoch,
            word(version, &['-', ':'])?,
            word(release, &['-', ':'])?,
        ),
        word(arch, &['-', ':'])?,
    ))
}

/// One part of a NEVRA: non-empty text of bounded length without blanks, controls, '/' or `extra`.
fn word<'a>(v: ValueRef<'a>, extra: &[char]) -> Option<&'a str> {
    text(v).filter(|s| {
        !s.is_empty()
            && s.len() <= MAX_FIELD
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/' || extra.contains(&c))
    })
}

fn int(v: ValueRef) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

fn text(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// Text for people: empty when absent, cut to [`MAX_TEXT`] bytes, invalid UTF-8 replaced.
fn lossy_text(v: ValueRef) -> String {
    let bytes = match v {
        ValueRef::Text(b) => b,
        _ => return String::new(),
    };
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_TEXT)]).into_owned();
    // A cut inside a character leaves U+FFFD; a cut text is marked as such.
    if bytes.len() > MAX_TEXT {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use rusqlite::{Connection, OptionalExtension, params};

    use super::*;

    fn noarch(name: &str, version: &str) -> Nevra {
        Nevra::new(name, Evr::new(0, version, "1"), "noarch")
    }

    fn item(action: DnfAction, name: &str, version: &str) -> DnfItem {
        DnfItem {
            action,
            nevra: noarch(name, version),
        }
    }

    /// The items of the three transactions both the dnf 4 and the dnf 5 test make: install a 1.0;
    /// upgrade a to 2.0 and install b in one; remove b. Sorted, as dnf's order is its own.
    fn three_transactions() -> Vec<Vec<DnfItem>> {
        vec![
            vec![item(DnfAction::Install, "a", "1.0")],
            sorted(vec![
                item(DnfAction::Upgrade, "a", "2.0"),
                item(DnfAction::Upgraded, "a", "1.0"),
                item(DnfAction::Install, "b", "1.0"),
            ]),
            vec![item(DnfAction::Remove, "b", "1.0")],
        ]
    }

    fn sorted(mut items: Vec<DnfItem>) -> Vec<DnfItem> {
        items.sort_by_key(|i| (i.nevra.to_string(), format!("{:?}", i.action)));
        items
    }

    /// What both tests check of the three transactions.
    fn check_three(h: &[DnfTransaction], dnf: DnfVersion) {
        assert_eq!(h.len(), 3, "{h:#?}");
        let items: Vec<_> = h.iter().map(|t| sorted(t.items.clone())).collect();
        assert_eq!(items, three_transactions());
        assert!(h.windows(2).all(|w| w[0].id < w[1].id));
        for t in h {
            assert_eq!(t.dnf, dnf);
            assert!(t.ok, "{t:?}");
            let end = t.end.expect("an end");
            assert!(t.begin > 1_600_000_000 && t.begin <= end, "{t:?}");
        }
        let comments: Vec<_> = h.iter().map(|t| t.comment.as_str()).collect();
        assert_eq!(comments, ["", "swarmdate 7", ""]);
        assert!(
            h[0].command.ends_with("install a-1.0-1.noarch.rpm"),
            "{}",
            h[0].command
        );
        assert!(h[2].command.ends_with("remove b"), "{}", h[2].command);
    }

    /// Builds `name-version-1.noarch.rpm` (one file under /usr/share) into `out`.
    fn rpmbuild(work: &Path, name: &str, version: &str, out: &Path) -> PathBuf {
        let spec = work.join(format!("{name}-{version}.spec"));
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name}\nLicense: MIT\n\
                 BuildArch: noarch\n%description\n{name} for Swarmdate's tests.\n\
                 %install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
                 echo {version} > %{{buildroot}}/usr/share/{name}/version\n\
                 %files\n/usr/share/{name}/version\n"
            ),
        )
        .unwrap();
        let status = crate::tool::clean_command("rpmbuild")
            .env("HOME", work.join("home"))
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", work.join("top").display()))
            .arg("--define")
            .arg(format!("_rpmdir {}", out.display()))
            .arg("-bb")
            .arg(&spec)
            .status()
            .expect("rpmbuild");
        assert!(status.success(), "rpmbuild {name} {version}");
        out.join("noarch")
            .join(format!("{name}-{version}-1.noarch.rpm"))
    }

    /// Real dnf 4 into a temporary root: the history is the one dnf wrote (and left in its WAL).
    /// About 1.5 s here (three rpmbuilds, three dnf runs).
    #[test]
    fn dnf4_history_of_real_dnf_transactions() {
        let started = Instant::now();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let home = w.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // Debian's rpm keeps its database in ~/.rpmdb; Fedora's path, as `install.rs` does.
        std::fs::write(home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
        let conf = w.join("dnf.conf");
        std::fs::write(
            &conf,
            "[main]\nreposdir=/dev/null\nlocalpkg_gpgcheck=0\ninstall_weak_deps=0\n",
        )
        .unwrap();
        let rpms = w.join("rpms");
        let a1 = rpmbuild(w, "a", "1.0", &rpms);
        let a2 = rpmbuild(w, "a", "2.0", &rpms);
        let b1 = rpmbuild(w, "b", "1.0", &rpms);
        let root = w.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let dnf = |args: &[&str]| {
            let out = crate::tool::clean_command("dnf")
                .env("HOME", &home)
                .current_dir(rpms.join("noarch"))
                .arg("-c")
                .arg(&conf)
                .arg(format!("--installroot={}", root.display()))
                .args([
                    "--releasever=0",
                    "--disablerepo=*",
                    "--assumeyes",
                    "--quiet",
                ])
                .args(args)
                .output()
                .expect("dnf");
            assert!(
                out.status.success(),
                "dnf {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let rel = |p: &Path| {
            p.strip_prefix(rpms.join("noarch"))
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        dnf(&["install", &rel(&a1)]);
        dnf(&["--comment", "swarmdate 7", "install", &rel(&a2), &rel(&b1)]);
        dnf(&["remove", "b"]);

        let db = root.join(DNF4_HISTORY);
        let before = std::fs::read(&db).unwrap();
        let h = read_dnf_history(&root, 10).unwrap();
        check_three(&h, DnfVersion::Dnf4);
        // dnf 4 runs without a login uid only in some sessions: whatever the kernel says.
        let login = std::fs::read_to_string("/proc/self/loginuid")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&u| u != u32::MAX);
        assert!(h.iter().all(|t| t.user == login), "{h:?} {login:?}");
        // The three went through dnf's WAL; reading wrote nothing back.
        assert_eq!(std::fs::read(&db).unwrap(), before);

        let last_two = read_dnf_history(&root, 2).unwrap();
        assert_eq!(last_two, h[1..]);
        eprintln!(
            "dnf4_history_of_real_dnf_transactions: {:?}",
            started.elapsed()
        );
    }

    /// dnf 5's schema, `libdnf5/transaction/db/sql/create_tables.sql` in
    /// github.com/rpm-software-management/dnf5 (commit 8a8e234809eb; unchanged since 2023), the
    /// text between its `R"**(` and `)**"`. dnf 5 is not in Debian 12, so no test can run it: the
    /// database is made here as libdnf5 makes it.
    const DNF5_SCHEMA: &str = r#"
    BEGIN TRANSACTION;

    CREATE TABLE "trans_state" (
        "id" INTEGER,
        "name" TEXT,
        PRIMARY KEY("id")
    );
    INSERT INTO "trans_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');

    CREATE TABLE "trans" (
        "id" INTEGER,
        "dt_begin" INTEGER NOT NULL,                      /* (unix timestamp) date and time of transaction begin */
        "dt_end" INTEGER,                                 /* (unix timestamp) date and time of transaction end */
        "rpmdb_version_begin" TEXT,
        "rpmdb_version_end" TEXT,
        "releasever" TEXT NOT NULL,                       /* var: $releasever */
        "user_id" INTEGER NOT NULL,                       /* user ID (UID) */
        "description" TEXT,                               /* A description of the transaction (e.g. the CLI command being executed) */
        "comment" TEXT,                                   /* An arbitrary comment */
        "state_id" INTEGER,                               /* (enum) */
        PRIMARY KEY("id" AUTOINCREMENT),
        FOREIGN KEY("state_id") REFERENCES "trans_state"("id")
    );

    CREATE TABLE "repo" (
        "id" INTEGER,
        "repoid" TEXT NOT NULL,            /* repository ID aka 'repoid' */
        PRIMARY KEY("id")
    );

    CREATE TABLE "pkg_name" (
        "id" INTEGER,
        "name" TEXT NOT NULL UNIQUE,
        PRIMARY KEY("id")
    );

    CREATE TABLE "arch" (
        "id" INTEGER,
        "name" TEXT NOT NULL UNIQUE,
        PRIMARY KEY("id")
    );

    CREATE TABLE "item" (
        "id" INTEGER,
        PRIMARY KEY("id")
    );

    CREATE TABLE "trans_item_action" (
        "id" INTEGER,
        "name" TEXT,
        PRIMARY KEY("id")
    );
    INSERT INTO "trans_item_action" VALUES (1, 'Install'), (2, 'Upgrade'), (3, 'Downgrade'), (4, 'Reinstall'), (5, 'Remove'), (6, 'Replaced'), (7, 'Reason Change');

    CREATE TABLE "trans_item_reason" (
        "id" INTEGER,
        "name" TEXT,
        PRIMARY KEY("id")
    );
    INSERT INTO "trans_item_reason" VALUES (0, 'None'), (1, 'Dependency'), (2, 'User'), (3, 'Clean'), (4, 'Weak Dependency'), (5, 'Group'), (6, 'External User');

    CREATE TABLE "trans_item_state" (
        "id" INTEGER,
        "name" TEXT,
        PRIMARY KEY("id")
    );
    INSERT INTO "trans_item_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');

    CREATE TABLE "trans_item" (
        "id" INTEGER,
        "trans_id" INTEGER,
        "item_id" INTEGER,
        "repo_id" INTEGER,
        "action_id" INTEGER NOT NULL,    /* (enum) */
        "reason_id" INTEGER NOT NULL,    /* (enum) */
        "state_id" INTEGER NOT NULL,     /* (enum) */
        PRIMARY KEY("id" AUTOINCREMENT),
        FOREIGN KEY("trans_id") REFERENCES "trans"("id"),
        FOREIGN KEY("item_id") REFERENCES "item"("id"),
        FOREIGN KEY("repo_id") REFERENCES "repo"("id"),
        FOREIGN KEY("action_id") REFERENCES "trans_item_action"("id"),
        FOREIGN KEY("reason_id") REFERENCES "trans_item_reason"("id"),
        FOREIGN KEY("state_id") REFERENCES "trans_item_state"("id")
    );

    CREATE TABLE "item_replaced_by" (              /* M:N relationship between transaction items */
        "trans_item_id" INTEGER,
        "by_trans_item_id" INTEGER,
        PRIMARY KEY ("trans_item_id", "by_trans_item_id"),
        FOREIGN KEY("trans_item_id") REFERENCES "trans_item"("id"),
        FOREIGN KEY("by_trans_item_id") REFERENCES "trans_item"("id")
    );

    /* item: rpm */
    CREATE TABLE "rpm" (
        "item_id" INTEGER NOT NULL UNIQUE,
        "name_id" INTEGER NOT NULL,
        "epoch" INTEGER NOT NULL,                 /* empty epoch is stored as 0 */
        "version" TEXT NOT NULL,
        "release" TEXT NOT NULL,
        "arch_id" INTEGER NOT NULL,
        FOREIGN KEY("item_id") REFERENCES "item"("id"),
        FOREIGN KEY("name_id") REFERENCES "pkg_name"("id"),
        FOREIGN KEY("arch_id") REFERENCES "arch"("id"),
        CONSTRAINT "rpm_unique_nevra" UNIQUE ("name_id", "epoch", "version", "release", "arch_id")
    );

    /* item: comps-group */
    CREATE TABLE "comps_group" (
        "item_id" INTEGER NOT NULL UNIQUE,
        "groupid" TEXT NOT NULL,
        "name" TEXT NOT NULL,
        "translated_name" TEXT NOT NULL,
        "pkg_types" INTEGER NOT NULL,
        FOREIGN KEY("item_id") REFERENCES "item"("id")
    );

    CREATE TABLE "comps_group_package" (
        "id" INTEGER,
        "group_id" INTEGER NOT NULL,
        "name_id" INTEGER NOT NULL,
        "installed" INTEGER NOT NULL,
        "pkg_type" INTEGER NOT NULL,
        FOREIGN KEY("group_id") REFERENCES "comps_group"("item_id"),
        FOREIGN KEY("name_id") REFERENCES "pkg_name"("id"),
        CONSTRAINT "comps_group_package_unique_name" UNIQUE ("group_id", "name_id"),
        PRIMARY KEY("id" AUTOINCREMENT)
    );

    /* item: comps-environment */
    CREATE TABLE "comps_environment" (
        "item_id" INTEGER NOT NULL UNIQUE,
        "environmentid" TEXT NOT NULL,
        "name" TEXT NOT NULL,
        "translated_name" TEXT NOT NULL,
        "pkg_types" INTEGER NOT NULL,
        FOREIGN KEY("item_id") REFERENCES "item"("id")
    );

    CREATE TABLE "comps_environment_group" (
        "id" INTEGER,
        "environment_id" INTEGER NOT NULL,
        "groupid" TEXT NOT NULL,
        "installed" INTEGER NOT NULL,
        "group_type" INTEGER NOT NULL,
        FOREIGN KEY("environment_id") REFERENCES "comps_environment"("item_id"),
        CONSTRAINT "comps_environment_group_unique_groupid" UNIQUE ("environment_id", "groupid"),
        PRIMARY KEY("id" AUTOINCREMENT)
    );

    CREATE TABLE "config" (
        "key" TEXT,
        "value" TEXT NOT NULL,
        PRIMARY KEY("key")
    );
    INSERT INTO "config" VALUES ('version', '1.1');

    DELETE FROM "sqlite_sequence";

    CREATE INDEX "pkg_name_name" ON "pkg_name"("name");
    CREATE INDEX "trans_item_trans_id" ON "trans_item"("trans_id");
    CREATE INDEX "trans_item_item_id" ON "trans_item"("item_id");

    COMMIT;
"#;

    /// A dnf 5 history database below `root`, written with the statements libdnf5 uses
    /// (`libdnf5/transaction/db/*.cpp`).
    struct Dnf5Db(Connection);

    impl Dnf5Db {
        fn create(root: &Path) -> Dnf5Db {
            let path = root.join(DNF5_HISTORY);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let conn = Connection::open(path).unwrap();
            // libdnf5's `SQLite3::open`.
            conn.execute_batch(
                "PRAGMA locking_mode = NORMAL; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;",
            )
            .unwrap();
            conn.execute_batch(DNF5_SCHEMA).unwrap();
            Dnf5Db(conn)
        }

        /// `Transaction::start()` (trans row in state Started, its packages), then `finish()`
        /// (`trans_update`: the end and the state). Items are `(action name, nevra)`.
        #[allow(clippy::too_many_arguments)]
        fn transaction(
            &self,
            begin: i64,
            user: i64,
            description: &str,
            comment: &str,
            items: &[(&str, Nevra)],
            state: &str,
        ) -> i64 {
            let c = &self.0;
            c.execute(
                r#"INSERT INTO "trans" ("dt_begin", "dt_end", "rpmdb_version_begin",
                   "rpmdb_version_end", "releasever", "user_id", "description", "comment",
                   "state_id", "id")
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT "id" FROM "trans_state" WHERE "name" = ?), ?)"#,
                params![
                    begin,
                    0,
                    "cookie",
                    "",
                    "41",
                    user,
                    description,
                    comment,
                    "Started",
                    None::<i64>
                ],
            )
            .unwrap();
            let id = c.last_insert_rowid();
            for (action, p) in items {
                let found: Option<i64> = c
                    .query_row(
                        r#"SELECT "item_id" FROM "rpm"
                           LEFT JOIN "pkg_name" ON "rpm"."name_id" = "pkg_name"."id"
                           LEFT JOIN "arch" ON "rpm"."arch_id" = "arch"."id"
                           WHERE "pkg_name"."name" = ? AND "epoch" = ? AND "version" = ?
                           AND "release" = ? AND "arch"."name" = ?"#,
                        params![p.name, p.evr.epoch, p.evr.version, p.evr.release, p.arch],
                        |r| r.get(0),
                    )
                    .optional()
                    .unwrap();
                let item_id = match found {
                    Some(i) => i,
                    None => {
                        c.execute(r#"INSERT INTO "item" DEFAULT VALUES"#, [])
                            .unwrap();
                        let item_id = c.last_insert_rowid();
                        for table in ["pkg_name", "arch"] {
                            let value = if table == "arch" { &p.arch } else { &p.name };
                            c.query_row(
                                &format!(
                                    r#"INSERT INTO "{table}" ("name") VALUES (?)
                                       ON CONFLICT DO NOTHING RETURNING "id""#
                                ),
                                [value],
                                |_| Ok(()),
                            )
                            .optional()
                            .unwrap();
                        }
                        c.execute(
                            r#"INSERT INTO "rpm" ("item_id", "name_id", "epoch", "version",
                               "release", "arch_id")
                               VALUES (?, (SELECT "id" FROM "pkg_name" WHERE "name" = ?), ?, ?, ?,
                               (SELECT "id" FROM "arch" WHERE "name" = ?))"#,
                            params![
                                item_id,
                                p.name,
                                p.evr.epoch,
                                p.evr.version,
                                p.evr.release,
                                p.arch
                            ],
                        )
                        .unwrap();
                        item_id
                    }
                };
                let repo = if *action == "Install" || *action == "Upgrade" {
                    "@commandline"
                } else {
                    "@System"
                };
                let repo_id: i64 = match c
                    .query_row(
                        r#"SELECT "id" FROM "repo" WHERE "repoid" = ?"#,
                        [repo],
                        |r| r.get(0),
                    )
                    .optional()
                    .unwrap()
                {
                    Some(r) => r,
                    None => {
                        c.execute(r#"INSERT INTO "repo" ("repoid") VALUES (?)"#, [repo])
                            .unwrap();
                        c.last_insert_rowid()
                    }
                };
                // Item states stay Started: libdnf5's `finish()` does not save them (a TODO).
                c.execute(
                    r#"INSERT INTO "trans_item" ("id", "trans_id", "item_id", "repo_id",
                       "action_id", "reason_id", "state_id")
                       VALUES (null, ?, ?, ?,
                       (SELECT "id" FROM "trans_item_action" WHERE "name" = ?),
                       (SELECT "id" FROM "trans_item_reason" WHERE "name" = ?),
                       (SELECT "id" FROM "trans_item_state" WHERE "name" = ?))"#,
                    params![id, item_id, repo_id, action, "User", "Started"],
                )
                .unwrap();
            }
            if state != "Started" {
                c.execute(
                    r#"UPDATE "trans" SET "dt_end" = ?, "rpmdb_version_end" = ?,
                       "state_id" = (SELECT "id" FROM "trans_state" WHERE "name" = ?)
                       WHERE "id" = ?"#,
                    params![begin + 1, "cookie2", state, id],
                )
                .unwrap();
            }
            id
        }
    }

    #[test]
    fn dnf5_history_from_its_published_schema() {
        let root = tempfile::tempdir().unwrap();
        let db = Dnf5Db::create(root.path());
        let t = 1_790_000_000;
        db.transaction(
            t,
            0,
            "dnf5 install a-1.0-1.noarch.rpm",
            "",
            &[("Install", noarch("a", "1.0"))],
            "Ok",
        );
        // As dnf 5 orders them: what comes in, then what leaves.
        db.transaction(
            t + 10,
            1000,
            "dnf5 --comment=swarmdate 7 install a-2.0-1.noarch.rpm b-1.0-1.noarch.rpm",
            "swarmdate 7",
            &[
                ("Upgrade", noarch("a", "2.0")),
                ("Install", noarch("b", "1.0")),
                ("Replaced", noarch("a", "1.0")),
            ],
            "Ok",
        );
        db.transaction(
            t + 20,
            4294967295,
            "dnf5 remove b",
            "",
            &[("Remove", noarch("b", "1.0"))],
            "Ok",
        );
        // Open while dnf 5 would hold it (its WAL persists).
        let h = read_dnf_history(root.path(), 10).unwrap();
        check_three(&h, DnfVersion::Dnf5);
        let users: Vec<_> = h.iter().map(|t| t.user).collect();
        assert_eq!(users, [Some(0), Some(1000), None]);
        assert_eq!(
            h[1].items.iter().map(|i| i.action).collect::<Vec<_>>(),
            [DnfAction::Upgrade, DnfAction::Install, DnfAction::Upgraded]
        );
        drop(db);
        assert_eq!(read_dnf_history(root.path(), 10).unwrap(), h);
    }

    #[test]
    fn dnf5_replaced_is_named_by_what_came_in() {
        let root = tempfile::tempdir().unwrap();
        let db = Dnf5Db::create(root.path());
        let x86 = |name: &str, v: &str| Nevra::new(name, Evr::new(0, v, "1"), "x86_64");
        let i686 = |name: &str, v: &str| Nevra::new(name, Evr::new(0, v, "1"), "i686");
        db.transaction(
            1_790_000_000,
            0,
            "dnf5 distro-sync",
            "",
            &[
                ("Downgrade", noarch("d", "1.0")),
                ("Reinstall", noarch("r", "1.0")),
                ("Upgrade", x86("m", "2.0")),
                ("Upgrade", i686("m", "2.0")),
                ("Install", noarch("new", "1.0")),
                ("Reason Change", noarch("k", "1.0")),
                ("Replaced", noarch("d", "2.0")),
                ("Replaced", noarch("r", "1.0")),
                ("Replaced", x86("m", "1.0")),
                ("Replaced", i686("m", "1.0")),
                ("Replaced", noarch("old", "1.0")),
            ],
            "Error",
        );
        let h = read_dnf_history(root.path(), 1).unwrap();
        assert!(!h[0].ok);
        let actions: Vec<_> = h[0].items.iter().map(|i| i.action).collect();
        use DnfAction::*;
        assert_eq!(
            actions,
            [
                Downgrade,
                Reinstall,
                Upgrade,
                Upgrade,
                Install,
                ReasonChange,
                Downgraded,
                Reinstalled,
                Upgraded,
                Upgraded,
                Obsoleted
            ]
        );
        assert_eq!(h[0].items[9].nevra, i686("m", "1.0"));
    }

    /// dnf 4's tables that are read, from `libdnf/transaction/sql/create_tables.sql` in
    /// github.com/rpm-software-management/libdnf (branch dnf-4-master, commit e4e90777f789),
    /// without the `comment` column its schema 1.2 adds (`migrate_tables_1_2.sql`).
    const DNF4_SCHEMA_1_1: &str = "
    CREATE TABLE trans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dt_begin INTEGER NOT NULL,      /* (unix timestamp) date and time of transaction begin */
        dt_end INTEGER,                 /* (unix timestamp) date and time of transaction end */
        rpmdb_version_begin TEXT,
        rpmdb_version_end TEXT,
        releasever TEXT NOT NULL,       /* var: $releasever */
        user_id INTEGER NOT NULL,       /* user ID (UID) */
        cmdline TEXT,                   /* recorded command line (program, options, arguments) */
        state INTEGER NOT NULL          /* (enum) */
    );
    CREATE TABLE item (
        id INTEGER PRIMARY KEY,
        item_type INTEGER NOT NULL              /* (enum) 1: rpm, 2: group, 3: env ...*/
    );
    CREATE TABLE trans_item (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trans_id INTEGER REFERENCES trans(id),
        item_id INTEGER REFERENCES item(id),
        repo_id INTEGER REFERENCES repo(id),
        action INTEGER NOT NULL,                                /* (enum) */
        reason INTEGER NOT NULL,                                /* (enum) */
        state INTEGER NOT NULL                                  /* (enum) */
    );
    CREATE TABLE rpm (
        item_id INTEGER UNIQUE NOT NULL,
        name TEXT NOT NULL,
        epoch INTEGER NOT NULL,                 /* empty epoch is stored as 0 */
        version TEXT NOT NULL,
        release TEXT NOT NULL,
        arch TEXT NOT NULL,
        FOREIGN KEY(item_id) REFERENCES item(id),
        CONSTRAINT rpm_unique_nevra UNIQUE (name, epoch, version, release, arch)
    );";

    /// A dnf 4 database of schema 1.1 (no comments) holding `n` transactions of one package each
    /// (`p<i>`), the first at `begin`, a minute apart.
    fn dnf4_db(root: &Path, n: i64, begin: i64) -> Connection {
        let path = root.join(DNF4_HISTORY);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = Connection::open(path).unwrap();
        c.execute_batch(DNF4_SCHEMA_1_1).unwrap();
        for i in 1..=n {
            c.execute(
                "INSERT INTO trans VALUES (?1, ?2, ?2, '', '', '40', -1, ?3, 1)",
                params![i, begin + 60 * i, format!("install p{i}")],
            )
            .unwrap();
            c.execute("INSERT INTO item VALUES (?1, 1)", [i]).unwrap();
            c.execute(
                "INSERT INTO rpm VALUES (?1, ?2, 0, '1.0', '1', 'noarch')",
                params![i, format!("p{i}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO trans_item VALUES (NULL, ?1, ?1, 1, 1, 2, 1)",
                [i],
            )
            .unwrap();
        }
        c
    }

    #[test]
    fn limit_keeps_the_newest_oldest_first() {
        let root = tempfile::tempdir().unwrap();
        dnf4_db(root.path(), 5, 1_700_000_000);
        let h = read_dnf_history(root.path(), 2).unwrap();
        let ids: Vec<_> = h.iter().map(|t| t.id).collect();
        assert_eq!(ids, [4, 5]);
        assert_eq!(h[1].items, [item(DnfAction::Install, "p5", "1.0")]);
        assert_eq!((h[1].user, h[1].comment.as_str()), (None, ""));
        assert_eq!(h[1].command, "install p5");
        assert!(read_dnf_history(root.path(), 0).unwrap().is_empty());
        assert_eq!(read_dnf_history(root.path(), usize::MAX).unwrap().len(), 5);
    }

    #[test]
    fn both_histories_interleave_by_time() {
        // A system upgraded to dnf 5 keeps dnf 4's history; here they overlap in time.
        let root = tempfile::tempdir().unwrap();
        dnf4_db(root.path(), 3, 1_700_000_000); // at +60, +120, +180
        let db = Dnf5Db::create(root.path());
        for (begin, name) in [(1_700_000_090, "q1"), (1_700_000_500, "q2")] {
            db.transaction(
                begin,
                0,
                "dnf5 install",
                "",
                &[("Install", noarch(name, "1.0"))],
                "Ok",
            );
        }
        let h = read_dnf_history(root.path(), 4).unwrap();
        let seen: Vec<_> = h.iter().map(|t| (t.dnf, t.id)).collect();
        use DnfVersion::*;
        assert_eq!(seen, [(Dnf5, 1), (Dnf4, 2), (Dnf4, 3), (Dnf5, 2)]);
    }

    #[test]
    fn items_are_bounded_and_the_oldest_left_out() {
        let root = tempfile::tempdir().unwrap();
        dnf4_db(root.path(), 5, 1_700_000_000);
        let h = read_bounded(root.path(), 10, 3).unwrap();
        let ids: Vec<_> = h.iter().map(|t| t.id).collect();
        assert_eq!(ids, [3, 4, 5]);
        let err = read_bounded(root.path(), 10, 0).unwrap_err();
        assert!(
            matches!(
                err,
                DnfHistoryError::TooManyItems {
                    transaction: 5,
                    max: 0,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_rows_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let c = dnf4_db(root.path(), 2, 1_700_000_000);
        let bad = [
            "(10, '', 0, '1', '1', 'noarch')",
            "(11, 'x', -1, '1', '1', 'noarch')",
            "(12, 'x', 'one', '1', '1', 'noarch')",
            "(13, 'x y', 0, '1', '1', 'noarch')",
            "(14, 'x', 0, '1-2', '1', 'noarch')",
            "(15, 'x', 0, '1', X'ff', 'noarch')",
            "(16, 'x', 4294967296, '1', '1', 'noarch')",
        ];
        for (i, row) in bad.iter().enumerate() {
            c.execute_batch(&format!(
                "INSERT INTO rpm VALUES {row}; INSERT INTO trans_item VALUES (NULL, 2, {}, 1, 1, 2, 1);",
                10 + i
            ))
            .unwrap();
        }
        // A transaction whose begin is not a time, and an unfinished one without an end.
        c.execute_batch(
            "INSERT INTO trans VALUES (3, 'soon', 0, '', '', '40', 0, 'x', 1);
             INSERT INTO trans VALUES (4, 1700001000, 0, '', '', '40', 0, 'dnf upgrade', 0);",
        )
        .unwrap();
        let h = read_dnf_history(root.path(), 10).unwrap();
        let ids: Vec<_> = h.iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 2, 4]);
        assert_eq!(h[1].items, [item(DnfAction::Install, "p2", "1.0")]);
        assert_eq!((h[2].end, h[2].ok, h[2].user), (None, false, Some(0)));
    }

    #[test]
    fn no_history_is_empty() {
        let root = tempfile::tempdir().unwrap();
        assert!(read_dnf_history(root.path(), 10).unwrap().is_empty());
        assert!(
            read_dnf_history(&root.path().join("absent"), 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn garbage_at_the_dnf4_path_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(DNF4_HISTORY);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            b"not a database, just some bytes dnf never wrote\n".repeat(100),
        )
        .unwrap();
        let err = read_dnf_history(root.path(), 10).unwrap_err();
        assert!(
            matches!(&err, DnfHistoryError::Sqlite { path: p, .. } if *p == path),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("not a database"), "{text}");
    }

    #[test]
    fn an_unknown_schema_is_an_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(DNF5_HISTORY);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // dnf 4's tables where dnf 5 keeps its history.
        Connection::open(&path)
            .unwrap()
            .execute_batch(DNF4_SCHEMA_1_1)
            .unwrap();
        let err = read_dnf_history(root.path(), 10).unwrap_err();
        let DnfHistoryError::UnknownSchema {
            path: p,
            dnf,
            missing,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (p, *dnf, missing.as_str()),
            (&path, DnfVersion::Dnf5, "trans.description")
        );
        assert!(err.to_string().contains(&path.display().to_string()));

        // A view where a table belongs is not read.
        std::fs::remove_file(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute_batch(DNF5_SCHEMA).unwrap();
        c.execute_batch("DROP TABLE trans_item; CREATE VIEW trans_item AS SELECT * FROM item;")
            .unwrap();
        let err = read_dnf_history(root.path(), 10).unwrap_err();
        assert!(
            matches!(&err, DnfHistoryError::UnknownSchema { missing, .. } if missing == "trans_item"),
            "{err:?}"
        );
    }
}
