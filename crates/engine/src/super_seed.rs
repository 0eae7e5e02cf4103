//! Initial seeding (BEP 16, "super-seeding") for an origin whose upload is its swarm's bottleneck.
//!
//! librqbit's clients ask every peer for the next piece of their own order whether or not another
//! peer has it (docs/platform.md §6), so an origin that shows all its pieces serves many of them to
//! several clients. This seeder shows each peer only a few pieces, those the swarm has least of (it
//! learns who has what from the peers' bitfields and haves), and a new one each time the peer has
//! one of them; the peers trade the rest among themselves. It serves one torrent on a listener of
//! its own, outside librqbit's session, and announces that port to the torrent's trackers.
//!
//! Not strict: a peer gets its next offer as soon as it has one, not only once a second peer has it
//! too (every Swarmdate client shares what it has, and waiting would idle the origin).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota};
use librqbit_core::hash_id::Id20;
use librqbit_peer_protocol::{Message, Piece, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::job::Payload;
use super::peer_wire::{
    WireError, bitfield_has, decode, next_frame, read_handshake, send_handshake,
};
use swarmdate_core::torrent::{PieceHasher, Torrent};

/// Bytes each peer is shown at a time and lacks: enough that its requests to us never run dry (a
/// librqbit peer that found nothing to ask for looks again only after 5 s, and its share of a
/// busy origin can be a few hundred KiB/s).
const OFFER_BYTES: u32 = 2 << 20;
/// An offer the peer has not asked for in this long is replaced (it may not want that file).
const OFFER_PATIENCE: Duration = Duration::from_secs(30);
/// The largest block served (clients ask for 16 KiB).
const MAX_BLOCK: u32 = 128 << 10;
/// Requests a peer may have waiting; more is not a client.
const MAX_QUEUED: usize = 4096;
/// librqbit drops a peer it heard nothing from in 10 s.
const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// librqbit sends keep-alives every 120 s.
const PATIENCE: Duration = Duration::from_secs(180);
/// Peers served at once; more are closed as they connect (each costs a task, buffers and its view
/// of the pieces, and an origin's swarm trades among itself anyway).
const MAX_PEERS: usize = 200;
/// How often a peer's stale offers are looked at while it only sends messages that make no room.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// A connection that has not shaken hands in this long is closed, so idle ones do not hold slots.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// One torrent super-seeded on a port of its own; stops when dropped.
pub struct SuperSeeder {
    shared: Arc<Shared>,
    port: u16,
    cancel: CancellationToken,
}

struct Shared {
    torrent: Arc<Torrent>,
    peer_id: Id20,
    payload: PieceHasher,
    limiter: Mutex<Option<Arc<DefaultDirectRateLimiter>>>,
    uploaded: AtomicU64,
    board: Mutex<Board>,
    /// Payload bytes sent to each connected peer.
    served: Mutex<HashMap<SocketAddr, u64>>,
    /// Slots for connected peers (see [`MAX_PEERS`]).
    slots: Arc<Semaphore>,
    /// Peers only from the local network ("local network only" sharing).
    local_only: bool,
}

impl SuperSeeder {
    /// Checks `payload` against `torrent` (every piece hashed) and starts serving it on `listen`'s
    /// address (any port), announcing it to the torrent's trackers when `trackers`, accepting
    /// only local network peers when `local_only`.
    pub async fn start(
        torrent: Arc<Torrent>,
        payload: &Payload,
        listen: SocketAddr,
        limit: Option<NonZeroU32>,
        trackers: bool,
        local_only: bool,
    ) -> anyhow::Result<SuperSeeder> {
        // Read-only, as every seeding: the payload is hashed whole and never written.
        let (t, p) = (torrent.clone(), payload.clone());
        let payload = tokio::task::spawn_blocking(move || super::verify::verify(&t, &p)).await??;
        let listener = TcpListener::bind(SocketAddr::new(listen.ip(), 0))
            .await
            .with_context(|| format!("listening on {} for super-seeding", listen.ip()))?;
        let port = listener.local_addr()?.port();
        let peer_id = super::layout_from_swarm::link_peer_id();
        let shared = Arc::new(Shared {
            torrent: torrent.clone(),
            peer_id: Id20::new(peer_id),
            payload,
            limiter: Mutex::new(limiter(limit)),
            uploaded: AtomicU64::new(0),
            board: Mutex::new(Board::new(
                torrent.pieces().len(),
                (OFFER_BYTES / torrent.piece_length).clamp(2, 64) as usize,
            )),
            served: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_PEERS)),
            local_only,
        });
        let cancel = CancellationToken::new();
        tokio::spawn(accept(listener, shared.clone(), cancel.clone()));
        if trackers {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let Some(mut peers) =
                    super::layout_from_swarm::announce(&torrent, peer_id, port, true).await
                else {
                    return;
                };
                // Peers dial us; polling keeps the announces going.
                let polled = async { while peers.next().await.is_some() {} };
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = polled => {}
                }
            });
        }
        Ok(SuperSeeder {
            shared,
            port,
            cancel,
        })
    }

    /// The port peers reach it on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Payload bytes served so far.
    pub fn uploaded(&self) -> u64 {
        self.shared.uploaded.load(Ordering::Relaxed)
    }

    /// Payload bytes served to each connected peer so far.
    pub fn served(&self) -> Vec<(SocketAddr, u64)> {
        let served = self.shared.served.lock().unwrap();
        served.iter().map(|(a, n)| (*a, *n)).collect()
    }

    /// Changes its upload limit (bytes/s).
    pub fn set_limit(&self, limit: Option<NonZeroU32>) {
        *self.shared.limiter.lock().unwrap() = limiter(limit);
    }
}

