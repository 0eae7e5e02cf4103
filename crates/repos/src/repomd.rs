//! `repodata/repomd.xml` and the files it lists: each one's size and checksum checked, and its
//! decompressed size bounded, before it is parsed.

use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};

use rpmrepo_metadata::{Checksum, RepomdRecord, RepomdXml};
use swarmdate_packages::hash::digest_file;

use crate::bounded::{Bounded, PAST_BOUND};
use crate::error::{ReadError, RepodataError};
use crate::other;
use crate::primary::{self, RepoPackage};
use crate::updateinfo::{self, Advisory};

/// Bounds on what a repository can make this reader hold or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `repomd.xml` itself.
    pub repomd: u64,
    /// One metadata file as stored (compressed).
    pub file: u64,
    /// One metadata file decompressed (also bounded by the `open-size` repomd.xml gives).
    pub open: u64,
}

impl Limits {
    /// The default bound of `repomd.xml` (and of documents as small: metalinks, mirror lists).
    pub const DEFAULT_REPOMD: u64 = 1 << 20;
}

impl Default for Limits {
    /// Ample for Fedora's largest repository (about 70,000 packages: a primary of some 15 MB
    /// compressed, 200 MB open), small enough that a hostile mirror cannot exhaust the machine.
    fn default() -> Self {
        Limits {
            repomd: Self::DEFAULT_REPOMD,
            file: 512 << 20,
            open: 4 << 30,
        }
    }
}

/// A repository's repodata, read and checked.
#[derive(Clone, Debug)]
pub struct Repodata {
    /// `repomd.xml`'s revision (createrepo_c writes a timestamp): metadata read under one
    /// revision stays valid while it is the same.
    pub revision: Option<String>,
    /// Every package primary lists, in its order.
    pub packages: Vec<RepoPackage>,
    /// The advisories of `updateinfo`, when the repository has one.
    pub advisories: Vec<Advisory>,
}

/// Reads the repodata of the repository folder `repo` (the folder holding `repodata/`).
pub fn read_repodata(repo: &Path, limits: Limits) -> Result<Repodata, RepodataError> {
    let repomd_path = repo.join("repodata/repomd.xml");
    let bytes = read_bounded(&repomd_path, limits.repomd)?;
    let reader = rpmrepo_metadata::utils::create_xml_reader(&bytes[..]);
    let repomd = RepomdXml::read_data(reader).map_err(|e| RepodataError::Malformed {
        path: repomd_path.clone(),
        reason: e.to_string(),
    })?;
    let primary = repomd
        .get_record("primary")
        .ok_or_else(|| RepodataError::NoPrimary(repomd_path.clone()))?;
    let (path, reader) = open_checked(repo, primary, limits)?;
    let mut packages = primary::read(reader).map_err(|e| parse_error(&path, e, limits))?;
    if let Some(rec) = repomd.get_record("other") {
        let (path, reader) = open_checked(repo, rec, limits)?;
        let mut logs = other::read(reader).map_err(|e| parse_error(&path, e, limits))?;
        for p in &mut packages {
            p.changelog = logs.remove(&p.sha256.to_string()).unwrap_or_default();
        }
    }
    let advisories = match repomd.get_record("updateinfo") {
        Some(rec) => {
            let (path, reader) = open_checked(repo, rec, limits)?;
            updateinfo::read(reader).map_err(|e| parse_error(&path, ReadError::Parse(e), limits))?
        }
        None => Vec::new(),
    };
    Ok(Repodata {
        revision: repomd.revision().map(str::to_owned),
        packages,
        advisories,
    })
}

/// The metadata files a `repomd.xml` names that this reader reads (primary, updateinfo, other), as
/// `(type, href)`, each href checked to stay inside the repository: what to fetch before
/// [`read_repodata`] on a copy.
pub fn metadata_files(repomd: &[u8]) -> Result<Vec<(String, String)>, RepodataError> {
    let path = Path::new("repodata/repomd.xml");
    let malformed = |reason: String| RepodataError::Malformed {
        path: path.into(),
        reason,
    };
    let reader = rpmrepo_metadata::utils::create_xml_reader(repomd);
    let data = RepomdXml::read_data(reader).map_err(|e| malformed(e.to_string()))?;
    let mut out = Vec::new();
    for kind in ["primary", "updateinfo", "other"] {
        let Some(rec) = data.get_record(kind) else {
            continue;
        };
        let href = rec.location_href.to_string_lossy().into_owned();
        if rec.location_base.is_some() || inside(Path::new(""), &href).is_none() {
            return Err(malformed(format!(
                "{kind}'s location {href:?} is not a path inside the repository"
            )));
        }
        out.push((kind.to_owned(), href));
    }
    if !out.iter().any(|(k, _)| k == "primary") {
        return Err(RepodataError::NoPrimary(path.into()));
    }
    Ok(out)
}

