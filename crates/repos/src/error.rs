//! What can be wrong with a repository's repodata, said so that its owner can mend it.

use std::path::PathBuf;

/// Repodata that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No `repodata/repomd.xml`: not a repository, or `createrepo_c` has not been run on it.
    #[error(
        "{0} has no repodata/repomd.xml: run createrepo_c on the folder, or point at the folder that holds repodata/"
    )]
    NoRepomd(PathBuf),
    /// `repomd.xml` lists no primary metadata.
    #[error("{0} lists no primary metadata: it is not repodata createrepo_c made")]
    NoPrimary(PathBuf),
    /// A file is larger than this reader accepts.
    #[error("{path} is larger than {limit} bytes{what}: refused as hostile or broken")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        limit: u64,
        /// " once decompressed", or nothing.
        what: &'static str,
    },
    /// A file's size or checksum is not what `repomd.xml` says.
    #[error(
        "{path} does not match repomd.xml ({what}): the repodata is stale or tampered with; run createrepo_c again"
    )]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Which check failed, with the figures.
        what: String,
    },
    /// A checksum type this reader does not check.
    #[error(
        "{path} is named by a {kind} checksum; Swarmdate checks sha256 and sha512 (createrepo_c's default is sha256)"
    )]
    ChecksumType {
        /// The file.
        path: PathBuf,
        /// The type given.
        kind: String,
    },
    /// A file is not the XML it should be.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A package entry that cannot be used as it stands.
    #[error("{path}: package {package}: {reason}")]
    BadPackage {
        /// The primary file.
        path: PathBuf,
        /// The package's name and version, as far as read.
        package: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a metadata file's reader found wrong, before the file's path is put to it.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The parser's error.
    Parse(rpmrepo_metadata::MetadataError),
    /// A package entry that cannot be used.
    Package {
        /// Its name and version, as far as read.
        package: String,
        /// What is wrong.
        reason: String,
    },
}
