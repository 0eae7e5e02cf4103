//! The privileged side of installing into the system (run as root through pkexec and the polkit
//! policy in `data/`): it takes nothing but SHA-256 digests of packages in the user's store,
//! copies each out of the user's reach, checks the copy against the digest it is named by and
//! its RPM signature against the system's own rpm keys (not the user's), then runs one
//! transaction. A user who can write the store can therefore only install packages the system
//! already trusts.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::install::{InstallError, transaction};
use super::inventory::DB_PATH;
use crate::hash::Sha256;

/// Why the helper refused.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// No such package in the store.
    #[error("the store has no package {0}")]
    NotInStore(Sha256),
    /// The store's entry is not a regular file of the calling user (a link, a device, ...).
    #[error("the store's entry for {0} is not a regular file of the calling user; refusing it")]
    NotRegular(Sha256),
    /// The file's bytes are not the digest it is named by.
    #[error("the store's file for {named} has SHA-256 {actual}; refusing it")]
    DigestMismatch { named: Sha256, actual: Sha256 },
    /// The system's keys do not vouch for the package.
    #[error(
        "the package {0} is not signed by a key the system trusts (rpmkeys --checksig: {1}); nothing was installed"
    )]
    BadSignature(Sha256, String),
    /// Reading or copying failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The transaction failed.
    #[error(transparent)]
    Install(#[from] InstallError),
}

/// What the helper is asked to do.
#[derive(Debug, Clone)]
pub struct HelperRequest {
    /// The user's package store.
    pub store: PathBuf,
    /// The system root (`/`, or a test root).
    pub root: PathBuf,
    /// The packages, by digest.
    pub digests: Vec<Sha256>,
    /// The user the store must belong to (`PKEXEC_UID`), if known.
    pub owner: Option<u32>,
}

/// Copies, checks and installs the requested packages; returns dnf's report.
pub fn run_helper(req: &HelperRequest) -> Result<String, HelperError> {
    let private = tempfile::Builder::new()
        .prefix("swarmdate-helper-")
        .tempdir()?;
    let mut copies = Vec::with_capacity(req.digests.len());
    for (n, digest) in req.digests.iter().enumerate() {
        let hex = digest.to_string();
        let object = req.store.join("objects").join(&hex[..2]).join(&hex);
        let copy = private.path().join(format!("{n}.rpm"));
        copy_checked(&object, digest, req.owner, &copy)?;
        check_signature(&req.root, digest, &copy)?;
        copies.push(copy);
    }
    Ok(transaction(&req.root, &copies)?)
}

/// Copies `object` to `copy` without following links, refusing anything but a regular file of
/// `owner` whose bytes are `digest`.
fn copy_checked(
    object: &Path,
    digest: &Sha256,
    owner: Option<u32>,
    copy: &Path,
) -> Result<(), HelperError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(object)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENOENT) => HelperError::NotInStore(*digest),
            Some(nix::libc::ELOOP) => HelperError::NotRegular(*digest),
            _ => HelperError::Io(e),
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || owner.is_some_and(|uid| meta.uid() != uid) {
        return Err(HelperError::NotRegular(*digest));
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(copy)?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut reader = file;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut hasher, &buf[..n]);
        std::io::Write::write_all(&mut out, &buf[..n])?;
    }
    let actual = Sha256(sha2::Digest::finalize(hasher).into());
    if actual != *digest {
        return Err(HelperError::DigestMismatch {
            named: *digest,
            actual,
        });
    }
    Ok(())
}

/// The system's own check: digests and a signature by a key imported into `root`'s rpm database.
fn check_signature(root: &Path, digest: &Sha256, file: &Path) -> Result<(), HelperError> {
    let out = Command::new("rpmkeys")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DB_PATH, "--checksig"])
        .arg(file)
        .env("LANG", "C.UTF-8")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !text.ends_with("signatures OK") {
        return Err(HelperError::BadSignature(*digest, text));
    }
    Ok(())
}
