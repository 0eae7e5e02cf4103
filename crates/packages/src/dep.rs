//! Dependencies as rpm states them: a name (a package, a capability or a file) and an optional
//! version constraint.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::evr::Evr;

/// A version comparison in a dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
}

impl Op {
    fn admits(self, ord: Ordering) -> bool {
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Eq => ord == Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
}

/// One requires, provides, obsoletes or conflicts entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dep {
    /// A package name, a virtual capability, or an absolute file path.
    pub name: String,
    /// The version constraint, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<(Op, Evr)>,
}

impl Dep {
    /// A dependency on any version of `name`.
    pub fn any(name: impl Into<String>) -> Self {
        Dep {
            name: name.into(),
            constraint: None,
        }
    }

    /// A dependency on `name` with a constraint.
    pub fn with(name: impl Into<String>, op: Op, evr: Evr) -> Self {
        Dep {
            name: name.into(),
            constraint: Some((op, evr)),
        }
    }

    /// Whether a provide satisfies this requirement (rpm's range overlap for the common cases: an
    /// unversioned side matches any version; a versioned provide is one point).
    pub fn is_satisfied_by(&self, provide: &Dep) -> bool {
        if self.name != provide.name {
            return false;
        }
        match (&self.constraint, &provide.constraint) {
            (None, _) | (_, None) => true,
            (Some((op, want)), Some((pop, have))) => {
                let ord = have.rpm_cmp_dep(want);
                match pop {
                    Op::Eq => op.admits(ord),
                    // A ranged provide (rare): the ranges overlap unless they point apart.
                    Op::Ge | Op::Gt => match op {
                        Op::Ge | Op::Gt => true,
                        Op::Eq | Op::Le => ord != Ordering::Greater,
                        Op::Lt => ord == Ordering::Less,
                    },
                    Op::Le | Op::Lt => match op {
                        Op::Le | Op::Lt => true,
                        Op::Eq | Op::Ge => ord != Ordering::Less,
                        Op::Gt => ord == Ordering::Greater,
                    },
                }
            }
        }
    }

    /// Whether rpm itself resolves this one (`rpmlib(...)`, `config(...)` of the same package).
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("rpmlib(")
    }

    /// Converts a dependency read by the `rpm` crate.
    pub fn from_rpm(d: &rpm::Dependency) -> Self {
        use rpm::DependencyFlags as F;
        let op = match (
            d.flags.contains(F::LESS),
            d.flags.contains(F::GREATER),
            d.flags.contains(F::EQUAL),
        ) {
            (true, false, false) => Some(Op::Lt),
            (true, false, true) => Some(Op::Le),
            (false, false, true) => Some(Op::Eq),
            (false, true, true) => Some(Op::Ge),
            (false, true, false) => Some(Op::Gt),
            _ => None,
        };
        match (op, d.version.parse::<Evr>()) {
            (Some(op), Ok(evr)) if !d.version.is_empty() => Dep::with(d.name.as_str(), op, evr),
            _ => Dep::any(d.name.as_str()),
        }
    }

    /// Converts to the `rpm` crate's type, for building packages.
    pub fn to_rpm(&self) -> rpm::Dependency {
        match &self.constraint {
            None => rpm::Dependency::any(self.name.as_str()),
            Some((op, evr)) => {
                let v = evr.to_string();
                match op {
                    Op::Lt => rpm::Dependency::less(self.name.as_str(), v),
                    Op::Le => rpm::Dependency::less_eq(self.name.as_str(), v),
                    Op::Eq => rpm::Dependency::eq(self.name.as_str(), v),
                    Op::Ge => rpm::Dependency::greater_eq(self.name.as_str(), v),
                    Op::Gt => rpm::Dependency::greater(self.name.as_str(), v),
                }
            }
        }
    }
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((op, evr)) = &self.constraint {
            write!(f, " {} {evr}", op.as_str())?;
        }
        Ok(())
    }
}

/// What a package declares about its relations to others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relations {
    /// Capabilities it offers (its own name and version among them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<Dep>,
    /// Capabilities it needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Dep>,
    /// Packages it replaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obsoletes: Vec<Dep>,
    /// Packages it cannot be installed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Dep>,
}

impl Relations {
    /// Reads them from a package header; rpmlib() requirements are rpm's own and left out.
    pub fn from_header(h: &rpm::PackageMetadata) -> Result<Self, rpm::Error> {
        let conv = |v: Vec<rpm::Dependency>| -> Vec<Dep> {
            v.iter()
                .map(Dep::from_rpm)
                .filter(|d| !d.is_internal())
                .collect()
        };
        Ok(Relations {
            provides: conv(h.get_provides()?),
            requires: conv(h.get_requires()?),
            obsoletes: conv(h.get_obsoletes()?),
            conflicts: conv(h.get_conflicts()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, op: Op, evr: &str) -> Dep {
        Dep::with(name, op, evr.parse().unwrap())
    }

    #[test]
    fn versioned_requirements_match_versioned_provides_as_rpm_does() {
        let have = dep("libfoo", Op::Eq, "2.1-3.fc41");
        assert!(dep("libfoo", Op::Ge, "2.0").is_satisfied_by(&have));
        assert!(dep("libfoo", Op::Eq, "2.1").is_satisfied_by(&have));
        assert!(dep("libfoo", Op::Lt, "3").is_satisfied_by(&have));
        assert!(!dep("libfoo", Op::Ge, "2.2").is_satisfied_by(&have));
        assert!(!dep("libfoo", Op::Eq, "2.1-4.fc41").is_satisfied_by(&have));
        assert!(!dep("libbar", Op::Ge, "1").is_satisfied_by(&have));
        assert!(Dep::any("libfoo").is_satisfied_by(&have));
        assert!(dep("libfoo", Op::Ge, "9").is_satisfied_by(&Dep::any("libfoo")));
    }

    #[test]
    fn converts_to_and_from_the_rpm_crate() {
        for d in [
            Dep::any("bash"),
            dep("glibc", Op::Ge, "2.40"),
            dep("kernel", Op::Lt, "1:6.11-1"),
            dep("x", Op::Eq, "1.0-1"),
        ] {
            assert_eq!(Dep::from_rpm(&d.to_rpm()), d, "{d}");
        }
        assert_eq!(dep("glibc", Op::Ge, "2.40").to_string(), "glibc >= 2.40");
    }
}
