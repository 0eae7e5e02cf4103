//! The dependency problem for `resolvo`: installed packages and catalogue builds as solvables,
//! named by package name and architecture; requires as unions over their providers; obsoletes and
//! conflicts as constraints; installonly packages allowed side by side.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::sync::atomic::AtomicBool;

use resolvo::id::DenseIndex;
use resolvo::{
    Candidates, Condition, ConditionId, Dependencies, DependencyProvider, Interner,
    KnownDependencies, NameId, Requirement, SolvableId, SolverCache, StringId, VersionSetId,
    VersionSetUnionId,
};

use super::catalogue::Catalogue;
use crate::packages::{Dep, Inventory, Nevra, Op, Relations};

/// Capabilities that make a package installonly, as dnf's default `installonlypkgs`.
const INSTALLONLY: &[&str] = &[
    "kernel",
    "kernel-PAE",
    "installonlypkg(kernel)",
    "installonlypkg(kernel-module)",
    "installonlypkg(vm)",
    "multiversion(kernel)",
];

/// What a solvable stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// `Inventory::packages[i]`.
    Installed(usize),
    /// `Catalogue::builds[b]`.
    Build(usize),
}

pub(super) struct Solv<'a> {
    pub name: NameId,
    pub nevra: &'a Nevra,
    pub relations: &'a Relations,
    pub origin: Origin,
}

/// A version set: an explicit set of solvables of one name.
struct VSet {
    name: NameId,
    members: Vec<SolvableId>,
    label: String,
}

/// The problem as resolvo sees it.
pub(super) struct Universe<'a> {
    names: Vec<String>,
    name_ids: HashMap<String, NameId>,
    /// Package name → the name keys (one per architecture) carrying it.
    by_package_name: HashMap<&'a str, Vec<NameId>>,
    installonly: HashSet<NameId>,
    pub solvables: Vec<Solv<'a>>,
    pub by_name: Vec<Vec<SolvableId>>,
    provides: HashMap<&'a str, Vec<(SolvableId, &'a Dep)>>,
    sets: RefCell<Vec<VSet>>,
    set_ids: RefCell<HashMap<(NameId, Vec<SolvableId>), VersionSetId>>,
    unions: RefCell<Vec<Vec<VersionSetId>>>,
    strings: RefCell<Vec<String>>,
    /// Downgrades keep everything else where it is when they can.
    pub prefer_installed: bool,
    cancel: &'a AtomicBool,
}

fn sid(i: usize) -> SolvableId {
    SolvableId::from_index(i)
}

impl<'a> Universe<'a> {
    /// The installed packages and every catalogue build for an allowed architecture (a build the
    /// system already has is the installed package, not a second solvable).
    pub fn new(
        inv: &'a Inventory,
        cat: &'a Catalogue,
        arches: &HashSet<String>,
        cancel: &'a AtomicBool,
    ) -> Self {
        let mut u = Universe {
            names: Vec::new(),
            name_ids: HashMap::new(),
            by_package_name: HashMap::new(),
            installonly: HashSet::new(),
            solvables: Vec::new(),
            by_name: Vec::new(),
            provides: HashMap::new(),
            sets: RefCell::default(),
            set_ids: RefCell::default(),
            unions: RefCell::default(),
            strings: RefCell::default(),
            prefer_installed: false,
            cancel,
        };
        let installed: HashSet<&Nevra> = inv.packages.iter().map(|p| &p.nevra).collect();
        for (i, p) in inv.packages.iter().enumerate() {
            u.add(&p.nevra, &p.relations, Origin::Installed(i));
        }
        for (b, (nevra, _)) in cat.builds.iter().enumerate() {
            if installed.contains(nevra) || !arches.contains(&nevra.arch) {
                continue;
            }
            u.add(nevra, &cat.build(b).relations, Origin::Build(b));
        }
        u
    }

    fn add(&mut self, nevra: &'a Nevra, relations: &'a Relations, origin: Origin) {
        let key = format!("{}.{}", nevra.name, nevra.arch);
        let name = match self.name_ids.get(&key) {
            Some(&n) => n,
            None => {
                let n = NameId::from_index(self.names.len());
                self.names.push(key.clone());
                self.name_ids.insert(key, n);
                self.by_name.push(Vec::new());
                self.by_package_name
                    .entry(nevra.name.as_str())
                    .or_default()
                    .push(n);
                n
            }
        };
        let s = sid(self.solvables.len());
        if INSTALLONLY.contains(&nevra.name.as_str())
            || relations
                .provides
                .iter()
                .any(|d| INSTALLONLY.contains(&d.name.as_str()))
        {
            self.installonly.insert(name);
        }
        for d in &relations.provides {
            self.provides
                .entry(d.name.as_str())
                .or_default()
                .push((s, d));
        }
        self.by_name[name.to_index()].push(s);
        self.solvables.push(Solv {
            name,
            nevra,
            relations,
            origin,
        });
    }

