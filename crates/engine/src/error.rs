//! What the engine's calls fail with, as one enum both faces read the same way whether the engine
//! runs in this process or in another one (the service sends it as a named D-Bus error).

use std::error::Error as StdError;

use serde::{Deserialize, Serialize};

use swarmdate_core::feed::{FeedError, LocationError, SignError};
use swarmdate_core::fsutil::NoSpace;
use swarmdate_core::iso::PinMismatch;
use swarmdate_core::packages::{InstallError, PackageError};
use swarmdate_core::plan::IndexPinMismatch;
use swarmdate_core::torrent::TorrentError;

use super::job::SpecError;
use super::lock::EngineBusy;
use super::verify::PayloadError;

/// Why an engine call or job failed; each kind carries the full message shown to people.
///
/// Only the message crosses a process boundary (a D-Bus error name and its text), so the kind is
/// what callers branch on and the text is what they show, the same in-process and remote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum EngineError {
    /// Refused for trust: a bad signature, a hash or pin mismatch, an unsafe torrent, a payload
    /// that is not the torrent's data.
    #[error("{0}")]
    Trust(String),
    /// A job spec that cannot run with its torrent.
    #[error("{0}")]
    Spec(String),
    /// No such job (or the job is not of the kind the call needs).
    #[error("{0}")]
    NotFound(String),
    /// Another engine, job or switch holds what the call needs.
    #[error("{0}")]
    Busy(String),
    /// The disk has not the room the call needs.
    #[error("{0}")]
    NoSpace(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// The message shown to people.
    pub fn message(&self) -> &str {
        match self {
            EngineError::Trust(m)
            | EngineError::Spec(m)
            | EngineError::NotFound(m)
            | EngineError::Busy(m)
            | EngineError::NoSpace(m)
            | EngineError::Io(m)
            | EngineError::Other(m) => m,
        }
    }

    /// Whether this is a refusal for trust.
    pub fn is_trust(&self) -> bool {
        matches!(self, EngineError::Trust(_))
    }

    /// A "no job" error.
    pub fn no_job(id: super::JobId) -> Self {
        EngineError::NotFound(format!("no job {id}"))
    }
}

/// Whether one error (one link of a chain) is a refusal for trust. The CLI's exit code 3 and the
/// engine's [`EngineError::Trust`] both use it, so they cannot disagree.
pub fn is_trust_refusal(cause: &(dyn StdError + 'static)) -> bool {
    cause
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
        || matches!(
            cause.downcast_ref::<PayloadError>(),
            Some(PayloadError::Mismatch { .. })
        )
        || matches!(
            cause.downcast_ref::<LocationError>(),
            Some(LocationError::UnsupportedScheme { .. })
        )
        || cause
            .downcast_ref::<EngineError>()
            .is_some_and(|e| e.is_trust())
}

impl From<anyhow::Error> for EngineError {
    /// Sorts an error by the first cause in its chain that says what it is; the message is the
    /// whole chain, as `{:#}` prints it.
    fn from(e: anyhow::Error) -> Self {
        EngineError::from(&e)
    }
}

impl From<&anyhow::Error> for EngineError {
    fn from(e: &anyhow::Error) -> Self {
        let msg = format!("{e:#}");
        for cause in e.chain() {
            if let Some(known) = cause.downcast_ref::<EngineError>() {
                return known.with_message(msg);
            }
            if is_trust_refusal(cause) {
                return EngineError::Trust(msg);
            }
            if cause.downcast_ref::<SpecError>().is_some() {
                return EngineError::Spec(msg);
            }
            if cause.downcast_ref::<EngineBusy>().is_some() {
                return EngineError::Busy(msg);
            }
            if cause.downcast_ref::<NoSpace>().is_some() {
                return EngineError::NoSpace(msg);
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                        EngineError::NoSpace(msg)
                    }
                    _ => EngineError::Io(msg),
                };
            }
        }
        EngineError::Other(msg)
    }
}

impl From<SpecError> for EngineError {
    fn from(e: SpecError) -> Self {
        EngineError::Spec(e.to_string())
    }
}

impl EngineError {
    /// The same kind with another message (the one of the chain it was found in).
    fn with_message(&self, msg: String) -> Self {
        match self {
            EngineError::Trust(_) => EngineError::Trust(msg),
            EngineError::Spec(_) => EngineError::Spec(msg),
            EngineError::NotFound(_) => EngineError::NotFound(msg),
            EngineError::Busy(_) => EngineError::Busy(msg),
            EngineError::NoSpace(_) => EngineError::NoSpace(msg),
            EngineError::Io(_) => EngineError::Io(msg),
            EngineError::Other(_) => EngineError::Other(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_chain_is_sorted_by_its_first_known_cause_and_keeps_its_whole_text() {
        let payload = PayloadError::Mismatch {
            root: "/x".into(),
            lengths: Vec::new(),
            wrong: 3,
            pieces: 4,
        };
        let e = anyhow::Error::from(payload).context("seeding job 1");
        let got = EngineError::from(&e);
        assert!(got.is_trust(), "{got:?}");
        assert_eq!(got.message(), format!("{e:#}"));
        assert!(
            got.message()
                .starts_with("seeding job 1: /x is not this torrent's data")
        );

        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "full");
        let e = anyhow::Error::from(io).context("writing");
        assert_eq!(
            EngineError::from(&e),
            EngineError::NoSpace("writing: full".into())
        );
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        assert_eq!(
            EngineError::from(anyhow::Error::from(io)),
            EngineError::Io("no".into())
        );
        let e: anyhow::Result<()> = Err(EngineError::no_job(super::super::JobId(7)).into());
        let e = e.context("pausing").unwrap_err();
        assert_eq!(
            EngineError::from(&e),
            EngineError::NotFound("pausing: no job 7".into())
        );
        assert_eq!(
            EngineError::from(anyhow::anyhow!("odd")),
            EngineError::Other("odd".into())
        );
    }
}
