//! What a job tells its user beside its progress: a tracker that refused the torrent, and each
//! step that fell back to a costlier way (a switch fetching what a pre-fill would have placed, a
//! repository job fetching from mirrors). Each notice is told once per job.

use serde::{Deserialize, Serialize};

/// Longest tracker text kept, in characters: a hostile tracker's reason is cut here.
pub const MAX_REASON_CHARS: usize = 200;

/// One thing a job tells its user once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A tracker answered the torrent's announce with a failure: peers come only from elsewhere
    /// (local discovery, the DHT, known peers).
    TrackerRefused {
        /// The tracker's address (scheme, host and port).
        tracker: String,
        /// Its reason, control characters escaped and cut to [`MAX_REASON_CHARS`].
        reason: String,
    },
    /// A switch could not learn the target's layout, so it places nothing from the files at
    /// hand and fetches every piece that differs.
    PrefillSkipped {
        /// Why.
        reason: SkipReason,
    },
    /// Peers did not deliver some of a repository job's files: they came from the mirrors.
    MirrorUsed,
}

/// Why a switch's pre-fill did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No peer served the target's directory pieces while the switch looked for one.
    NoPeer,
    /// The target is not an ISO 9660 image: it has no directories to place files by.
    NotIso9660,
}

impl SkipReason {
    /// Its name on the bus and in `--json`.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::NoPeer => "no_peer",
            SkipReason::NotIso9660 => "not_iso9660",
        }
    }

    /// The reason named `name`.
    pub fn from_name(name: &str) -> Option<SkipReason> {
        [SkipReason::NoPeer, SkipReason::NotIso9660]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// A tracker's text made safe to show: controls escaped, at most [`MAX_REASON_CHARS`]
/// characters (an ellipsis marks a cut).
pub fn tracker_text(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut cut: String = s.chars().take(MAX_REASON_CHARS).collect();
    if s.chars().nth(MAX_REASON_CHARS).is_some() {
        cut.push('…');
    }
    swarmdate_core::text::escape_controls(&cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_reason_is_escaped_and_cut() {
        assert_eq!(
            tracker_text(b"not authorized"),
            "not authorized",
            "ordinary text stays"
        );
        let shown = tracker_text(b"\x1b]0;pwned\x07\nok");
        assert!(!shown.chars().any(char::is_control), "{shown}");
        let long = tracker_text(&[b'a'; 10_000]);
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn notices_read_back_as_themselves() {
        for n in [
            Notice::TrackerRefused {
                tracker: "http://t:1".into(),
                reason: "no".into(),
            },
            Notice::PrefillSkipped {
                reason: SkipReason::NoPeer,
            },
            Notice::MirrorUsed,
        ] {
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<Notice>(&json).unwrap(), n, "{json}");
        }
        for r in [SkipReason::NoPeer, SkipReason::NotIso9660] {
            assert_eq!(SkipReason::from_name(r.name()), Some(r));
        }
        assert_eq!(SkipReason::from_name("other"), None);
    }
}
