//! Exit codes, and which errors map to which.

use std::process::ExitCode;

use swarmdate_engine::is_trust_refusal;

/// Documented in `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0  done
  1  failed (network, disk, a missing file, ...)
  2  usage error
  3  refused for trust: bad or untrusted signature (feed or package), expired or replayed feed,
     hash mismatch (seeded data that is not its torrent's among them), unsafe torrent, unpinned
     torrent without --yes, unsupported URL scheme";

/// A refusal the user must be asked about (an unpinned torrent without `--yes`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NeedsConfirmation(pub String);

/// The process exit code for an error. Trust is judged as the engine judges it
/// ([`is_trust_refusal`]), so an [`EngineError::Trust`](swarmdate_engine::EngineError) from an
/// engine in another process gives the same code as the refusal raised in this one.
pub fn code_for(err: &anyhow::Error) -> u8 {
    let trust = err
        .chain()
        .any(|c| is_trust_refusal(c) || c.downcast_ref::<NeedsConfirmation>().is_some());
    match trust {
        true => 3,
        false => 1,
    }
}

/// Converts a code to an [`ExitCode`].
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