impl Drop for SuperSeeder {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn limiter(limit: Option<NonZeroU32>) -> Option<Arc<DefaultDirectRateLimiter>> {
    limit.map(block_limiter)
}

/// A limiter of `rate` bytes/s for serving blocks (the mirror peer's too); its burst holds the
/// largest block, or a block could never pass.
pub(super) fn block_limiter(rate: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
    let burst = NonZeroU32::new(MAX_BLOCK).expect("not zero");
    Arc::new(DefaultDirectRateLimiter::direct(
        Quota::per_second(rate).allow_burst(rate.max(burst)),
    ))
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut next_id = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: try again shortly rather than spin.
                    tracing::warn!("super-seeding: accepting a peer: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        if shared.local_only && !super::scope::is_local_network(peer.ip()) {
            tracing::debug!("super-seeding: {peer} refused, sharing is local only");
            continue;
        }
        // Beyond the limit the connection is closed at once (dropped).
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            tracing::debug!("super-seeding: {peer} refused, {MAX_PEERS} peers connected");
            continue;
        };
        next_id += 1;
        let (id, shared, cancel) = (next_id, shared.clone(), cancel.clone());
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = cancel.cancelled() => {}
                served = serve_peer(&shared, stream, peer, id) => if let Err(e) = served {
                    tracing::debug!("super-seeding: {e}");
                }
            }
            shared.board.lock().unwrap().leave(id);
            // Served peers are listed while connected (snapshots note them in the ledger); an
            // origin meets peers without end.
            shared.served.lock().unwrap().remove(&peer);
        });
    }
}

