//! Planning a transaction: updates (newest build per name and architecture, with what they pull
//! in, what they obsolete, installonly packages beside the old ones) and downgrades, solved with
//! `resolvo` over the installed inventory and the feed's package indexes.

mod catalogue;
mod changelog;
mod fetch;
mod plain;
mod security;
mod solve;
mod undo;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use resolvo::id::DenseIndex;
use resolvo::{ConditionalRequirement, Problem, SolvableId, Solver, UnsolvableOrCancelled};
use serde::Serialize;

pub use catalogue::{Catalogue, Repo, Source};
pub use fetch::{IndexPinMismatch, LoadedRepo, load_repositories};
pub use plain::{LeftOut, PlainRepo, index_of_repodata, load_plain_repositories};
use solve::{Origin, Universe};

use crate::hash::Sha256;
use crate::packages::{Dep, Evr, Inventory, Nevra, Op};

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Every installed package at its newest build.
    Update,
    /// The installed packages that security advisories name, each to a newer build (the newest
    /// the solver can take), with what they need; the rest kept.
    Security,
    /// One package to an older build (the newest older one, or `version`), the rest kept.
    Downgrade {
        /// The package name.
        name: String,
        /// `version` or `version-release`; `None` for the newest older build.
        version: Option<String>,
    },
    /// Transaction `id` of the root's history undone, as worked out from it.
    Undo {
        /// Its number.
        id: i64,
        /// What to restore and remove.
        undo: crate::packages::Undo,
    },
}

impl Goal {
    /// The goal as the user would type it (the history's label).
    pub fn label(&self) -> String {
        match self {
            Goal::Update => "update".into(),
            Goal::Security => "update --security".into(),
            Goal::Downgrade {
                name,
                version: Some(v),
            } => format!("downgrade {name} {v}"),
            Goal::Downgrade {
                name,
                version: None,
            } => format!("downgrade {name}"),
            Goal::Undo { id, .. } => format!("history undo {id}"),
        }
    }
}

/// What happens to one package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A package the system does not have (a new dependency, or one that obsoletes others).
    Install,
    /// A newer build replaces the installed one.
    Upgrade,
    /// An older build replaces the installed one.
    Downgrade,
    /// An installonly package (a kernel) installed beside the builds already there.
    InstallBeside,
}

/// One package the transaction installs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What happens.
    pub kind: ChangeKind,
    /// The build that gets installed.
    pub package: Nevra,
    /// The installed builds it replaces (the older build, or those it obsoletes).
    pub replaces: Vec<Nevra>,
    /// Its place in [`Catalogue::builds`].
    #[serde(skip)]
    pub build: usize,
    /// The advisories it brings (from the repositories' updateinfo), most urgent first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<crate::repos::Advisory>,
    /// The changelog entries its build brings, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changelog: Vec<crate::repos::ChangelogEntry>,
}

/// One file the transaction needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Download {
    /// The package.
    pub package: Nevra,
    /// Its size.
    pub size: u64,
    /// Its digest, checked before it enters the store.
    pub sha256: Sha256,
    /// Whether the store already holds it (nothing to fetch).
    pub held: bool,
    /// Torrents that carry it, newest first.
    #[serde(skip)]
    pub sources: Vec<Source>,
}

/// A solved transaction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Every package installed, by name.
    pub changes: Vec<Change>,
    /// The files they come from.
    pub downloads: Vec<Download>,
    /// Bytes to fetch (what the store does not hold).
    pub download_bytes: u64,
    /// Bytes the store already holds.
    pub held_bytes: u64,
    /// Installed builds the transaction removes (an undo of what another installed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removals: Vec<Nevra>,
}

impl Plan {
    /// Adds catalogue build `b` as a change of `kind` replacing `replaces`, and its file (held,
    /// or to download).
    fn add(
        &mut self,
        cat: &Catalogue,
        b: usize,
        kind: ChangeKind,
        replaces: Vec<Nevra>,
        held: &dyn Fn(&Sha256) -> bool,
    ) {
        let nevra = cat.builds[b].0.clone();
        let pkg = cat.build(b);
        let is_held = held(&pkg.sha256);
        if is_held {
            self.held_bytes += pkg.size;
        } else {
            self.download_bytes += pkg.size;
        }
        self.downloads.push(Download {
            package: nevra.clone(),
            size: pkg.size,
            sha256: pkg.sha256,
            held: is_held,
            sources: cat.builds[b].1.clone(),
        });
        self.changes.push(Change {
            kind,
            package: nevra,
            replaces,
            build: b,
            advisories: Vec::new(),
            changelog: Vec::new(),
        });
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.removals.is_empty()
    }
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The dependencies cannot be satisfied.
    #[error("the packages cannot be installed together:\n{0}")]
    Unsolvable(String),
    /// Cancelled before a solution was found.
    #[error("planning was cancelled")]
    Cancelled,
    /// A downgrade of a package that is not installed.
    #[error("{0} is not installed, so it cannot be downgraded")]
    NotInstalled(String),
    /// No older build (or not the one asked for) is in any repository of the feed.
    #[error(
        "no {what} of {name} is available in the feed's repositories; `swarmdate update --check` lists what is"
    )]
    NotAvailable { name: String, what: String },
    /// Builds an undo must restore that no repository, snapshot or store entry has.
    #[error(
        "no repository of the feed or of the system, no snapshot and no package in the store has {0}, which the undo must install again; nothing was changed"
    )]
    UndoUnavailable(String),
    /// The solution would remove a package (a bug in the problem's encoding, never silent).
    #[error("the plan would remove {0}, which nothing replaces; nothing was changed")]
    WouldRemove(Nevra),
}

