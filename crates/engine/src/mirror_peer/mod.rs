//! The mirrors as one more peer of a repository job: a BitTorrent connection from the engine to
//! its own session's listener that offers pieces fetched from the mirrors over HTTP. librqbit asks
//! it for pieces like any peer, checks and writes them, and tells the swarm it has them, so a crowd
//! trades what each member took from the mirror (a fetch beside librqbit could not be shared: it
//! learns of such pieces only when it checks the torrent again).
//!
//! It shows a few units at a time (a package, or 1 MiB of a larger one), in a random order of its
//! own, and only while `pace.rs` says the swarm does not keep the job busy; a unit is fetched from
//! the mirrors when librqbit first asks for one of its pieces, each piece checked against its hash
//! before any byte of it is sent. Only the engine dials it, so no other local user can make it
//! fetch anything.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use governor::DefaultDirectRateLimiter;
use librqbit_core::hash_id::Id20;
use librqbit_peer_protocol::{Message, Piece, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc};

mod board;

use board::{Board, Unit, units};

use super::fallback::{FIRST_RETRY, MAX_RETRY};
use super::mirror::Mirrors;
use super::pace::MirrorUse;
use super::peer_wire::{
    WireError, bitfield_has, decode, next_frame, read_handshake, send_handshake,
};
use super::storage::PieceLog;
use super::super_seed::block_limiter;
use swarmdate_core::torrent::Torrent;

/// Units fetched from the mirrors at once.
const FETCHES: usize = 4;
/// How often the pace is looked at again, and a keep-alive sent when nothing else was.
const TICK: Duration = Duration::from_millis(250);
/// librqbit drops a peer it heard nothing from in 10 s.
const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// librqbit sends keep-alives every 120 s.
const PATIENCE: Duration = Duration::from_secs(180);
/// Requests that may wait; librqbit keeps at most 128 outstanding.
const MAX_QUEUED: usize = 1024;
/// The largest block served (clients ask for 16 KiB).
const MAX_BLOCK: u32 = 128 << 10;

/// A unit's pieces once fetched, or why not.
type Fetch = Shared<BoxFuture<'static, Result<Arc<Vec<Vec<u8>>>, String>>>;

/// One repository job's mirror peer; it stops when dropped.
pub(super) struct MirrorPeer {
    shared: Arc<PeerShared>,
    task: tokio::task::JoinHandle<()>,
}

struct PeerShared {
    torrent: Arc<Torrent>,
    mirrors: Mirrors,
    log: Arc<PieceLog>,
    /// Whether new units may be shown (`pace.rs`).
    allowed: AtomicBool,
    /// Whether only the session's own units may be (peers deliver).
    own_only: AtomicBool,
    /// The rate blocks are served at, when limited, and its limiter.
    limiter: Mutex<Option<(NonZeroU32, Arc<DefaultDirectRateLimiter>)>>,
    /// Payload bytes sent to librqbit.
    sent: AtomicU64,
    /// Whether a block was sent since the last failure.
    served: AtomicBool,
    board: Mutex<Board<Fetch>>,
    fetches: Semaphore,
}

impl MirrorPeer {
    /// Starts offering the pieces of `wanted` files to the session listening on `listen`.
    pub(super) fn start(
        listen: SocketAddr,
        torrent: Arc<Torrent>,
        mirrors: Mirrors,
        wanted: impl IntoIterator<Item = usize>,
        log: Arc<PieceLog>,
    ) -> MirrorPeer {
        let t = torrent.clone();
        let board = Board::new(units(&torrent, wanted), move |p| t.piece_len(p));
        let shared = Arc::new(PeerShared {
            torrent,
            mirrors,
            log,
            allowed: AtomicBool::new(false),
            own_only: AtomicBool::new(false),
            limiter: Mutex::new(None),
            sent: AtomicU64::new(0),
            served: AtomicBool::new(false),
            board: Mutex::new(board),
            fetches: Semaphore::new(FETCHES),
        });
        let task = tokio::spawn(run(shared.clone(), dial(listen)));
        MirrorPeer { shared, task }
    }

