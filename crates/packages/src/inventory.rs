//! The installed packages of a system or of a root: read from rpm's SQLite database (header blobs
//! parsed with the `rpm` crate), with `rpm -qa` as the fallback for other database back ends.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dep::{Dep, Relations};
use super::evr::{Evr, Nevra};

/// Where rpm keeps its database below the root (Fedora's `%_dbpath`).
pub const DB_PATH: &str = "/var/lib/rpm";

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// What it is.
    pub nevra: Nevra,
    /// One line for people.
    pub summary: String,
    /// Installed size in bytes.
    pub size: u64,
    /// Its provides, requires, obsoletes and conflicts.
    pub relations: Relations,
}

/// How the inventory was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InventorySource {
    /// Straight from `rpmdb.sqlite`.
    Sqlite,
    /// Through `rpm -qa` (another database back end, or a database we could not read).
    RpmQuery,
}

/// The installed packages, sorted by NEVRA.
#[derive(Clone, Debug, Serialize)]
pub struct Inventory {
    /// The packages; rpm's `gpg-pubkey` entries (imported keys) are not packages and left out.
    pub packages: Vec<Installed>,
    /// How they were read.
    pub source: InventorySource,
}

/// Why the installed packages could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Neither the database nor `rpm` could be read.
    #[error(
        "cannot read the installed packages of {root}: the database {db} failed ({db_error}) and `rpm -qa` failed ({rpm_error}); is this an RPM-based system, and is rpm installed?"
    )]
    Unreadable {
        root: PathBuf,
        db: PathBuf,
        db_error: String,
        rpm_error: String,
    },
}

impl Inventory {
    /// Reads the inventory of `root` (`/` for this system): the database, else `rpm -qa`.
    pub fn read(root: &Path) -> Result<Self, InventoryError> {
        Self::read_from(root, InventorySource::Sqlite).or_else(|first| {
            Self::read_from(root, InventorySource::RpmQuery).map_err(|second| {
                match (first, second) {
                    (
                        InventoryError::Unreadable { db, db_error, .. },
                        InventoryError::Unreadable { rpm_error, .. },
                    ) => InventoryError::Unreadable {
                        root: root.to_owned(),
                        db,
                        db_error,
                        rpm_error,
                    },
                }
            })
        })
    }

    /// Reads the inventory of `root` one way only.
    pub fn read_from(root: &Path, source: InventorySource) -> Result<Self, InventoryError> {
        let db = root
            .join(DB_PATH.trim_start_matches('/'))
            .join("rpmdb.sqlite");
        let read = match source {
            InventorySource::Sqlite => read_sqlite(&db),
            InventorySource::RpmQuery => read_rpm_query(root),
        };
        let mut packages = read.map_err(|e| {
            let (db_error, rpm_error) = match source {
                InventorySource::Sqlite => (e, "not tried".to_owned()),
                InventorySource::RpmQuery => ("not tried".to_owned(), e),
            };
            InventoryError::Unreadable {
                root: root.to_owned(),
                db: db.clone(),
                db_error,
                rpm_error,
            }
        })?;
        packages.retain(|p| p.nevra.name != "gpg-pubkey");
        packages.sort_by_cached_key(|p| p.nevra.to_string());
        Ok(Inventory { packages, source })
    }

    /// The installed builds of `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Installed> + 'a {
        self.packages.iter().filter(move |p| p.nevra.name == name)
    }
}

/// Reads every header blob of `rpmdb.sqlite`.
fn read_sqlite(db: &Path) -> Result<Vec<Installed>, String> {
    if !db.exists() {
        return Err("no such file".into());
    }
    let conn = open_read_only(db, "SELECT count(*) FROM Packages").map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for blob in rows {
        let blob = blob.map_err(|e| e.to_string())?;
        out.extend(parse_blob(&blob)?);
    }
    Ok(out)
}

/// Opens the database without writing to it. A read-only open needs rpm's `-shm`/`-wal` files or
/// write access to make them; where neither is there, an immutable open still reads it. `probe`
/// is a query that must succeed on the opened database (it makes SQLite read the file).
pub(crate) fn open_read_only(db: &Path, probe: &str) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    let uri = |extra: &str| {
        let path = url::Url::from_file_path(db)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| db.display().to_string());
        format!("file:{path}?mode=ro{extra}")
    };
    let probe = |c: rusqlite::Connection| c.query_row(probe, [], |_| Ok(())).map(|_| c);
    rusqlite::Connection::open_with_flags(uri(""), flags)
        .and_then(probe)
        .or_else(|_| {
            rusqlite::Connection::open_with_flags(uri("&immutable=1"), flags).and_then(probe)
        })
}

/// rpm stores each header without its 8-byte magic. The `rpm` crate parses whole package files, so
/// the blob gets what a file has before its header: a lead, an empty signature header, the magic.
/// Imported keys (`gpg-pubkey`, no architecture) are not packages: `None`.
fn parse_blob(blob: &[u8]) -> Result<Option<Installed>, String> {
    const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
    let mut bytes = Vec::with_capacity(96 + 16 + 8 + blob.len());
    bytes.extend_from_slice(&[0xed, 0xab, 0xee, 0xdb, 3, 0]);
    bytes.resize(96, 0);
    bytes.extend_from_slice(&HEADER_MAGIC);
    bytes.extend_from_slice(&[0; 8]); // no index entries, no data
    bytes.extend_from_slice(&HEADER_MAGIC);
    bytes.extend_from_slice(blob);
    // The rpm crate panics on some damaged headers (see `verify.rs`).
    let h = std::panic::catch_unwind(|| rpm::PackageMetadata::parse(&mut bytes.as_slice()))
        .map_err(|_| "a header in the database is damaged".to_owned())?
        .map_err(|e| format!("a header in the database does not parse: {e}"))?;
    if h.get_name().is_ok_and(|n| n == "gpg-pubkey") {
        return Ok(None);
    }
    installed_from_header(&h)
        .map(Some)
        .map_err(|e| format!("a header in the database lacks a tag: {e}"))
}

