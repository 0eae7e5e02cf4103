//! Whether a torrent's trackers refuse it. librqbit only logs a tracker's failure reason
//! (docs/platform.md §2), so each job asks every HTTP tracker of its torrent once itself: one
//! announce, its answer read up to [`MAX_BODY`] within [`PATIENCE`], and only a top-level
//! `failure reason` taken from it. It announces as the session does, under the session's peer id
//! and port, so a tracker keeps one entry for the engine; as a leaving peer (`event=stopped`) it
//! would learn nothing: opentracker answers a stop before it checks its whitelist. UDP trackers are left to librqbit: their error answer
//! (BEP 15 action 3) is rare and comes without the HTTP trackers' whitelists.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, percent_encode};

use super::job::JobId;
use super::notice::{Notice, tracker_text};
use swarmdate_core::torrent::Torrent;

/// Most bytes read of a tracker's answer: a failure is a short dictionary.
pub const MAX_BODY: usize = 64 << 10;
/// How long one tracker may take to answer, connection included.
pub const PATIENCE: Duration = Duration::from_secs(15);
/// Most trackers asked per job (a torrent may list many).
const MAX_TRACKERS: usize = 8;

impl super::Engine {
    /// Asks job `id`'s HTTP trackers, once per job and in the background, whether they refuse
    /// its torrent, announcing `port` (where the job takes peers; none: it takes none); each
    /// refusal becomes a notice of the job. `complete`: the job has all of it.
    pub(super) fn ask_trackers(&self, id: JobId, port: Option<u16>, complete: bool) {
        let Some(port) = port.filter(|_| self.trackers) else {
            return;
        };
        let (Ok(torrent), Some(log)) = (self.torrent_of(id), self.log_of(id)) else {
            return;
        };
        if torrent.trackers.is_empty() || !log.first_tracker_ask() {
            return;
        }
        let left = if complete { 0 } else { torrent.total_length() };
        let peer_id = self.peer_id;
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for r in refusals(&client, &torrent, peer_id, port, left).await {
                tracing::warn!(tracker = %r.tracker, "the tracker refuses the torrent: {}", r.reason);
                log.note(Notice::TrackerRefused {
                    tracker: r.tracker,
                    reason: r.reason,
                });
            }
        });
    }
}

/// A tracker that refused the torrent, and why (escaped and cut, safe to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Scheme, host and port of the tracker (its path and query may hold a key).
    pub tracker: String,
    /// Its failure reason.
    pub reason: String,
}

