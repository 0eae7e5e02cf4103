//! Learning a target image's layout from its swarm before anything else is fetched: the pieces
//! holding its volume descriptors and directories come one by one from one peer (`peer_wire.rs`)
//! and are checked, the rest is read locally (the old image, or a switch's working copy of it),
//! and `iso::layout_through` parses them. The switch's pre-fill and the refined plan both use it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::notice::SkipReason;
use super::peer_wire::PeerLink;
use swarmdate_core::hash::PieceHash;
use swarmdate_core::iso::{Layout, layout_through};
use swarmdate_core::torrent::{PieceIndex, Torrent};

/// How long a switch looks for a peer that serves the target's directories before it fetches
/// every differing piece instead (and says so): long enough for a seeder that starts late or
/// is found only by local discovery's next round, never forever.
pub const SWITCH_PATIENCE: Duration = Duration::from_secs(300);
/// How long a plan looks (someone waits at the command line for it).
pub const PLAN_PATIENCE: Duration = Duration::from_secs(45);
/// Peers that did not serve are asked again after this long: a seeder may add the torrent late.
const ASK_AGAIN: Duration = Duration::from_secs(5);
/// Most peers of the session's other torrents asked (each costs a connection).
const MAX_SESSION_PEERS: usize = 64;
/// Links tried after a peer stopped serving mid-way, before giving up on the layout.
const MAX_LINKS: u32 = 3;

/// Where local peer discovery (BEP 14) looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDiscovery {
    /// Not at all.
    Off,
    /// On every network device.
    Everywhere,
    /// On this device only (`lo` for an engine that listens on loopback, docs/platform.md §2).
    Device(String),
}

/// Peers the engine's session knows of, for a torrent it does not run yet.
#[derive(Clone)]
pub struct SessionPeers {
    /// The session's DHT, when it has one.
    pub(crate) dht: Option<librqbit::dht::Dht>,
    /// The peers of the session's torrents (connected to us, or learnt for them).
    pub(crate) known: Arc<dyn Fn() -> Vec<SocketAddr> + Send + Sync>,
}

impl std::fmt::Debug for SessionPeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPeers")
            .field("dht", &self.dht.is_some())
            .finish_non_exhaustive()
    }
}

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
    /// Local peer discovery for the target's info hash.
    pub local_discovery: LocalDiscovery,
    /// The running engine's DHT and peers (none outside an engine).
    pub session: Option<SessionPeers>,
    /// How long to keep looking for a peer that serves the directories.
    pub patience: Duration,
}

/// A target's layout and the pieces fetched from the swarm to read it.
#[derive(Debug)]
pub struct Learnt {
    /// The target's files and directories.
    pub layout: Layout,
    /// The pieces fetched (each checked), by index.
    pub fetched: BTreeMap<u32, Vec<u8>>,
    /// The peer that served them (none when all were at hand).
    pub served_by: Option<SocketAddr>,
}

/// Learns `torrent`'s layout: the pieces in `missing` come from one peer of its swarm, the others
/// are read from `local` at their offset (zeros past its end). Why not, when no peer served
/// them within the swarm's patience or the image is not ISO 9660. Dropping the future stops the
/// search for a peer.
pub async fn learn_layout(
    torrent: Arc<Torrent>,
    local: PathBuf,
    missing: HashSet<u32>,
    swarm: &Swarm,
) -> anyhow::Result<Result<Learnt, SkipReason>> {
    let rt = tokio::runtime::Handle::current();
    let cache = swarm
        .cache
        .as_ref()
        .map(|c| c.join(torrent.info_hash().to_string()));
    let swarm = swarm.clone();
    // The blocking part below outlives a dropped future: the token tells it to stop looking.
    let stop = CancellationToken::new();
    let _stop_when_dropped = stop.clone().drop_guard();
    let deadline = Instant::now() + swarm.patience;
    // Fetching waits on the network; the parser reads synchronously.
    let (layout, fetched, no_peer, served_by) =
        tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let file = std::fs::File::open(&local)?;
            let local_len = file.metadata()?.len();
            // Connected on the first piece neither local nor cached.
            let mut link: Option<PeerLink> = None;
            let mut links = 0;
            let mut no_peer = false;
            let mut served_by = None;
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
                            let b = loop {
                                if link.is_none() && links < MAX_LINKS {
                                    links += 1;
                                    link = rt.block_on(link_to_swarm(t, &swarm, &stop, deadline));
                                }
                                let Some(l) = link.as_mut() else {
                                    no_peer = true;
                                    return Err(std::io::Error::other(
                                        "no peer served the directories",
                                    ));
                                };
                                match rt.block_on(l.piece(t, PieceIndex(p))) {
                                    Ok(b) => {
                                        served_by = Some(l.peer());
                                        break b;
                                    }
                                    // Another peer may serve it: look again.
                                    Err(e) => {
                                        tracing::info!("the target's directories: {e}");
                                        link = None;
                                    }
                                }
                            };
                            if let Some(c) = &cached {
                                // A cache: losing it costs a fetch, never a wrong byte.
                                let _ =
                                    std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(c))
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
                    buf[(from - at) as usize..(to - at) as usize].copy_from_slice(
                        &bytes[(from - r.start) as usize..(to - r.start) as usize],
                    );
                }
                Ok(())
            });
            Ok((layout, fetched, no_peer, served_by))
        })
        .await??;
    match layout {
        Ok(layout) => Ok(Ok(Learnt {
            layout,
            fetched,
            served_by,
        })),
        Err(e) if no_peer => {
            tracing::warn!("the target's layout: {e}");
            Ok(Err(SkipReason::NoPeer))
        }
        Err(e) => {
            tracing::info!("the target's layout is unreadable: {e}");
            Ok(Err(SkipReason::NotIso9660))
        }
    }
}