/// Shakes hands, then answers `peer` until it leaves.
async fn serve_peer(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    id: u64,
) -> Result<(), WireError> {
    let info_hash = Id20::new(shared.torrent.info_hash().0);
    read_handshake(&mut stream, peer, info_hash, HANDSHAKE).await?;
    send_handshake(&mut stream, peer, info_hash, shared.peer_id).await?;

    // Offers: each piece is shown to a peer once at most, so never more than the pieces.
    let (haves_tx, haves_rx) = mpsc::unbounded_channel();
    let (blocks_tx, blocks_rx) = mpsc::channel(MAX_QUEUED);
    let queued = Mutex::new(HashSet::new());
    {
        let mut board = shared.board.lock().unwrap();
        board.join(id);
        for i in board.top_up(id, Instant::now()) {
            let _ = haves_tx.send(i);
        }
    }
    let (rd, wr) = stream.into_split();
    let peer_io = PeerIo {
        shared,
        peer,
        id,
        queued: &queued,
    };
    tokio::select! {
        r = peer_io.read(rd, haves_tx, blocks_tx) => r,
        r = peer_io.write(wr, haves_rx, blocks_rx) => r,
    }
}

/// One peer's two directions.
struct PeerIo<'a> {
    shared: &'a Arc<Shared>,
    peer: SocketAddr,
    id: u64,
    /// Requests waiting to be served; a cancel takes one out (a cancel of anything else is
    /// ignored), so this never holds more than the queue's [`MAX_QUEUED`].
    queued: &'a Mutex<HashSet<(u32, u32, u32)>>,
}

