//! Advisories in a plan: which ones each change brings (dnf's rule: an advisory applies when it
//! names a build of the package newer than the installed one), and the security goal that moves
//! only the packages security advisories name, and what they need.

use std::collections::{HashMap, HashSet};

use resolvo::ConditionalRequirement;
use resolvo::id::DenseIndex;

use super::solve::{Origin, Universe};
use super::{Catalogue, Plan, exactly, installed_of, newest};
use crate::packages::Nevra;
use crate::repos::{Advisory, AdvisoryKind};

/// The catalogue's advisories (each id once, the newest repository's), by the package names
/// they name: a change or an installed name looks up only its own.
fn by_name(cat: &Catalogue) -> HashMap<&str, Vec<&Advisory>> {
    let mut seen = HashSet::new();
    let mut map: HashMap<&str, Vec<&Advisory>> = HashMap::new();
    for a in cat
        .repos
        .iter()
        .flat_map(|r| &r.index.advisories)
        .filter(|a| seen.insert(a.id.as_str()))
    {
        let mut names: Vec<&str> = a.packages.iter().map(|p| p.nevra.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            map.entry(n).or_default().push(a);
        }
    }
    map
}

/// Whether `a` names a build of `to`'s name and architecture newer than `from` (nothing
/// installed: any) and no newer than `to`.
fn brings(a: &Advisory, from: Option<&Nevra>, to: &Nevra) -> bool {
    a.packages.iter().any(|p| {
        let n = &p.nevra;
        n.name == to.name
            && n.arch == to.arch
            && n.evr.rpm_cmp(&to.evr).is_le()
            && from.is_none_or(|f| n.evr.rpm_cmp(&f.evr).is_gt())
    })
}

/// Gives each change the advisories it brings, most urgent first; security changes first.
pub(super) fn attach_advisories(plan: &mut Plan, cat: &Catalogue) {
    let index = by_name(cat);
    if index.is_empty() {
        return;
    }
    for c in &mut plan.changes {
        let from = c
            .replaces
            .iter()
            .filter(|r| r.name == c.package.name)
            .max_by(|a, b| a.evr.rpm_cmp(&b.evr));
        c.advisories = index
            .get(c.package.name.as_str())
            .into_iter()
            .flatten()
            .filter(|a| brings(a, from, &c.package))
            .map(|a| (*a).clone())
            .collect();
        c.advisories.sort_by_key(|a| std::cmp::Reverse(a.rank()));
    }
    // Stable: within a rank, the name order the plan already has.
    plan.changes.sort_by_key(|c| {
        std::cmp::Reverse(c.advisories.first().map(Advisory::rank).unwrap_or_default())
    });
}

/// The security goal: each installed package that a security advisory names in a newer build
/// goes to a newer build; everything else stays unless those need it to move.
pub(super) fn security_requirements(u: &Universe, cat: &Catalogue) -> Vec<ConditionalRequirement> {
    let index = by_name(cat);
    let mut reqs = Vec::new();
    for (n, sols) in u.by_name.iter().enumerate() {
        let name = resolvo::NameId::from_index(n);
        let installed = installed_of(u, name);
        let Some(top) = newest(u, &installed) else {
            continue;
        };
        let top_nevra = u.solv(top).nevra;
        let builds: Vec<_> = sols
            .iter()
            .copied()
            .filter(|&s| {
                matches!(u.solv(s).origin, Origin::Build(_))
                    && u.solv(s).nevra.evr.rpm_cmp(&top_nevra.evr).is_gt()
            })
            .collect();
        let fixed = !builds.is_empty()
            && index
                .get(top_nevra.name.as_str())
                .into_iter()
                .flatten()
                .filter(|a| a.kind == AdvisoryKind::Security)
                .any(|a| {
                    builds
                        .iter()
                        .any(|&b| brings(a, Some(top_nevra), u.solv(b).nevra))
                });
        if u.is_installonly(name) {
            for &i in &installed {
                reqs.push(exactly(u, name, i));
            }
            if fixed && let Some(b) = newest(u, &builds) {
                reqs.push(exactly(u, name, b));
            }
        } else if fixed {
            reqs.push(
                u.set(name, builds, format!("> {} (security)", top_nevra.evr))
                    .into(),
            );
        } else {
            let all = u.by_name[n].clone();
            reqs.push(u.set(name, all, "any".into()).into());
        }
    }
    reqs
}