/// A link to the first peer of the target's swarm that answers, looked for until `deadline` or
/// `stop`: the known peers and the session's, then whoever the torrent's trackers, local
/// discovery and the DHT name as they name them; a peer that did not serve is asked again
/// every [`ASK_AGAIN`] (a seeder may add the torrent late).
async fn link_to_swarm(
    torrent: &Torrent,
    swarm: &Swarm,
    stop: &CancellationToken,
    deadline: Instant,
) -> Option<PeerLink> {
    let peer_id = link_peer_id();
    let started = std::time::Instant::now();
    let allowed = |peer: &SocketAddr| {
        // The trackers and local discovery name us too, under the port announced.
        let ourselves = peer.ip().is_loopback() && peer.port() == swarm.port;
        !ourselves && (!swarm.local_only || super::scope::is_local_network(peer.ip()))
    };
    // The peers of the session's other torrents are a guess: asked once each, after the others.
    let session_peers = || -> Vec<SocketAddr> {
        swarm.session.as_ref().map_or(Vec::new(), |s| {
            (s.known)().into_iter().take(MAX_SESSION_PEERS).collect()
        })
    };
    let dht = swarm.session.as_ref().and_then(|s| s.dht.clone());
    // Nothing could ever name a peer (sharing with nobody): no point in waiting.
    if swarm.known_peers.is_empty()
        && !swarm.trackers
        && swarm.local_discovery == LocalDiscovery::Off
        && dht.is_none()
        && session_peers().is_empty()
    {
        return None;
    }
    let mut named: SelectAll<BoxStream<'static, SocketAddr>> = SelectAll::new();
    if swarm.trackers
        && let Some(s) = announce(torrent, peer_id, swarm.port, false).await
    {
        named.push(s);
    }
    // Kept until the link is made: dropping it ends the local search.
    let _local = match local_peers(torrent, swarm.port, &swarm.local_discovery).await {
        Ok(Some((peers, guard))) => {
            named.push(peers);
            Some(guard)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::info!("local discovery for the target's layout: {e:#}");
            None
        }
    };
    if let Some(dht) = dht {
        let id = librqbit_core::Id20::new(torrent.info_hash().0);
        named.push(dht.get_peers(id, Some(swarm.port)).boxed());
    }
    // Each peer asked, when, and how many attempts it gets (see `connect`).
    let mut asked: HashMap<SocketAddr, (Instant, u32)> = HashMap::new();
    let mut first: VecDeque<SocketAddr> = swarm.known_peers.iter().copied().collect();
    let mut later: VecDeque<SocketAddr> = session_peers().into();
    loop {
        loop {
            // Peers a source named meanwhile go before the session's guesses.
            while let Some(Some(peer)) = named.next().now_or_never() {
                first.push_back(peer);
            }
            let (peer, attempts) = if let Some(p) = first.pop_front() {
                (p, 3)
            } else if let Some(p) = later.pop_front() {
                (p, 1)
            } else {
                break;
            };
            if stop.is_cancelled() || Instant::now() >= deadline {
                return None;
            }
            if !allowed(&peer) || asked.get(&peer).is_some_and(|a| a.0.elapsed() < ASK_AGAIN) {
                continue;
            }
            let attempts = asked.get(&peer).map_or(attempts, |a| a.1.max(attempts));
            asked.insert(peer, (Instant::now(), attempts));
            let linked = tokio::select! {
                l = connect(peer, torrent, peer_id, attempts) => l,
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline) => return None,
            };
            if let Some(link) = linked {
                tracing::info!(
                    "the target's directories come from {peer}, found after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return Some(link);
            }
        }
        tokio::select! {
            Some(peer) = named.next(), if !named.is_empty() => first.push_back(peer),
            _ = tokio::time::sleep(ASK_AGAIN) => {
                // A round again: every peer asked so far, and the session's peers as they are now.
                for (peer, (_, attempts)) in &asked {
                    if *attempts > 1 { first.push_back(*peer) } else { later.push_back(*peer) }
                }
                first.extend(swarm.known_peers.iter().copied());
                later.extend(session_peers());
            }
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep_until(deadline) => return None,
        }
    }
}

