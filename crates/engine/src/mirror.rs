//! Mirror fallback for repository jobs: a wanted package the swarm does not deliver comes from the
//! mirrors over HTTP range requests (BEP 19 layout: root + torrent name + path), every piece checked
//! against the torrent's piece hash as if a peer had sent it; a bad range is fetched again.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use swarmdate_core::hash::PieceHash;
use swarmdate_core::torrent::Torrent;

/// Characters escaped in a URL path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Attempts at one piece before the file is given up (for now).
const PIECE_TRIES: usize = 3;

/// A mirror's answer that is not the range asked for. A mirror comes from a feed or from the
/// `url-list` of any torrent a user opens, so its answers are read no further than asked.
#[derive(Debug, thiserror::Error)]
pub(super) enum MirrorError {
    /// Neither the range (206) nor, for a whole file, the file (200).
    #[error("{url} answered {status} to a request for bytes {start}-{end}; it is skipped")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        start: u64,
        end: u64,
    },
    /// A Content-Range other than the range asked for.
    #[error(
        "{url} answered bytes {start}-{end} of {file} with Content-Range {got:?}; a mirror must send the range asked for, so it is skipped"
    )]
    WrongRange {
        url: String,
        got: String,
        start: u64,
        end: u64,
        file: u64,
    },
    /// More bytes than asked for, announced or sent.
    #[error(
        "{url} sent more than the {asked} bytes asked for (bytes {start}-{end}); the mirror is broken or hostile: reading stopped there and it is skipped"
    )]
    TooLong {
        url: String,
        asked: u64,
        start: u64,
        end: u64,
    },
    /// Fewer bytes than asked for.
    #[error("{url} ended after {got} of the {asked} bytes asked for (bytes {start}-{end})")]
    Short {
        url: String,
        got: u64,
        asked: u64,
        start: u64,
        end: u64,
    },
}

/// Whether `e` is a verdict on what a mirror answered (a wrong status or range, too many bytes),
/// rather than a connection that failed or ended early, which may go right when tried again.
pub(super) fn is_verdict(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<MirrorError>()
            .is_some_and(|m| !matches!(m, MirrorError::Short { .. }))
    })
}

/// One range request: its answer, read no further than the range.
struct RangeBody {
    resp: reqwest::Response,
    url: String,
    start: u64,
    asked: u64,
    got: u64,
}

impl RangeBody {
    fn too_long(&self) -> MirrorError {
        MirrorError::TooLong {
            url: self.url.clone(),
            asked: self.asked,
            start: self.start,
            end: self.start + self.asked - 1,
        }
    }

    /// The next bytes of the range; `None` once all of it came. Fails as soon as the body
    /// holds more than the range or ends before it.
    async fn chunk(&mut self) -> anyhow::Result<Option<bytes::Bytes>> {
        let chunk = self.resp.chunk().await?;
        match chunk {
            Some(c) => {
                self.got += c.len() as u64;
                if self.got > self.asked {
                    return Err(self.too_long().into());
                }
                Ok(Some(c))
            }
            None if self.got < self.asked => Err(MirrorError::Short {
                url: self.url.clone(),
                got: self.got,
                asked: self.asked,
                start: self.start,
                end: self.start + self.asked - 1,
            }
            .into()),
            None => Ok(None),
        }
    }

    /// The whole range.
    async fn all(mut self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.asked as usize);
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

/// What one file's fetch cost.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct MirrorFetch {
    /// Bytes received, refetches included.
    pub received: u64,
    /// Bytes that failed their piece hash and were fetched again.
    pub discarded: u64,
}

/// Told the bytes of each piece a mirror fetch has checked and written, as they come.
pub(super) type OnVerified<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Takes each checked piece of a span: its index from the file's first piece and its file bytes.
type Sink<'a> = &'a mut (dyn FnMut(u32, &[u8]) -> anyhow::Result<()> + Send);

/// The mirrors of one repository torrent.
#[derive(Clone)]
pub(super) struct Mirrors {
    client: reqwest::Client,
    roots: Vec<String>,
}

impl Mirrors {
    /// The mirrors at `roots` (URLs of the folder above the torrent's name); `None` if there are
    /// none.
    pub fn new(roots: Vec<String>) -> Option<Self> {
        if roots.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .build()
            .ok()?;
        Some(Mirrors { client, roots })
    }

    fn url(root: &str, torrent: &Torrent, path: &[String]) -> String {
        let mut u = root.to_owned();
        if !u.ends_with('/') {
            u.push('/');
        }
        u.push_str(&utf8_percent_encode(&torrent.name, SEGMENT).to_string());
        for c in path {
            u.push('/');
            u.push_str(&utf8_percent_encode(c, SEGMENT).to_string());
        }
        u
    }

