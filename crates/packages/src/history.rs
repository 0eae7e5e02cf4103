//! Swarmdate's own record of the transactions it runs in a root, kept in the root itself
//! (`/var/lib/swarmdate/history.sqlite`, as dnf keeps its own under `/var/lib/dnf`): when, who
//! asked, what for, the result, and what went in and out, as rpm's database says before and
//! after (not as the plan meant), with the digest and source of every build that came in, so
//! that an undo can find the same bytes again. For the system it is written by the privileged
//! helper, as root, and readable by every user.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use super::evr::Nevra;
use super::inventory::Inventory;
use crate::hash::Sha256;

/// Where the history lives below a root.
pub const HISTORY_PATH: &str = "var/lib/swarmdate/history.sqlite";

/// Longest command text kept (the helper takes it from the user; it is only a label).
pub const COMMAND_LIMIT: usize = 200;

/// What happened to one package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemAction {
    /// A package the root did not have (a new dependency, a kernel beside the others).
    Install,
    /// A newer build replaced the installed one.
    Upgrade,
    /// An older build replaced the installed one.
    Downgrade,
    /// A package went away (removed, or obsoleted by another).
    Remove,
}

impl ItemAction {
    fn word(self) -> &'static str {
        match self {
            ItemAction::Install => "install",
            ItemAction::Upgrade => "upgrade",
            ItemAction::Downgrade => "downgrade",
            ItemAction::Remove => "remove",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "install" => ItemAction::Install,
            "upgrade" => ItemAction::Upgrade,
            "downgrade" => ItemAction::Downgrade,
            "remove" => ItemAction::Remove,
            _ => return None,
        })
    }
}

/// One package a transaction changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    /// What happened.
    pub action: ItemAction,
    /// The build installed, or for a removal the build that went.
    pub package: Nevra,
    /// The builds it replaced (same name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<Nevra>,
    /// The file it came from, when it came in with this transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileOrigin>,
}

/// The file a build came from, and from where it was fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileOrigin {
    /// Its digest.
    pub sha256: Sha256,
    /// Its size.
    pub size: u64,
    /// Where it was fetched from (`swarm`, `repository:<id>`, `store`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "message")]
pub enum HistoryResult {
    /// It did not finish: it is running, or the process was killed.
    Unfinished,
    /// rpm's database changed as the items say.
    Done,
    /// It failed; the message says why (rpm's database did not change, unless the items say so).
    Failed(String),
}

/// One transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Its number, counting from 1 in this root.
    pub id: i64,
    /// When it began (Unix seconds).
    pub began: i64,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<i64>,
    /// The user who asked (`PKEXEC_UID` under the helper).
    pub asked_by: u32,
    /// What was asked (`update`, `update --security`, `downgrade foo`, `undo 3`, ...).
    pub command: String,
    /// The transaction this one undid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undoes: Option<i64>,
    /// How it ended.
    pub result: HistoryResult,
    /// What went in and out.
    pub items: Vec<HistoryItem>,
}

/// What the caller says of a transaction it runs.
#[derive(Clone, Debug, Default)]
pub struct TransactionNote {
    /// What was asked (a label, cut to [`COMMAND_LIMIT`]).
    pub command: String,
    /// Who asked.
    pub asked_by: u32,
    /// The transaction it undoes.
    pub undoes: Option<i64>,
}

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database failed.
    #[error("the transaction history {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Its folder could not be made.
    #[error("the transaction history {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No such transaction.
    #[error("there is no transaction {0} in the history; `swarmdate history` lists them")]
    NoSuchEntry(i64),
}

/// The history of one root.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    began INTEGER NOT NULL,
    ended INTEGER,
    asked_by INTEGER NOT NULL,
    command TEXT NOT NULL,
    undoes INTEGER,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS items (
    tx INTEGER NOT NULL REFERENCES transactions(id),
    action TEXT NOT NULL,
    package TEXT NOT NULL,
    replaced TEXT NOT NULL DEFAULT '',
    sha256 TEXT,
    size INTEGER,
    source TEXT
);
CREATE INDEX IF NOT EXISTS items_tx ON items(tx);
";