impl PeerIo<'_> {
    fn protocol(&self, what: String) -> WireError {
        WireError::Protocol {
            peer: self.peer,
            what,
        }
    }

    /// Reads the peer's messages: what it has (new offers follow), what it asks for.
    async fn read(
        &self,
        mut rd: OwnedReadHalf,
        haves: mpsc::UnboundedSender<u32>,
        blocks: mpsc::Sender<Request>,
    ) -> Result<(), WireError> {
        let pieces = self.shared.torrent.pieces().len();
        let bitfield = pieces.div_ceil(8) + 1;
        // A peer has nothing to send a seeder but short messages (and its bitfield).
        let most = |id| if id == 5 { bitfield } else { 1024 };
        let mut inbox = Vec::new();
        let mut last_look = Instant::now();
        loop {
            let len = next_frame(&mut rd, &mut inbox, self.peer, most, PATIENCE).await?;
            let msg = decode(&inbox, len, self.peer)?;
            let mut got = Vec::new();
            match msg {
                Some(Message::Bitfield(bits)) => {
                    let bits: &[u8] = bits.as_ref();
                    got.extend(
                        (0..pieces)
                            .filter(|&i| bitfield_has(bits, i))
                            .map(|i| i as u32),
                    );
                }
                Some(Message::Have(i)) => got.push(i),
                Some(Message::Request(r)) => {
                    self.check(&r)?;
                    let mut board = self.shared.board.lock().unwrap();
                    board.requested(self.id, r.index, Instant::now());
                    drop(board);
                    // The same block asked for twice is sent once.
                    if self
                        .queued
                        .lock()
                        .unwrap()
                        .insert((r.index, r.begin, r.length))
                    {
                        blocks.try_send(r).map_err(|_| {
                            self.protocol(format!("more than {MAX_QUEUED} requests waiting"))
                        })?;
                    }
                }
                Some(Message::Cancel(r)) => {
                    self.queued
                        .lock()
                        .unwrap()
                        .remove(&(r.index, r.begin, r.length));
                }
                // Interest, choking and the rest change nothing: every peer is unchoked.
                _ => {}
            }
            inbox.drain(..4 + len);
            // A have costs a count and its place in the rarity index; new offers are looked
            // for only when one of the peer's offers was had, or now and then for stale ones.
            let now = Instant::now();
            let look = now.duration_since(last_look) >= LOOK_EVERY;
            if !got.is_empty() || look {
                let mut board = self.shared.board.lock().unwrap();
                let mut room = false;
                for i in got {
                    room |= board.has(self.id, i);
                }
                if room || look {
                    last_look = now;
                    for i in board.top_up(self.id, now) {
                        let _ = haves.send(i);
                    }
                }
            }
        }
    }

    fn check(&self, r: &Request) -> Result<(), WireError> {
        let torrent = &self.shared.torrent;
        if r.index as usize >= torrent.pieces().len() {
            return Err(self.protocol(format!("a request for piece {}", r.index)));
        }
        let end = u64::from(r.begin) + u64::from(r.length);
        if r.length == 0 || r.length > MAX_BLOCK || end > torrent.piece_len(r.index) {
            return Err(self.protocol(format!(
                "a request for {} bytes at {} of piece {}",
                r.length, r.begin, r.index
            )));
        }
        Ok(())
    }

    /// Writes to the peer: the offers first, then the blocks asked for at the upload limit, and a
    /// keep-alive whenever it would otherwise hear nothing for a while.
    async fn write(
        &self,
        mut wr: OwnedWriteHalf,
        mut haves: mpsc::UnboundedReceiver<u32>,
        mut blocks: mpsc::Receiver<Request>,
    ) -> Result<(), WireError> {
        let peer = self.peer;
        let io = |source| WireError::Io { peer, source };
        // Grown to the largest block asked for: an idle peer costs no block buffer.
        let mut buf = vec![0u8; 64];
        let n = self.serialize(&Message::Unchoke, &mut buf)?;
        wr.write_all(&buf[..n]).await.map_err(io)?;
        loop {
            let msg = tokio::select! {
                biased;
                Some(i) = haves.recv() => Message::Have(i),
                r = blocks.recv() => {
                    let Some(r) = r else { return Ok(()) };
                    let limiter = self.shared.limiter.lock().unwrap().clone();
                    if let Some(l) = limiter {
                        let n = NonZeroU32::new(r.length).expect("checked");
                        l.until_n_ready(n).await.expect("a block fits the burst");
                    }
                    // Taken back while it waited for its turn: not sent.
                    if !self.queued.lock().unwrap().remove(&(r.index, r.begin, r.length)) {
                        continue;
                    }
                    // Only the block is read: a piece per peer held in memory would cost up to
                    // the piece length times the peers.
                    let block = self.read_block(&r).await.map_err(io)?;
                    buf.resize(buf.len().max(block.len() + 64), 0);
                    let n = self.serialize(&Message::Piece(Piece::from_data(r.index, r.begin, &block[..])), &mut buf)?;
                    wr.write_all(&buf[..n]).await.map_err(io)?;
                    self.served(u64::from(r.length));
                    // A peer does not tell us of a piece it knows we have: one it has had
                    // whole from us counts as its own, and makes room for the next offer.
                    let piece_len = self.shared.torrent.piece_len(r.index) as u32;
                    let offers = {
                        let mut board = self.shared.board.lock().unwrap();
                        match board.delivered(self.id, r.index, r.length, piece_len) {
                            true => board.top_up(self.id, Instant::now()),
                            false => Vec::new(),
                        }
                    };
                    for i in offers {
                        let n = self.serialize(&Message::Have(i), &mut buf)?;
                        wr.write_all(&buf[..n]).await.map_err(io)?;
                    }
                    continue;
                }
                _ = tokio::time::sleep(KEEP_ALIVE) => Message::KeepAlive,
            };
            let n = self.serialize(&msg, &mut buf)?;
            wr.write_all(&buf[..n]).await.map_err(io)?;
        }
    }

    fn serialize(&self, msg: &Message<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
        msg.serialize(buf, &Default::default)
            .map_err(|e| self.protocol(e.to_string()))
    }

    async fn read_block(&self, r: &Request) -> std::io::Result<Vec<u8>> {
        let shared = self.shared.clone();
        let at = u64::from(r.index) * u64::from(shared.torrent.piece_length) + u64::from(r.begin);
        let len = r.length as usize;
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len];
            shared.payload.read_at(at, &mut buf).map(|()| buf)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    fn served(&self, bytes: u64) {
        self.shared.uploaded.fetch_add(bytes, Ordering::Relaxed);
        *self
            .shared
            .served
            .lock()
            .unwrap()
            .entry(self.peer)
            .or_default() += bytes;
    }
}