/// The architectures a system takes packages for: those it has installed, its own, and noarch.
pub fn system_arches(inv: &Inventory) -> HashSet<String> {
    let mut a: HashSet<String> = inv.packages.iter().map(|p| p.nevra.arch.clone()).collect();
    a.insert(std::env::consts::ARCH.to_owned());
    a.insert("noarch".to_owned());
    a
}

/// Solves `goal` for a system with `inv` installed; `held` says which packages the store has.
pub fn plan(
    inv: &Inventory,
    cat: &Catalogue,
    goal: &Goal,
    held: &dyn Fn(&Sha256) -> bool,
    cancel: &AtomicBool,
) -> Result<Plan, PlanError> {
    let arches = system_arches(inv);
    let mut u = Universe::new(inv, cat, &arches, cancel);
    let requirements = match goal {
        Goal::Update => update_requirements(&u),
        Goal::Security => {
            u.prefer_installed = true;
            security::security_requirements(&u, cat)
        }
        Goal::Downgrade { name, version } => {
            u.prefer_installed = true;
            downgrade_requirements(&u, name, version.as_deref())?
        }
        // Exact, not solved: what the history says, checked by dnf.
        Goal::Undo { undo, .. } => return undo::plan_undo(inv, cat, undo, held),
    };
    let mut solver = Solver::new(u);
    let chosen = match solver.solve(Problem::new().requirements(requirements)) {
        Ok(c) => c,
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            return Err(PlanError::Unsolvable(
                conflict.display_user_friendly(&solver).to_string(),
            ));
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => return Err(PlanError::Cancelled),
    };
    let mut plan = changes(solver.provider(), cat, &chosen, held)?;
    security::attach_advisories(&mut plan, cat);
    changelog::attach_changelogs(&mut plan, cat);
    Ok(plan)
}

fn installed_of(u: &Universe, name: resolvo::NameId) -> Vec<SolvableId> {
    u.by_name[name.to_index()]
        .iter()
        .copied()
        .filter(|&s| matches!(u.solv(s).origin, Origin::Installed(_)))
        .collect()
}

fn newest(u: &Universe, of: &[SolvableId]) -> Option<SolvableId> {
    of.iter()
        .copied()
        .min_by(|a, b| solve::newest_first(u.solv(*a).nevra, u.solv(*b).nevra))
}

/// `name` at exactly the build `s` (an installonly package kept, or one more beside it).
fn exactly(u: &Universe, name: resolvo::NameId, s: SolvableId) -> ConditionalRequirement {
    u.set(name, vec![s], format!("= {}", u.solv(s).nevra.evr))
        .into()
}

/// The self-provide rpm matches obsoletes against.
fn self_provide(n: &Nevra) -> Dep {
    Dep::with(n.name.as_str(), Op::Eq, n.evr.clone())
}

fn update_requirements(u: &Universe) -> Vec<ConditionalRequirement> {
    // Builds that obsolete something, by the package name they obsolete; only the newest build of
    // each name counts, as in dnf.
    let mut obsoleters: HashMap<&str, Vec<(SolvableId, &Dep)>> = HashMap::new();
    for sols in &u.by_name {
        let builds: Vec<SolvableId> = sols
            .iter()
            .copied()
            .filter(|&s| matches!(u.solv(s).origin, Origin::Build(_)))
            .collect();
        if let Some(b) = newest(u, &builds) {
            for d in &u.solv(b).relations.obsoletes {
                obsoleters.entry(d.name.as_str()).or_default().push((b, d));
            }
        }
    }
    let mut reqs = Vec::new();
    for (n, sols) in u.by_name.iter().enumerate() {
        let name = resolvo::NameId::from_index(n);
        let installed = installed_of(u, name);
        let Some(top) = newest(u, &installed) else {
            continue;
        };
        let top_nevra = u.solv(top).nevra;
        if u.is_installonly(name) {
            for &i in &installed {
                reqs.push(exactly(u, name, i));
            }
            if let Some(b) = newest(u, sols)
                && !installed.contains(&b)
            {
                reqs.push(exactly(u, name, b));
            }
            continue;
        }
        let by = obsoleters
            .get(top_nevra.name.as_str())
            .into_iter()
            .flatten()
            .filter(|(b, d)| u.solv(*b).name != name && d.is_satisfied_by(&self_provide(top_nevra)))
            .map(|(b, _)| *b)
            .collect::<Vec<_>>();
        if let Some(o) = newest(u, &by) {
            let on = u.solv(o);
            reqs.push(
                u.set(
                    on.name,
                    vec![o],
                    format!("= {} (obsoletes {top_nevra})", on.nevra.evr),
                )
                .into(),
            );
            continue;
        }
        let members = u.versions(name, |n| n.evr.rpm_cmp(&top_nevra.evr).is_ge());
        reqs.push(u.set(name, members, format!(">= {}", top_nevra.evr)).into());
    }
    reqs
}