    pub fn solv(&self, s: SolvableId) -> &Solv<'a> {
        &self.solvables[s.to_index()]
    }

    pub fn is_installonly(&self, name: NameId) -> bool {
        self.installonly.contains(&name)
    }

    /// The name keys (architectures) of a package name.
    pub fn names_of(&self, package: &str) -> &[NameId] {
        self.by_package_name
            .get(package)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A version set of `name` with exactly `members`.
    pub fn set(&self, name: NameId, mut members: Vec<SolvableId>, label: String) -> VersionSetId {
        members.sort();
        members.dedup();
        let key = (name, members);
        if let Some(&id) = self.set_ids.borrow().get(&key) {
            return id;
        }
        let mut sets = self.sets.borrow_mut();
        let id = VersionSetId(sets.len() as u32);
        sets.push(VSet {
            name,
            members: key.1.clone(),
            label,
        });
        self.set_ids.borrow_mut().insert(key, id);
        id
    }

    fn union(&self, sets: Vec<VersionSetId>) -> Requirement {
        if sets.len() == 1 {
            return Requirement::Single(sets[0]);
        }
        let mut unions = self.unions.borrow_mut();
        unions.push(sets);
        Requirement::Union(VersionSetUnionId(unions.len() as u32 - 1))
    }

    fn string(&self, s: String) -> StringId {
        let mut strings = self.strings.borrow_mut();
        strings.push(s);
        StringId(strings.len() as u32 - 1)
    }

    /// The solvables whose provides satisfy `dep`, grouped by name.
    fn providers(&self, dep: &Dep) -> Vec<(NameId, Vec<SolvableId>)> {
        let mut by: Vec<(NameId, Vec<SolvableId>)> = Vec::new();
        for (s, provide) in self.provides.get(dep.name.as_str()).into_iter().flatten() {
            if !dep.is_satisfied_by(provide) {
                continue;
            }
            let name = self.solv(*s).name;
            match by.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(*s),
                None => by.push((name, vec![*s])),
            }
        }
        by
    }

    /// The solvables of `name` (builds and installed) that `keep` accepts.
    pub fn versions(&self, name: NameId, keep: impl Fn(&Nevra) -> bool) -> Vec<SolvableId> {
        self.by_name[name.to_index()]
            .iter()
            .copied()
            .filter(|&s| keep(self.solv(s).nevra))
            .collect()
    }

    /// A constraint keeping `name` out of `excluded`.
    fn exclude(&self, name: NameId, excluded: &[SolvableId], why: String) -> VersionSetId {
        let rest = self.by_name[name.to_index()]
            .iter()
            .copied()
            .filter(|s| !excluded.contains(s))
            .collect();
        self.set(name, rest, why)
    }
}

impl Interner for Universe<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        let s = self.solv(solvable);
        match s.origin {
            Origin::Installed(_) => format!("{} (installed)", s.nevra),
            Origin::Build(_) => s.nevra.to_string(),
        }
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.names[name.to_index()].clone()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        self.sets.borrow()[version_set.0 as usize].label.clone()
    }

    fn display_string(&self, string_id: StringId) -> impl Display + '_ {
        self.strings.borrow()[string_id.0 as usize].clone()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.sets.borrow()[version_set.0 as usize].name
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.solv(solvable).name
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.unions.borrow()[version_set_union.0 as usize]
            .clone()
            .into_iter()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        unreachable!("the package problem has no conditional requirements")
    }
}

impl DependencyProvider for Universe<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let sets = self.sets.borrow();
        let members = &sets[version_set.0 as usize].members;
        candidates
            .iter()
            .copied()
            .filter(|c| members.binary_search(c).is_ok() != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let all = self.by_name.get(name.to_index())?;
        let installed = all
            .iter()
            .copied()
            .find(|&s| matches!(self.solv(s).origin, Origin::Installed(_)));
        Some(Candidates {
            candidates: all.clone(),
            favored: if self.prefer_installed {
                installed
            } else {
                None
            },
            allow_multiple: self.installonly.contains(&name),
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        let installed = |s: &SolvableId| matches!(self.solv(*s).origin, Origin::Installed(_));
        solvables.sort_by(|a, b| {
            let by_version = self.solv(*b).nevra.evr.rpm_cmp(&self.solv(*a).nevra.evr);
            let by_installed = installed(b).cmp(&installed(a));
            if self.prefer_installed {
                by_installed.then(by_version)
            } else {
                by_version.then(by_installed)
            }
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let s = self.solv(solvable);
        let is_installed = matches!(s.origin, Origin::Installed(_));
        let mut deps = KnownDependencies::default();
        for req in &s.relations.requires {
            if s.relations.provides.iter().any(|p| req.is_satisfied_by(p)) {
                continue;
            }
            let providers = self.providers(req);
            if providers.is_empty() {
                // File dependencies need file lists, which the index does not carry: rpm's own
                // transaction check judges them. An installed package's broken dependency is
                // the system's state, not this plan's business.
                if req.name.starts_with('/') || is_installed {
                    continue;
                }
                let why = self.string(format!("nothing provides {req} needed by {}", s.nevra));
                return Dependencies::Unknown(why);
            }
            let sets = providers
                .into_iter()
                .map(|(name, members)| self.set(name, members, req.to_string()))
                .collect();
            deps.requirements.push(self.union(sets).into());
        }
        for obs in &s.relations.obsoletes {
            for &name in self.names_of(&obs.name) {
                if name == s.name {
                    continue;
                }
                let matched: Vec<SolvableId> = self.versions(name, |n| {
                    obs.is_satisfied_by(&Dep::with(n.name.as_str(), Op::Eq, n.evr.clone()))
                });
                if !matched.is_empty() {
                    let why = format!("not obsoleted by {} ({obs})", s.nevra);
                    deps.constrains.push(self.exclude(name, &matched, why));
                }
            }
        }
        for conflict in &s.relations.conflicts {
            for (name, matched) in self.providers(conflict) {
                if name != s.name {
                    let why = format!("not conflicting with {} ({conflict})", s.nevra);
                    deps.constrains.push(self.exclude(name, &matched, why));
                }
            }
        }
        Dependencies::Known(deps)
    }

    fn should_cancel_with_value(&self) -> Option<Box<dyn std::any::Any>> {
        self.cancel
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(|| Box::new(()) as Box<dyn std::any::Any>)
    }
}

/// Newest first by rpm's order.
pub(super) fn newest_first(a: &Nevra, b: &Nevra) -> Ordering {
    b.evr.rpm_cmp(&a.evr)
}