/// `href` below `repo`, when it names a path inside it (no `..`, not absolute, not empty).
pub(crate) fn inside(repo: &Path, href: &str) -> Option<PathBuf> {
    let rel = Path::new(href);
    let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && rel.components().next().is_some()).then(|| repo.join(rel))
}

/// The whole of `path`, refused past `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RepodataError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            RepodataError::NoRepomd(path.parent().and_then(Path::parent).unwrap_or(path).into())
        }
        _ => RepodataError::Io {
            path: path.into(),
            source: e,
        },
    })?;
    let mut bytes = Vec::new();
    Bounded::new(file, limit)
        .read_to_end(&mut bytes)
        .map_err(|e| too_large_or_io(path, e, limit, ""))?;
    Ok(bytes)
}

/// The file `rec` names, checked against its size and checksum, as a decompressing reader
/// bounded by its open size.
fn open_checked(
    repo: &Path,
    rec: &RepomdRecord,
    limits: Limits,
) -> Result<(PathBuf, impl BufRead + use<>), RepodataError> {
    let href = rec.location_href.to_string_lossy();
    let malformed = |reason: String| RepodataError::Malformed {
        path: repo.join("repodata/repomd.xml"),
        reason,
    };
    if rec.location_base.is_some() {
        return Err(malformed(format!(
            "{} names its file on another server (xml:base)",
            rec.metadata_name
        )));
    }
    let path = inside(repo, &href)
        .ok_or_else(|| malformed(format!("{href:?} is not a path inside the repository")))?;
    let io = |e| RepodataError::Io {
        path: path.clone(),
        source: e,
    };
    let len = std::fs::metadata(&path).map_err(io)?.len();
    if len > limits.file {
        return Err(RepodataError::TooLarge {
            path,
            limit: limits.file,
            what: "",
        });
    }
    let mismatch = |what: String| RepodataError::Mismatch {
        path: path.clone(),
        what,
    };
    if let Some(size) = rec.size.filter(|&s| s != len) {
        return Err(mismatch(format!("{len} bytes, repomd.xml says {size}")));
    }
    let (expected, actual) = match &rec.checksum {
        Checksum::Sha256(hex) => (
            hex,
            hex::encode(digest_file::<sha2::Sha256>(&path).map_err(io)?),
        ),
        Checksum::Sha512(hex) => (
            hex,
            hex::encode(digest_file::<sha2::Sha512>(&path).map_err(io)?),
        ),
        other => {
            return Err(RepodataError::ChecksumType {
                path,
                kind: checksum_kind(other).into(),
            });
        }
    };
    if !expected.eq_ignore_ascii_case(&actual) {
        return Err(mismatch(format!(
            "checksum {actual}, repomd.xml says {expected}"
        )));
    }
    let file = std::fs::File::open(&path).map_err(io)?;
    let (reader, _format) = niffler::send::get_reader(Box::new(BufReader::new(file)))
        .map_err(|e| malformed(format!("{href}: {e}")))?;
    let open = rec.open_size.map_or(limits.open, |s| s.min(limits.open));
    Ok((path, BufReader::new(Bounded::new(reader, open))))
}

/// The name repomd.xml gives a checksum type.
fn checksum_kind(c: &Checksum) -> &'static str {
    match c {
        Checksum::Md5(_) => "md5",
        Checksum::Sha1(_) => "sha1",
        Checksum::Sha224(_) => "sha224",
        Checksum::Sha256(_) => "sha256",
        Checksum::Sha384(_) => "sha384",
        Checksum::Sha512(_) => "sha512",
        Checksum::Unknown(_) => "unknown",
        Checksum::Empty => "missing",
    }
}

/// A parser's error on `path`: past the open-size bound it says so.
fn parse_error(path: &Path, e: ReadError, limits: Limits) -> RepodataError {
    match e {
        ReadError::Parse(e) if e.to_string().contains(PAST_BOUND) => RepodataError::TooLarge {
            path: path.into(),
            limit: limits.open,
            what: " once decompressed",
        },
        ReadError::Parse(e) => RepodataError::Malformed {
            path: path.into(),
            reason: e.to_string(),
        },
        ReadError::Package { package, reason } => RepodataError::BadPackage {
            path: path.into(),
            package,
            reason,
        },
    }
}

/// An I/O error from a bounded reader: "too large" when it is the bound.
fn too_large_or_io(
    path: &Path,
    e: std::io::Error,
    limit: u64,
    what: &'static str,
) -> RepodataError {
    if e.to_string() == PAST_BOUND {
        RepodataError::TooLarge {
            path: path.into(),
            limit,
            what,
        }
    } else {
        RepodataError::Io {
            path: path.into(),
            source: e,
        }
    }
}
