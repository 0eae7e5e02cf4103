//! Learning a target image's layout from its swarm before anything else is fetched: the pieces
//! holding its volume descriptors and directories come one by one from one peer (`peer_wire.rs`)
//! and are checked, the rest is read locally (the old image, or a switch's working copy of it),
//! and `iso::layout_through` parses them. The switch's pre-fill and the refined plan both use it.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::peer_wire::PeerLink;
use swarmdate_core::hash::PieceHash;
use swarmdate_core::iso::{Layout, layout_through};
use swarmdate_core::torrent::{PieceIndex, Torrent};

/// How long to look for a peer that serves the directories before giving up on the layout.
const FIND_PEER: Duration = Duration::from_secs(45);

/// Where to find peers of the target's swarm.
#[derive(Debug, Clone)]
pub struct Swarm {
    /// Peers to try first (the engine's known peers).
    pub known_peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers (off when the user shares only locally or not at all).
    pub trackers: bool,
    /// The port to announce (trackers refuse 0); peers listed under it on loopback are us.
    pub port: u16,
    /// Dial only the local network ("local network only" sharing).
    pub local_only: bool,
    /// A folder keeping the pieces fetched, so a plan's directory pieces serve the switch that
    /// follows instead of being fetched twice (each is checked again when read).
    pub cache: Option<PathBuf>,
}

/// A target's layout and the pieces fetched from the swarm to read it.
#[derive(Debug)]
pub struct Learnt {
    /// The target's files and directories.
    pub layout: Layout,
    /// The pieces fetched (each checked), by index.
    pub fetched: BTreeMap<u32, Vec<u8>>,
}

/// Learns `torrent`'s layout: the pieces in `missing` come from one peer of its swarm, the others
/// are read from `local` at their offset (zeros past its end). `None` when no peer served them
/// or the image is not ISO 9660.
pub async fn learn_layout(
    torrent: Arc<Torrent>,
    local: PathBuf,
    missing: HashSet<u32>,
    swarm: &Swarm,
) -> anyhow::Result<Option<Learnt>> {
    let rt = tokio::runtime::Handle::current();
    let cache = swarm
        .cache
        .as_ref()
        .map(|c| c.join(torrent.info_hash().to_string()));
    let swarm = swarm.clone();
    // Fetching waits on the network; the parser reads synchronously.
    let (layout, fetched) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let file = std::fs::File::open(&local)?;
        let local_len = file.metadata()?.len();
        // Connected on the first piece neither local nor cached.
        let mut link: Option<PeerLink> = None;
        let mut fetched: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        let t = &torrent;
        let layout = layout_through(t.total_length(), |at, buf| {
            let end = at + buf.len() as u64;
            let len = u64::from(t.piece_length);
            let pieces = (at / len) as u32..end.div_ceil(len) as u32;
            for p in pieces.clone() {
                if !missing.contains(&p) || fetched.contains_key(&p) {
                    continue;
                }
                let cached = cache.as_ref().map(|c| c.join(p.to_string()));
                let bytes = match cached.as_ref().and_then(|c| std::fs::read(c).ok()) {
                    Some(b) if PieceHash::of(&b) == t.pieces()[p as usize] => b,
                    _ => {
                        if link.is_none() {
                            link = rt.block_on(link_to_swarm(t, &swarm));
                        }
                        let Some(l) = link.as_mut() else {
                            return Err(std::io::Error::other("no peer served the directories"));
                        };
                        let b = rt
                            .block_on(l.piece(t, PieceIndex(p)))
                            .map_err(std::io::Error::other)?;
                        if let Some(c) = &cached {
                            // A cache: losing it costs a fetch, never a wrong byte.
                            let _ = std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(c))
                                .and_then(|()| swarmdate_core::fsutil::write_atomic(c, &b));
                        }
                        b
                    }
                };
                fetched.insert(p, bytes);
            }
            // The local bytes, then the fetched pieces over them.
            buf.fill(0);
            if at < local_len {
                let n = (local_len - at).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..n], at)?;
            }
            for (p, bytes) in fetched.range(pieces) {
                let r = t.piece_range(*p);
                let (from, to) = (r.start.max(at), r.end.min(end));
                buf[(from - at) as usize..(to - at) as usize]
                    .copy_from_slice(&bytes[(from - r.start) as usize..(to - r.start) as usize]);
            }
            Ok(())
        });
        Ok((layout, fetched))
    })
    .await??;
    match layout {
        Ok(layout) => Ok(Some(Learnt { layout, fetched })),
        Err(e) => {
            tracing::info!("the target's layout is unreadable: {e}");
            Ok(None)
        }
    }
}

/// A link to the first peer of the target's swarm that answers: the known peers, then whoever
/// the torrent's trackers list.
async fn link_to_swarm(torrent: &Torrent, swarm: &Swarm) -> Option<PeerLink> {
    let peer_id = link_peer_id();
    let mut tried = HashSet::new();
    let allowed =
        |peer: &SocketAddr| !swarm.local_only || super::scope::is_local_network(peer.ip());
    for &peer in &swarm.known_peers {
        if allowed(&peer)
            && tried.insert(peer)
            && let Some(link) = connect(peer, torrent, peer_id).await
        {
            return Some(link);
        }
    }
    if !swarm.trackers {
        return None;
    }
    let mut peers = announce(torrent, peer_id, swarm.port, false).await?;
    let deadline = tokio::time::Instant::now() + FIND_PEER;
    while let Ok(Some(peer)) = tokio::time::timeout_at(deadline, peers.next()).await {
        // The trackers list us too, under the port announced.
        let ourselves = peer.ip().is_loopback() && peer.port() == swarm.port;
        if ourselves || !allowed(&peer) || !tried.insert(peer) {
            continue;
        }
        if let Some(link) = connect(peer, torrent, peer_id).await {
            return Some(link);
        }
    }
    None
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
            // Nobody listens there: no second try.
            Err(super::peer_wire::WireError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                return None;
            }
            Err(e) => tracing::debug!("{e}"),
        }
    }
    None
}

/// The peers the torrent's trackers list, announcing `port` as a peer that has nothing yet or,
/// `complete`, everything. Announces go on (at the trackers' intervals) while the stream is polled.
pub(super) async fn announce(
    torrent: &Torrent,
    peer_id: [u8; 20],
    port: u16,
    complete: bool,
) -> Option<futures::stream::BoxStream<'static, SocketAddr>> {
    struct Holding {
        total: u64,
        complete: bool,
    }
    impl librqbit_tracker_comms::TorrentStatsProvider for Holding {
        fn get(&self) -> librqbit_tracker_comms::TrackerCommsStats {
            librqbit_tracker_comms::TrackerCommsStats {
                total_bytes: self.total,
                downloaded_bytes: if self.complete { self.total } else { 0 },
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
        Box::new(Holding {
            total: torrent.total_length(),
            complete,
        }),
        None,
        port,
        reqwest::Client::new(),
        udp,
    )
}

/// A peer id for our own links, in Azureus style ("-SD0100-" and random bytes).
pub(super) fn link_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-SD0100-");
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[8..]);
    id
}
