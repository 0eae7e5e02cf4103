//! Package names and versions: `Evr` (epoch, version, release) and `Nevra`, compared as rpm does.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Epoch, version and release of a package.
///
/// Equality is by spelling; [`Evr::rpm_cmp`] is rpm's order, in which `1.0` and `1.00` are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evr {
    /// The epoch; a package without one has epoch 0.
    pub epoch: u32,
    /// The upstream version.
    pub version: String,
    /// The distribution's release; empty in a dependency that names none.
    pub release: String,
}

/// A version string that is not `[epoch:]version[-release]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a package version of the form [epoch:]version[-release]")]
pub struct EvrError(pub String);

impl Evr {
    /// An EVR from its parts.
    pub fn new(epoch: u32, version: impl Into<String>, release: impl Into<String>) -> Self {
        Evr {
            epoch,
            version: version.into(),
            release: release.into(),
        }
    }

    fn as_rpm(&self) -> rpm_version::Evr<'_> {
        rpm_version::Evr::new(
            std::borrow::Cow::Owned(self.epoch.to_string()),
            std::borrow::Cow::Borrowed(self.version.as_str()),
            std::borrow::Cow::Borrowed(self.release.as_str()),
        )
    }

    /// rpm's order (rpmvercmp on epoch, then version, then release).
    pub fn rpm_cmp(&self, other: &Evr) -> Ordering {
        self.as_rpm().cmp(&other.as_rpm())
    }

    /// rpm's order for a dependency's version: a side without a release ignores the other's.
    pub fn rpm_cmp_dep(&self, other: &Evr) -> Ordering {
        if self.release.is_empty() || other.release.is_empty() {
            Evr::new(self.epoch, self.version.as_str(), "").rpm_cmp(&Evr::new(
                other.epoch,
                other.version.as_str(),
                "",
            ))
        } else {
            self.rpm_cmp(other)
        }
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if !self.release.is_empty() {
            write!(f, "-{}", self.release)?;
        }
        Ok(())
    }
}

impl FromStr for Evr {
    type Err = EvrError;

    fn from_str(s: &str) -> Result<Self, EvrError> {
        let bad = || EvrError(s.to_owned());
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => (e.parse::<u32>().map_err(|_| bad())?, rest),
            None => (0, s),
        };
        let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
        let ok = |p: &str| !p.contains([':', '-', ' ', '/']);
        if version.is_empty() || !ok(version) || !ok(release) || rest.ends_with('-') {
            return Err(bad());
        }
        Ok(Evr::new(epoch, version, release))
    }
}

/// Name, epoch, version, release and architecture: one build of one package.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Nevra {
    /// The package name.
    pub name: String,
    /// Its version.
    #[serde(flatten)]
    pub evr: Evr,
    /// Its architecture (`x86_64`, `noarch`, ...).
    pub arch: String,
}

impl Nevra {
    /// A NEVRA from its parts.
    pub fn new(name: impl Into<String>, evr: Evr, arch: impl Into<String>) -> Self {
        Nevra {
            name: name.into(),
            evr,
            arch: arch.into(),
        }
    }

    /// Name and architecture: what an update replaces.
    pub fn name_arch(&self) -> (&str, &str) {
        (&self.name, &self.arch)
    }

    /// The conventional file name, `name-version-release.arch.rpm` (the epoch is not in it).
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.evr.version, self.evr.release, self.arch
        )
    }
}

impl fmt::Display for Nevra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}", self.name, self.evr, self.arch)
    }
}

impl FromStr for Nevra {
    type Err = EvrError;