impl History {
    /// Opens (or makes) the history of `root` for writing: its folder 0755, the file 0644, so
    /// every user can read the system's (a rollback journal, not WAL: readers need no write
    /// access to a shared-memory file).
    pub fn open(root: &Path) -> Result<Self, HistoryError> {
        let path = root.join(HISTORY_PATH);
        let io = |source| HistoryError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().expect("the history path has a folder");
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        let conn = Connection::open(&path).map_err(|source| HistoryError::Db {
            path: path.clone(),
            source,
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
        let h = History { conn, path };
        h.conn.execute_batch(SCHEMA).map_err(|e| h.db(e))?;
        Ok(h)
    }

    /// Opens the history of `root` to read; `None` when Swarmdate never ran a transaction there.
    pub fn open_read(root: &Path) -> Result<Option<Self>, HistoryError> {
        let path = root.join(HISTORY_PATH);
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| HistoryError::Db {
                path: path.clone(),
                source,
            },
        )?;
        Ok(Some(History { conn, path }))
    }

    fn db(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Records that a transaction begins; returns its number.
    pub fn begin(&self, note: &TransactionNote, now: i64) -> Result<i64, HistoryError> {
        self.conn
            .execute(
                "INSERT INTO transactions (began, asked_by, command, undoes, state) VALUES (?1, ?2, ?3, ?4, 'unfinished')",
                params![now, note.asked_by, label(&note.command), note.undoes],
            )
            .map_err(|e| self.db(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how transaction `id` ended and what it changed.
    pub fn finish(
        &mut self,
        id: i64,
        result: &HistoryResult,
        items: &[HistoryItem],
        now: i64,
    ) -> Result<(), HistoryError> {
        let (state, message) = match result {
            HistoryResult::Unfinished => ("unfinished", ""),
            HistoryResult::Done => ("done", ""),
            HistoryResult::Failed(m) => ("failed", m.as_str()),
        };
        let path = self.path.clone();
        let db = |source| HistoryError::Db {
            path: path.clone(),
            source,
        };
        // One SQLite transaction: the entry and its items together, or neither.
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute(
            "UPDATE transactions SET ended = ?1, state = ?2, message = ?3 WHERE id = ?4",
            params![now, state, message, id],
        )
        .map_err(db)?;
        for i in items {
            let replaced: Vec<String> = i.replaced.iter().map(Nevra::to_string).collect();
            tx.execute(
                "INSERT INTO items (tx, action, package, replaced, sha256, size, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    i.action.word(),
                    i.package.to_string(),
                    replaced.join(" "),
                    i.file.as_ref().map(|f| f.sha256.to_string()),
                    i.file.as_ref().map(|f| f.size as i64),
                    i.file.as_ref().and_then(|f| f.from.clone()),
                ],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The newest `limit` transactions, oldest first.
    pub fn list(&self, limit: usize) -> Result<Vec<HistoryEntry>, HistoryError> {
        let ids: Vec<i64> = {
            let mut st = self
                .conn
                .prepare("SELECT id FROM transactions ORDER BY id DESC LIMIT ?1")
                .map_err(|e| self.db(e))?;
            st.query_map([limit as i64], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| self.db(e))?
        };
        ids.into_iter()
            .rev()
            .map(|id| self.get(id)?.ok_or(HistoryError::NoSuchEntry(id)))
            .collect()
    }

    /// Transaction `id`, if there is one.
    pub fn get(&self, id: i64) -> Result<Option<HistoryEntry>, HistoryError> {
        let head = self
            .conn
            .query_row(
                "SELECT began, ended, asked_by, command, undoes, state, message FROM transactions WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some((began, ended, asked_by, command, undoes, state, message)) = head else {
            return Ok(None);
        };
        let mut st = self
            .conn
            .prepare(
                "SELECT action, package, replaced, sha256, size, source FROM items WHERE tx = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.db(e))?;
        let rows: Vec<ItemRow> = st
            .query_map([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.db(e))?;
        // A row that does not read (written by a newer version, or damaged) is left out rather
        // than hiding the whole entry.
        let items = rows
            .into_iter()
            .filter_map(|(action, package, replaced, sha, size, from)| {
                Some(HistoryItem {
                    action: ItemAction::from_word(&action)?,
                    package: package.parse().ok()?,
                    replaced: replaced
                        .split_whitespace()
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?,
                    file: match (sha, size) {
                        (Some(sha), Some(size)) => Some(FileOrigin {
                            sha256: sha.parse().ok()?,
                            size: u64::try_from(size).ok()?,
                            from,
                        }),
                        _ => None,
                    },
                })
            })
            .collect();
        let result = match state.as_str() {
            "done" => HistoryResult::Done,
            "failed" => HistoryResult::Failed(message),
            _ => HistoryResult::Unfinished,
        };
        Ok(Some(HistoryEntry {
            id,
            began,
            ended,
            asked_by,
            command,
            undoes,
            result,
            items,
        }))
    }
}

/// An item as stored: action, package, replaced, digest, size, source.
type ItemRow = (
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// Now, in Unix seconds, as the history and the offline results record time.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The command as a label: one line, printable, at most [`COMMAND_LIMIT`] characters.
fn label(command: &str) -> String {
    command
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(COMMAND_LIMIT)
        .collect()
}

/// What changed between two inventories of a root, by package name (a build of the same name
/// and architecture first, then of the same name: a package that became noarch), with the file
/// each new build came from when `files` names it.
pub fn diff(
    before: &Inventory,
    after: &Inventory,
    files: &HashMap<Nevra, FileOrigin>,
) -> Vec<HistoryItem> {
    let b: HashSet<&Nevra> = before.packages.iter().map(|p| &p.nevra).collect();
    let a: HashSet<&Nevra> = after.packages.iter().map(|p| &p.nevra).collect();
    // In the inventories' order (sorted by NEVRA), so a diff always reads the same.
    let mut gone: Vec<&Nevra> = before
        .packages
        .iter()
        .map(|p| &p.nevra)
        .filter(|n| !a.contains(n))
        .collect();
    let came: Vec<&Nevra> = after
        .packages
        .iter()
        .map(|p| &p.nevra)
        .filter(|n| !b.contains(n))
        .collect();
    let mut items = Vec::new();
    for new in came {
        // The builds it replaced: same name and arch, else same name (each taken once).
        let same =
            |arch: bool| move |o: &&&Nevra| o.name == new.name && (!arch || o.arch == new.arch);
        let mut replaced: Vec<Nevra> = gone
            .iter()
            .filter(same(true))
            .map(|n| (*n).clone())
            .collect();
        if replaced.is_empty() {
            replaced = gone
                .iter()
                .filter(same(false))
                .map(|n| (*n).clone())
                .collect();
        }
        gone.retain(|g| !replaced.contains(g));
        let action = match replaced.iter().max_by(|x, y| x.evr.rpm_cmp(&y.evr)) {
            None => ItemAction::Install,
            Some(old) if new.evr.rpm_cmp(&old.evr).is_lt() => ItemAction::Downgrade,
            Some(_) => ItemAction::Upgrade,
        };
        items.push(HistoryItem {
            action,
            package: new.clone(),
            replaced,
            file: files.get(new).cloned(),
        });
    }
    items.extend(gone.into_iter().map(|g| HistoryItem {
        action: ItemAction::Remove,
        package: g.clone(),
        replaced: Vec::new(),
        file: None,
    }));
    items
}

/// What undoing a transaction does to the root as it is now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Undo {
    /// The builds to install again (those the transaction replaced or removed), with the file
    /// an earlier transaction of this history installed them from, when one did.
    pub restore: Vec<(Nevra, Option<FileOrigin>)>,
    /// The builds to remove (those it installed that nothing restored replaces).
    pub remove: Vec<Nevra>,
}

/// Why a transaction cannot be undone.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UndoError {
    /// It did not change anything.
    #[error("transaction {0} changed nothing, so there is nothing to undo")]
    Nothing(i64),
    /// A build it installed is no longer installed (something changed it since).
    #[error(
        "{package} that transaction {id} installed is no longer installed{now}: undo the later transactions first"
    )]
    Changed {
        id: i64,
        package: Box<Nevra>,
        now: String,
    },
    /// A build it removed is installed again.
    #[error("{package} that transaction {id} removed is installed again; nothing to restore")]
    Restored { id: i64, package: Box<Nevra> },
}

/// What undoing `entry` does, checked against what `installed` has now: every build it
/// installed must still be installed, every build it took away must still be gone.
pub fn undo_of(
    entry: &HistoryEntry,
    installed: &Inventory,
    history: &[HistoryEntry],
) -> Result<Undo, UndoError> {
    if entry.items.is_empty() {
        return Err(UndoError::Nothing(entry.id));
    }
    let now: Vec<&Nevra> = installed.packages.iter().map(|p| &p.nevra).collect();
    // The file each build came from the last time this history installed it.
    let mut files: HashMap<&Nevra, &FileOrigin> = HashMap::new();
    for e in history {
        for i in &e.items {
            if let Some(f) = &i.file {
                files.insert(&i.package, f);
            }
        }
    }
    let mut undo = Undo::default();
    for i in &entry.items {
        let back: Vec<&Nevra> = match i.action {
            ItemAction::Remove => vec![&i.package],
            _ => {
                if !now.contains(&&i.package) {
                    let others: Vec<String> = now
                        .iter()
                        .filter(|n| n.name == i.package.name)
                        .map(|n| n.to_string())
                        .collect();
                    return Err(UndoError::Changed {
                        id: entry.id,
                        package: Box::new(i.package.clone()),
                        now: if others.is_empty() {
                            String::new()
                        } else {
                            format!(" (now {})", others.join(", "))
                        },
                    });
                }
                undo.remove.push(i.package.clone());
                i.replaced.iter().collect()
            }
        };
        for b in back {
            if now.contains(&b) {
                return Err(UndoError::Restored {
                    id: entry.id,
                    package: Box::new(b.clone()),
                });
            }
            undo.restore
                .push((b.clone(), files.get(b).map(|f| (*f).clone())));
        }
    }
    // A build restored in place of one removed is a downgrade (or upgrade) of that package, not
    // a removal: dnf replaces it in the same transaction.
    let restored: HashSet<&str> = undo.restore.iter().map(|(n, _)| n.name.as_str()).collect();
    undo.remove.retain(|n| !restored.contains(n.name.as_str()));
    Ok(undo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Installed, InventorySource};
    use std::collections::BTreeMap;

    fn inv(nevras: &[&str]) -> Inventory {
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

    fn n(s: &str) -> Nevra {
        s.parse().unwrap()
    }

    fn origin(b: u8) -> FileOrigin {
        FileOrigin {
            sha256: Sha256([b; 32]),
            size: 1000 + u64::from(b),
            from: Some("swarm".into()),
        }
    }

    #[test]
    fn a_diff_names_upgrades_downgrades_installs_and_removals() {
        let before = inv(&[
            "foo-1.0-1.x86_64",
            "bar-2.0-1.x86_64",
            "old-1.0-1.x86_64",
            "kernel-6.1-1.x86_64",
            "tool-1.0-1.x86_64",
        ]);
        let after = inv(&[
            "foo-1.1-1.x86_64",
            "bar-1.9-1.x86_64",
            "new-1.0-1.x86_64",
            "kernel-6.1-1.x86_64",
            "kernel-6.2-1.x86_64",
            "tool-1.1-1.noarch",
        ]);
        let files = HashMap::from([(n("foo-1.1-1.x86_64"), origin(1))]);
        let items = diff(&before, &after, &files);
        let by: BTreeMap<String, (ItemAction, Vec<String>, bool)> = items
            .iter()
            .map(|i| {
                (
                    i.package.to_string(),
                    (
                        i.action,
                        i.replaced.iter().map(Nevra::to_string).collect(),
                        i.file.is_some(),
                    ),
                )
            })
            .collect();
        let want = |a, r: &[&str], f| (a, r.iter().map(|s| s.to_string()).collect(), f);
        assert_eq!(
            by,
            BTreeMap::from([
                (
                    "foo-1.1-1.x86_64".into(),
                    want(ItemAction::Upgrade, &["foo-1.0-1.x86_64"], true)
                ),
                (
                    "bar-1.9-1.x86_64".into(),
                    want(ItemAction::Downgrade, &["bar-2.0-1.x86_64"], false)
                ),
                (
                    "new-1.0-1.x86_64".into(),
                    want(ItemAction::Install, &[], false)
                ),
                // A kernel beside the running one replaces nothing.
                (
                    "kernel-6.2-1.x86_64".into(),
                    want(ItemAction::Install, &[], false)
                ),
                // A package that became noarch still replaced its old build.
                (
                    "tool-1.1-1.noarch".into(),
                    want(ItemAction::Upgrade, &["tool-1.0-1.x86_64"], false)
                ),
                (
                    "old-1.0-1.x86_64".into(),
                    want(ItemAction::Remove, &[], false)
                ),
            ])
        );
        assert!(diff(&before, &before, &files).is_empty());
    }

    #[test]
    fn entries_are_kept_and_read_back_and_an_unfinished_one_says_so() {
        let root = tempfile::tempdir().unwrap();
        assert!(History::open_read(root.path()).unwrap().is_none());
        let mut h = History::open(root.path()).unwrap();
        let note = TransactionNote {
            command: "update\n--security".into(),
            asked_by: 1000,
            undoes: None,
        };
        let first = h.begin(&note, 100).unwrap();
        let items = diff(
            &inv(&["foo-1.0-1.x86_64", "gone-1-1.noarch"]),
            &inv(&["foo-1.1-1.x86_64"]),
            &HashMap::from([(n("foo-1.1-1.x86_64"), origin(7))]),
        );
        h.finish(first, &HistoryResult::Done, &items, 105).unwrap();
        let second = h
            .begin(
                &TransactionNote {
                    command: "x".repeat(COMMAND_LIMIT * 2),
                    asked_by: 0,
                    undoes: Some(first),
                },
                200,
            )
            .unwrap();
        let third = h.begin(&note, 300).unwrap();
        h.finish(
            third,
            &HistoryResult::Failed("dnf said no".into()),
            &[],
            301,
        )
        .unwrap();
        drop(h);

        let h = History::open_read(root.path()).unwrap().unwrap();
        let all = h.list(10).unwrap();
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            [first, second, third]
        );
        let e = &all[0];
        assert_eq!(e.command, "update --security");
        assert_eq!((e.began, e.ended, e.asked_by), (100, Some(105), 1000));
        assert_eq!(e.result, HistoryResult::Done);
        assert_eq!(e.items, items);
        assert_eq!(e.items[0].file, Some(origin(7)));
        assert_eq!(all[1].result, HistoryResult::Unfinished);
        assert_eq!(all[1].command.chars().count(), COMMAND_LIMIT);
        assert_eq!(all[1].undoes, Some(first));
        assert_eq!(all[2].result, HistoryResult::Failed("dnf said no".into()));
        assert_eq!(h.list(1).unwrap()[0].id, third);
        assert!(h.get(99).unwrap().is_none());
        let mode = std::fs::metadata(root.path().join(HISTORY_PATH))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    fn entry(id: i64, items: Vec<HistoryItem>) -> HistoryEntry {
        HistoryEntry {
            id,
            began: 0,
            ended: Some(1),
            asked_by: 0,
            command: "update".into(),
            undoes: None,
            result: HistoryResult::Done,
            items,
        }
    }

    #[test]
    fn an_undo_restores_what_went_and_removes_what_came() {
        // Transaction 1 installed foo 1.0 from the swarm; transaction 2 upgraded it, pulled in
        // a new library and obsoleted an old package.
        let before = inv(&["foo-1.0-1.x86_64", "old-1-1.noarch"]);
        let after = inv(&["foo-1.1-1.x86_64", "lib-2-1.x86_64"]);
        let first = entry(
            1,
            vec![HistoryItem {
                action: ItemAction::Install,
                package: n("foo-1.0-1.x86_64"),
                replaced: vec![],
                file: Some(origin(1)),
            }],
        );
        let second = entry(2, diff(&before, &after, &HashMap::new()));
        let undo = undo_of(&second, &after, &[first.clone(), second.clone()]).unwrap();
        assert_eq!(
            undo,
            Undo {
                restore: vec![
                    (n("foo-1.0-1.x86_64"), Some(origin(1))),
                    (n("old-1-1.noarch"), None)
                ],
                remove: vec![n("lib-2-1.x86_64")],
            }
        );
        // Positive control above; now the root moved on: foo is at 1.2.
        let later = inv(&["foo-1.2-1.x86_64", "lib-2-1.x86_64"]);
        let err = undo_of(&second, &later, &[]).unwrap_err();
        assert!(err.to_string().contains("now foo-1.2-1.x86_64"), "{err}");
        // An old package installed again: nothing to restore.
        let back = inv(&["foo-1.1-1.x86_64", "lib-2-1.x86_64", "old-1-1.noarch"]);
        assert!(matches!(
            undo_of(&second, &back, &[]),
            Err(UndoError::Restored { .. })
        ));
        assert_eq!(
            undo_of(&entry(3, vec![]), &after, &[]),
            Err(UndoError::Nothing(3))
        );
    }
}
