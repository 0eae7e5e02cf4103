//! Exit codes, and which errors map to which.

use std::process::ExitCode;

use swarmdate::feed::{FeedError, LocationError, SignError};
use swarmdate::iso::PinMismatch;
use swarmdate::packages::{InstallError, PackageError};
use swarmdate::plan::IndexPinMismatch;
use swarmdate::torrent::TorrentError;

/// Documented in `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0  done
  1  failed (network, disk, a missing file, ...)
  2  usage error
  3  refused for trust: bad or untrusted signature (feed or package), expired or replayed feed,
     hash mismatch, unsafe torrent, unpinned torrent without --yes, unsupported URL scheme";

/// A refusal the user must be asked about (an unpinned torrent without `--yes`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NeedsConfirmation(pub String);

/// The process exit code for an error.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        let trust = cause
            .downcast_ref::<FeedError>()
            .is_some_and(|e| e.is_trust())
            || cause.downcast_ref::<SignError>().is_some()
            || cause
                .downcast_ref::<TorrentError>()
                .is_some_and(|e| e.is_unsafe())
            || cause.downcast_ref::<PinMismatch>().is_some()
            || cause.downcast_ref::<IndexPinMismatch>().is_some()
            || cause
                .downcast_ref::<PackageError>()
                .is_some_and(|e| e.is_trust())
            || cause
                .downcast_ref::<InstallError>()
                .is_some_and(|e| e.is_trust())
            || cause.downcast_ref::<NeedsConfirmation>().is_some()
            || matches!(
                cause.downcast_ref::<LocationError>(),
                Some(LocationError::UnsupportedScheme { .. })
            );
        if trust {
            return 3;
        }
    }
    1
}

/// Converts a code to an [`ExitCode`].
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