    /// Says how much it may serve now (`pace.rs`): nothing (librqbit is choked), at most a
    /// rate, or as fast as librqbit asks.
    pub(super) fn allow(&self, what: MirrorUse) {
        let was = self
            .shared
            .allowed
            .swap(what != MirrorUse::Off, Ordering::Relaxed);
        if was != (what != MirrorUse::Off) {
            tracing::debug!(?what, "the mirror peer's pace");
        }
        let rate = match what {
            MirrorUse::Limited(r) => Some(r),
            _ => None,
        };
        self.shared
            .own_only
            .store(rate.is_some(), Ordering::Relaxed);
        let mut limiter = self.shared.limiter.lock().unwrap();
        // A new limiter only for a change worth it: each starts with a full burst.
        let now = limiter.as_ref().map(|(r, _)| *r);
        let changed = match (now, rate) {
            (Some(a), Some(b)) => a.get().abs_diff(b.get()) > a.get() / 8,
            (a, b) => a.is_some() != b.is_some(),
        };
        if changed {
            *limiter = rate.map(|r| (r, block_limiter(r)));
        }
    }

    /// Tells it which pieces the session has (`has`), for the units it has shown: librqbit does
    /// not tell a peer of pieces it believes that peer has.
    pub(super) fn sync(&self, has: impl Fn(u32) -> bool) {
        self.shared.board.lock().unwrap().sync(has, Instant::now());
    }

    /// Orders what it shows by the crowd's ranks: `me` is this session as peers dial it.
    pub(super) fn rank(&self, me: &str, peers: &[String]) {
        self.shared.board.lock().unwrap().rank(me, peers);
    }

    /// Payload bytes it has sent.
    pub(super) fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }
}

impl Drop for MirrorPeer {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.log.set_mirror_peer(None);
    }
}

impl PeerShared {
    /// Whether new units may be shown, and whether only the session's own.
    fn pace(&self) -> (bool, bool) {
        (
            self.allowed.load(Ordering::Relaxed),
            self.own_only.load(Ordering::Relaxed),
        )
    }
}

/// Where to reach the session: its own address, loopback when it listens on every address.
fn dial(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}

/// Connects once the mirrors may be asked and serves; after a failure, waits longer and longer
/// before connecting again.
async fn run(shared: Arc<PeerShared>, listen: SocketAddr) {
    let mut wait = FIRST_RETRY;
    loop {
        while !shared.allowed.load(Ordering::Relaxed) {
            tokio::time::sleep(TICK).await;
        }
        let started = Instant::now();
        let served = serve(&shared, listen).await;
        shared.log.set_mirror_peer(None);
        match served {
            // The session closed the link (it paused, or dropped us): connect again.
            Ok(()) => continue,
            Err(e) if e.downcast_ref::<WireError>().is_some() => {
                tracing::debug!("the mirror peer's link: {e:#}");
                tokio::time::sleep(TICK).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("the mirror peer: {e:#}");
                shared.log.set_mirror_error(Some(format!("{e:#}")));
            }
        }
        // A connection that served a block, or a while, starts the waits over.
        if shared.served.swap(false, Ordering::Relaxed) || started.elapsed() > MAX_RETRY {
            wait = FIRST_RETRY;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// One connection to the session, until it closes (`Ok`) or it or a mirror fails.
async fn serve(shared: &Arc<PeerShared>, listen: SocketAddr) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(listen).await?;
    let local = stream.local_addr()?;
    let info_hash = Id20::new(shared.torrent.info_hash().0);
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-SD0001-");
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[8..]);
    send_handshake(&mut stream, listen, info_hash, Id20::new(id)).await?;
    read_handshake(&mut stream, listen, info_hash, Duration::from_secs(10)).await?;
    shared.board.lock().unwrap().connected();
    shared.log.set_mirror_peer(Some(local));
    tracing::debug!(%local, "the mirror peer is linked to its session");
    let (rd, wr) = stream.into_split();
    let (shows_tx, shows_rx) = mpsc::unbounded_channel();
    let (blocks_tx, blocks_rx) = mpsc::channel(MAX_QUEUED);
    let io = Io {
        shared,
        peer: listen,
        queued: Mutex::new(HashSet::new()),
        sent: Mutex::new(HashMap::new()),
    };
    tokio::select! {
        r = io.read(rd, shows_tx, blocks_tx) => r,
        r = io.write(wr, shows_rx, blocks_rx) => r,
    }
}

/// One connection's two directions.
struct Io<'a> {
    shared: &'a Arc<PeerShared>,
    peer: SocketAddr,
    /// Requests waiting; a cancel takes one out.
    queued: Mutex<HashSet<(u32, u32, u32)>>,
    /// Bytes sent of each piece not sent whole yet.
    sent: Mutex<HashMap<u32, u64>>,
}

