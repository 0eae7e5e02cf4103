//! Mirror fallback for repository jobs: a wanted package the swarm does not deliver comes from the
//! mirrors over HTTP range requests (BEP 19 layout: root + torrent name + path), every piece checked
//! against the torrent's piece hash as if a peer had sent it; a bad range is fetched again.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::hash::PieceHash;
use crate::torrent::Torrent;

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

/// What one file's fetch cost.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct MirrorFetch {
    /// Bytes received, refetches included.
    pub received: u64,
    /// Bytes that failed their piece hash and were fetched again.
    pub discarded: u64,
}

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
    ) -> anyhow::Result<MirrorFetch> {
        let f = &torrent.files[file];
        let pl = u64::from(torrent.piece_length);
        anyhow::ensure!(
            f.offset.is_multiple_of(pl),
            "{} does not start on a piece boundary: the mirror's bytes could not be checked alone",
            f.display_path()
        );
        let out = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(dest)
            .with_context(|| format!("creating {}", dest.display()))?;
        out.set_len(f.length)?;
        let first = (f.offset / pl) as u32;
        let pieces = f.length.div_ceil(pl) as u32;
        let mut cost = MirrorFetch::default();
        let mut last_err = None;
        for root in &self.roots {
            let url = Mirrors::url(root, torrent, &f.path);
            match self
                .fetch_from(&url, torrent, first, pieces, f.length, &out, &mut cost)
                .await
            {
                // The store flushes it as it admits it.
                Ok(()) => return Ok(cost),
                Err(e) => last_err = Some(e.context(format!("mirror {url}"))),
            }
        }
        Err(last_err.expect("at least one mirror"))
    }

    /// The whole file in one request, each piece checked as it streams in; pieces that fail are
    /// fetched again one by one.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_from(
        &self,
        url: &str,
        torrent: &Torrent,
        first: u32,
        pieces: u32,
        len: u64,
        out: &std::fs::File,
        cost: &mut MirrorFetch,
    ) -> anyhow::Result<()> {
        let pl = u64::from(torrent.piece_length);
        let mut bad = Vec::new();
        let mut resp = self.get_range(url, 0, len).await?;
        let mut buf: Vec<u8> = Vec::with_capacity(pl as usize);
        let mut k = 0u32;
        while k < pieces {
            let want = (len - u64::from(k) * pl).min(pl) as usize;
            while buf.len() < want {
                let chunk = resp.chunk().await?.with_context(|| {
                    format!(
                        "{url} ended after {} bytes",
                        u64::from(k) * pl + buf.len() as u64
                    )
                })?;
                cost.received += chunk.len() as u64;
                buf.extend_from_slice(&chunk);
            }
            let rest = buf.split_off(want);
            if piece_ok(torrent, first + k, &buf) {
                out.write_all_at(&buf, u64::from(k) * pl)?;
            } else {
                cost.discarded += buf.len() as u64;
                bad.push(k);
            }
            buf = rest;
            k += 1;
        }
        for k in bad {
            let start = u64::from(k) * pl;
            let want = (len - start).min(pl);
            let mut ok = false;
            for _ in 0..PIECE_TRIES {
                let bytes = self.get_range(url, start, want).await?.bytes().await?;
                cost.received += bytes.len() as u64;
                if bytes.len() as u64 == want && piece_ok(torrent, first + k, &bytes) {
                    out.write_all_at(&bytes, start)?;
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

    async fn get_range(
        &self,
        url: &str,
        start: u64,
        len: u64,
    ) -> anyhow::Result<reqwest::Response> {
        let resp = self
            .client
            .get(url)
            .header(
                reqwest::header::RANGE,
                format!("bytes={start}-{}", start + len - 1),
            )
            .send()
            .await?;
        let status = resp.status();
        // A 200 to a range from byte 0 covering the whole file is the same bytes.
        anyhow::ensure!(
            status == reqwest::StatusCode::PARTIAL_CONTENT
                || (status == reqwest::StatusCode::OK && start == 0),
            "answered {status}"
        );
        Ok(resp)
    }
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
