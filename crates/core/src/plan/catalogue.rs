//! What can be installed: the packages of every repository torrent in the feed, merged.

use std::collections::HashMap;

use crate::feed::RepoKind;
use crate::packages::{IndexedPackage, Nevra, PackageIndex};
use crate::torrent::InfoHash;

/// One repository torrent and its verified index.
#[derive(Clone, Debug)]
pub struct Repo {
    /// Release master or updates snapshot.
    pub kind: RepoKind,
    /// Its index (pinned by the feed, checked by the caller).
    pub index: PackageIndex,
}

/// Where a package can be fetched: one file of one repository torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// The repository torrent.
    pub info_hash: InfoHash,
    /// Its index in [`Catalogue::repos`].
    pub repo: usize,
    /// The package's position in that repository's index.
    pub package: usize,
}

/// Every package the feed offers, each build once however many torrents carry it.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// The repositories, newest first (as the feed lists them).
    pub repos: Vec<Repo>,
    /// Each distinct build and where to get it, newest repository first.
    pub builds: Vec<(Nevra, Vec<Source>)>,
}

impl Catalogue {
    /// Merges repositories given newest first. A build in several of them is one build; its
    /// sources keep that order, so downloads go to the newest swarm first.
    pub fn new(repos: Vec<Repo>) -> Self {
        let mut at: HashMap<Nevra, usize> = HashMap::new();
        let mut builds: Vec<(Nevra, Vec<Source>)> = Vec::new();
        for (r, repo) in repos.iter().enumerate() {
            for (p, pkg) in repo.index.packages.iter().enumerate() {
                let src = Source {
                    info_hash: repo.index.info_hash,
                    repo: r,
                    package: p,
                };
                match at.get(&pkg.nevra) {
                    Some(&i) => builds[i].1.push(src),
                    None => {
                        at.insert(pkg.nevra.clone(), builds.len());
                        builds.push((pkg.nevra.clone(), vec![src]));
                    }
                }
            }
        }
        Catalogue { repos, builds }
    }

    /// The index entry of a source.
    pub fn package(&self, s: &Source) -> &IndexedPackage {
        &self.repos[s.repo].index.packages[s.package]
    }

    /// The index entry of build `b` (from its newest repository).
    pub fn build(&self, b: usize) -> &IndexedPackage {
        self.package(&self.builds[b].1[0])
    }
}
