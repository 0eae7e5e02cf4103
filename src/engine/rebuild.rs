//! The first step of a switch beside the old image: rebuild the target in the working copy from
//! files already at hand, so a distributor's fresh rebuild (every file moved) costs only its new
//! content.
//!
//! The target's layout is learnt from the swarm alone: the pieces holding its volume descriptors
//! and directories are fetched one by one over a link of our own (`peer_wire.rs`), each checked,
//! while the directories are parsed; pieces the working copy already holds are read locally. Then
//! `iso::prefill` places the old image's files at the target's offsets, and librqbit's check keeps
//! every piece that is now right. An image that is not ISO 9660, or a swarm that does not answer,
//! leaves the switch as it was: nothing is lost but the chance to save.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Engine;
use super::job::{JobId, SwitchSpec};
use super::peer_wire::PeerLink;
use crate::hash::PieceHash;
use crate::iso::{AtHand, Layout, layout_through, prefill, read_layout};
use crate::torrent::{PieceIndex, Torrent};

/// How long to look for a peer that serves the directories before switching without a pre-fill.
const FIND_PEER: Duration = Duration::from_secs(45);

/// What the pre-fill of a switch did (kept in the job journal, shown by `iso switch`): the
/// refined plan, once the target's directories are known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuilt {
    /// Bytes of the pieces fetched to read the target's directories.
    pub layout_fetched: u64,
    /// File bytes placed from the old image.
    pub from_image: u64,
    /// File bytes placed from the package store.
    pub from_store: u64,
    /// Bytes of the pieces still to fetch after the pre-fill.
    pub still_to_fetch: u64,
    /// Milliseconds the pre-fill took (layout, matching and copying).
    pub millis: u64,
}

/// The target's layout (or why it is unreadable), the pieces fetched to read it, and the pieces
/// still wrong in the working copy.
type Learnt = (Result<Layout, String>, Vec<u32>, Vec<PieceIndex>);

impl Engine {
    /// Pre-fills the working copy of a switch; `None` when the target's layout could not be
    /// learnt (not ISO 9660, or no peer served its directories).
    pub(super) async fn rebuild_from_local(
        &self,
        id: JobId,
        spec: &SwitchSpec,
    ) -> anyhow::Result<Option<Rebuilt>> {
        let started = Instant::now();
        let torrent = Arc::new(self.torrent_of(id)?);
        let (working, t) = (spec.working.clone(), torrent.clone());
        let wrong = self
            .on_disk(move || pieces_to_fetch(&working, &t))
            .await??;
        if wrong.is_empty() {
            return Ok(None);
        }
        let Some(link) = self.link_to_swarm(&torrent).await else {
            tracing::info!("no peer served the target's directories: switching without a pre-fill");
            return Ok(None);
        };
        // Fetching directories waits on the network: not under the disk lock.
        let (working, t) = (spec.working.clone(), torrent.clone());
        let rt = tokio::runtime::Handle::current();
        let learnt = tokio::task::spawn_blocking(move || -> std::io::Result<Learnt> {
            let file = std::fs::File::options()
                .read(true)
                .write(true)
                .open(&working)?;
            let mut missing: HashSet<u32> = wrong.iter().map(|p| p.0).collect();
            let mut link = link;
            let mut fetched = Vec::new();
            let layout = layout_through(t.total_length(), |at, buf| {
                let end = at + buf.len() as u64;
                let len = u64::from(t.piece_length);
                for p in (at / len) as u32..end.div_ceil(len) as u32 {
                    if missing.contains(&p) {
                        let bytes = rt
                            .block_on(link.piece(&t, PieceIndex(p)))
                            .map_err(std::io::Error::other)?;
                        // In blocks, each a kill point as librqbit's writes are.
                        let start = t.piece_range(p).start;
                        for (n, block) in bytes.chunks(16 << 10).enumerate() {
                            super::fault::point("write");
                            file.write_all_at(block, start + (n as u64 * (16 << 10)))?;
                        }
                        missing.remove(&p);
                        fetched.push(p);
                    }
                }
                file.read_exact_at(buf, at)
            });
            let mut wrong: Vec<PieceIndex> = missing.into_iter().map(PieceIndex).collect();
            wrong.sort();
            Ok((layout, fetched, wrong))
        })
        .await??;
        let (layout, fetched, wrong) = match learnt {
            (Ok(layout), fetched, wrong) => (layout, fetched, wrong),
            (Err(e), _, _) => {
                tracing::info!("the target's layout is unreadable ({e}): no pre-fill");
                return Ok(None);
            }
        };
        // They came from a peer, as librqbit's pieces do: the job counts them as fetched.
        if let Some(log) = self.log_of(id) {
            log.note_fetched_outside(&fetched);
        }
        let layout_fetched = fetched.iter().map(|&p| torrent.piece_len(p)).sum();
        let (working, t, from) = (spec.working.clone(), torrent.clone(), spec.from.clone());
        let store = self.store.clone();
        let done = self
            .on_disk(move || -> anyhow::Result<_> {
                let old = read_layout(&from).context("reading the old image's layout")?;
                let mut at_hand: Vec<AtHand> = old
                    .files
                    .iter()
                    .map(|f| AtHand::in_image(&from, f))
                    .collect();
                // The packages the store holds, known by digest alone: matched by content.
                for (sha, path, size) in store.objects()? {
                    at_hand.push(AtHand::in_store(&path, &sha.to_string(), size));
                }
                Ok(prefill(&working, &t, &layout, &wrong, &at_hand)?)
            })
            .await??;
        let rebuilt = Rebuilt {
            layout_fetched,
            from_image: done.from_image,
            from_store: done.from_store,
            still_to_fetch: done.still_wrong_bytes,
            millis: started.elapsed().as_millis() as u64,
        };
        if let Some(log) = self.log_of(id) {
            log.note_rebuilt(rebuilt);
        }
        Ok(Some(rebuilt))
    }

