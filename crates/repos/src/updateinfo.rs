//! `updateinfo.xml`: the advisories a distribution publishes (Fedora's from Bodhi), as dnf and
//! GNOME Software show them: type, severity, references (CVEs, bugs), the packages they name.

use std::io::BufRead;

use rpmrepo_metadata::{MetadataError, UpdateRecord, UpdateinfoXml, utils::create_xml_reader};
use serde::{Deserialize, Serialize};
use swarmdate_packages::{Evr, Nevra};

/// What an advisory is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvisoryKind {
    /// Fixes vulnerabilities.
    Security,
    /// Fixes bugs.
    Bugfix,
    /// Adds or improves features.
    Enhancement,
    /// Brings a package new to the distribution.
    Newpackage,
    /// A type this reader does not know.
    Other,
}

/// What a reference points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceKind {
    /// A CVE entry.
    Cve,
    /// A bug report.
    Bugzilla,
    /// The advisory's own page.
    #[serde(rename = "self")]
    Itself,
    /// Anything else.
    Other,
}

/// A CVE, a bug or a page an advisory refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// What it is.
    pub kind: ReferenceKind,
    /// `CVE-2026-1234`, a bug number; may be empty.
    pub id: String,
    /// Its title; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Where to read it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub href: String,
}

/// A package an advisory names: the build that carries the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryPackage {
    /// Name, version and architecture.
    #[serde(flatten)]
    pub nevra: Nevra,
    /// Its file name.
    pub filename: String,
}

/// One advisory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// `FEDORA-2026-1a2b3c4d5e`.
    pub id: String,
    /// What it is for.
    pub kind: AdvisoryKind,
    /// As the distribution states it (`Critical`, `Important`, `Moderate`, `Low`, `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// One line.
    pub title: String,
    /// When it was issued, as given (`2026-12-02 10:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// What it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// CVEs, bugs, its page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// A restart is suggested after it (for the advisory or one of its packages).
    #[serde(default)]
    pub reboot_suggested: bool,
    /// The builds it names.
    pub packages: Vec<AdvisoryPackage>,
}

impl Advisory {
    /// How urgent it is, for ordering: 4 critical/urgent, 3 important/high, 2 moderate/medium,
    /// 1 low, 0 none or unstated; security before anything else.
    pub fn rank(&self) -> (bool, u8) {
        let severity = match self
            .severity
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("critical" | "urgent") => 4,
            Some("important" | "high") => 3,
            Some("moderate" | "medium") => 2,
            Some("low") => 1,
            _ => 0,
        };
        (self.kind == AdvisoryKind::Security, severity)
    }

    /// The CVE identifiers it refers to.
    pub fn cves(&self) -> impl Iterator<Item = &str> {
        self.references
            .iter()
            .filter(|r| r.kind == ReferenceKind::Cve && !r.id.is_empty())
            .map(|r| r.id.as_str())
    }
}

impl From<UpdateRecord> for Advisory {
    fn from(u: UpdateRecord) -> Self {
        let kind = match u.update_type.as_str() {
            "security" => AdvisoryKind::Security,
            "bugfix" => AdvisoryKind::Bugfix,
            "enhancement" => AdvisoryKind::Enhancement,
            "newpackage" => AdvisoryKind::Newpackage,
            _ => AdvisoryKind::Other,
        };
        let references = u
            .references
            .into_iter()
            .map(|r| Reference {
                kind: match r.reftype.as_str() {
                    "cve" => ReferenceKind::Cve,
                    "bugzilla" => ReferenceKind::Bugzilla,
                    "self" => ReferenceKind::Itself,
                    _ => ReferenceKind::Other,
                },
                id: r.id,
                title: r.title,
                href: r.href,
            })
            .collect();
        let mut reboot = u.reboot_suggested;
        let packages = u
            .pkglist
            .into_iter()
            .flat_map(|c| c.packages)
            .map(|p| {
                reboot |= p.reboot_suggested;
                AdvisoryPackage {
                    nevra: Nevra::new(
                        p.name,
                        Evr {
                            epoch: p.epoch.parse().unwrap_or(0),
                            version: p.version,
                            release: p.release,
                        },
                        p.arch,
                    ),
                    filename: p.filename,
                }
            })
            .collect();
        Advisory {
            id: u.id,
            kind,
            severity: u.severity.filter(|s| !s.is_empty()),
            title: u.title,
            issued: u.issued_date,
            description: u.description.unwrap_or_default(),
            references,
            reboot_suggested: reboot,
            packages,
        }
    }
}

/// Reads every advisory of an updateinfo document.
pub(crate) fn read(reader: impl BufRead) -> Result<Vec<Advisory>, MetadataError> {
    let mut r = UpdateinfoXml::new_reader(create_xml_reader(reader));
    let mut out = Vec::new();
    while let Some(u) = r.read_update()? {
        out.push(u.into());
    }
    Ok(out)
}
