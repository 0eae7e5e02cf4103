//! What the mirror peer knows of its session: the units it may show (a package, or 1 MiB of a
//! larger one) and in which order, what the session has, what was shown and asked for on the
//! current connection, and the units' fetches. No I/O and no clock: tested here.
//!
//! The order spreads a crowd's mirror fetches without a word between its members: each unit is
//! ranked among the peers known (rendezvous hashing of the unit and each peer's address), so every
//! member takes first the units it ranks first at, and reaches those another member ranks first
//! at only later, by when that member has usually fetched them and shares them. Ties, and a job
//! without peers, go in a random order of the job's own.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use swarmdate_core::torrent::Torrent;

/// The most bytes of one unit (a package larger than this is shown in parts): what is fetched
/// for one request, so what a unit the session then gets from peers may waste.
pub(super) const UNIT_BYTES: u64 = 256 << 10;
/// Shown and not yet asked for: more than librqbit asks for at once (128 blocks of 16 KiB), so
/// it waits for room to ask rather than finding nothing (then it looks again only 5 s later).
pub(super) const AHEAD_BYTES: u64 = 3 << 20;
/// Units fetched or being fetched at once: bounds the memory holding them.
pub(super) const MAX_FETCHED: usize = 8;
/// A unit shown and not asked for in this long has its fetch let go (librqbit got it
/// elsewhere, or does not want it now); it still waits to be asked for while the session lacks
/// it.
pub(super) const PATIENCE: Duration = Duration::from_secs(10);
/// A piece asked for this long ago that neither came nor is the session's waits to be asked
/// for again (librqbit cancelled the request, or its peer that took it over failed).
pub(super) const ASK_AGAIN: Duration = Duration::from_secs(30);
/// A piece sent whole that the session still lacks after this long was not taken (the link
/// closed with it in flight, or librqbit dropped it as stolen): it is shown again.
pub(super) const CONFIRM: Duration = Duration::from_secs(5);

/// A run of pieces of one file, shown and fetched together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unit {
    /// The file.
    pub file: usize,
    /// Its pieces, counted from the file's first.
    pub span: Range<u32>,
    /// The file's first piece in the torrent.
    pub first: u32,
}

impl Unit {
    /// Its pieces in the torrent.
    pub fn pieces(&self) -> Range<u32> {
        self.first + self.span.start..self.first + self.span.end
    }
}

/// The units of the `wanted` files of an aligned torrent.
pub(super) fn units(torrent: &Torrent, wanted: impl IntoIterator<Item = usize>) -> Vec<Unit> {
    let pl = u64::from(torrent.piece_length);
    let per_unit = (UNIT_BYTES / pl).max(1) as u32;
    let mut out = Vec::new();
    for file in wanted {
        let Some(f) = torrent.files.get(file) else {
            continue;
        };
        if f.pad || f.length == 0 || !f.offset.is_multiple_of(pl) {
            continue;
        }
        let first = (f.offset / pl) as u32;
        let pieces = f.length.div_ceil(pl) as u32;
        let mut k = 0;
        while k < pieces {
            let end = (k + per_unit).min(pieces);
            out.push(Unit {
                file,
                span: k..end,
                first,
            });
            k = end;
        }
    }
    out
}

/// The mirror peer's view; `F` is a unit's fetch.
pub(super) struct Board<F> {
    /// The units.
    pub units: Vec<Unit>,
    /// The order to show them in (indexes into `units`).
    order: Vec<usize>,
    /// Each unit's random tiebreak.
    tiebreak: Vec<u64>,
    /// How many known peers rank before this session at each unit (0: the unit is its own).
    ranks: Vec<usize>,
    /// The unit each piece belongs to.
    unit_of: HashMap<u32, usize>,
    /// Each piece's length.
    piece_len: Box<dyn Fn(u32) -> u64 + Send>,
    /// Pieces the session has, as it says (it never loses one, so this outlives connections).
    has: HashSet<u32>,
    /// Pieces sent whole on the current connection, and when, until the session says it has
    /// them: a piece sent is not yet a piece taken.
    delivered: HashMap<u32, Instant>,
    /// Units fetched or being fetched.
    fetches: HashMap<usize, F>,
    /// Units shown on the current connection, and when they were shown or last asked for.
    shown: HashMap<usize, Instant>,
    /// Pieces asked for on the current connection, and when.
    asked: HashMap<u32, Instant>,
}

