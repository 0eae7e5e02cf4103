//! Repository jobs: a release master or updates snapshot on the package store. The wanted
//! packages arrive through staging and enter the store as each completes; every package the
//! store holds stays selected, so it is seeded. A package the swarm does not deliver comes from
//! the mirrors (`mirror.rs`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Engine;
use super::fallback::{Action, Fallback, NO_PEERS, Observation};
use super::job::{JobId, RepoSpec};
use super::mirror::Mirrors;
use super::mirror_peer::MirrorPeer;
use super::pace::MirrorPace;
use super::snapshot::JobState;
use crate::{Slot, StoreTorrent};
use swarmdate_core::packages::PackageIndex;

/// How often a running repository job moves completed files into the store.
const ADMIT_EVERY: Duration = Duration::from_millis(200);
/// Files fetched from mirrors at once.
const MIRROR_FILES: usize = 4;
/// A job with a mirror peer that gains nothing for this long fetches its missing files from the
/// mirrors directly as well (`fallback.rs`): whatever holds the mirror peer up, the job ends.
const STALLED: Duration = Duration::from_secs(20);

impl Engine {
    pub(super) async fn run_repository(
        self: &Arc<Self>,
        id: JobId,
        spec: &RepoSpec,
    ) -> anyhow::Result<()> {
        let torrent = self.torrent_of(id)?;
        let index_bytes = std::fs::read(&spec.index)
            .with_context(|| format!("reading the package index {}", spec.index.display()))?;
        let index = PackageIndex::from_json(&index_bytes)?;
        let inside = if spec.images.is_empty() {
            Default::default()
        } else {
            let (images, cache) = (
                spec.images.clone(),
                self.state_dir.join("image-packages.json"),
            );
            tokio::task::spawn_blocking(move || {
                swarmdate_core::iso::packages_in_images(&images, &cache)
            })
            .await??
        };
        let st = StoreTorrent::new(self.store.clone(), &torrent, &index)?.with_images(inside);
        if let Some(log) = self.log_of(id) {
            log.set_files_in_images(st.files_in_images().len());
        }
        let sha_of = |i: usize| match &st.slots()[i] {
            Slot::Package { sha256, .. } => Some(*sha256),
            Slot::Pad => None,
        };
        let held: BTreeSet<usize> = st.held_files().into_iter().collect();
        let selected: BTreeSet<usize> = held.union(&spec.wanted).copied().collect();
        self.store.set_refs(
            &torrent.info_hash(),
            selected.iter().filter_map(|&i| sha_of(i)),
        )?;
        let log = self.log_of(id).unwrap_or_default();
        log.set_wanted_bytes(spec.wanted.iter().map(|&i| torrent.files[i].length).sum());
        // librqbit gets a folder it never writes to: the storage maps every file to the store.
        let folder = self.state_dir.join("repositories");
        let files = Some(selected.iter().copied().collect());
        let handle = self
            .add_selected(id, st.factory(), &folder, false, files.clone())
            .await?;
        self.set_state(id, JobState::Checking);
        handle.wait_until_initialized().await?;

        let mut roots = torrent.web_seeds.clone();
        roots.extend(spec.mirrors.iter().cloned());
        let mirrors = Mirrors::new(roots);
        let torrent = Arc::new((*torrent).clone());
        // A session that accepts peers gets the mirrors as one more peer (`mirror_peer.rs`), so
        // what comes from them is shared at once; one that shares nothing fetches whole files.
        let listen = self.listen_ip.zip(self.listen_port);
        let mirror_peer = mirrors.as_ref().zip(listen).map(|(m, listen)| {
            MirrorPeer::start(
                listen.into(),
                torrent.clone(),
                m.clone(),
                spec.wanted.iter().copied(),
                log.clone(),
            )
        });
        let mut from_mirror: tokio::task::JoinSet<(usize, anyhow::Result<()>)> = Default::default();
        // Each wanted file's way to the store: the swarm, or the mirrors (`fallback.rs`).
        let mut fallbacks: BTreeMap<usize, Fallback> = BTreeMap::new();
        let mut mirrored = 0usize;
        let mut admitted_here = HashSet::new();
        let mut finished = None;
        let started = Instant::now();
        // With no way to find a peer at all, the mirrors start at once.
        let grace = if torrent.trackers.is_empty() && !self.discovery && self.known_peers.is_empty()
        {
            Duration::ZERO
        } else {
            NO_PEERS
        };
        let mut pace = MirrorPace::new(started, grace);
        // Whether the peers met while this session had nothing have been met again.
        let mut reintroduced = !st.held_files().is_empty();
        let mut ranked: Vec<String> = Vec::new();
        // The missing files' bytes and count when the job last gained something, and when.
        let mut progress = (u64::MAX, usize::MAX);
        let mut gained_at = Instant::now();
        loop {
            let stats = handle.stats();
            let (admitted, refused) = st.admit_complete(&stats.file_progress);
            admitted_here.extend(admitted.into_iter().filter_map(sha_of));
            if let Some(e) = refused.into_iter().next() {
                return Err(e.into());
            }
            while let Some(done) = finished.take().or_else(|| from_mirror.try_join_next()) {
                let (i, r) = done.context("a mirror download stopped")?;
                match r {
                    Ok(()) => {
                        mirrored += 1;
                        admitted_here.extend(sha_of(i));
                        fallbacks.entry(i).and_modify(Fallback::fetched);
                    }
                    Err(e) => {
                        tracing::warn!(job = %id, file = i, "mirror download failed: {e:#}");
                        if let Some(f) = fallbacks.get_mut(&i) {
                            f.failed(Instant::now(), format!("{e:#}"));
                        }
                    }
                }
            }
            let missing: Vec<usize> = spec
                .wanted
                .iter()
                .copied()
                .filter(|&i| sha_of(i).is_some_and(|s| !self.store.holds(&s)))
                .collect();
            for (i, f) in fallbacks.iter_mut() {
                if !missing.contains(i) {
                    f.delivered();
                }
            }
            // Why a mirror fetch is failing (the first such file's reason), while that file is
            // still missing: the snapshot shows it, not only the log.
            if mirror_peer.is_none() {
                log.set_mirror_error(
                    fallbacks
                        .values()
                        .filter_map(Fallback::error)
                        .next()
                        .map(str::to_owned),
                );
            }
            if missing.is_empty() {
                break;
            }
            let got: u64 = missing
                .iter()
                .map(|&i| stats.file_progress.get(i).copied().unwrap_or(0))
                .sum();
            if (got, missing.len()) != progress {
                progress = (got, missing.len());
                gained_at = Instant::now();
            }
            let stalled = mirror_peer.is_some() && gained_at.elapsed() >= STALLED;
            self.set_state(id, JobState::Downloading);
            if let Some(e) = log.write_error() {
                return Err(e.context("writing packages into the store's staging folder"));
            }
            if let Some(e) = stats.error {
                anyhow::bail!("the repository torrent stopped: {e}");
            }
            if !reintroduced
                && stats
                    .live
                    .as_ref()
                    .is_some_and(|l| l.snapshot.fetched_bytes > 0 && l.snapshot.peer_stats.live > 0)
            {
                // librqbit tells a peer of new pieces only once that peer has told it of one
                // (docs/platform.md §6): two sessions that met with nothing never tell each
                // other anything, until the link times out 10 s later. With its first piece,
                // this session meets its peers again, its bitfield in hand.
                reintroduced = true;
                self.session.pause(&handle).await?;
                self.session.unpause(&handle).await?;
                tracing::debug!(job = %id, "met the peers again with the first pieces");
            }
            if let Some(mp) = &mirror_peer {
                // What peers sent: all librqbit received but what the mirror peer sent it.
                let received = stats.live.as_ref().map_or(0, |l| l.snapshot.fetched_bytes);
                let mirrored = mp.sent();
                if let Ok((haves, _)) = self.api.api_dump_haves(handle.id().into()) {
                    mp.sync(|p| haves.get(p as usize).is_some_and(|b| *b));
                }
                // The crowd as the tracker, discovery and the DHT name it: the addresses this
                // session dialled (those that dialled it show under a port of the moment, not
                // the one the others know them by; counted, they made the ranks disagree more).
                if let (Some(live), Some(me)) = (handle.live(), listen) {
                    let mut crowd: Vec<String> = live
                        .per_peer_stats_snapshot(super::poll::all_peers())
                        .peers
                        .into_iter()
                        .filter(|(_, p)| p.counters.connection_attempts > 0)
                        .map(|(address, _)| address)
                        .collect();
                    crowd.sort();
                    if crowd != ranked {
                        tracing::debug!(job = %id, peers = crowd.len(), "ranking the mirror's units");
                        mp.rank(&std::net::SocketAddr::from(me).to_string(), &crowd);
                        ranked = crowd;
                    }
                }
                mp.allow(pace.observe(
                    Instant::now(),
                    received.saturating_sub(mirrored),
                    mirrored,
                    self.session.ratelimits.get_download_bps().map(|v| v.get()),
                ));
            }
            if let Some(m) = mirrors
                .as_ref()
                .filter(|_| mirror_peer.is_none() || stalled)
            {
                if stalled && fallbacks.is_empty() {
                    tracing::warn!(
                        job = %id,
                        "nothing arrived for {STALLED:?}: the missing files come from the mirrors directly"
                    );
                }
                let peers = stats
                    .live
                    .as_ref()
                    .map_or(0, |l| l.snapshot.peer_stats.live);
                let now = Instant::now();
                for &i in &missing {
                    let got = stats.file_progress.get(i).copied().unwrap_or(0);
                    let fallback = fallbacks
                        .entry(i)
                        .or_insert_with(|| Fallback::new(started, grace, got));
                    let seen = Observation {
                        now,
                        peers,
                        bytes: got,
                        room: from_mirror.len() < MIRROR_FILES,
                    };
                    if fallback.observe(seen) == Action::Fetch {
                        let (m, t, store, log) =
                            (m.clone(), torrent.clone(), self.store.clone(), log.clone());
                        let sha = sha_of(i).expect("a package");
                        let dest = store
                            .staging_path(&t.info_hash(), i)
                            .with_extension("mirror");
                        from_mirror.spawn(async move {
                            let r = async {
                                std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(&dest))?;
                                let arrival = log.mirror_fetch();
                                let cost =
                                    m.fetch_file(&t, i, &dest, &|n| arrival.arrived(n)).await?;
                                let d = dest.clone();
                                // Counted before the package shows in the store, so whoever
                                // sees it there also sees where it came from; its bytes stop
                                // counting as arriving after, so progress never goes back.
                                let len = t.files[i].length;
                                log.note_mirror(len);
                                drop(arrival);
                                let admitted =
                                    tokio::task::spawn_blocking(move || store.admit(&d, &sha))
                                        .await
                                        .map_err(anyhow::Error::from)
                                        .and_then(|r| r.map_err(anyhow::Error::from));
                                if let Err(e) = admitted {
                                    log.unnote_mirror(len);
                                    return Err(e);
                                }
                                tracing::debug!(file = i, ?cost, "fetched from a mirror");
                                Ok(())
                            }
                            .await;
                            if r.is_err() {
                                let _ = std::fs::remove_file(&dest);
                            }
                            (i, r)
                        });
                    }
                }
            }
            // A mirror download that ends makes room for the next one at once.
            if from_mirror.is_empty() {
                tokio::time::sleep(ADMIT_EVERY).await;
            } else if let Ok(done) =
                tokio::time::timeout(ADMIT_EVERY, from_mirror.join_next()).await
            {
                finished = done;
            }
        }
        from_mirror.abort_all();
        drop(mirror_peer);
        // Everything wanted is in the store: whoever waits for it may go on.
        self.set_state(id, JobState::Seeding);
        if mirrored > 0 {
            // librqbit does not know what entered the store beside it: a new check (re-adding
            // the torrent) shows it has those pieces, so it seeds them.
            self.session.delete(handle.id().into(), false).await?;
            let handle = self
                .add_selected(id, st.factory(), &folder, false, files)
                .await?;
            handle.wait_until_initialized().await?;
        }
        // Outside this job's task: sharing may re-check jobs that are sharing in turn.
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.share_admitted(id, &admitted_here).await {
                tracing::warn!(job = %id, "sharing new packages with other jobs: {e:#}");
            }
        });
        Ok(())
    }
}
