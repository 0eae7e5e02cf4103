//! Which packages leave the store when it grows past its size cap.
//!
//! The store keeps superseded builds to seed them to people who downgrade (DESIGN.md Swarms), but
//! only while there is room. Over the cap, the oldest superseded builds go first: a build is
//! superseded when the store holds a newer one of the same name and architecture. The newest
//! build of each package and every build the machine has installed always stay (the first is what
//! the swarm wants most, the second is what a reinstall needs), so a store can stay over its cap;
//! the trim then says by how much.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::hash::Sha256;
use crate::packages::Nevra;

/// A package the store holds.
#[derive(Debug, Clone)]
pub struct HeldPackage {
    /// Its digest (the object's name).
    pub sha256: Sha256,
    /// What it is.
    pub nevra: Nevra,
    /// Its size in bytes.
    pub size: u64,
    /// Never evicted: installed on this machine, or in use by a job that is not seeding yet.
    pub pinned: bool,
}

/// What a trim did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrimReport {
    /// The cap in bytes.
    pub cap: u64,
    /// Bytes of packages before the trim.
    pub before: u64,
    /// Bytes after.
    pub after: u64,
    /// The builds removed, oldest first.
    pub evicted: Vec<String>,
}

/// Chooses the builds to remove so `held` fits in `cap` bytes, never a pinned one nor the newest
/// of its name and architecture. Returns them in the order they should go.
pub fn choose(held: &[HeldPackage], cap: u64) -> Vec<&HeldPackage> {
    // One object may appear under several torrents: count it once.
    let pinned: HashSet<Sha256> = held.iter().filter(|p| p.pinned).map(|p| p.sha256).collect();
    let mut seen = HashSet::new();
    let held: Vec<&HeldPackage> = held.iter().filter(|p| seen.insert(p.sha256)).collect();
    let mut total: u64 = held.iter().map(|p| p.size).sum();
    if total <= cap {
        return Vec::new();
    }
    let mut groups: BTreeMap<(&str, &str), Vec<&HeldPackage>> = BTreeMap::new();
    for p in &held {
        groups.entry(p.nevra.name_arch()).or_default().push(p);
    }
    // (how many newer builds the store holds, the build): the most superseded first.
    let mut candidates: Vec<(usize, &HeldPackage)> = Vec::new();
    for builds in groups.values_mut() {
        builds.sort_by(|a, b| b.nevra.evr.rpm_cmp(&a.nevra.evr));
        for (newer, p) in builds.iter().enumerate().skip(1) {
            if !pinned.contains(&p.sha256) {
                candidates.push((newer, p));
            }
        }
    }
    candidates.sort_by(|(na, a), (nb, b)| nb.cmp(na).then(b.size.cmp(&a.size)));
    let mut out = Vec::new();
    for (_, p) in candidates {
        if total <= cap {
            break;
        }
        total -= p.size;
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::Evr;

    fn pkg(name: &str, version: &str, size: u64) -> HeldPackage {
        let nevra = Nevra::new(name, Evr::new(0, version, "1"), "x86_64");
        HeldPackage {
            sha256: Sha256::of(nevra.to_string().as_bytes()),
            nevra,
            size,
            pinned: false,
        }
    }

    fn names(v: &[&HeldPackage]) -> Vec<String> {
        v.iter().map(|p| p.nevra.to_string()).collect()
    }

    #[test]
    fn oldest_superseded_builds_go_first_and_only_until_the_cap_is_met() {
        let held = vec![
            pkg("a", "1", 100),
            pkg("a", "2", 100),
            pkg("a", "10", 100),
            pkg("b", "1", 300),
            pkg("b", "2", 100),
            pkg("c", "1", 500),
        ];
        // 1,200 bytes held.
        assert!(choose(&held, 1_200).is_empty());
        // a-1 is two builds behind (rpm order: 10 > 2 > 1), so it goes before b-1 (one behind).
        assert_eq!(names(&choose(&held, 1_100)), ["a-1-1.x86_64"]);
        assert_eq!(names(&choose(&held, 800)), ["a-1-1.x86_64", "b-1-1.x86_64"]);
        // Never the newest build: at most a-1, b-1 and a-2 can go, however small the cap.
        assert_eq!(
            names(&choose(&held, 0)),
            ["a-1-1.x86_64", "b-1-1.x86_64", "a-2-1.x86_64"]
        );
    }

    #[test]
    fn installed_builds_stay_and_shared_objects_count_once() {
        let mut held = vec![pkg("a", "1", 100), pkg("a", "2", 100), pkg("b", "1", 100)];
        // The same object seen through a second torrent.
        held.push(held[1].clone());
        assert!(choose(&held, 300).is_empty());
        assert_eq!(names(&choose(&held, 299)), ["a-1-1.x86_64"]);
        // Pinned under one torrent is pinned everywhere.
        held.push(HeldPackage {
            pinned: true,
            ..held[0].clone()
        });
        assert!(choose(&held, 0).is_empty());
    }
}