/// The peers local discovery finds for `torrent` (BEP 14: it announces `port` at once and
/// peers that have the torrent answer), and a guard that ends the search when dropped.
async fn local_peers(
    torrent: &Torrent,
    port: u16,
    scope: &LocalDiscovery,
) -> anyhow::Result<Option<(BoxStream<'static, SocketAddr>, tokio_util::sync::DropGuard)>> {
    let device = match scope {
        LocalDiscovery::Off => return Ok(None),
        LocalDiscovery::Everywhere => None,
        LocalDiscovery::Device(d) => {
            Some(librqbit_dualstack_sockets::BindDevice::new_from_name(d)?)
        }
    };
    let token = CancellationToken::new();
    let lsd =
        librqbit_lsd::LocalServiceDiscovery::new(librqbit_lsd::LocalServiceDiscoveryOptions {
            cancel_token: token.clone(),
            cookie: None,
            bind_device: device.as_ref(),
        })
        .await?;
    let id = librqbit_core::Id20::new(torrent.info_hash().0);
    Ok(Some((
        lsd.announce(id, Some(port)).boxed(),
        token.drop_guard(),
    )))
}

/// A link to `peer`, tried up to `attempts` times: Transmission refuses a second connection from
/// an address while another one from it is still shaking hands (the engine's, for another torrent).
async fn connect(
    peer: SocketAddr,
    torrent: &Torrent,
    peer_id: [u8; 20],
    attempts: u32,
) -> Option<PeerLink> {
    for attempt in 0..attempts {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64 KiB image of zeros and its torrent of 16 KiB pieces, every piece missing.
    fn world() -> (tempfile::TempDir, Arc<Torrent>, HashSet<u32>) {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("os.iso");
        std::fs::write(&image, vec![0u8; 64 << 10]).unwrap();
        let t = swarmdate_core::torrent::TorrentBuilder::single_file("os.iso", &image)
            .piece_length(16 << 10)
            .build()
            .unwrap();
        let missing = (0..t.pieces().len() as u32).collect();
        (dir, Arc::new(t), missing)
    }

    fn swarm(local_discovery: LocalDiscovery, patience: Duration) -> Swarm {
        Swarm {
            known_peers: Vec::new(),
            trackers: false,
            port: 1,
            local_only: false,
            cache: None,
            local_discovery,
            session: None,
            patience,
        }
    }

    /// With no source of peers at all the layout is given up at once; with one that names
    /// nobody, when the patience runs out: never later, and both say no peer served it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_swarm_without_peers_gives_the_layout_up_within_its_patience() {
        let (dir, t, missing) = world();
        let local = dir.path().join("os.iso");
        let started = std::time::Instant::now();
        let none = swarm(LocalDiscovery::Off, SWITCH_PATIENCE);
        let r = learn_layout(t.clone(), local.clone(), missing.clone(), &none).await;
        assert!(matches!(r, Ok(Err(SkipReason::NoPeer))), "{r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        let started = std::time::Instant::now();
        let patience = Duration::from_secs(2);
        let lonely = swarm(LocalDiscovery::Device("lo".into()), patience);
        let r = learn_layout(t, local, missing, &lonely).await;
        assert!(matches!(r, Ok(Err(SkipReason::NoPeer))), "{r:?}");
        let took = started.elapsed();
        assert!(took >= patience && took < patience * 5, "{took:?}");
    }
}
