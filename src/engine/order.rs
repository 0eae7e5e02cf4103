//! A client-specific piece order for downloads. librqbit asks for pieces in index order, so
//! clients that start together all want the same pieces from the origin and have nothing to trade
//! (PLATFORM.md §6). Its public lever: a stream's position makes the pieces ahead of it priority
//! pieces. A stream opened at a random piece of the largest file and read through to its end
//! moves that window along, so each client starts somewhere else.

use std::io::SeekFrom;

use tokio::io::AsyncSeekExt;

use super::ManagedTorrentHandle;
use crate::torrent::Torrent;

/// Starts reading the largest file from a random piece; abort the task (and await it) before the
/// torrent leaves the session. `None` when the file is too small to matter.
pub(super) fn diversify(
    handle: &ManagedTorrentHandle,
    torrent: &Torrent,
) -> Option<tokio::task::JoinHandle<()>> {
    let piece = u64::from(torrent.piece_length);
    let (file_id, f) = torrent
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.pad)
        .max_by_key(|(_, f)| f.length)?;
    if f.length < 4 * piece {
        return None;
    }
    let offset = rand::random::<u64>() % f.length / piece * piece;
    let handle = handle.clone();
    Some(tokio::spawn(async move {
        let Ok(mut stream) = handle.stream(file_id).await else {
            return;
        };
        if stream.seek(SeekFrom::Start(offset)).await.is_ok() {
            let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
        }
    }))
}
