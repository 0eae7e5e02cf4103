//! Packages: everything of `swarmdate-packages`, and the package index a repository torrent carries.

mod index;

pub use index::{INDEX_FORMAT, IndexError, IndexedPackage, PackageIndex};
pub use swarmdate_packages::*;