/// The inventory entry for a package header.
pub fn installed_from_header(h: &rpm::PackageMetadata) -> Result<Installed, rpm::Error> {
    Ok(Installed {
        nevra: nevra_of(h)?,
        summary: h.get_summary().unwrap_or_default().to_owned(),
        size: h.get_installed_size().unwrap_or(0),
        relations: Relations::from_header(h)?,
    })
}

/// The NEVRA in a package header (no epoch tag means epoch 0).
pub(crate) fn nevra_of(h: &rpm::PackageMetadata) -> Result<Nevra, rpm::Error> {
    Ok(Nevra::new(
        h.get_name()?,
        Evr::new(
            h.get_epoch().unwrap_or(0),
            h.get_version()?,
            h.get_release()?,
        ),
        h.get_arch()?,
    ))
}

/// One field per tag, one record per package; dependencies as `kind name flags version` lines.
const QUERY_FORMAT: &str = "@@%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SIZE}\t%{SUMMARY}\n\
[P\t%{PROVIDENAME}\t%{PROVIDEFLAGS}\t%{PROVIDEVERSION}\n]\
[R\t%{REQUIRENAME}\t%{REQUIREFLAGS}\t%{REQUIREVERSION}\n]\
[O\t%{OBSOLETENAME}\t%{OBSOLETEFLAGS}\t%{OBSOLETEVERSION}\n]\
[C\t%{CONFLICTNAME}\t%{CONFLICTFLAGS}\t%{CONFLICTVERSION}\n]";

/// Asks rpm itself.
fn read_rpm_query(root: &Path) -> Result<Vec<Installed>, String> {
    let out = super::tool::clean_command("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DB_PATH, "-qa", "--qf", QUERY_FORMAT])
        .output()
        .map_err(|e| format!("cannot run rpm: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    parse_query_output(&String::from_utf8_lossy(&out.stdout))
}

fn parse_query_output(text: &str) -> Result<Vec<Installed>, String> {
    let mut out: Vec<Installed> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bad = || format!("unexpected line from rpm -qa: {line:?}");
        if let Some(head) = line.strip_prefix("@@") {
            let f: Vec<&str> = head.splitn(7, '\t').collect();
            let [name, epoch, version, release, arch, size, summary] = f[..] else {
                return Err(bad());
            };
            let epoch = epoch.parse().map_err(|_| bad())?;
            out.push(Installed {
                nevra: Nevra::new(name, Evr::new(epoch, version, release), arch),
                summary: summary.to_owned(),
                size: size.parse().unwrap_or(0),
                relations: Relations::default(),
            });
            continue;
        }
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        let [kind, name, flags, version] = f[..] else {
            return Err(bad());
        };
        let flags: u32 = flags.parse().map_err(|_| bad())?;
        let dep = Dep::from_rpm(&rpm::Dependency {
            name: name.to_owned(),
            flags: rpm::DependencyFlags::from_bits_retain(flags),
            version: version.to_owned(),
        });
        let Some(pkg) = out.last_mut() else {
            return Err(bad());
        };
        if dep.is_internal() {
            continue;
        }
        let r = &mut pkg.relations;
        match kind {
            "P" => r.provides.push(dep),
            "R" => r.requires.push(dep),
            "O" => r.obsoletes.push(dep),
            "C" => r.conflicts.push(dep),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::dep::Op;
    use super::*;

    #[test]
    fn parses_rpm_query_records() {
        let text = "@@bash\t0\t5.2.26\t3.fc41\tx86_64\t8000000\tThe GNU Bourne Again shell\n\
                    P\tbash\t8\t5.2.26-3.fc41\n\
                    R\tglibc\t12\t2.40\n\
                    R\trpmlib(CompressedFileNames)\t16777226\t3.0.4-1\n\
                    @@kernel\t1\t6.11\t1\tx86_64\t10\tThe kernel\n\
                    O\tkernel-old\t0\t\n";
        let p = parse_query_output(text).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].nevra.to_string(), "bash-5.2.26-3.fc41.x86_64");
        assert_eq!(p[0].size, 8_000_000);
        assert_eq!(
            p[0].relations.requires,
            vec![Dep::with("glibc", Op::Ge, "2.40".parse().unwrap())]
        );
        assert_eq!(p[0].relations.provides.len(), 1);
        assert_eq!(p[1].nevra.evr.epoch, 1);
        assert_eq!(p[1].relations.obsoletes, vec![Dep::any("kernel-old")]);
        assert!(parse_query_output("R\tx\t0\t\n").is_err());
        assert!(parse_query_output("@@x\tnot-a-number\t1\t1\tnoarch\t0\ts\n").is_err());
    }
}
