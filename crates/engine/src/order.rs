//! A client-specific piece order for downloads. librqbit asks for pieces in index order, so
//! clients that start together all want the same pieces from the origin and have nothing to trade
//! (docs/platform.md §6). Its public lever: a stream's read position makes the pieces ahead of it
//! priority pieces, and the windows of several streams are interleaved in a random order.
//!
//! So a few streams each wait for one randomly chosen missing piece and then jump to another one.
//! A single stream read through from a random start was tried first: its front catches up with
//! another client's (it gets that client's pieces from the client, fast) and from then on both ask
//! the origin for the same next pieces, so fronts merge and the origin serves copies again.
//!
//! librqbit keeps 128 block requests outstanding per peer. Fewer (its `max_request_window`) cut
//! the origin's copies (20 clients, 48 MiB, 4 MiB/s: 4.24 at 128, 2.82 at 16, 1.66 at 4), but at
//! 16 a download of 1 GiB from one seeder on loopback took 18.6 s instead of 5.4 s and the
//! seeder sent 5.5 times the payload: the default stays.

use std::io::SeekFrom;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Semaphore;

use super::ManagedTorrentHandle;
use swarmdate_core::torrent::Torrent;

/// Streams jumping at once per download: each brings its own random place into the priority
/// order.
const STREAMS: usize = 4;

/// Streams at once in one engine. Each librqbit stream holds one of the session's 8 permits for
/// blocking work for as long as it lives, and writing pieces needs them too: 8 streams waiting
/// for pieces stop every download.
const ENGINE_STREAMS: usize = 4;

/// The engine's permits for order streams.
pub(super) fn stream_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(ENGINE_STREAMS))
}

/// Starts the streams; abort the task (and await it) before the torrent leaves the session.
/// `None` when the payload is too small to matter.
pub(super) fn diversify(
    api: &librqbit::Api,
    permits: &Arc<Semaphore>,
    handle: &ManagedTorrentHandle,
    torrent: &Torrent,
) -> Option<tokio::task::JoinHandle<()>> {
    let pieces = torrent.pieces().len();
    if pieces < 4 * STREAMS {
        return None;
    }
    let torrent = torrent.clone();
    let (api, handle, permits) = (api.clone(), handle.clone(), permits.clone());
    Some(tokio::spawn(async move {
        let mut streams = tokio::task::JoinSet::new();
        for _ in 0..STREAMS {
            let (api, handle, torrent) = (api.clone(), handle.clone(), torrent.clone());
            let permits = permits.clone();
            streams.spawn(async move { jump_around(&api, &permits, &handle, &torrent).await });
        }
        while streams.join_next().await.is_some() {}
    }))
}

/// Waits for one random missing piece after another until none is missing.
async fn jump_around(
    api: &librqbit::Api,
    permits: &Semaphore,
    handle: &ManagedTorrentHandle,
    torrent: &Torrent,
) {
    let mut byte = [0u8; 1];
    loop {
        // With one peer the order does not matter, and the priority windows cost CPU in every
        // piece librqbit picks.
        if live_peers(handle) < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if handle.stats().finished {
                return;
            }
            continue;
        }
        let Some(piece) = random_missing(api, handle, torrent) else {
            return;
        };
        let Some((file_id, at)) = place_of(torrent, piece) else {
            return;
        };
        let Ok(_permit) = permits.acquire().await else {
            return;
        };
        let Ok(mut stream) = handle.clone().stream(file_id).await else {
            return;
        };
        // One byte waits for the whole piece (the stream returns only verified data) without
        // reading the download back.
        if stream.seek(SeekFrom::Start(at)).await.is_err()
            || stream.read_exact(&mut byte).await.is_err()
        {
            return;
        }
    }
}

/// Peers the torrent is connected to. A seeder that dials us while we dial it counts twice, and
/// librqbit steals pieces between the two connections (1 GiB from one seeder: it sends 1.21 GB).
/// Counting hosts instead (and peers we sent pieces to) was tried: the seeder then sent exactly
/// the payload, but the download took 13 to 23% longer (5.4 s against 6.1 to 6.7 s, same runs).
fn live_peers(handle: &ManagedTorrentHandle) -> u32 {
    // The live state's counters alone: `stats()` would also sum every file's progress.
    handle
        .live()
        .map_or(0, |l| l.stats_snapshot().peer_stats.live)
}

/// A piece the torrent does not have yet, chosen at random: a few random draws first, since
/// scanning every piece after each one would cost the square of the piece count.
fn random_missing(
    api: &librqbit::Api,
    handle: &ManagedTorrentHandle,
    torrent: &Torrent,
) -> Option<u32> {
    let (haves, n) = api.api_dump_haves(handle.id().into()).ok()?;
    let n = n.min(torrent.pieces().len() as u32);
    let missing = |i: u32| !haves.get(i as usize).is_some_and(|b| *b);
    if n == 0 {
        return None;
    }
    if let Some(i) = (0..32)
        .map(|_| rand::random::<u32>() % n)
        .find(|&i| missing(i))
    {
        return Some(i);
    }
    let left: Vec<u32> = (0..n).filter(|&i| missing(i)).collect();
    (!left.is_empty()).then(|| left[rand::random::<usize>() % left.len()])
}

/// The first real (not padding) file with bytes in `piece`: its index and the offset in it
/// where the piece's bytes begin.
fn place_of(torrent: &Torrent, piece: u32) -> Option<(usize, u64)> {
    if piece as usize >= torrent.pieces().len() {
        return None;
    }
    let range = torrent.piece_range(piece);
    torrent.files.iter().enumerate().find_map(|(i, f)| {
        let (start, end) = (
            f.offset.max(range.start),
            (f.offset + f.length).min(range.end),
        );
        (!f.pad && start < end).then(|| (i, start - f.offset))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmdate_core::torrent::{SourceFile, TorrentBuilder};

    #[test]
    fn a_piece_is_placed_in_the_file_that_holds_its_first_real_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 20_000]).unwrap();
        std::fs::write(dir.path().join("b"), vec![2u8; 40_000]).unwrap();
        let file = |name: &str| SourceFile {
            path: vec![name.to_owned()],
            source: dir.path().join(name),
        };
        let t = TorrentBuilder::multi_file("pair", vec![file("a"), file("b")])
            .piece_length(16_384)
            .align(true)
            .build()
            .unwrap();
        // a: pieces 0 and 1 (padded to 32 KiB); b: pieces 2, 3 and 4 (the last 7,232 bytes).
        assert_eq!(place_of(&t, 0), Some((0, 0)));
        assert_eq!(place_of(&t, 1), Some((0, 16_384)));
        let b = t.files.iter().position(|f| f.path == ["b"]).unwrap();
        assert_eq!(place_of(&t, 2), Some((b, 0)));
        assert_eq!(place_of(&t, 4), Some((b, 32_768)));
        assert_eq!(place_of(&t, 5), None);
    }
}
