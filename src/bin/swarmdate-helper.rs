//! `swarmdate-helper install --store DIR [--root DIR] SHA256...`: the privileged installer the
//! desktop app and `swarmdate update` run through pkexec (polkit action
//! `org.swarmdate.Swarmdate.install-packages`). See `packages::helper` for what it checks.

use std::path::PathBuf;
use std::process::ExitCode;

use swarmdate::hash::Sha256;
use swarmdate::packages::{HelperRequest, run_helper};

fn usage() -> ExitCode {
    eprintln!("usage: swarmdate-helper install --store DIR [--root DIR] SHA256...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("install") {
        return usage();
    }
    let (mut store, mut root, mut digests) = (None, PathBuf::from("/"), Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store = args.next().map(PathBuf::from),
            "--root" => root = args.next().map(PathBuf::from).unwrap_or_default(),
            d => match d.parse::<Sha256>() {
                Ok(s) => digests.push(s),
                Err(e) => {
                    eprintln!("swarmdate-helper: {d:?} is not a package digest: {e}");
                    return usage();
                }
            },
        }
    }
    let Some(store) = store.filter(|s| s.is_absolute()) else {
        eprintln!("swarmdate-helper: --store needs an absolute path");
        return usage();
    };
    if digests.is_empty() || !root.is_absolute() {
        return usage();
    }
    // Under pkexec the store must be the calling user's; run directly, the caller's own.
    let owner = std::env::var("PKEXEC_UID")
        .ok()
        .and_then(|u| u.parse().ok())
        .or_else(|| Some(nix::unistd::getuid().as_raw()));
    if root == std::path::Path::new("/") && !nix::unistd::geteuid().is_root() {
        eprintln!("swarmdate-helper: installing into the system needs root (run through pkexec)");
        return ExitCode::from(1);
    }
    let req = HelperRequest {
        store,
        root,
        digests,
        owner,
    };
    match run_helper(&req) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swarmdate-helper: {e}");
            let trust = matches!(
                e,
                swarmdate::packages::HelperError::BadSignature(..)
                    | swarmdate::packages::HelperError::DigestMismatch { .. }
                    | swarmdate::packages::HelperError::NotRegular(_)
            );
            ExitCode::from(if trust { 3 } else { 1 })
        }
    }
}
