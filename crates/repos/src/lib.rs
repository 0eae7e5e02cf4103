//! RPM repositories as dnf sees them: the `.repo` files of a root, and a repository's repodata (`repomd.xml` and the files it
//! lists, as `createrepo_c` and `modifyrepo_c` write them) read with a maintained streaming parser
//! (`rpmrepo_metadata`). Every file is bounded in size and checked against the checksum
//! `repomd.xml` gives before a byte of it is parsed; what it says is checked again where it
//! matters (package locations stay inside the repository, package digests are SHA-256).

mod bounded;
mod config;
mod error;
mod metalink;
mod mirrorlist;
mod other;
mod primary;
mod repomd;
mod updateinfo;

pub use config::{ConfigError, RepoConfig, RepoVars, parse_repo_file, read_repo_files};
pub use error::RepodataError;
pub use metalink::{Metalink, MetalinkError, parse_metalink};
pub use mirrorlist::{MirrorList, MirrorListError, parse_mirrorlist};
pub use other::{CHANGELOG_LIMIT, ChangelogEntry};
pub use primary::RepoPackage;
pub use repomd::{Limits, Repodata, metadata_files, read_repodata};
pub use updateinfo::{Advisory, AdvisoryKind, AdvisoryPackage, Reference, ReferenceKind};
