//! What both faces say for a job's notices (`swarmdate_engine::Notice`): a tracker's refusal,
//! and each step that fell back to a costlier way.

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::text::escape_controls;
use swarmdate_engine::{Notice, SkipReason};

/// The sentence for `notice`; a tracker's words are shown escaped, as the engine cut them.
pub fn text(notice: &Notice) -> String {
    match notice {
        Notice::TrackerRefused { tracker, reason } => trf(
            "The tracker {tracker} refused this torrent: “{reason}”. Peers are looked for without it.",
            &[
                ("tracker", &escape_controls(tracker)),
                ("reason", &escape_controls(reason)),
            ],
        ),
        Notice::PrefillSkipped {
            reason: SkipReason::NoPeer,
        } => tr(
            "No peer served the new version's directories in time: the files already here are not reused, every changed piece is downloaded.",
        ),
        Notice::PrefillSkipped {
            reason: SkipReason::NotIso9660,
        } => tr(
            "The new version is not an ISO 9660 image: the files already here are not reused, every changed piece is downloaded.",
        ),
        Notice::MirrorUsed => {
            tr("Peers did not deliver everything: some packages come from the mirrors.")
        }
    }
}

/// The notices of `jobs` not in `told` yet, in order; each is added to `told` (a face tells each
/// once).
pub fn new_ones<'a>(
    jobs: impl IntoIterator<Item = &'a swarmdate_engine::JobSnapshot>,
    told: &mut Vec<(swarmdate_engine::JobId, Notice)>,
) -> Vec<(swarmdate_engine::JobId, Notice)> {
    let mut fresh = Vec::new();
    for j in jobs {
        for n in &j.notices {
            let key = (j.id, n.clone());
            if !told.contains(&key) {
                told.push(key.clone());
                fresh.push(key);
            }
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notice_is_new_once_per_job() {
        let job = |id: u64, notices: Vec<Notice>| {
            let mut j: swarmdate_engine::JobSnapshot = serde_json::from_value(serde_json::json!({
                "id": id, "kind": "switch", "name": "os.iso", "info_hash": "00".repeat(20),
                "state": {"state": "downloading"}, "bytes_wanted": 1, "bytes_had": 0,
                "bytes_fetched": 0, "bytes_uploaded": 0, "bytes_received": 0,
                "bytes_discarded": 0, "down_speed": 0, "up_speed": 0, "peers": [],
            }))
            .unwrap();
            j.notices = notices;
            j
        };
        let refused = Notice::TrackerRefused {
            tracker: "http://t:1".into(),
            reason: "not \\u{1b} here".into(),
        };
        let mut told = Vec::new();
        let first = [job(1, vec![refused.clone()])];
        assert_eq!(new_ones(&first, &mut told).len(), 1);
        assert!(new_ones(&first, &mut told).is_empty());
        let later = [
            job(1, vec![refused.clone(), Notice::MirrorUsed]),
            job(2, vec![refused.clone()]),
        ];
        let fresh = new_ones(&later, &mut told);
        assert_eq!(fresh.len(), 2, "{fresh:?}");
        assert!(
            text(&refused).contains("not \\u{1b} here"),
            "{}",
            text(&refused)
        );
    }
}
