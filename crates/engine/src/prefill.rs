//! The first step of a switch beside the old image: rebuild the target in the working copy from
//! files already at hand, so a distributor's fresh rebuild (every file moved) costs only its new
//! content.
//!
//! The target's layout is learnt from the swarm alone (`layout_from_swarm.rs`); then `iso::prefill` places
//! the old image's files and the store's packages at the target's offsets, and librqbit's check
//! keeps every piece that is now right. An image that is not ISO 9660, or a swarm that does not
//! answer, leaves the switch as it was: nothing is lost but the chance to save.

use std::collections::HashSet;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Engine;
use super::job::{JobId, SwitchSpec};
use super::layout_from_swarm::{Learnt, SessionPeers, Swarm, learn_layout};
use super::notice::Notice;
use super::undo::UndoLog;
use swarmdate_core::iso::{
    AtHand, Made, Prefill, Rebuilder, differing_pieces, prefill, read_layout, summarize,
};
use swarmdate_core::store::PackageStore;
use swarmdate_core::torrent::{PieceIndex, Torrent};

/// What the pre-fill of a switch did (kept in the job journal, shown by `iso switch`): the
/// refined plan, once the target's directories are known.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, zbus::zvariant::Type,
)]
pub struct Prefilled {
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

/// The folder under the engine's state where a plan leaves the directory pieces it fetched.
pub const LAYOUT_CACHE: &str = "layout-pieces";

impl Engine {
    /// Where this engine finds a target's swarm for its layout: every source its session has.
    fn swarm(&self) -> Swarm {
        let session = self.session.clone();
        let known = move || {
            session.with_torrents(|ts| {
                ts.filter_map(|(_, t)| t.live())
                    .flat_map(|live| {
                        live.per_peer_stats_snapshot(super::poll::all_peers())
                            .peers
                            .into_keys()
                            .filter_map(|a| a.parse().ok())
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
        };
        Swarm {
            known_peers: self.known_peers.clone(),
            trackers: self.trackers,
            port: self.listen_port.unwrap_or(6881),
            local_only: self.local_only,
            cache: Some(self.state_dir.join(LAYOUT_CACHE)),
            local_discovery: self.local_discovery.clone(),
            session: Some(SessionPeers {
                dht: self.session.get_dht().cloned(),
                known: Arc::new(known),
            }),
            patience: self.layout_patience,
        }
    }

    /// The torrent of the image `from` when this engine seeds it (its check confirmed it).
    fn seeded_torrent(&self, from: &Path) -> Option<Torrent> {
        let seeded = self.jobs().into_iter().find(|r| {
            matches!(&r.spec, super::job::JobSpec::Seed { payload: super::job::Payload::Image(p) } if p == from)
        })?;
        Torrent::from_bytes(std::fs::read(self.torrent_path(&seeded.info_hash)).ok()?).ok()
    }

    /// What every pre-fill starts with: the pieces the working copy lacks (from the torrents when
    /// the engine seeds the old image, else hashed; the copy holds the old image's bytes) and the target's layout, learnt from the
    /// swarm; then the pieces still wrong besides those fetched for the layout. `None` when
    /// nothing is wrong or the layout could not be learnt.
    async fn learn_for_switch(
        &self,
        id: JobId,
        spec: &SwitchSpec,
    ) -> anyhow::Result<Option<(Arc<Torrent>, Learnt, Vec<PieceIndex>)>> {
        let torrent = self.torrent_of(id)?;
        // An appended respin of a seeded image costs no pass over it: the torrents say.
        let old = self.seeded_torrent(&spec.from);
        let (working, t) = (spec.working.clone(), torrent.clone());
        let wrong = self
            .on_disk(move || differing_pieces(&working, old.as_ref(), &t))
            .await??;
        if wrong.is_empty() {
            return Ok(None);
        }
        let missing: HashSet<u32> = wrong.iter().map(|p| p.0).collect();
        let working = spec.working.clone();
        let swarm = self.swarm();
        let learnt = match learn_layout(torrent.clone(), working, missing, &swarm).await? {
            Ok(learnt) => learnt,
            Err(reason) => {
                // The switch fetches every differing piece instead: the user hears of it.
                if let Some(log) = self.log_of(id) {
                    log.note(Notice::PrefillSkipped { reason });
                }
                return Ok(None);
            }
        };
        // The peer that served the directories is the torrent's first: it is known to have it.
        if let Some(peer) = learnt.served_by
            && let Some(job) = self.live.lock().unwrap().get_mut(&id)
            && !job.found_peers.contains(&peer)
        {
            job.found_peers.push(peer);
        }
        let wrong = wrong
            .into_iter()
            .filter(|p| !learnt.fetched.contains_key(&p.0))
            .collect();
        Ok(Some((torrent, learnt, wrong)))
    }

    /// Pre-fills the working copy of a switch; `None` when the target's layout could not be
    /// learnt (not ISO 9660, or no peer served its directories).
    pub(super) async fn prefill_from_local(
        &self,
        id: JobId,
        spec: &SwitchSpec,
    ) -> anyhow::Result<Option<Prefilled>> {
        let started = Instant::now();
        let Some((torrent, learnt, wrong)) = self.learn_for_switch(id, spec).await? else {
            return Ok(None);
        };
        let fetched: Vec<u32> = learnt.fetched.keys().copied().collect();
        let (working, t, from) = (spec.working.clone(), torrent.clone(), spec.from.clone());
        let store = self.store.clone();
        let cache = self.state_dir.join(LAYOUT_CACHE);
        let done = self
            .on_disk(move || -> anyhow::Result<_> {
                let file = std::fs::File::options().write(true).open(&working)?;
                for (p, bytes) in &learnt.fetched {
                    write_blocks(None, &file, t.piece_range(*p).start, bytes)?;
                }
                // In the working copy now: the plan's copies are no longer needed.
                let _ = std::fs::remove_dir_all(cache.join(t.info_hash().to_string()));
                let at_hand = at_hand(&from, &store)?;
                Ok(prefill(
                    Some(&working),
                    &t,
                    &learnt.layout,
                    &wrong,
                    &at_hand,
                )?)
            })
            .await??;
        Ok(Some(
            self.note_prefilled(id, &torrent, &fetched, &done, started),
        ))
    }
}

impl Engine {
    /// Pre-fills an in-place switch. The image is its own source, so every write goes through
    /// the undo journal and the writes follow `write_order`: none overwrites bytes another piece
    /// still has to read. Each piece is assembled and checked again right before its write.
    pub(super) async fn rebuild_in_place(
        &self,
        id: JobId,
        spec: &SwitchSpec,
        undo: Arc<UndoLog>,
    ) -> anyhow::Result<Option<Prefilled>> {
        let started = Instant::now();
        let Some((torrent, learnt, wrong)) = self.learn_for_switch(id, spec).await? else {
            return Ok(None);
        };
        let fetched: Vec<u32> = learnt.fetched.keys().copied().collect();
        let (working, t, store) = (spec.working.clone(), torrent.clone(), self.store.clone());
        let cache = self.state_dir.join(LAYOUT_CACHE);
        let f = fetched.clone();
        let done = self
            .on_disk(move || -> anyhow::Result<Prefill> {
                // Until the first write the working file is the old image.
                let at_hand = at_hand(&working, &store)?;
                let rebuilder = Rebuilder::new(&t, &learnt.layout, &wrong, &at_hand)?;
                let mut buf = Vec::new();
                let mut prefilled = Vec::new();
                for p in &wrong {
                    if let Some(m) = rebuilder.piece(*p, &mut buf)? {
                        prefilled.push((*p, m));
                    }
                }
                let file = std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open(&working)?;
                let mut made: std::collections::HashMap<u32, Made> = Default::default();
                let mut holding: std::collections::HashMap<u32, (Vec<u8>, Made)> =
                    Default::default();
                for step in write_order(&t, &working, &prefilled, &f) {
                    match step {
                        Step::Fetched(p) => {
                            let start = t.piece_range(p).start;
                            write_blocks(Some(&undo), &file, start, &learnt.fetched[&p])?;
                        }
                        Step::Rebuild(p) => {
                            if let Some(m) = rebuilder.piece(p, &mut buf)? {
                                write_blocks(Some(&undo), &file, t.piece_range(p.0).start, &buf)?;
                                made.insert(p.0, m);
                            }
                        }
                        Step::Hold(p) => {
                            if let Some(m) = rebuilder.piece(p, &mut buf)? {
                                holding.insert(p.0, (buf.clone(), m));
                            }
                        }
                        Step::Release(p) => {
                            if let Some((bytes, m)) = holding.remove(&p.0) {
                                write_blocks(Some(&undo), &file, t.piece_range(p.0).start, &bytes)?;
                                made.insert(p.0, m);
                            }
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(cache.join(t.info_hash().to_string()));
                let made: Vec<Option<Made>> = wrong.iter().map(|p| made.remove(&p.0)).collect();
                Ok(summarize(&t, &rebuilder, &wrong, &made))
            })
            .await??;
        Ok(Some(
            self.note_prefilled(id, &torrent, &fetched, &done, started),
        ))
    }

    /// Counts the fetched pieces and the pre-fill in the job's log.
    fn note_prefilled(
        &self,
        id: JobId,
        torrent: &Torrent,
        fetched: &[u32],
        done: &Prefill,
        started: Instant,
    ) -> Prefilled {
        let prefilled = Prefilled {
            layout_fetched: fetched.iter().map(|&p| torrent.piece_len(p)).sum(),
            from_image: done.from_image,
            from_store: done.from_store,
            still_to_fetch: done.still_wrong_bytes,
            millis: started.elapsed().as_millis() as u64,
        };
        // They came from a peer, as librqbit's pieces do: the job counts them as fetched.
        if let Some(log) = self.log_of(id) {
            log.note_fetched_outside(fetched);
            log.note_prefilled(prefilled);
        }
        prefilled
    }
}

/// Writes `bytes` at `offset` of the image (through its undo journal when in place), in blocks,
/// each a kill point as librqbit's writes are.
fn write_blocks(
    undo: Option<&UndoLog>,
    file: &std::fs::File,
    offset: u64,
    bytes: &[u8],
) -> anyhow::Result<()> {
    for (n, block) in bytes.chunks(16 << 10).enumerate() {
        super::fault::point("write");
        let at = offset + (n as u64 * (16 << 10));
        match undo {
            Some(u) => u.guarded(file, at, block.len() as u64, || {
                file.write_all_at(block, at)
            })?,
            None => file.write_all_at(block, at)?,
        }
    }
    Ok(())
}

/// What a switch from `image` to `target` would fetch once the files at hand are placed: the
/// plan refined by the target's layout (its directory pieces are fetched to learn it). `wrong`
/// are the plan's pieces; `None` when the layout could not be learnt.
pub async fn refined_fetch(
    image: &Path,
    target: &Torrent,
    wrong: &[PieceIndex],
    store: Arc<PackageStore>,
    swarm: &Swarm,
) -> anyhow::Result<Option<Prefilled>> {
    let started = Instant::now();
    let missing: HashSet<u32> = wrong.iter().map(|p| p.0).collect();
    let torrent = Arc::new(target.clone());
    let Ok(learnt) = learn_layout(torrent.clone(), image.to_owned(), missing, swarm).await? else {
        return Ok(None);
    };
    let layout_fetched = learnt.fetched.keys().map(|&p| torrent.piece_len(p)).sum();
    let wrong: Vec<PieceIndex> = wrong
        .iter()
        .filter(|p| !learnt.fetched.contains_key(&p.0))
        .copied()
        .collect();
    let image = image.to_owned();
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let at_hand = at_hand(&image, &store)?;
        Ok(prefill(None, &torrent, &learnt.layout, &wrong, &at_hand)?)
    })
    .await??;
    Ok(Some(Prefilled {
        layout_fetched,
        from_image: done.from_image,
        from_store: done.from_store,
        still_to_fetch: done.still_wrong_bytes,
        millis: started.elapsed().as_millis() as u64,
    }))
}

/// The files at hand for a switch from `image`: its own files (none if it is not ISO 9660), and
/// the packages the store holds (known by digest alone: matched by content).
fn at_hand(image: &Path, store: &PackageStore) -> anyhow::Result<Vec<AtHand>> {
    let mut at_hand: Vec<AtHand> = match read_layout(image) {
        Ok(old) => old
            .files
            .iter()
            .map(|f| AtHand::in_image(image, f))
            .collect(),
        Err(e) => {
            tracing::info!("{e}: only the package store is at hand");
            Vec::new()
        }
    };
    for (sha, path, size) in store.objects()? {
        at_hand.push(AtHand::in_store(&path, &sha.to_string(), size));
    }
    Ok(at_hand)
}

/// One step of an in-place pre-fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Write a directory piece fetched from the swarm.
    Fetched(u32),
    /// Make a piece from the files at hand and write it.
    Rebuild(PieceIndex),
    /// Make a piece now and hold it in memory (it breaks a cycle of reads).
    Hold(PieceIndex),
    /// Write a held piece.
    Release(PieceIndex),
}

/// Bytes of pieces an in-place pre-fill may hold in memory to break cycles.
const HOLD_BYTES: u64 = 256 << 20;

/// An order for the writes of an in-place pre-fill in which no piece is written before every
/// piece that reads from its range has been made (as memmove does). A cycle of such reads is
/// broken by making one of its pieces early and holding it in memory until its range is free
/// (up to `HOLD_BYTES`; past that it is left out, to be fetched). Fetched pieces read nothing.
fn write_order(
    target: &Torrent,
    image: &Path,
    prefilled: &[(PieceIndex, Made)],
    fetched: &[u32],
) -> Vec<Step> {
    use std::collections::{BTreeSet, HashMap};
    let nodes: Vec<Step> = fetched
        .iter()
        .map(|&p| Step::Fetched(p))
        .chain(prefilled.iter().map(|(p, _)| Step::Rebuild(*p)))
        .collect();
    let piece_of = |s: Step| match s {
        Step::Fetched(p) => p,
        Step::Rebuild(p) | Step::Hold(p) | Step::Release(p) => p.0,
    };
    let node_at: HashMap<u32, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, s)| (piece_of(*s), i))
        .collect();
    // reader → the nodes whose range it reads (it must be written first).
    let len = u64::from(target.piece_length);
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    let mut waits = vec![0usize; nodes.len()];
    for (k, (p, made)) in prefilled.iter().enumerate() {
        let reader = fetched.len() + k;
        for (_, r) in made.sources.iter().filter(|(f, _)| f == image) {
            for q in (r.start / len) as u32..r.end.div_ceil(len) as u32 {
                if let Some(&x) = node_at.get(&q)
                    && q != p.0
                    && before[reader].insert(x)
                {
                    waits[x] += 1;
                }
            }
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut done = vec![false; nodes.len()];
    let mut held = vec![false; nodes.len()];
    let mut held_bytes = 0u64;
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| waits[i] == 0).collect();
    let mut left = nodes.len();
    loop {
        while let Some(i) = ready.pop() {
            done[i] = true;
            left -= 1;
            order.push(match nodes[i] {
                Step::Rebuild(p) if held[i] => Step::Release(p),
                s => s,
            });
            release(&before[i], &done, &mut waits, &mut ready);
        }
        if left == 0 {
            break;
        }
        // A cycle: make one of its pieces now; what it reads is all still in place.
        let Some(y) = (fetched.len()..nodes.len()).find(|&i| !done[i] && !held[i] && waits[i] > 0)
        else {
            break;
        };
        let p = PieceIndex(piece_of(nodes[y]));
        let reads = std::mem::take(&mut before[y]);
        if held_bytes + target.piece_len(p.0) <= HOLD_BYTES {
            held[y] = true;
            held_bytes += target.piece_len(p.0);
            order.push(Step::Hold(p));
        } else {
            // Left out: fetched later.
            done[y] = true;
            left -= 1;
        }
        release(&reads, &done, &mut waits, &mut ready);
    }
    order
}

/// One fewer wait for each node in `xs` not yet placed; those with none left are ready.
fn release(
    xs: &std::collections::BTreeSet<usize>,
    done: &[bool],
    waits: &mut [usize],
    ready: &mut Vec<usize>,
) {
    for &x in xs.iter().filter(|&&x| !done[x]) {
        waits[x] -= 1;
        if waits[x] == 0 {
            ready.push(x);
        }
    }
}