fn downgrade_requirements(
    u: &Universe,
    package: &str,
    version: Option<&str>,
) -> Result<Vec<ConditionalRequirement>, PlanError> {
    let targets: Vec<resolvo::NameId> = u
        .names_of(package)
        .iter()
        .copied()
        .filter(|&n| !installed_of(u, n).is_empty())
        .collect();
    if targets.is_empty() {
        return Err(PlanError::NotInstalled(package.to_owned()));
    }
    let wanted: Option<Evr> = version.and_then(|v| v.parse().ok());
    let mut reqs = Vec::new();
    for (n, _) in u.by_name.iter().enumerate() {
        let name = resolvo::NameId::from_index(n);
        let installed = installed_of(u, name);
        let Some(top) = newest(u, &installed) else {
            continue;
        };
        if targets.contains(&name) {
            let top_evr = &u.solv(top).nevra.evr;
            let members = u.versions(name, |n| match &wanted {
                Some(w) => n.evr.rpm_cmp_dep(w).is_eq() && n.evr.rpm_cmp(top_evr).is_lt(),
                None => n.evr.rpm_cmp(top_evr).is_lt(),
            });
            if members.is_empty() {
                return Err(PlanError::NotAvailable {
                    name: package.to_owned(),
                    what: match version {
                        Some(v) => format!("build {v} older than the installed {top_evr}"),
                        None => format!("build older than the installed {top_evr}"),
                    },
                });
            }
            reqs.push(u.set(name, members, format!("< {top_evr}")).into());
        } else if u.is_installonly(name) {
            for &i in &installed {
                reqs.push(exactly(u, name, i));
            }
        } else {
            let all = u.by_name[n].clone();
            reqs.push(u.set(name, all, "any".into()).into());
        }
    }
    Ok(reqs)
}

fn changes(
    u: &Universe,
    cat: &Catalogue,
    chosen: &[SolvableId],
    held: &dyn Fn(&Sha256) -> bool,
) -> Result<Plan, PlanError> {
    let chosen_set: HashSet<SolvableId> = chosen.iter().copied().collect();
    let chosen_names: HashSet<resolvo::NameId> = chosen.iter().map(|&s| u.solv(s).name).collect();
    // Installed builds that leave because their name leaves: only an obsoleting build may do that.
    let leaving: Vec<SolvableId> = (0..u.solvables.len())
        .map(resolvo::SolvableId::from_index)
        .filter(|s| {
            matches!(u.solv(*s).origin, Origin::Installed(_))
                && !chosen_set.contains(s)
                && !chosen_names.contains(&u.solv(*s).name)
        })
        .collect();
    let mut plan = Plan::default();
    let mut explained: HashSet<SolvableId> = HashSet::new();
    for &c in chosen {
        let s = u.solv(c);
        let Origin::Build(b) = s.origin else { continue };
        let installed = installed_of(u, s.name);
        let (kind, replaces) = if installed.is_empty() {
            let obsoleted: Vec<SolvableId> = leaving
                .iter()
                .copied()
                .filter(|&l| {
                    let n = u.solv(l).nevra;
                    s.relations
                        .obsoletes
                        .iter()
                        .any(|d| d.is_satisfied_by(&self_provide(n)))
                })
                .collect();
            explained.extend(obsoleted.iter().copied());
            (ChangeKind::Install, obsoleted)
        } else if u.is_installonly(s.name) {
            (ChangeKind::InstallBeside, Vec::new())
        } else {
            let top = newest(u, &installed).expect("not empty");
            let kind = if s.nevra.evr.rpm_cmp(&u.solv(top).nevra.evr).is_gt() {
                ChangeKind::Upgrade
            } else {
                ChangeKind::Downgrade
            };
            let replaced: Vec<SolvableId> = installed
                .iter()
                .copied()
                .filter(|i| !chosen_set.contains(i))
                .collect();
            (kind, replaced)
        };
        let replaces = replaces.iter().map(|&r| u.solv(r).nevra.clone()).collect();
        plan.add(cat, b, kind, replaces, held);
    }
    if let Some(l) = leaving.iter().find(|l| !explained.contains(l)) {
        return Err(PlanError::WouldRemove(u.solv(*l).nevra.clone()));
    }
    plan.changes.sort_by_cached_key(|c| c.package.to_string());
    plan.downloads.sort_by_cached_key(|d| d.package.to_string());
    Ok(plan)
}