/// Who has which pieces and who was shown which: the seeder's whole view of its swarm.
///
/// A have is answered in logarithmic time: the counts of a piece change and it moves in the
/// rarity index; the peer's next offers are looked for only when one of its offers was had (or
/// went stale), at most once per piece per peer.
#[derive(Debug)]
struct Board {
    /// Connected peers that have each piece.
    have: Vec<u32>,
    /// Peers each piece is offered to that lack it still.
    offered: Vec<u32>,
    /// Every piece by rarity (`have + offered`), ties in an order drawn at start (so equals are
    /// not taken in index order).
    rarity: BTreeSet<(u32, u32, u32)>,
    /// Each piece's place among equals in `rarity`.
    tie: Vec<u32>,
    /// Pieces each peer is shown at a time and lacks.
    offers: usize,
    peers: HashMap<u64, PeerView>,
}

#[derive(Debug)]
struct PeerView {
    has: Vec<bool>,
    /// Pieces shown to it (a have cannot be taken back).
    shown: Vec<bool>,
    /// Shown, still lacking, and when last asked for (or shown); at most `offers`.
    pending: HashMap<u32, Instant>,
    /// Bytes of each pending piece sent to it so far (pieces it never had: bounded by the pieces).
    sent: HashMap<u32, u32>,
    /// Nothing is left to show it: it has or was shown every piece (both only grow).
    exhausted: bool,
}

impl Board {
    fn new(pieces: usize, offers: usize) -> Board {
        use rand::seq::SliceRandom;
        let mut tie: Vec<u32> = (0..pieces as u32).collect();
        tie.shuffle(&mut rand::thread_rng());
        Board {
            have: vec![0; pieces],
            offered: vec![0; pieces],
            rarity: (0..pieces as u32)
                .map(|i| (0, tie[i as usize], i))
                .collect(),
            tie,
            offers,
            peers: HashMap::new(),
        }
    }

    /// Changes piece `i`'s counts and moves it in the rarity index.
    fn count(&mut self, i: usize, have: i32, offered: i32) {
        let key = |b: &Board| (b.have[i] + b.offered[i], b.tie[i], i as u32);
        self.rarity.remove(&key(self));
        self.have[i] = self.have[i]
            .checked_add_signed(have)
            .expect("counts stay positive");
        self.offered[i] = self.offered[i]
            .checked_add_signed(offered)
            .expect("counts stay positive");
        self.rarity.insert(key(self));
    }

    fn join(&mut self, peer: u64) {
        let n = self.have.len();
        self.peers.insert(
            peer,
            PeerView {
                has: vec![false; n],
                shown: vec![false; n],
                pending: HashMap::new(),
                sent: HashMap::new(),
                exhausted: false,
            },
        );
    }

    fn leave(&mut self, peer: u64) {
        if let Some(v) = self.peers.remove(&peer) {
            for (i, _) in v.has.iter().enumerate().filter(|(_, h)| **h) {
                self.count(i, -1, 0);
            }
            for i in v.pending.keys() {
                self.count(*i as usize, 0, -1);
            }
        }
    }

    /// Notes that `peer` has piece `i`; true if that was one of its offers (room for another).
    fn has(&mut self, peer: u64, i: u32) -> bool {
        let Some(v) = self.peers.get_mut(&peer) else {
            return false;
        };
        match v.has.get_mut(i as usize) {
            Some(h) if !*h => *h = true,
            _ => return false,
        }
        let was_offered = v.pending.remove(&i).is_some();
        v.sent.remove(&i);
        self.count(i as usize, 1, if was_offered { -1 } else { 0 });
        was_offered
    }

    /// Notes `len` bytes of piece `i` (of `piece_len`) sent to `peer`; true once it has had the
    /// whole piece (then it counts as the peer's).
    fn delivered(&mut self, peer: u64, i: u32, len: u32, piece_len: u32) -> bool {
        let Some(v) = self.peers.get_mut(&peer) else {
            return false;
        };
        if v.has.get(i as usize).is_none_or(|h| *h) {
            return false;
        }
        let sent = v.sent.entry(i).or_default();
        *sent = sent.saturating_add(len);
        if *sent < piece_len {
            return false;
        }
        self.has(peer, i);
        true
    }