    /// Parses `name-[epoch:]version-release.arch`.
    fn from_str(s: &str) -> Result<Self, EvrError> {
        let bad = || EvrError(s.to_owned());
        let (rest, arch) = s.rsplit_once('.').ok_or_else(bad)?;
        let (rest, release) = rest.rsplit_once('-').ok_or_else(bad)?;
        let (name, ev) = rest.rsplit_once('-').ok_or_else(bad)?;
        if name.is_empty() || arch.is_empty() || release.is_empty() {
            return Err(bad());
        }
        let evr: Evr = format!("{ev}-{release}").parse().map_err(|_| bad())?;
        Ok(Nevra::new(name, evr, arch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evr(s: &str) -> Evr {
        s.parse().unwrap()
    }

    #[test]
    fn rpm_order_matches_rpmvercmp_on_tricky_pairs() {
        // Each pair checked against Debian's rpm 4.18: rpm --eval "%{lua: print(rpm.vercmp(a, b))}".
        let less = [
            ("1.0-1", "1.0.1-1"),
            ("1.0-1", "1.0-2"),
            ("1.0~rc1-1", "1.0-1"),
            ("1.0-1", "1.0^git1-1"),
            ("1.0^git1-1", "1.0.1-1"),
            ("2.0-1", "1:1.0-1"),
            ("1.9-1", "1.10-1"),
            ("a-1", "b-1"),
            ("1.0a-1", "1.0b-1"),
            ("1.0-1.fc40", "1.0-1.fc41"),
            ("5.2.26-3.fc41", "5.2.32-1.fc41"),
        ];
        for (a, b) in less {
            assert_eq!(evr(a).rpm_cmp(&evr(b)), Ordering::Less, "{a} < {b}");
            assert_eq!(evr(b).rpm_cmp(&evr(a)), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(evr("1.0-1").rpm_cmp(&evr("1.00-1")), Ordering::Equal);
        assert_eq!(evr("0:1.0-1").rpm_cmp(&evr("1.0-1")), Ordering::Equal);
        assert_ne!(evr("1.0-1"), evr("1.00-1"));
    }

    #[test]
    fn a_dependency_without_a_release_matches_every_release() {
        assert_eq!(evr("1.0").rpm_cmp_dep(&evr("1.0-7")), Ordering::Equal);
        assert_eq!(evr("1.0-7").rpm_cmp_dep(&evr("1.0")), Ordering::Equal);
        assert_eq!(evr("1.0-7").rpm_cmp_dep(&evr("1.0-8")), Ordering::Less);
        assert_eq!(evr("1.1").rpm_cmp_dep(&evr("1.0-8")), Ordering::Greater);
    }

    #[test]
    fn parses_and_prints_nevras() {
        let n: Nevra = "kernel-core-1:6.11.4-301.fc41.x86_64".parse().unwrap();
        assert_eq!(n.name, "kernel-core");
        assert_eq!(n.evr, Evr::new(1, "6.11.4", "301.fc41"));
        assert_eq!(n.arch, "x86_64");
        assert_eq!(n.to_string(), "kernel-core-1:6.11.4-301.fc41.x86_64");
        assert_eq!(n.file_name(), "kernel-core-6.11.4-301.fc41.x86_64.rpm");
        for bad in [
            "",
            "foo",
            "foo.x86_64",
            "foo-1.0.x86_64",
            "-1.0-1.x86_64",
            "foo-x:1-1.noarch",
        ] {
            assert!(bad.parse::<Nevra>().is_err(), "{bad:?} should not parse");
        }
        assert!("1:".parse::<Evr>().is_err());
        assert!("1.0-".parse::<Evr>().is_err());
        assert_eq!(evr("2:1.0").to_string(), "2:1.0");
    }

    #[test]
    fn a_version_or_release_with_a_forbidden_character_is_refused() {
        assert_eq!(evr("1.0-1"), Evr::new(0, "1.0", "1"));
        assert_eq!(evr("1.0"), Evr::new(0, "1.0", ""));
        // Each part is checked on its own: a bad version beside a good release, and the reverse.
        for bad in ["1/0-1", "1 0-1", "1.0-1/2", "1.0-1 2", "-1", "x:1.0-1"] {
            assert_eq!(bad.parse::<Evr>(), Err(EvrError(bad.into())));
        }
        assert_eq!(
            "1/0-1".parse::<Evr>().unwrap_err().to_string(),
            "\"1/0-1\" is not a package version of the form [epoch:]version[-release]"
        );
    }

    #[test]
    fn a_nevra_needs_a_name_a_release_and_an_architecture() {
        let n: Nevra = "bash-5.2.32-1.fc41.noarch".parse().unwrap();
        assert_eq!(n.name_arch(), ("bash", "noarch"));
        // An empty architecture must not hide behind a present release, nor the reverse.
        for bad in [
            "bash-5.2.32-1.fc41.",
            "bash-5.2.32-.noarch",
            "-5.2.32-1.noarch",
        ] {
            assert_eq!(bad.parse::<Nevra>(), Err(EvrError(bad.into())));
        }
    }
}
