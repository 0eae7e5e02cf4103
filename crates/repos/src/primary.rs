//! `primary.xml`: every package of a repository with what dependency resolution and a download
//! need, read by `rpmrepo_metadata`'s streaming parser into Swarmdate's own types.

use std::io::BufRead;

use rpmrepo_metadata::visitor::{PrimaryVisitor, RequirementData};
use rpmrepo_metadata::{RequirementType, utils::create_xml_reader, visitor::parse_primary};
use swarmdate_packages::hash::Sha256;
use swarmdate_packages::{Dep, Evr, Nevra, Op, Relations};

use crate::error::ReadError;
use crate::repomd::inside;

/// One package as primary describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct RepoPackage {
    /// Name, version and architecture.
    pub nevra: Nevra,
    /// Its path in the repository (`Packages/f/foo-1-1.x86_64.rpm`): relative, never above it.
    pub location: String,
    /// File size in bytes.
    pub size: u64,
    /// The file's SHA-256.
    pub sha256: Sha256,
    /// One line for people.
    pub summary: String,
    /// Provides, requires, obsoletes, conflicts (rpmlib() requirements left out, as from a
    /// header).
    pub relations: Relations,
    /// Its newest changelog entries (from `other`, when the repository has it), newest first.
    pub changelog: Vec<crate::ChangelogEntry>,
}

/// Reads every package of a primary document.
pub(crate) fn read(reader: impl BufRead) -> Result<Vec<RepoPackage>, ReadError> {
    let mut xml = create_xml_reader(reader);
    let mut v = Collector::default();
    parse_primary(&mut xml, &mut v).map_err(ReadError::Parse)?;
    match v.refused {
        Some((package, reason)) => Err(ReadError::Package { package, reason }),
        None => Ok(v.done),
    }
}

/// A package being read.
#[derive(Default)]
struct Partial {
    name: String,
    arch: String,
    digest: Option<Result<Sha256, String>>,
    evr: Evr,
    summary: String,
    size: u64,
    location: Option<String>,
    relations: Relations,
}

/// The visitor: packages read, and the first one refused (a visitor cannot return an error).
#[derive(Default)]
struct Collector {
    now: Partial,
    done: Vec<RepoPackage>,
    refused: Option<(String, String)>,
}

/// A dependency entry of primary, as a [`Dep`]; rpmlib() ones are rpm's own.
fn dep(r: &RequirementData<'_>) -> Option<Dep> {
    if r.name.starts_with("rpmlib(") {
        return None;
    }
    let Some(flags) = r.flags else {
        return Some(Dep::any(r.name));
    };
    let op = match flags {
        RequirementType::LT => Op::Lt,
        RequirementType::LE => Op::Le,
        RequirementType::EQ => Op::Eq,
        RequirementType::GE => Op::Ge,
        RequirementType::GT => Op::Gt,
    };
    let evr = Evr {
        epoch: r.epoch.and_then(|e| e.parse().ok()).unwrap_or(0),
        version: r.version.unwrap_or_default().to_owned(),
        release: r.release.unwrap_or_default().to_owned(),
    };
    Some(Dep::with(r.name, op, evr))
}

impl Collector {
    fn refuse(&mut self, reason: String) {
        if self.refused.is_none() {
            let p = &self.now;
            self.refused = Some((format!("{}-{}.{}", p.name, p.evr, p.arch), reason));
        }
    }
}

impl PrimaryVisitor for Collector {
    fn begin_package(&mut self, name: &str, arch: &str, checksum_type: &str, pkgid: &str) {
        self.now = Partial {
            name: name.to_owned(),
            arch: arch.to_owned(),
            digest: Some(match checksum_type {
                "sha256" => swarmdate_packages::hash::decode_hex(pkgid)
                    .map(Sha256)
                    .map_err(|e| format!("its sha256 {pkgid:?} is not one: {e}")),
                other => Err(format!(
                    "its checksum is {other}; Swarmdate needs sha256 (createrepo_c --checksum sha256)"
                )),
            }),
            ..Partial::default()
        };
    }

    fn set_evr(&mut self, epoch: &str, version: &str, release: &str) {
        match epoch.parse() {
            Ok(epoch) => {
                self.now.evr = Evr {
                    epoch,
                    version: version.to_owned(),
                    release: release.to_owned(),
                }
            }
            Err(_) => self.refuse(format!("epoch {epoch:?} is not a number")),
        }
    }

    fn set_summary(&mut self, summary: &str) {
        self.now.summary = summary.to_owned();
    }

    fn set_size(&mut self, package: u64, _installed: u64, _archive: u64) {
        self.now.size = package;
    }

    fn set_location(&mut self, href: &str, base: Option<&str>) {
        if base.is_some() {
            self.refuse(format!("its file {href:?} is on another server (xml:base)"));
        } else if inside(std::path::Path::new(""), href).is_none() {
            self.refuse(format!(
                "its location {href:?} is not a path inside the repository"
            ));
        } else {
            self.now.location = Some(href.to_owned());
        }
    }

    fn add_provide(&mut self, r: RequirementData<'_>) {
        self.now.relations.provides.extend(dep(&r));
    }

    fn add_require(&mut self, r: RequirementData<'_>) {
        self.now.relations.requires.extend(dep(&r));
    }

    fn add_obsolete(&mut self, r: RequirementData<'_>) {
        self.now.relations.obsoletes.extend(dep(&r));
    }

    fn add_conflict(&mut self, r: RequirementData<'_>) {
        self.now.relations.conflicts.extend(dep(&r));
    }

    fn end_package(&mut self) {
        let reason = match (&self.now.digest, &self.now.location) {
            (Some(Err(reason)), _) => Some(reason.clone()),
            (_, None) => Some("it has no location".to_owned()),
            _ => None,
        };
        if let Some(reason) = reason {
            return self.refuse(reason);
        }
        let p = std::mem::take(&mut self.now);
        let (Some(Ok(sha256)), Some(location)) = (p.digest, p.location) else {
            unreachable!("checked above")
        };
        self.done.push(RepoPackage {
            nevra: Nevra::new(p.name, p.evr, p.arch),
            location,
            size: p.size,
            sha256,
            summary: p.summary,
            relations: p.relations,
            changelog: Vec::new(),
        });
    }
}
