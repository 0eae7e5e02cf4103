//! The first step of a switch beside the old image: rebuild the target in the working copy from
//! files already at hand, so a distributor's fresh rebuild (every file moved) costs only its new
//! content.
//!
//! The target's layout is learnt from the swarm alone (`discover.rs`); then `iso::prefill` places
//! the old image's files and the store's packages at the target's offsets, and librqbit's check
//! keeps every piece that is now right. An image that is not ISO 9660, or a swarm that does not
//! answer, leaves the switch as it was: nothing is lost but the chance to save.

use std::collections::HashSet;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Engine;
use super::discover::{Swarm, learn_layout};
use super::job::{JobId, SwitchSpec};
use crate::hash::PieceHash;
use crate::iso::{AtHand, prefill, read_layout};
use crate::store::PackageStore;
use crate::torrent::{PieceIndex, Torrent};

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

/// The folder under the engine's state where a plan leaves the directory pieces it fetched.
pub const LAYOUT_CACHE: &str = "layout-pieces";

impl Engine {
    /// Where this engine finds a target's swarm for its layout.
    fn swarm(&self) -> Swarm {
        Swarm {
            known_peers: self.known_peers.clone(),
            trackers: self.trackers,
            port: self.listen_port.unwrap_or(6881),
            cache: Some(self.state_dir.join(LAYOUT_CACHE)),
        }
    }

    /// The pieces of `target` that differ from the image `from`, from the torrents alone, when
    /// this engine seeds `from` (its check confirmed it) with the same piece length: an appended
    /// respin then costs no extra pass over the image. A piece whose length changed counts as
    /// differing (the pre-fill checks before it writes).
    fn differing_from_seeded(&self, from: &Path, target: &Torrent) -> Option<Vec<PieceIndex>> {
        let seeded = self.jobs().into_iter().find(|r| {
            matches!(&r.spec, super::job::JobSpec::Seed { payload: super::job::Payload::Image(p) } if p == from)
        })?;
        let old =
            Torrent::from_bytes(std::fs::read(self.torrent_path(&seeded.info_hash)).ok()?).ok()?;
        (old.piece_length == target.piece_length).then(|| {
            (0..target.pieces().len() as u32)
                .filter(|&i| {
                    (i as usize) >= old.pieces().len()
                        || old.piece_len(i) != target.piece_len(i)
                        || old.pieces()[i as usize] != target.pieces()[i as usize]
                })
                .map(PieceIndex)
                .collect()
        })
    }

    /// Pre-fills the working copy of a switch; `None` when the target's layout could not be
    /// learnt (not ISO 9660, or no peer served its directories).
    pub(super) async fn rebuild_from_local(
        &self,
        id: JobId,
        spec: &SwitchSpec,
    ) -> anyhow::Result<Option<Rebuilt>> {
        let started = Instant::now();
        let torrent = self.torrent_of(id)?;
        let wrong = match self.differing_from_seeded(&spec.from, &torrent) {
            Some(wrong) => wrong,
            None => {
                let (working, t) = (spec.working.clone(), torrent.clone());
                self.on_disk(move || pieces_to_fetch(&working, &t))
                    .await??
            }
        };
        if wrong.is_empty() {
            return Ok(None);
        }
        let missing: HashSet<u32> = wrong.iter().map(|p| p.0).collect();
        let Some(learnt) = learn_layout(
            torrent.clone(),
            spec.working.clone(),
            missing,
            &self.swarm(),
        )
        .await?
        else {
            return Ok(None);
        };
        let fetched: Vec<u32> = learnt.fetched.keys().copied().collect();
        let wrong: Vec<PieceIndex> = wrong
            .into_iter()
            .filter(|p| !learnt.fetched.contains_key(&p.0))
            .collect();
        let (working, t, from) = (spec.working.clone(), torrent.clone(), spec.from.clone());
        let store = self.store.clone();
        let cache = self.state_dir.join(LAYOUT_CACHE);
        let done = self
            .on_disk(move || -> anyhow::Result<_> {
                let file = std::fs::File::options().write(true).open(&working)?;
                for (p, bytes) in &learnt.fetched {
                    // In blocks, each a kill point as librqbit's writes are.
                    let start = t.piece_range(*p).start;
                    for (n, block) in bytes.chunks(16 << 10).enumerate() {
                        super::fault::point("write");
                        file.write_all_at(block, start + (n as u64 * (16 << 10)))?;
                    }
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
        // They came from a peer, as librqbit's pieces do: the job counts them as fetched.
        let log = self.log_of(id);
        if let Some(log) = &log {
            log.note_fetched_outside(&fetched);
        }
        let rebuilt = Rebuilt {
            layout_fetched: fetched.iter().map(|&p| torrent.piece_len(p)).sum(),
            from_image: done.from_image,
            from_store: done.from_store,
            still_to_fetch: done.still_wrong_bytes,
            millis: started.elapsed().as_millis() as u64,
        };
        if let Some(log) = log {
            log.note_rebuilt(rebuilt);
        }
        Ok(Some(rebuilt))
    }
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
) -> anyhow::Result<Option<Rebuilt>> {
    let started = Instant::now();
    let missing: HashSet<u32> = wrong.iter().map(|p| p.0).collect();
    let torrent = Arc::new(target.clone());
    let Some(learnt) = learn_layout(torrent.clone(), image.to_owned(), missing, swarm).await?
    else {
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
    Ok(Some(Rebuilt {
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