impl Io<'_> {
    fn protocol(&self, what: String) -> WireError {
        WireError::Protocol {
            peer: self.peer,
            what,
        }
    }

    /// Reads what the session has and asks for; starts a unit's fetch at its first request.
    async fn read(
        &self,
        mut rd: OwnedReadHalf,
        shows: mpsc::UnboundedSender<u32>,
        blocks: mpsc::Sender<Request>,
    ) -> anyhow::Result<()> {
        let pieces = self.shared.torrent.pieces().len();
        let bitfield = pieces.div_ceil(8) + 1;
        let most = |id| if id == 5 { bitfield } else { 1024 };
        let mut inbox = Vec::new();
        loop {
            let len = next_frame(&mut rd, &mut inbox, self.peer, most, PATIENCE).await?;
            let msg = decode(&inbox, len, self.peer)?;
            tracing::trace!(?msg, "the mirror peer heard");
            let mut board = self.shared.board.lock().unwrap();
            match msg {
                Some(Message::Bitfield(bits)) => {
                    let bits: &[u8] = bits.as_ref();
                    let mut n = 0;
                    for i in 0..pieces {
                        if bitfield_has(bits, i) {
                            board.has(i as u32);
                            n += 1;
                        }
                    }
                    tracing::debug!(pieces = n, "the mirror peer's session has");
                }
                Some(Message::Have(i)) => board.has(i),
                Some(Message::Request(r)) => {
                    let Some(u) = board.shown_unit(r.index) else {
                        return Err(self
                            .protocol(format!("a request for piece {} not offered", r.index))
                            .into());
                    };
                    self.check(&r)?;
                    board.asked(r.index, u, Instant::now(), |unit| {
                        let fetch = self.fetch(unit.clone());
                        // Driven now, not only when its first block is due.
                        tokio::spawn(fetch.clone());
                        fetch
                    });
                    if self
                        .queued
                        .lock()
                        .unwrap()
                        .insert((r.index, r.begin, r.length))
                    {
                        blocks
                            .try_send(r)
                            .map_err(|_| self.protocol("too many requests waiting".into()))?;
                    }
                }
                Some(Message::Cancel(r)) => {
                    self.queued
                        .lock()
                        .unwrap()
                        .remove(&(r.index, r.begin, r.length));
                }
                _ => {}
            }
            inbox.drain(..4 + len);
            let (allowed, own) = self.shared.pace();
            let shown = board.top_up(allowed, own, Instant::now());
            if !shown.is_empty() {
                tracing::debug!(pieces = shown.len(), "the mirror peer shows pieces");
            }
            for p in shown {
                let _ = shows.send(p);
            }
        }
    }

    fn check(&self, r: &Request) -> Result<(), WireError> {
        let end = u64::from(r.begin) + u64::from(r.length);
        if r.length == 0 || r.length > MAX_BLOCK || end > self.shared.torrent.piece_len(r.index) {
            return Err(self.protocol(format!(
                "a request for {} bytes at {} of piece {}",
                r.length, r.begin, r.index
            )));
        }
        Ok(())
    }

    /// A unit's fetch from the mirrors, a few at once.
    fn fetch(&self, unit: Unit) -> Fetch {
        let shared = self.shared.clone();
        async move {
            let _permit = shared.fetches.acquire().await.expect("never closed");
            let fetch = || {
                shared
                    .mirrors
                    .fetch_pieces(&shared.torrent, unit.file, unit.span.clone())
            };
            // Once more at once: a mirror may close a kept-alive connection as it is reused. A
            // mirror that answered wrongly is not asked again at once: its error is told (the
            // link fails, and the error stays while the mirror peer waits to connect again).
            let fetched = match fetch().await {
                Ok(pieces) => Ok(pieces),
                Err(e) if super::mirror::is_verdict(&e) => Err(e),
                Err(_) => fetch().await,
            };
            fetched.map(Arc::new).map_err(|e| format!("{e:#}"))
        }
        .boxed()
        .shared()
    }

    /// Writes the units shown, the blocks asked for once their unit is fetched, keep-alives;
    /// unchokes librqbit while something shown waits for it and the pace allows, chokes it
    /// otherwise. A choked librqbit waits for the unchoke and then asks at once; one that found
    /// nothing to ask for looks again only 5 s later (docs/platform.md §6), so it is choked
    /// before it runs dry, and new pieces are told before the unchoke.
    async fn write(
        &self,
        mut wr: OwnedWriteHalf,
        mut shows: mpsc::UnboundedReceiver<u32>,
        mut blocks: mpsc::Receiver<Request>,
    ) -> anyhow::Result<()> {
        let peer = self.peer;
        let io = |source| WireError::Io { peer, source };
        let mut buf = vec![0u8; 64];
        let mut out = Vec::new();
        let mut choked = true;
        let mut tick = tokio::time::interval(TICK);
        let mut quiet_since = Instant::now();
        loop {
            out.clear();
            tokio::select! {
                biased;
                Some(p) = shows.recv() => {
                    self.put(&Message::Have(p), &mut buf, &mut out)?;
                    while let Ok(p) = shows.try_recv() {
                        self.put(&Message::Have(p), &mut buf, &mut out)?;
                    }
                }
                r = blocks.recv() => {
                    let Some(r) = r else { return Ok(()) };
                    if !self.queued.lock().unwrap().remove(&(r.index, r.begin, r.length)) {
                        continue;
                    }
                    let fetch = self.shared.board.lock().unwrap().fetch_of(r.index, |unit| {
                        let fetch = self.fetch(unit.clone());
                        tokio::spawn(fetch.clone());
                        fetch
                    });
                    let Some((u, first, fetch)) = fetch else { continue };
                    let pieces = match fetch.await {
                        Ok(pieces) => pieces,
                        Err(e) => {
                            self.shared.board.lock().unwrap().failed(u);
                            return Err(anyhow::Error::msg(e));
                        }
                    };
                    let limiter = self.shared.limiter.lock().unwrap().as_ref().map(|l| l.1.clone());
                    if let Some(l) = limiter {
                        let n = NonZeroU32::new(r.length).expect("checked");
                        l.until_n_ready(n).await.expect("a block fits the burst");
                    }
                    self.shared.log.set_mirror_error(None);
                    let data = &pieces[(r.index - first) as usize];
                    // Past the file's bytes the piece is padding: zeros.
                    let (begin, len) = (r.begin as usize, r.length as usize);
                    let mut block = vec![0u8; len];
                    if begin < data.len() {
                        let n = (data.len() - begin).min(len);
                        block[..n].copy_from_slice(&data[begin..begin + n]);
                    }
                    let piece = Message::Piece(Piece::from_data(r.index, r.begin, &block[..]));
                    self.put(&piece, &mut buf, &mut out)?;
                    self.sent(&r, data.len() as u64);
                }
                _ = tick.tick() => {
                    let (allowed, own) = self.shared.pace();
                    let shown = self.shared.board.lock().unwrap().top_up(allowed, own, Instant::now());
                    if !shown.is_empty() {
                        tracing::debug!(pieces = shown.len(), "the mirror peer shows pieces");
                    }
                    for p in shown {
                        self.put(&Message::Have(p), &mut buf, &mut out)?;
                    }
                }
            }
            let wanted = self.shared.allowed.load(Ordering::Relaxed)
                && self.shared.board.lock().unwrap().waiting() > 0;
            if wanted == choked {
                choked = !wanted;
                tracing::debug!(choked, "the mirror peer chokes or unchokes its session");
                let m = if choked {
                    Message::Choke
                } else {
                    Message::Unchoke
                };
                self.put(&m, &mut buf, &mut out)?;
            }
            if out.is_empty() && quiet_since.elapsed() >= KEEP_ALIVE {
                self.put(&Message::KeepAlive, &mut buf, &mut out)?;
            }
            if !out.is_empty() {
                wr.write_all(&out).await.map_err(io)?;
                quiet_since = Instant::now();
            }
        }
    }

    /// Appends `msg` to `out`.
    fn put(
        &self,
        msg: &Message<'_>,
        buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        let need = match msg {
            Message::Piece(p) => p.len() + 64,
            _ => 64,
        };
        buf.resize(buf.len().max(need), 0);
        let n = self.serialize(msg, buf)?;
        out.extend_from_slice(&buf[..n]);
        Ok(())
    }

    /// Counts a block of piece `r.index` sent (`file_bytes`: the piece's bytes that are not
    /// padding). A piece sent whole is not shown again on this link; it is the session's once
    /// the session says so (`sync`: librqbit does not tell a peer of a piece it believes the
    /// peer has), and shown again if it never arrived.
    fn sent(&self, r: &Request, file_bytes: u64) {
        self.shared
            .sent
            .fetch_add(u64::from(r.length), Ordering::Relaxed);
        self.shared.served.store(true, Ordering::Relaxed);
        let mut sent = self.sent.lock().unwrap();
        let got = sent.entry(r.index).or_default();
        *got += u64::from(r.length);
        if *got >= self.shared.torrent.piece_len(r.index) {
            sent.remove(&r.index);
            self.shared
                .board
                .lock()
                .unwrap()
                .delivered(r.index, Instant::now());
            self.shared
                .log
                .note_mirrored(r.index..r.index + 1, file_bytes);
        }
    }

    fn serialize(&self, msg: &Message<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
        msg.serialize(buf, &Default::default)
            .map_err(|e| self.protocol(e.to_string()))
    }
}