    fn requested(&mut self, peer: u64, i: u32, now: Instant) {
        if let Some(t) = self
            .peers
            .get_mut(&peer)
            .and_then(|v| v.pending.get_mut(&i))
        {
            *t = now;
        }
    }

    /// New pieces to show `peer` so that it has `self.offers` to ask for: those fewest peers have
    /// or were offered. Offers not asked for in [`OFFER_PATIENCE`] are dropped first.
    fn top_up(&mut self, peer: u64, now: Instant) -> Vec<u32> {
        let Some(v) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        let stale: Vec<u32> = v
            .pending
            .iter()
            .filter(|(_, t)| now.duration_since(**t) > OFFER_PATIENCE)
            .map(|(i, _)| *i)
            .collect();
        for &i in &stale {
            v.pending.remove(&i);
        }
        let mut shown = Vec::new();
        if !v.exhausted && v.pending.len() < self.offers {
            // The rarest first; the pieces it has or was shown are skipped (at most all of them,
            // once per new offer, never per have).
            for &(_, _, i) in &self.rarity {
                if v.pending.len() + shown.len() >= self.offers {
                    break;
                }
                if !v.has[i as usize] && !v.shown[i as usize] {
                    shown.push(i);
                }
            }
            if v.pending.len() + shown.len() < self.offers {
                v.exhausted = true;
            }
            for &i in &shown {
                v.shown[i as usize] = true;
                v.pending.insert(i, now);
            }
        }
        for i in stale {
            self.count(i as usize, 0, -1);
        }
        for &i in &shown {
            self.count(i as usize, 0, 1);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: usize = 8;

    #[test]
    fn offers_go_to_the_pieces_the_swarm_lacks_and_are_topped_up_as_they_arrive() {
        let now = Instant::now();
        let mut b = Board::new(40, OFFERS);
        b.join(1);
        b.join(2);
        let first = b.top_up(1, now);
        assert_eq!(first.len(), OFFERS);
        // The second peer is shown other pieces while unshown ones remain.
        let second = b.top_up(2, now);
        assert!(
            second.iter().all(|i| !first.contains(i)),
            "{first:?} {second:?}"
        );
        // Nothing new while the offers are pending.
        assert!(b.top_up(1, now).is_empty());
        // Peer 1 gets one: one new offer, a piece nobody has or was offered.
        b.has(1, first[0]);
        let next = b.top_up(1, now);
        assert_eq!(next.len(), 1);
        assert!(!first.contains(&next[0]) && !second.contains(&next[0]));
        // Peer 2 has every piece but peer 1's: the rest of peer 1's offers are what 2 lacks.
        for i in 0..40 {
            if !first.contains(&i) && !next.contains(&i) {
                b.has(2, i);
            }
        }
        b.leave(2);
        assert_eq!(b.have.iter().sum::<u32>(), 1, "only peer 1's piece is left");
        assert_eq!(b.offered.iter().sum::<u32>(), OFFERS as u32);
    }

    #[test]
    fn an_offer_never_asked_for_is_replaced_but_one_being_fetched_is_not() {
        let now = Instant::now();
        let mut b = Board::new(20, OFFERS);
        b.join(1);
        let first = b.top_up(1, now);
        let later = now + OFFER_PATIENCE + Duration::from_secs(1);
        b.requested(1, first[0], later);
        let replaced = b.top_up(1, later);
        assert_eq!(replaced.len(), OFFERS - 1, "all but the piece asked for");
        assert!(replaced.iter().all(|i| !first.contains(i)));
        assert_eq!(b.offered.iter().sum::<u32>(), OFFERS as u32);
    }

    #[test]
    fn a_have_moves_one_piece_in_the_rarity_index_and_makes_room_only_for_an_offer() {
        let now = Instant::now();
        let mut b = Board::new(40, OFFERS);
        b.join(1);
        b.join(2);
        let first = b.top_up(1, now);
        let other = (0..40).find(|i| !first.contains(i)).unwrap();
        assert!(!b.has(1, other), "not an offer: no room");
        assert!(!b.has(1, other), "a second have of it changes nothing");
        assert!(b.has(1, first[0]), "an offer: room for the next");
        // Peer 2 is shown what nobody has or was offered: the index follows the counts.
        let second = b.top_up(2, now);
        assert!(second.iter().all(|i| *i != other && !first.contains(i)));
        assert_eq!(b.rarity.len(), 40);
        for &(count, _, i) in &b.rarity {
            assert_eq!(
                count,
                b.have[i as usize] + b.offered[i as usize],
                "piece {i}"
            );
        }
        // Once nothing is left to show a peer, it is never searched again.
        for i in 0..40 {
            b.has(2, i);
        }
        assert!(b.top_up(2, now).is_empty());
        assert!(b.peers[&2].exhausted);
    }

    #[test]
    fn a_peer_that_has_everything_is_offered_nothing() {
        let mut b = Board::new(10, OFFERS);
        b.join(1);
        for i in 0..10 {
            b.has(1, i);
        }
        assert!(b.top_up(1, Instant::now()).is_empty());
    }
}

#[cfg(test)]
mod wire_tests {
    //! A seeder on loopback and our own wire client (`peer_wire.rs`) as its peer.
    use super::*;
    use crate::peer_wire::PeerLink;
    use swarmdate_core::torrent::{PieceIndex, TorrentBuilder};
    use tokio::io::AsyncReadExt;

    const PIECE: u32 = 16 << 10;

    /// A 200-piece image, its torrent and payload.
    fn image(dir: &std::path::Path) -> (Arc<Torrent>, Vec<u8>, std::path::PathBuf) {
        let data: Vec<u8> = (0..200 * PIECE).map(|i| (i * 31 % 253) as u8).collect();
        let path = dir.join("image.iso");
        std::fs::write(&path, &data).unwrap();
        let t = TorrentBuilder::single_file("image.iso", &path)
            .piece_length(PIECE)
            .build()
            .unwrap();
        (Arc::new(t), data, path)
    }

    async fn start(t: &Arc<Torrent>, path: &std::path::Path) -> anyhow::Result<SuperSeeder> {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        SuperSeeder::start(
            t.clone(),
            &Payload::Image(path.to_owned()),
            listen,
            None,
            false,
            false,
        )
        .await
    }

    fn addr(s: &SuperSeeder) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], s.port()))
    }

    #[tokio::test]
    async fn a_peer_is_shown_some_pieces_and_gets_them_right() {
        let dir = tempfile::tempdir().unwrap();
        let (t, data, path) = image(dir.path());
        let seeder = start(&t, &path).await.unwrap();
        let mut link = PeerLink::connect(addr(&seeder), &t, [1; 20]).await.unwrap();
        // 2 MiB of offers are 128 pieces, at most 64 at a time: never all 200 at once.
        let shown = || -> usize {
            let board = seeder.shared.board.lock().unwrap();
            board
                .peers
                .values()
                .map(|v| v.shown.iter().filter(|s| **s).count())
                .sum()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while shown() == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(shown(), 64);
        // Sweeps until one brings nothing new: an offer's have may arrive after its index was
        // tried, and more offers come as the first ones arrive.
        let mut got = Vec::new();
        loop {
            let before = got.len();
            for i in (0..200u32).filter(|i| !got.contains(i)).collect::<Vec<_>>() {
                match link.piece(&t, PieceIndex(i)).await {
                    Ok(bytes) => {
                        let at = (i * PIECE) as usize;
                        assert_eq!(bytes, data[at..at + PIECE as usize], "piece {i}");
                        got.push(i);
                    }
                    Err(e) => assert!(e.to_string().contains("does not have piece"), "{e}"),
                }
            }
            if got.len() == before {
                break;
            }
        }
        assert!(got.len() > 64, "got {}", got.len());
        let bytes = got.len() as u64 * u64::from(PIECE);
        assert_eq!(seeder.uploaded(), bytes);
        let served = seeder.served();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].1, bytes);
    }

    /// "Local network only": in a network namespace of this test's own thread whose loopback
    /// also carries 198.51.100.7 (outside the local network), an origin listening on every
    /// address serves a peer from 127.0.0.1 and drops one from 198.51.100.7 unanswered.
    #[test]
    fn a_local_only_origin_serves_local_peers_and_drops_others() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test makes a network namespace: run it as root"
        );
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", "198.51.100.7/32", "dev", "lo"],
        ] {
            assert!(
                std::process::Command::new("ip")
                    .args(args)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (t, _, path) = image(dir.path());
            let any = SocketAddr::from(([0, 0, 0, 0], 0));
            for local_only in [true, false] {
                let seeder = SuperSeeder::start(
                    t.clone(),
                    &Payload::Image(path.clone()),
                    any,
                    None,
                    false,
                    local_only,
                )
                .await
                .unwrap();
                let near = PeerLink::connect(addr(&seeder), &t, [2; 20]).await;
                assert!(near.is_ok(), "a peer on 127.0.0.1 is served");
                let outside = SocketAddr::from(([198, 51, 100, 7], seeder.port()));
                let far = PeerLink::connect(outside, &t, [3; 20]).await;
                // The control: with everyone, the same peer is served.
                assert_eq!(
                    far.is_ok(),
                    !local_only,
                    "198.51.100.7, local only: {local_only}"
                );
            }
        });
    }

    #[tokio::test]
    async fn a_payload_that_is_not_the_torrents_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (t, mut data, path) = image(dir.path());
        data[3 * PIECE as usize + 5] ^= 1;
        let other = dir.path().join("other.iso");
        std::fs::write(&other, &data).unwrap();
        let err = start(&t, &other).await.err().expect("refused");
        assert!(err.to_string().contains("1 of 200 pieces differ"), "{err}");
        // The torrent's own payload starts.
        assert!(start(&t, &path).await.is_ok());
    }

    #[tokio::test]
    async fn a_peer_asking_for_a_piece_out_of_range_is_dropped_and_others_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let (t, data, path) = image(dir.path());
        let seeder = start(&t, &path).await.unwrap();
        let mut rogue = TcpStream::connect(addr(&seeder)).await.unwrap();
        let (hash, rogue_id) = (Id20::new(t.info_hash().0), Id20::new([7; 20]));
        send_handshake(&mut rogue, addr(&seeder), hash, rogue_id)
            .await
            .unwrap();
        let mut req = [0u8; 32];
        let n = Message::Request(Request::new(10_000, 0, PIECE))
            .serialize(&mut req, &Default::default)
            .unwrap();
        rogue.write_all(&req[..n]).await.unwrap();
        // Everything it is sent until the seeder hangs up: no piece among it.
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), rogue.read_to_end(&mut all))
            .await
            .expect("the seeder hangs up")
            .unwrap();
        // Its handshake, an unchoke and at most 64 haves.
        assert!(all.len() <= 68 + 5 + 64 * 9, "{} bytes", all.len());
        assert_eq!(seeder.uploaded(), 0);

        let mut link = PeerLink::connect(addr(&seeder), &t, [1; 20]).await.unwrap();
        let mut served = None;
        for i in 0..200u32 {
            if let Ok(bytes) = link.piece(&t, PieceIndex(i)).await {
                served = Some((i, bytes));
                break;
            }
        }
        let (i, bytes) = served.expect("the next peer is served");
        assert_eq!(
            bytes,
            data[(i * PIECE) as usize..((i + 1) * PIECE) as usize]
        );
    }
}