impl<F: Clone> Board<F> {
    /// A board for `units`, shuffled.
    pub fn new(units: Vec<Unit>, piece_len: impl Fn(u32) -> u64 + Send + 'static) -> Self {
        let tiebreak: Vec<u64> = units.iter().map(|_| rand::random()).collect();
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.shuffle(&mut rand::thread_rng());
        let unit_of = units
            .iter()
            .enumerate()
            .flat_map(|(u, unit)| unit.pieces().map(move |p| (p, u)))
            .collect();
        Board {
            ranks: vec![0; units.len()],
            units,
            order,
            tiebreak,
            unit_of,
            piece_len: Box::new(piece_len),
            has: HashSet::new(),
            delivered: HashMap::new(),
            fetches: HashMap::new(),
            shown: HashMap::new(),
            asked: HashMap::new(),
        }
    }

    /// Orders the units by how many of `peers` rank before `me` at each (then at random); a
    /// member of a crowd is known by the address the others dial.
    pub fn rank(&mut self, me: &str, peers: &[String]) {
        let score = |u: &Unit, who: &str| {
            let mut h = <sha1::Sha1 as sha1::Digest>::new();
            sha1::Digest::update(&mut h, u.pieces().start.to_le_bytes());
            sha1::Digest::update(&mut h, who.as_bytes());
            let d = sha1::Digest::finalize(h);
            u64::from_be_bytes(d[..8].try_into().expect("20 bytes"))
        };
        let ranks: Vec<usize> = self
            .units
            .iter()
            .map(|u| {
                let mine = score(u, me);
                peers.iter().filter(|p| score(u, p) > mine).count()
            })
            .collect();
        self.order.sort_by_key(|&u| (ranks[u], self.tiebreak[u]));
        self.ranks = ranks;
    }

    /// A new connection: nothing shown or asked for on it yet.
    pub fn connected(&mut self) {
        self.shown.clear();
        self.asked.clear();
        // What was in flight when the last link closed may never have arrived.
        self.delivered.clear();
    }

    fn had(&self, u: usize) -> bool {
        self.units[u].pieces().all(|p| self.gone(p))
    }

    /// Whether piece `p` needs no showing: the session has it, or it was sent on this link.
    fn gone(&self, p: u32) -> bool {
        self.has.contains(&p) || self.delivered.contains_key(&p)
    }

    /// The session has piece `p`; a unit it has whole is done with.
    pub fn has(&mut self, p: u32) {
        self.has.insert(p);
        // Still shown: a request already on its way for a piece of it is answered.
        if let Some(&u) = self.unit_of.get(&p)
            && self.had(u)
        {
            self.fetches.remove(&u);
        }
    }

    /// Piece `p` was sent whole at `now` on this connection.
    pub fn delivered(&mut self, p: u32, now: Instant) {
        self.delivered.insert(p, now);
    }

    /// Takes what the session has of the units in play at `now` (it does not tell a peer of
    /// pieces it believes that peer has, so those are read from the session itself); a piece
    /// sent more than [`CONFIRM`] ago that it still lacks waits to be asked for again.
    pub fn sync(&mut self, has: impl Fn(u32) -> bool, now: Instant) {
        let in_play: HashSet<usize> = self
            .shown
            .keys()
            .chain(self.fetches.keys())
            .copied()
            .collect();
        for u in in_play {
            for p in self.units[u].pieces() {
                if has(p) {
                    self.has(p);
                }
            }
        }
        // Pieces that stood too long: sent and not taken, or asked for and never sent.
        let (has, delivered) = (&self.has, &self.delivered);
        let overdue = |p: &u32, at: &Instant, after: Duration| {
            !has.contains(p) && now.duration_since(*at) >= after
        };
        let again: Vec<u32> = delivered
            .iter()
            .filter(|&(p, at)| overdue(p, at, CONFIRM))
            .chain(
                self.asked
                    .iter()
                    .filter(|&(p, at)| !delivered.contains_key(p) && overdue(p, at, ASK_AGAIN)),
            )
            .map(|(&p, _)| p)
            .collect();
        for p in again {
            self.delivered.remove(&p);
            self.asked.remove(&p);
            if let Some(&u) = self.unit_of.get(&p) {
                self.shown.insert(u, now);
            }
        }
        let has = &self.has;
        self.delivered.retain(|p, _| !has.contains(p));
    }

