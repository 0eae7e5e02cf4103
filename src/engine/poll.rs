//! Building snapshots from the session's counters.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::Engine;
use super::job::{JobId, JobSpec};
use super::snapshot::{JobSnapshot, JobState, PeerSnapshot, PieceMap, PieceState, Snapshot};
use crate::torrent::Torrent;

/// Payload bytes of a piece, pad bytes excluded.
fn data_bytes(t: &Torrent, piece: u32) -> u64 {
    let r = t.piece_range(piece);
    let first = t.files.partition_point(|f| f.offset + f.length <= r.start);
    let pad: u64 = t.files[first..]
        .iter()
        .take_while(|f| f.offset < r.end)
        .filter(|f| f.pad)
        .map(|f| (f.offset + f.length).min(r.end) - f.offset.max(r.start))
        .sum();
    r.end - r.start - pad
}

impl Engine {
    /// Publishes a fresh snapshot to every subscriber.
    pub(super) fn publish(&self) {
        let jobs: Vec<_> = {
            let g = self.jobs.lock().unwrap();
            g.live
                .iter()
                .map(|(id, j)| {
                    let kind = match g.journal.jobs.get(id).map(|r| &r.spec) {
                        Some(JobSpec::Seed { .. }) => "seed",
                        Some(JobSpec::Fetch { .. }) => "fetch",
                        Some(JobSpec::Switch(_)) => "switch",
                        None => "done",
                    };
                    (
                        *id,
                        kind,
                        j.torrent.clone(),
                        j.handle.clone(),
                        j.state.clone(),
                        j.log.clone(),
                    )
                })
                .collect()
        };
        let mut snap = Snapshot {
            upload_limit: self.session.ratelimits.get_upload_bps().map(|v| v.get()),
            download_limit: self.session.ratelimits.get_download_bps().map(|v| v.get()),
            listen_port: self.listen_port,
            jobs: Vec::with_capacity(jobs.len()),
        };
        for (id, kind, torrent, handle, state, log) in jobs {
            let mut js = JobSnapshot {
                id,
                kind,
                name: torrent.name.clone(),
                info_hash: torrent.info_hash(),
                state,
                bytes_wanted: torrent.data_length(),
                bytes_had: 0,
                bytes_fetched: 0,
                bytes_uploaded: 0,
                bytes_received: 0,
                down_speed: 0,
                up_speed: 0,
                peers: Vec::new(),
                pieces: PieceMap::default(),
            };
            if let Some(h) = handle {
                let stats = h.stats();
                js.bytes_uploaded = stats.uploaded_bytes;
                if let Some(live) = &stats.live {
                    js.bytes_received = live.snapshot.fetched_bytes;
                    js.down_speed = (live.download_speed.mbps * 1048576.0) as u64;
                    js.up_speed = (live.upload_speed.mbps * 1048576.0) as u64;
                }
                if let Some(live) = h.live() {
                    let peers = live.per_peer_stats_snapshot(Default::default());
                    js.peers = peers
                        .peers
                        .into_iter()
                        .map(|(address, p)| {
                            let (fetched, uploaded) =
                                (p.counters.fetched_bytes, p.counters.uploaded_bytes);
                            let (down_speed, up_speed) =
                                self.peer_rates.rate(id, &address, fetched, uploaded);
                            PeerSnapshot {
                                address,
                                client: p.client_name,
                                fetched,
                                uploaded,
                                down_speed,
                                up_speed,
                            }
                        })
                        .collect();
                    js.peers.sort_by(|a, b| a.address.cmp(&b.address));
                }
                if let Ok((haves, n)) = self.api.api_dump_haves(h.id().into()) {
                    let fetched: HashSet<u32> = log.completed().into_iter().collect();
                    let states = (0..n)
                        .map(|i| {
                            let have = haves.get(i as usize).map(|b| *b).unwrap_or(false);
                            match (have, fetched.contains(&i)) {
                                (true, true) => PieceState::Fetched,
                                (true, false) => PieceState::HadBefore,
                                _ => PieceState::Missing,
                            }
                        })
                        .collect::<Vec<_>>();
                    for (i, s) in states.iter().enumerate() {
                        match s {
                            PieceState::HadBefore => js.bytes_had += data_bytes(&torrent, i as u32),
                            PieceState::Fetched => {
                                js.bytes_fetched += data_bytes(&torrent, i as u32)
                            }
                            _ => {}
                        }
                    }
                    js.pieces = PieceMap(states);
                }
                if matches!(js.state, JobState::Checking | JobState::Downloading)
                    && stats.error.is_some()
                {
                    js.state = JobState::Failed(stats.error.unwrap_or_default());
                }
            }
            snap.jobs.push(js);
        }
        self.snapshots.send_replace(snap);
    }
}

/// Per-peer byte counters from the previous sample, to turn totals into speeds.
#[derive(Default)]
pub(super) struct PeerRates {
    last: std::sync::Mutex<HashMap<(JobId, String), Sample>>,
}

struct Sample {
    at: Instant,
    fetched: u64,
    uploaded: u64,
    down: u64,
    up: u64,
}

/// Samples closer together than this keep the previous speeds (snapshots also follow state changes).
const MIN_SAMPLE: std::time::Duration = std::time::Duration::from_millis(200);

impl PeerRates {
    /// Bytes/s down and up since this peer's previous sample (0 for a first sample).
    fn rate(&self, job: JobId, peer: &str, fetched: u64, uploaded: u64) -> (u64, u64) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap();
        if last.len() > 10_000 {
            last.retain(|_, s| now - s.at < std::time::Duration::from_secs(60));
        }
        let key = (job, peer.to_owned());
        let (down, up) = match last.get(&key) {
            Some(s) if now - s.at < MIN_SAMPLE => return (s.down, s.up),
            Some(s) => {
                let secs = (now - s.at).as_secs_f64();
                (
                    (fetched.saturating_sub(s.fetched) as f64 / secs) as u64,
                    (uploaded.saturating_sub(s.uploaded) as f64 / secs) as u64,
                )
            }
            None => (0, 0),
        };
        last.insert(
            key,
            Sample {
                at: now,
                fetched,
                uploaded,
                down,
                up,
            },
        );
        (down, up)
    }
}
