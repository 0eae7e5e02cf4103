//! Building snapshots from the session's counters.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::Engine;
use super::job::{JobId, JobSpec};
use super::snapshot::{JobKind, JobSnapshot, PeerSnapshot, PieceMap, PieceState, Snapshot};
use swarmdate_core::torrent::Torrent;

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
    /// One peer's row: its counters and the speeds since the last snapshot.
    fn peer_row(
        &self,
        job: JobId,
        address: String,
        client: Option<String>,
        fetched: u64,
        uploaded: u64,
    ) -> PeerSnapshot {
        let (down_speed, up_speed) = self.peer_rates.rate(job, &address, fetched, uploaded);
        PeerSnapshot {
            address,
            client,
            fetched,
            uploaded,
            down_speed,
            up_speed,
        }
    }

    /// Publishes a fresh snapshot to every subscriber.
    pub(super) fn publish(&self) {
        // The journal's part first, on its own: the two locks are never held together.
        let recorded: HashMap<JobId, (JobKind, bool)> = self.journal.read(|j| {
            j.jobs
                .iter()
                .map(|(id, r)| {
                    let kind = match &r.spec {
                        JobSpec::Seed { .. } | JobSpec::SuperSeed { .. } => JobKind::Seed,
                        JobSpec::Fetch { .. } => JobKind::Fetch,
                        JobSpec::Switch(_) => JobKind::Switch,
                        JobSpec::Repository(_) => JobKind::Packages,
                    };
                    (*id, (kind, r.goal_met))
                })
                .collect()
        });
        let jobs: Vec<_> = {
            let live = self.live.lock().unwrap();
            live.iter()
                .map(|(id, j)| {
                    let (kind, goal_met) =
                        recorded.get(id).copied().unwrap_or((JobKind::Done, false));
                    (
                        *id,
                        kind,
                        j.torrent.clone(),
                        j.handle.clone(),
                        (j.state.clone(), j.failure.clone()),
                        j.log.clone(),
                        j.frozen.clone(),
                        goal_met,
                        j.super_seeder.as_ref().map(|s| (s.uploaded(), s.served())),
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
        let live: HashSet<JobId> = jobs.iter().map(|j| j.0).collect();
        // A frozen (finished) job keeps the last map it had; a job gone takes its map along.
        let mut maps = HashMap::new();
        for (id, kind, torrent, handle, (state, failure), log, frozen, goal_met, super_seeded) in
            jobs
        {
            if let Some(mut f) = frozen {
                f.state = state;
                f.failure = failure;
                f.kind = kind;
                snap.jobs.push(f);
                continue;
            }
            let mut js = JobSnapshot {
                id,
                kind,
                name: torrent.name.clone(),
                info_hash: torrent.info_hash(),
                state,
                failure,
                bytes_wanted: log.wanted_bytes().unwrap_or_else(|| torrent.data_length()),
                bytes_had: 0,
                bytes_fetched: 0,
                bytes_uploaded: 0,
                bytes_received: 0,
                bytes_discarded: log.discarded_bytes(),
                // Counted as they come, so progress moves with every checked piece.
                bytes_from_mirrors: log.mirror_bytes() + log.mirror_arriving(),
                mirror_error: log.mirror_error(),
                prefilled: log.prefilled(),
                notices: log.notices(),
                packages_in_images: log.files_in_images(),
                down_speed: 0,
                up_speed: 0,
                peers: Vec::new(),
                goal_met,
            };
            if let Some((uploaded, served)) = super_seeded {
                js.bytes_uploaded = uploaded;
                js.bytes_had = torrent.data_length();
                self.contribution.observe(id, &torrent, uploaded, 0);
                js.peers = served
                    .into_iter()
                    .map(|(address, uploaded)| {
                        let address = address.to_string();
                        self.contribution.served(id, &address, uploaded);
                        self.peer_row(id, address, None, 0, uploaded)
                    })
                    .collect();
                js.peers.sort_by(|a, b| a.address.cmp(&b.address));
                js.up_speed = js.peers.iter().map(|p| p.up_speed).sum();
            }
            if js.bytes_from_mirrors > 0 {
                // Told from the first mirror byte on, so a face sees it while it happens.
                log.note(super::notice::Notice::MirrorUsed);
                js.notices = log.notices();
            }
            // Mirrors are one more source: their rate counts in the job's download speed.
            js.down_speed = self
                .peer_rates
                .rate(id, MIRRORS, js.bytes_from_mirrors, 0)
                .0;
            if let Some(h) = handle {
                let stats = h.stats();
                js.bytes_uploaded = stats.uploaded_bytes;
                if let Some(live) = &stats.live {
                    js.bytes_received = live.snapshot.fetched_bytes;
                    js.down_speed += (live.download_speed.mbps * 1048576.0) as u64;
                    js.up_speed = (live.upload_speed.mbps * 1048576.0) as u64;
                }
                self.contribution
                    .observe(id, &torrent, stats.uploaded_bytes, js.bytes_received);
                if let Some(live) = h.live() {
                    let peers = live.per_peer_stats_snapshot(Default::default());
                    // The mirror peer is the mirrors, counted as such, not a peer.
                    let mirror_peer = log.mirror_peer().map(|a| a.to_string());
                    js.peers = peers
                        .peers
                        .into_iter()
                        .filter(|(address, _)| Some(address) != mirror_peer.as_ref())
                        .map(|(address, p)| {
                            let (fetched, uploaded) =
                                (p.counters.fetched_bytes, p.counters.uploaded_bytes);
                            self.peer_row(id, address, p.client_name, fetched, uploaded)
                        })
                        .collect();
                    js.peers.sort_by(|a, b| a.address.cmp(&b.address));
                    // Peers served are counted from every peer known, also those that left already.
                    for (address, p) in live.per_peer_stats_snapshot(all_peers()).peers {
                        self.contribution
                            .served(id, &address, p.counters.uploaded_bytes);
                    }
                }
                if let Ok((haves, n)) = self.api.api_dump_haves(h.id().into()) {
                    let fetched: HashSet<u32> = log.completed().into_iter().collect();
                    let mirrored = log.mirrored();
                    let arriving = log.in_flight();
                    let states = (0..n)
                        .map(|i| {
                            let have = haves.get(i as usize).map(|b| *b).unwrap_or(false);
                            match (have, fetched.contains(&i)) {
                                (true, true) => PieceState::Fetched,
                                (true, false) => PieceState::HadBefore,
                                _ if arriving.contains(&i) => PieceState::InFlight,
                                _ => PieceState::Missing,
                            }
                        })
                        .collect::<Vec<_>>();
                    for (i, s) in states.iter().enumerate() {
                        match s {
                            PieceState::HadBefore => js.bytes_had += data_bytes(&torrent, i as u32),
                            PieceState::Fetched if !mirrored.contains(&(i as u32)) => {
                                js.bytes_fetched += data_bytes(&torrent, i as u32)
                            }
                            _ => {}
                        }
                    }
                    maps.insert(id, PieceMap(states));
                }
                // A torrent error while checking or downloading is not shown as the job's
                // failure here: the job's runner decides (a full disk rolls a switch back first)
                // and says so within 100 ms; a waiter that saw librqbit's text would quit early.
            }
            snap.jobs.push(js);
        }
        {
            let mut kept = self.piece_maps.lock().unwrap();
            kept.retain(|id, _| live.contains(id));
            kept.extend(maps);
        }
        self.snapshots.send_replace(snap);
        // What this snapshot counted goes to the ledger's writer, which writes it every 10 s.
        self.ledger.send(self.contribution.drain());
    }
}

/// librqbit's filter for every peer it knows (connected or not); its state enum is not public, its
/// serde form is.
pub(super) fn all_peers() -> librqbit::http_api_types::PeerStatsFilter {
    serde_json::from_str(r#"{"state":"all"}"#).expect("librqbit's documented filter")
}

/// The key under which a job's mirror bytes are sampled for their rate (no peer's address).
const MIRRORS: &str = "mirrors";

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

/// Contribution not yet written to the ledger, per job.
#[derive(Default)]
pub(super) struct Contribution {
    pending: std::sync::Mutex<HashMap<JobId, Pending>>,
    /// What each peer had been sent when last noted: a peer is noted as served (and its time
    /// in the ledger moved on) only when it was sent more since, so the ledger's "peers this
    /// month" are those sent data this month.
    sent: std::sync::Mutex<HashMap<(JobId, String), u64>>,
}

struct Pending {
    delta: swarmdate_core::ledger::Delta,
    last_uploaded: u64,
    last_received: u64,
}

impl Contribution {
    /// Takes the job's current counters; librqbit restarts them on pause, so a drop means a restart.
    fn observe(&self, job: JobId, torrent: &Torrent, uploaded: u64, received: u64) {
        let mut all = self.pending.lock().unwrap();
        let p = all.entry(job).or_insert_with(|| Pending {
            delta: swarmdate_core::ledger::Delta {
                info_hash: torrent.info_hash(),
                name: torrent.name.clone(),
                uploaded: 0,
                downloaded: 0,
                peers_served: Vec::new(),
            },
            last_uploaded: 0,
            last_received: 0,
        });
        let grew = |now: u64, last: u64| if now >= last { now - last } else { now };
        p.delta.uploaded += grew(uploaded, p.last_uploaded);
        p.delta.downloaded += grew(received, p.last_received);
        p.last_uploaded = uploaded;
        p.last_received = received;
    }

    fn served(&self, job: JobId, peer: &str, uploaded: u64) {
        {
            let mut sent = self.sent.lock().unwrap();
            if sent.len() > 10_000 {
                sent.clear();
            }
            let last = sent.entry((job, peer.to_owned())).or_insert(0);
            // librqbit restarts a peer's counters with its torrent: a drop is a new count.
            let more = uploaded > *last || (uploaded > 0 && uploaded < *last);
            *last = uploaded;
            if !more {
                return;
            }
        }
        if let Some(p) = self.pending.lock().unwrap().get_mut(&job)
            && !p.delta.peers_served.iter().any(|x| x == peer)
        {
            p.delta.peers_served.push(peer.to_owned());
        }
    }

    /// Takes what is pending, leaving the counters' positions.
    fn drain(&self) -> Vec<swarmdate_core::ledger::Delta> {
        let mut all = self.pending.lock().unwrap();
        all.values_mut()
            .filter(|p| {
                p.delta.uploaded > 0 || p.delta.downloaded > 0 || !p.delta.peers_served.is_empty()
            })
            .map(|p| {
                let d = p.delta.clone();
                p.delta.uploaded = 0;
                p.delta.downloaded = 0;
                p.delta.peers_served.clear();
                d
            })
            .collect()
    }
}