/// The refusals of `torrent`'s HTTP trackers, asked once each and at the same time, announcing
/// `port` with `left` bytes to go. A tracker that cannot be reached or answers otherwise is
/// not a refusal: librqbit goes on announcing to it.
pub async fn refusals(
    client: &reqwest::Client,
    torrent: &Torrent,
    peer_id: [u8; 20],
    port: u16,
    left: u64,
) -> Vec<Refusal> {
    let mut urls: Vec<url::Url> = torrent
        .trackers
        .iter()
        .flatten()
        .filter_map(|t| url::Url::parse(t).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect();
    urls.dedup();
    urls.truncate(MAX_TRACKERS);
    let query = format!(
        "info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=0",
        percent_encode(&torrent.info_hash().0, NON_ALPHANUMERIC),
        percent_encode(&peer_id, NON_ALPHANUMERIC),
    );
    let asks = urls.into_iter().map(|url| {
        let query = query.clone();
        async move {
            let shown = shown_name(&url);
            let mut url = url;
            let full = match url.query() {
                Some(q) => format!("{q}&{query}"),
                None => query,
            };
            url.set_query(Some(&full));
            match tokio::time::timeout(PATIENCE, body(client, url)).await {
                Ok(Ok(body)) => failure_reason(&body).map(|r| Refusal {
                    tracker: shown,
                    reason: tracker_text(r),
                }),
                Ok(Err(e)) => {
                    tracing::debug!("asking tracker {shown}: {e}");
                    None
                }
                Err(_) => None,
            }
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// A tracker as shown: scheme, host and port only.
fn shown_name(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The answer's body, at most [`MAX_BODY`] bytes of it.
async fn body(client: &reqwest::Client, url: url::Url) -> reqwest::Result<Vec<u8>> {
    let mut response = client.get(url).send().await?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// The `failure reason` of a bencoded dictionary, if it has one at its top level.
pub fn failure_reason(body: &[u8]) -> Option<&[u8]> {
    let mut at = 1;
    if body.first() != Some(&b'd') {
        return None;
    }
    while body.get(at) != Some(&b'e') {
        let key = string(body, &mut at)?;
        if key == b"failure reason" {
            return string(body, &mut at);
        }
        skip(body, &mut at, 0)?;
    }
    None
}

/// Nesting past this is no tracker's answer.
const MAX_DEPTH: usize = 16;

/// A bencoded string at `at`, moving past it.
fn string<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let colon = *at + b.get(*at..)?.iter().take(20).position(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&b[*at..colon]).ok()?.parse().ok()?;
    let end = colon.checked_add(1)?.checked_add(len)?;
    let s = b.get(colon + 1..end)?;
    *at = end;
    Some(s)
}

/// Moves past the bencoded value at `at`.
fn skip(b: &[u8], at: &mut usize, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *b.get(*at)? {
        b'i' => {
            *at += 1 + b.get(*at + 1..)?.iter().position(|&c| c == b'e')? + 1;
        }
        b'l' | b'd' => {
            *at += 1;
            while *b.get(*at)? != b'e' {
                skip(b, at, depth + 1)?;
            }
            *at += 1;
        }
        b'0'..=b'9' => {
            string(b, at)?;
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_reason_is_found_past_other_keys_and_only_at_the_top() {
        let refusal = b"d14:failure reason63:Requested download is not authorized for use with this tracker.e";
        assert_eq!(
            failure_reason(refusal),
            Some(&b"Requested download is not authorized for use with this tracker."[..])
        );
        let after = b"d8:completei1e5:peersl4:abcdd1:ai2eee14:failure reason2:noe";
        assert_eq!(failure_reason(after), Some(&b"no"[..]));
        // A working tracker's answer, and a reason nested deeper, are no refusal.
        let answer = b"d8:intervali1800e5:peers0:e";
        assert_eq!(failure_reason(answer), None);
        let nested = b"d1:xd14:failure reason2:noee";
        assert_eq!(failure_reason(nested), None);
    }

    #[test]
    fn malformed_or_cut_answers_are_no_refusal() {
        for bad in [
            &b""[..],
            b"<html>",
            b"d14:failure reason99:short",
            b"d14:failure reason",
            b"d999999999999999999999999:x",
            b"d1:x",
        ] {
            assert_eq!(failure_reason(bad), None, "{bad:?}");
        }
        let deep = [b"d1:x".to_vec(), b"l".repeat(10_000)].concat();
        assert_eq!(failure_reason(&deep), None);
    }

    /// One tracker refuses, one answers with peers: only the first is a refusal, named without
    /// its path, its reason escaped; a tracker that sends forever is read only up to the cap.
    #[tokio::test]
    async fn a_refusing_tracker_is_told_apart_from_an_answering_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn serve(body: Vec<u8>, endless: bool) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut req = [0u8; 4096];
                    let _ = s.read(&mut req).await;
                    let head = if endless {
                        "HTTP/1.1 200 OK\r\n\r\n".to_string()
                    } else {
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                    };
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                    while endless && s.write_all(&[b'x'; 8192]).await.is_ok() {}
                }
            });
            format!("http://{addr}/announce?key=secret")
        }
        let refusing = serve(b"d14:failure reason9:no\x1b[2Jwaye".to_vec(), false).await;
        let answering = serve(b"d8:intervali60e5:peers0:e".to_vec(), false).await;
        let endless = serve(b"d5:peersl".to_vec(), true).await;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.bin");
        std::fs::write(&source, [7u8; 1000]).unwrap();
        let t = swarmdate_core::torrent::TorrentBuilder::single_file("a.bin", &source)
            .tracker(&refusing)
            .tracker(&answering)
            .tracker(&endless)
            .build()
            .unwrap();
        let client = reqwest::Client::new();
        let found = refusals(&client, &t, [1; 20], 6881, 10).await;
        let host = refusing.split("/announce").next().unwrap().to_string();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].tracker, host);
        assert_eq!(found[0].reason, "no\\u{1b}[2Jway");
    }
}