    /// The unit piece `p` belongs to, if it was shown on this connection.
    pub fn shown_unit(&self, p: u32) -> Option<usize> {
        self.unit_of
            .get(&p)
            .copied()
            .filter(|u| self.shown.contains_key(u))
    }

    /// The session asked for piece `p` of unit `u` at `now`; the unit's fetch is made by `start`
    /// if there is none.
    pub fn asked(&mut self, p: u32, u: usize, now: Instant, start: impl FnOnce(&Unit) -> F) {
        self.asked.insert(p, now);
        self.shown.insert(u, now);
        let unit = &self.units[u];
        self.fetches.entry(u).or_insert_with(|| start(unit));
    }

    /// Unit `u`'s fetch, while it is kept.
    #[cfg(test)]
    pub fn fetch(&self, u: usize) -> Option<F> {
        self.fetches.get(&u).cloned()
    }

    /// The fetch of piece `p`'s unit (made by `start` again if it was let go while the piece was
    /// still asked for), the unit and its first piece; `None` for a piece of no unit.
    pub fn fetch_of(&mut self, p: u32, start: impl FnOnce(&Unit) -> F) -> Option<(usize, u32, F)> {
        let u = *self.unit_of.get(&p)?;
        let unit = &self.units[u];
        let f = self.fetches.entry(u).or_insert_with(|| start(unit)).clone();
        Some((u, unit.pieces().start, f))
    }

    /// Unit `u`'s fetch failed: the next request fetches it again.
    pub fn failed(&mut self, u: usize) {
        self.fetches.remove(&u);
    }

    /// Bytes shown and not asked for that the session lacks, however long ago they were shown:
    /// a librqbit busy with its other requests asks for them only later (at a low rate, shown
    /// units once stopped counting after a while, and librqbit was choked for good).
    pub fn waiting(&self) -> u64 {
        self.shown
            .keys()
            .flat_map(|&u| self.units[u].pieces())
            .filter(|p| !self.asked.contains_key(p) && !self.gone(*p))
            .map(|p| (self.piece_len)(p))
            .sum()
    }