    /// Fetches file `file` of `torrent` into `dest` (created at the file's length), checking each
    /// piece; tries the mirrors in turn.
    pub async fn fetch_file(
        &self,
        torrent: &Torrent,
        file: usize,
        dest: &Path,
        verified: OnVerified<'_>,
    ) -> anyhow::Result<MirrorFetch> {
        let f = &torrent.files[file];
        let pl = u64::from(torrent.piece_length);
        let out = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(dest)
            .with_context(|| format!("creating {}", dest.display()))?;
        out.set_len(f.length)?;
        let pieces = f.length.div_ceil(pl) as u32;
        let mut cost = MirrorFetch::default();
        let mut write = |k: u32, data: &[u8]| {
            out.write_all_at(data, u64::from(k) * pl)?;
            verified(data.len() as u64);
            anyhow::Ok(())
        };
        // The store flushes it as it admits it.
        self.fetch_span(torrent, file, 0..pieces, &mut cost, &mut write)
            .await?;
        Ok(cost)
    }

    /// Fetches pieces `span` (counted from the file's first) of file `file` of `torrent` into
    /// memory, checked, trying the mirrors in turn: each piece's file bytes (without padding).
    pub async fn fetch_pieces(
        &self,
        torrent: &Torrent,
        file: usize,
        span: std::ops::Range<u32>,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut got = vec![Vec::new(); span.len()];
        let first = span.start;
        let mut keep = |k: u32, data: &[u8]| {
            got[(k - first) as usize] = data.to_vec();
            anyhow::Ok(())
        };
        self.fetch_span(torrent, file, span, &mut MirrorFetch::default(), &mut keep)
            .await?;
        Ok(got)
    }

    /// Pieces `span` of file `file` from the first mirror that serves them right; `sink` takes
    /// each checked piece (its index counted from the file's first piece, its file bytes).
    async fn fetch_span(
        &self,
        torrent: &Torrent,
        file: usize,
        span: std::ops::Range<u32>,
        cost: &mut MirrorFetch,
        sink: Sink<'_>,
    ) -> anyhow::Result<()> {
        let f = &torrent.files[file];
        let pl = u64::from(torrent.piece_length);
        anyhow::ensure!(
            f.offset.is_multiple_of(pl),
            "{} does not start on a piece boundary: the mirror's bytes could not be checked alone",
            f.display_path()
        );
        let mut last_err = None;
        for root in &self.roots {
            let url = Mirrors::url(root, torrent, &f.path);
            match self
                .fetch_from(&url, torrent, file, span.clone(), cost, sink)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => last_err = Some(e.context(format!("mirror {url}"))),
            }
        }
        Err(last_err.expect("at least one mirror"))
    }

    /// Pieces `span` of file `file` in one request, each piece checked as it streams in; pieces
    /// that fail are fetched again one by one. `sink` takes each piece once checked.
    async fn fetch_from(
        &self,
        url: &str,
        torrent: &Torrent,
        file: usize,
        span: std::ops::Range<u32>,
        cost: &mut MirrorFetch,
        sink: Sink<'_>,
    ) -> anyhow::Result<()> {
        let f = &torrent.files[file];
        let pl = u64::from(torrent.piece_length);
        let first = (f.offset / pl) as u32;
        let start = u64::from(span.start) * pl;
        let end = (u64::from(span.end) * pl).min(f.length);
        if start >= end {
            return Ok(());
        }
        let mut bad = Vec::new();
        let mut body = self.get_range(url, start, end - start, f.length).await?;
        let mut buf: Vec<u8> = Vec::with_capacity(pl as usize);
        for k in span {
            let want = (f.length - u64::from(k) * pl).min(pl) as usize;
            while buf.len() < want {
                let chunk = body.chunk().await?.context("the range ended early")?;
                cost.received += chunk.len() as u64;
                buf.extend_from_slice(&chunk);
            }
            let rest = buf.split_off(want);
            if piece_ok(torrent, first + k, &buf) {
                sink(k, &buf)?;
            } else {
                cost.discarded += buf.len() as u64;
                bad.push(k);
            }
            buf = rest;
        }
        // Every byte asked for came; one more would be too many.
        if !buf.is_empty() || body.chunk().await?.is_some() {
            return Err(body.too_long().into());
        }
        for k in bad {
            let start = u64::from(k) * pl;
            let want = (f.length - start).min(pl);
            let mut ok = false;
            for _ in 0..PIECE_TRIES {
                let bytes = self
                    .get_range(url, start, want, f.length)
                    .await?
                    .all()
                    .await?;
                cost.received += bytes.len() as u64;
                if bytes.len() as u64 == want && piece_ok(torrent, first + k, &bytes) {
                    sink(k, &bytes)?;
                    ok = true;
                    break;
                }
                cost.discarded += bytes.len() as u64;
            }
            anyhow::ensure!(
                ok,
                "piece {} failed its hash {PIECE_TRIES} times",
                first + k
            );
        }
        Ok(())
    }

    /// Asks `url` for `len` bytes from `start` of a file of `file_len` bytes; refuses an answer
    /// that announces anything but those bytes.
    async fn get_range(
        &self,
        url: &str,
        start: u64,
        len: u64,
        file_len: u64,
    ) -> anyhow::Result<RangeBody> {
        let end = start + len - 1;
        let resp = self
            .client
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
            .send()
            .await?;
        let status = resp.status();
        let body = RangeBody {
            resp,
            url: url.to_owned(),
            start,
            asked: len,
            got: 0,
        };
        match status {
            reqwest::StatusCode::PARTIAL_CONTENT => {
                let got = body
                    .resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                if content_range(&got) != Some((start, end, Some(file_len)))
                    && content_range(&got) != Some((start, end, None))
                {
                    return Err(MirrorError::WrongRange {
                        url: url.to_owned(),
                        got,
                        start,
                        end,
                        file: file_len,
                    }
                    .into());
                }
            }
            // A 200 is the whole file: the same bytes only when the whole file was asked for.
            reqwest::StatusCode::OK if start == 0 && len == file_len => {}
            _ => {
                return Err(MirrorError::Status {
                    url: url.to_owned(),
                    status,
                    start,
                    end,
                }
                .into());
            }
        }
        if body.resp.content_length().is_some_and(|l| l > len) {
            return Err(body.too_long().into());
        }
        Ok(body)
    }
}