    /// A link to the first peer of the target's swarm that answers: the engine's known peers,
    /// then whoever the torrent's trackers list.
    async fn link_to_swarm(&self, torrent: &Torrent) -> Option<PeerLink> {
        let peer_id = link_peer_id();
        let mut tried = HashSet::new();
        for &peer in &self.known_peers {
            if tried.insert(peer)
                && let Some(link) = connect(peer, torrent, peer_id).await
            {
                return Some(link);
            }
        }
        let mut peers = self.announce(torrent, peer_id).await?;
        let deadline = tokio::time::Instant::now() + FIND_PEER;
        while let Ok(Some(peer)) = tokio::time::timeout_at(deadline, peers.next()).await {
            // The trackers list this engine too, under the port announced for the link.
            let ourselves = peer.ip().is_loopback() && Some(peer.port()) == self.listen_port;
            if ourselves || !tried.insert(peer) {
                continue;
            }
            if let Some(link) = connect(peer, torrent, peer_id).await {
                return Some(link);
            }
        }
        None
    }

    /// The peers the torrent's trackers list, announcing as a peer that has nothing yet.
    async fn announce(
        &self,
        torrent: &Torrent,
        peer_id: [u8; 20],
    ) -> Option<futures::stream::BoxStream<'static, SocketAddr>> {
        struct Nothing(u64);
        impl librqbit_tracker_comms::TorrentStatsProvider for Nothing {
            fn get(&self) -> librqbit_tracker_comms::TrackerCommsStats {
                librqbit_tracker_comms::TrackerCommsStats {
                    total_bytes: self.0,
                    torrent_state: librqbit_tracker_comms::TrackerCommsStatsState::Live,
                    ..Default::default()
                }
            }
        }
        let trackers = torrent
            .trackers
            .iter()
            .flatten()
            .filter_map(|t| url::Url::parse(t).ok())
            .collect();
        let udp = librqbit_tracker_comms::UdpTrackerClient::new(
            tokio_util::sync::CancellationToken::new(),
            None,
        )
        .await
        .ok()?;
        librqbit_tracker_comms::TrackerComms::start(
            librqbit_core::Id20::new(torrent.info_hash().0),
            librqbit_core::Id20::new(peer_id),
            trackers,
            Box::new(Nothing(torrent.total_length())),
            None,
            // Trackers refuse port 0; peers who dial this one reach the engine's session.
            self.listen_port.unwrap_or(6881),
            reqwest::Client::new(),
            udp,
        )
    }
}

/// A link to `peer`, tried a few times: Transmission refuses a second connection from an
/// address while another one from it is still shaking hands (the engine's, for another torrent).
async fn connect(peer: SocketAddr, torrent: &Torrent, peer_id: [u8; 20]) -> Option<PeerLink> {
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        match PeerLink::connect(peer, torrent, peer_id).await {
            Ok(link) => return Some(link),
            Err(e) => tracing::debug!("{e}"),
        }
    }
    None
}

/// A peer id for our own links, in Azureus style ("-SD0100-" and random bytes).
fn link_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-SD0100-");
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[8..]);
    id
}

/// The pieces of `t` whose bytes in `file` are not the torrent's (hashed in parallel).
fn pieces_to_fetch(file: &Path, t: &Torrent) -> std::io::Result<Vec<PieceIndex>> {
    let f = std::fs::File::open(file)?;
    let mut wrong: Vec<PieceIndex> = (0..t.pieces().len() as u32)
        .into_par_iter()
        .map_init(Vec::new, |buf, i| -> std::io::Result<Option<PieceIndex>> {
            let r = t.piece_range(i);
            buf.resize((r.end - r.start) as usize, 0);
            f.read_exact_at(buf, r.start)?;
            Ok((PieceHash::of(buf) != t.pieces()[i as usize]).then_some(PieceIndex(i)))
        })
        .filter_map(Result::transpose)
        .collect::<std::io::Result<_>>()?;
    wrong.sort();
    Ok(wrong)
}