    /// While `allowed`, new units to show (their pieces the session lacks) until
    /// [`AHEAD_BYTES`] wait, with `own_only` only those this session ranks first at (while peers
    /// deliver, the others are theirs to fetch); fetches of units left alone past [`PATIENCE`]
    /// are let go first.
    pub fn top_up(&mut self, allowed: bool, own_only: bool, now: Instant) -> Vec<u32> {
        let stale: Vec<usize> = self
            .fetches
            .keys()
            .filter(|u| {
                self.shown
                    .get(u)
                    .is_none_or(|at| now.duration_since(*at) >= PATIENCE)
            })
            .copied()
            .collect();
        for u in stale {
            self.fetches.remove(&u);
        }
        if !allowed || self.fetches.len() >= MAX_FETCHED {
            return Vec::new();
        }
        let mut ahead = self.waiting();
        let mut show = Vec::new();
        for i in 0..self.order.len() {
            let u = self.order[i];
            if ahead >= AHEAD_BYTES {
                break;
            }
            if own_only && self.ranks[u] > 0 {
                // The order puts the session's own units first: the rest are not its own.
                break;
            }
            if self.shown.contains_key(&u) || self.had(u) {
                continue;
            }
            self.shown.insert(u, now);
            for p in self.units[u].pieces().filter(|&p| !self.gone(p)) {
                ahead += (self.piece_len)(p);
                show.push(p);
            }
        }
        show
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECE: u64 = 16 << 10;

    /// `n` units of `k` pieces each, in file order (unshuffled for the test's eyes).
    fn board(n: u32, k: u32) -> Board<u32> {
        let units = (0..n)
            .map(|i| Unit {
                file: i as usize,
                span: 0..k,
                first: i * k,
            })
            .collect();
        let mut b = Board::new(units, |_| PIECE);
        b.order.sort();
        b
    }

    #[test]
    fn units_split_large_files_and_skip_padding() {
        use swarmdate_core::torrent::{SourceFile, TorrentBuilder};
        let dir = tempfile::tempdir().unwrap();
        let mut sources = Vec::new();
        for (name, len) in [("a", 100_000usize), ("b", 2_500_000)] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![7u8; len]).unwrap();
            sources.push(SourceFile {
                path: vec![name.into()],
                source: path,
            });
        }
        let t = TorrentBuilder::multi_file("repo", sources)
            .piece_length(64 << 10)
            .align(true)
            .build()
            .unwrap();
        let files: Vec<usize> = (0..t.files.len()).collect();
        let us = units(&t, files);
        // a: 2 pieces; b: 39 pieces in units of 4 (256 KiB), the last of 3; the pad file none.
        let spans: Vec<_> = us.iter().map(|u| u.span.len()).collect();
        assert_eq!(spans, [vec![2], vec![4; 9], vec![3]].concat());
        assert_eq!(
            us[1].first,
            us[0].first + 2,
            "b starts on the next piece after a's pad"
        );
    }

    #[test]
    fn it_shows_up_to_the_ahead_bytes_and_more_as_pieces_are_asked_for() {
        let t0 = Instant::now();
        // 64 units of 16 pieces (256 KiB each): 3 MiB is 12 units.
        let mut b = board(64, 16);
        let shown = b.top_up(true, false, t0);
        assert_eq!(shown.len() as u64 * PIECE, AHEAD_BYTES);
        assert_eq!(b.waiting(), AHEAD_BYTES);
        assert!(
            b.top_up(true, false, t0).is_empty(),
            "nothing more while 3 MiB wait"
        );
        // The session asks for all of unit 0: one more unit is shown.
        for p in 0..16 {
            let u = b.shown_unit(p).unwrap();
            b.asked(p, u, t0, |_| 1);
        }
        assert_eq!(b.top_up(true, false, t0), (192..208).collect::<Vec<_>>());
        // Not allowed: nothing shown.
        for p in 16..32 {
            b.asked(p, 1, t0, |_| 1);
        }
        assert!(b.top_up(false, false, t0).is_empty());
    }

    #[test]
    fn pieces_the_session_has_are_not_shown_and_had_units_free_their_fetch() {
        let t0 = Instant::now();
        let mut b = board(4, 4);
        for p in [0, 1, 2, 3, 5] {
            b.has(p);
        }
        let shown = b.top_up(true, false, t0);
        assert_eq!(shown, vec![4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        b.asked(4, 1, t0, |u| u.file as u32 * 10);
        b.asked(6, 1, t0, |_| unreachable!("one fetch per unit"));
        assert_eq!(b.fetch(1), Some(10));
        // The session had the rest of unit 1 from a peer, which it told only by its own record.
        b.sync(|p| p == 6 || p == 7 || p == 4, t0);
        assert_eq!(b.fetch(1), None, "a unit the session has is let go");
    }

    /// A piece sent is not a piece taken: the session may close the link with it in flight
    /// (it pauses once, with its first pieces), or drop it as stolen by another peer.
    #[test]
    fn a_piece_sent_but_never_taken_is_shown_again() {
        let t0 = Instant::now();
        let mut b = board(2, 2);
        assert_eq!(b.top_up(true, false, t0), vec![0, 1, 2, 3]);
        for p in 0..4 {
            b.asked(p, b.shown_unit(p).unwrap(), t0, |_| 0);
            b.delivered(p, t0);
        }
        assert_eq!(b.waiting(), 0, "all sent: nothing left to ask for");
        assert!(b.top_up(true, false, t0).is_empty());
        // The session took pieces 0 and 2; the link closed with 1 and 3 in flight.
        b.sync(|p| p == 0 || p == 2, t0);
        b.connected();
        assert_eq!(
            b.top_up(true, false, t0),
            vec![1, 3],
            "shown on the new link"
        );
        // On one link: piece 1 is sent again and dropped; after a while it waits again.
        for p in [1, 3] {
            b.asked(p, b.shown_unit(p).unwrap(), t0, |_| 0);
            b.delivered(p, t0);
        }
        b.sync(|p| p != 1, t0 + CONFIRM / 2);
        assert_eq!(b.waiting(), 0, "not yet: it may be on its way");
        b.sync(|p| p != 1, t0 + CONFIRM);
        assert_eq!(b.waiting(), PIECE, "piece 1 waits to be asked again");
        assert!(
            b.shown_unit(1).is_some(),
            "and a request for it is answered"
        );
        // Positive control: once taken, nothing waits.
        b.sync(|_| true, t0 + CONFIRM);
        assert_eq!(b.waiting(), 0);
    }

    /// A librqbit busy at a low rate asks for what was shown long after: those pieces still
    /// wait (else it was choked for good, and the job never ended), and a request that never
    /// came to anything waits again.
    #[test]
    fn shown_pieces_wait_however_long_and_unanswered_requests_wait_again() {
        let t0 = Instant::now();
        let mut b = board(2, 1);
        assert_eq!(b.top_up(true, false, t0), vec![0, 1]);
        let later = t0 + PATIENCE * 3;
        b.top_up(true, false, later);
        assert_eq!(
            b.waiting(),
            2 * PIECE,
            "still waiting after {:?}",
            later - t0
        );
        // Piece 0 asked for, then the request cancelled: nothing came, the session lacks it.
        b.asked(0, 0, later, |_| 0);
        assert_eq!(b.waiting(), PIECE);
        b.sync(|_| false, later + ASK_AGAIN / 2);
        assert_eq!(b.waiting(), PIECE, "not yet: it may be queued");
        b.sync(|_| false, later + ASK_AGAIN);
        assert_eq!(b.waiting(), 2 * PIECE, "asked again");
        // Positive control: a piece that came is not asked for again.
        b.asked(0, 0, later, |_| 0);
        b.delivered(0, later);
        b.sync(|p| p == 0, later + ASK_AGAIN * 2);
        assert_eq!(b.waiting(), PIECE);
    }

    #[test]
    fn a_crowd_ranked_by_the_same_peers_starts_on_different_units() {
        let crowd: Vec<String> = (0..20).map(|i| format!("127.0.0.1:{}", 6000 + i)).collect();
        let firsts: Vec<Vec<u32>> = crowd
            .iter()
            .map(|me| {
                let mut b = board(1000, 1);
                let others: Vec<String> = crowd.iter().filter(|p| *p != me).cloned().collect();
                b.rank(me, &others);
                // The first 25 units each shows (each ranks first at about 50).
                b.order[..25].iter().map(|&u| b.units[u].first).collect()
            })
            .collect();
        let all: Vec<u32> = firsts.iter().flatten().copied().collect();
        let distinct: HashSet<u32> = all.iter().copied().collect();
        // Each unit is first at exactly one member: their first units are disjoint.
        assert_eq!(distinct.len(), all.len());
        // Positive control: random orders collide (1,000 units, 20 × 25 picks).
        let random: HashSet<u32> = (0..20)
            .flat_map(|_| {
                let b = Board::<u32>::new(board(1000, 1).units, |_| PIECE);
                b.order[..25]
                    .iter()
                    .map(|&u| b.units[u].first)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(random.len() < all.len() * 9 / 10, "{}", random.len());
    }

    #[test]
    fn while_peers_deliver_only_its_own_units_are_shown() {
        let t0 = Instant::now();
        let mut b = board(1000, 1);
        let crowd: Vec<String> = (1..20).map(|i| format!("127.0.0.1:{}", 6000 + i)).collect();
        b.rank("127.0.0.1:6000", &crowd);
        let own = b.ranks.iter().filter(|&&r| r == 0).count();
        let shown = b.top_up(true, true, t0);
        assert_eq!(shown.len(), own, "its own units, about 1,000 / 20");
        assert!(shown.iter().all(|&p| b.ranks[b.unit_of[&p]] == 0));
        // Peers stop delivering: the others follow.
        assert!(!b.top_up(true, false, t0).is_empty());
    }

    #[test]
    fn fetches_are_bounded_and_stale_ones_let_go() {
        let t0 = Instant::now();
        let mut b = board(400, 1);
        b.top_up(true, false, t0);
        for p in 0..MAX_FETCHED as u32 {
            b.asked(p, p as usize, t0, |_| 0);
        }
        assert!(
            b.top_up(true, false, t0).is_empty(),
            "at most {MAX_FETCHED} fetched"
        );
        // Left alone for the patience: let go, and new units are shown.
        let later = t0 + PATIENCE;
        assert!(!b.top_up(true, false, later).is_empty());
        assert_eq!(b.fetch(0), None);
        // A piece of it still asked for gets a new fetch rather than no answer.
        assert_eq!(b.fetch_of(0, |_| 7), Some((0, 0, 7)));
        b.failed(0);
        assert_eq!(b.fetch(0), None, "a failed fetch is not kept");
    }
}