/// The first byte, last byte and file length (`None` for `*`) of a `Content-Range` header.
fn content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let total = match total {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((first.parse().ok()?, last.parse().ok()?, total))
}

/// Whether `data` (one file's part of the piece; the rest of the piece is BEP 47 padding, zeros)
/// hashes to the piece's hash.
fn piece_ok(torrent: &Torrent, piece: u32, data: &[u8]) -> bool {
    let r = torrent.piece_range(piece);
    let len = (r.end - r.start) as usize;
    if data.len() > len {
        return false;
    }
    let mut h = <sha1::Sha1 as sha1::Digest>::new();
    sha1::Digest::update(&mut h, data);
    sha1::Digest::update(&mut h, vec![0u8; len - data.len()]);
    let got = PieceHash(sha1::Digest::finalize(h).into());
    torrent.pieces().get(piece as usize) == Some(&got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmdate_core::torrent::{SourceFile, TorrentBuilder};
    use swarmdate_testkit::mirror::MirrorServer;

    /// Held by a test that measures the process's peak size, which is the whole process's.
    static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A `kB` field of this process's `/proc/self/status`, in bytes.
    fn status_bytes(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb << 10
    }

    /// Fetches file 0 of `t`, which must fail; returns the error's text and the process's size
    /// before and its peak during the fetch (hold [`MEASURING`]).
    async fn failed_fetch(mirrors: &Mirrors, t: &Torrent, dest: &Path) -> (String, u64, u64) {
        // Resets the peak (VmHWM) to the current size, so the peak read after is this fetch's.
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let idle = status_bytes("VmRSS:");
        let err = mirrors.fetch_file(t, 0, dest, &|_| {}).await.unwrap_err();
        (format!("{err:#}"), idle, status_bytes("VmHWM:"))
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(content_range("bytes 0-99/100"), Some((0, 99, Some(100))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, 9, None)));
        for bad in ["", "bytes */100", "items 0-1/2", "bytes 0-x/2", "bytes 0-1"] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }

    /// A mirror folder holding `repo/a.bin` (100,000 bytes), and its torrent of 16 KiB pieces.
    fn world() -> (tempfile::TempDir, Torrent, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("mirror/repo/a.bin");
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let file = SourceFile {
            path: vec!["a.bin".into()],
            source,
        };
        let t = TorrentBuilder::multi_file("repo", vec![file])
            .piece_length(16 << 10)
            .build()
            .unwrap();
        (dir, t, data)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_range_answered_with_2_gb_is_cut_off_at_the_range_with_memory_bounded() {
        let _measuring = MEASURING.lock().await;
        let (dir, t, data) = world();
        let server = MirrorServer::start(&dir.path().join("mirror"), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let mirrors = Mirrors::new(vec![server.url()]).unwrap();

        // Positive control: an honest mirror gives the file.
        let dest = dir.path().join("honest");
        // Every byte is told as its piece is written, each once.
        let told = std::sync::atomic::AtomicU64::new(0);
        let tell = |n| {
            told.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        mirrors.fetch_file(&t, 0, &dest, &tell).await.unwrap();
        assert_eq!(told.into_inner(), data.len() as u64);
        assert!(std::fs::read(&dest).unwrap() == data);

        // The attack: the whole file comes back corrupt, and the re-fetch of its first piece
        // (16 KiB) is answered with 2 GiB under the right Content-Range.
        server.corrupt_next_range("a.bin");
        server.overserve_ranges("a.bin", 2 << 30);
        let (msg, idle, peak) = failed_fetch(&mirrors, &t, &dir.path().join("hostile")).await;
        eprintln!(
            "hostile mirror: idle {} MiB, peak {} MiB; {} bytes sent before the hang-up; {msg}",
            idle >> 20,
            peak >> 20,
            server.overserved()
        );
        assert!(
            msg.contains("sent more than the 16384 bytes asked for (bytes 0-16383)"),
            "{msg}"
        );
        assert!(
            peak.saturating_sub(idle) < 100 << 20,
            "grew from {idle} to {peak} bytes"
        );
        assert!(
            server.overserved() < 64 << 20,
            "the client read on: {} bytes",
            server.overserved()
        );
    }

    /// How a hostile mirror answers the re-fetch of a piece.
    #[derive(Clone, Copy)]
    enum Lie {
        /// 200 and 2 GiB, as if the range were not understood.
        WholeAnswer,
        /// 206 with the whole file under its own Content-Range.
        OtherRange,
        /// 206 with the right Content-Range and a Content-Length of 2 GiB.
        LongLength,
    }

    /// A mirror of `data` at `/repo/a.bin` that answers the whole file with every byte flipped
    /// (so each piece is fetched again) and every other range as `lie` says.
    async fn liar(data: Vec<u8>, lie: Lie) -> (String, tokio::task::JoinHandle<()>) {
        use axum::http::{HeaderMap, StatusCode, header};
        use axum::response::IntoResponse;
        use futures::StreamExt;
        let whole = format!("bytes=0-{}", data.len() - 1);
        let data = std::sync::Arc::new(data);
        let answer = move |headers: HeaderMap| async move {
            let range = headers.get(header::RANGE).unwrap().to_str().unwrap();
            let total = data.len();
            if range == whole {
                let flipped: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
                let cr = format!("bytes 0-{}/{total}", total - 1);
                return (
                    StatusCode::PARTIAL_CONTENT,
                    [(header::CONTENT_RANGE, cr)],
                    flipped,
                )
                    .into_response();
            }
            let huge = futures::stream::repeat(Ok::<_, std::convert::Infallible>(
                bytes::Bytes::from_static(&[0; 64 << 10]),
            ))
            .take(32 << 10);
            match lie {
                Lie::WholeAnswer => axum::body::Body::from_stream(huge).into_response(),
                Lie::OtherRange => {
                    let cr = format!("bytes 0-{}/{total}", total - 1);
                    (
                        StatusCode::PARTIAL_CONTENT,
                        [(header::CONTENT_RANGE, cr)],
                        (*data).clone(),
                    )
                        .into_response()
                }
                Lie::LongLength => {
                    let cr = format!("bytes 0-16383/{total}");
                    let len = (2u64 << 30).to_string();
                    let headers = [(header::CONTENT_RANGE, cr), (header::CONTENT_LENGTH, len)];
                    let body = axum::body::Body::from_stream(huge);
                    (StatusCode::PARTIAL_CONTENT, headers, body).into_response()
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(answer);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_range_answered_with_another_status_range_or_length_is_refused_unread() {
        let _measuring = MEASURING.lock().await;
        let (dir, t, data) = world();
        for (lie, says) in [
            (
                Lie::WholeAnswer,
                "answered 200 OK to a request for bytes 0-16383",
            ),
            (
                Lie::OtherRange,
                "answered bytes 0-16383 of 100000 with Content-Range \"bytes 0-99999/100000\"",
            ),
            (
                Lie::LongLength,
                "sent more than the 16384 bytes asked for (bytes 0-16383)",
            ),
        ] {
            let (url, task) = liar(data.clone(), lie).await;
            let mirrors = Mirrors::new(vec![url]).unwrap();
            let (msg, idle, peak) = failed_fetch(&mirrors, &t, &dir.path().join("lied")).await;
            assert!(msg.contains(says), "{msg}");
            assert!(peak.saturating_sub(idle) < 100 << 20, "{idle} to {peak}");
            task.abort();
        }
        // Positive control: the same file from an honest mirror.
        let server = MirrorServer::start(&dir.path().join("mirror"), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let dest = dir.path().join("honest");
        let mirrors = Mirrors::new(vec![server.url()]).unwrap();
        mirrors.fetch_file(&t, 0, &dest, &|_| {}).await.unwrap();
        assert!(std::fs::read(&dest).unwrap() == data);
    }
}
