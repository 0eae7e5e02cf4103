//! Where feeds, torrents and indexes come from: local paths, `file://`, `http(s)://`, and the
//! two-stage `bittorrent://<inner-url>` (fetch the .torrent at the inner URL, then its payload).

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

/// A place to fetch a document from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    File(PathBuf),
    /// An HTTP or HTTPS URL.
    Http(Url),
}

/// A URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The scheme is not one we fetch from.
    #[error("unsupported URL scheme {scheme:?} in {url:?}: use http, https or file")]
    UnsupportedScheme { scheme: String, url: String },
    /// Not a URL or path.
    #[error("{url:?} is not a valid URL: {reason}")]
    Invalid { url: String, reason: String },
    /// The document is larger than allowed.
    #[error(
        "{url} is larger than {limit} bytes, the most read for a feed, torrent or index: check that it names one"
    )]
    TooLarge { url: String, limit: u64 },
    /// Fetching failed.
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    /// A local path names something other than a regular file (a device, a pipe, a folder).
    #[error(
        "{path} is a {kind}, not a regular file: only files are read; save the document to a file and give its path"
    )]
    NotAFile { path: String, kind: &'static str },
}

/// The `bittorrent://` prefix of two-stage URLs.
pub const BITTORRENT_PREFIX: &str = "bittorrent://";

impl Location {
    /// Parses a URL or local path. `bittorrent://` is stripped by [`Location::parse_torrent_ref`].
    pub fn parse(s: &str) -> Result<Self, LocationError> {
        if !s.contains("://") {
            return Ok(Location::File(PathBuf::from(s)));
        }
        let url = Url::parse(s).map_err(|e| LocationError::Invalid {
            url: s.into(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => Ok(Location::Http(url)),
            "file" => url
                .to_file_path()
                .map(Location::File)
                .map_err(|_| LocationError::Invalid {
                    url: s.into(),
                    reason: "not a local file path".into(),
                }),
            other => Err(LocationError::UnsupportedScheme {
                scheme: other.into(),
                url: s.into(),
            }),
        }
    }

    /// Parses what `swarmdate get` accepts: a path, a URL, or `bittorrent://<inner-url>` whose
    /// inner URL is taken verbatim. Returns the location of the .torrent.
    pub fn parse_torrent_ref(s: &str) -> Result<Self, LocationError> {
        match s.strip_prefix(BITTORRENT_PREFIX) {
            Some(inner) if inner.contains("://") => Self::parse(inner),
            Some(inner) => Err(LocationError::UnsupportedScheme {
                scheme: inner.split(':').next().unwrap_or(inner).into(),
                url: s.into(),
            }),
            None => Self::parse(s),
        }
    }

    /// Resolves `rel` (a URL or a path relative to this document) against this location.
    pub fn join(&self, rel: &str) -> Result<Self, LocationError> {
        if rel.contains("://") {
            return Self::parse(rel);
        }
        match self {
            Location::File(p) => Ok(Location::File(crate::fsutil::parent_dir(p).join(rel))),
            Location::Http(u) => {
                u.join(rel)
                    .map(Location::Http)
                    .map_err(|e| LocationError::Invalid {
                        url: rel.into(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// The location as a string for messages.
    pub fn display(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Http(u) => u.to_string(),
        }
    }
}

/// Fetches documents with a size limit and a timeout.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// The largest document accepted.
    pub max_bytes: u64,
}

impl Fetcher {
    /// A fetcher with the given size limit and per-request timeout.
    pub fn new(max_bytes: u64, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Swarmdate/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("building an HTTP client");
        Fetcher { client, max_bytes }
    }

    /// Reads the whole document (at most the fetcher's size limit).
    pub async fn get(&self, loc: &Location) -> Result<Vec<u8>, LocationError> {
        self.get_limited(loc, self.max_bytes).await
    }

    /// Reads the whole document, refused past `limit` bytes (a document known to be small, such
    /// as a repository's `repomd.xml`, gets a bound of its own).
    pub async fn get_limited(&self, loc: &Location, limit: u64) -> Result<Vec<u8>, LocationError> {
        let too_large = || LocationError::TooLarge {
            url: loc.display(),
            limit,
        };
        let fail = |reason: String| LocationError::Fetch {
            url: loc.display(),
            reason,
        };
        match loc {
            Location::File(p) => read_local(p, limit),
            Location::Http(u) => {
                let mut resp = self.request(loc, u, limit).await?;
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > limit {
                        return Err(too_large());
                    }
                }
                Ok(body)
            }
        }
    }
}

impl Fetcher {
    /// A successful response for `u` (of `loc`), refused when it announces more than `limit`
    /// bytes; its body is for the caller to read within that bound.
    async fn request(
        &self,
        loc: &Location,
        u: &Url,
        limit: u64,
    ) -> Result<reqwest::Response, LocationError> {
        let resp = self
            .client
            .get(u.clone())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| LocationError::Fetch {
                url: loc.display(),
                reason: e.to_string(),
            })?;
        if resp.content_length().is_some_and(|l| l > limit) {
            return Err(LocationError::TooLarge {
                url: loc.display(),
                limit,
            });
        }
        Ok(resp)
    }

    /// Saves the document at `loc` to `dest` (created or truncated), refusing it past `limit`
    /// bytes; streamed, so a large package is never held in memory. Returns its length.
    pub async fn save(
        &self,
        loc: &Location,
        dest: &Path,
        limit: u64,
    ) -> Result<u64, LocationError> {
        use std::io::Write;
        let too_large = || LocationError::TooLarge {
            url: loc.display(),
            limit,
        };
        let fail = |reason: String| LocationError::Fetch {
            url: loc.display(),
            reason,
        };
        let write_fail = |e: std::io::Error| fail(format!("writing {}: {e}", dest.display()));
        let mut out = std::fs::File::create(dest).map_err(write_fail)?;
        let mut len = 0u64;
        match loc {
            Location::File(p) => {
                let meta = std::fs::metadata(p).map_err(|e| fail(e.to_string()))?;
                if !meta.is_file() {
                    return Err(fail("not a regular file".into()));
                }
                if meta.len() > limit {
                    return Err(too_large());
                }
                let src = std::fs::File::open(p).map_err(|e| fail(e.to_string()))?;
                len = std::io::copy(&mut src.take(limit + 1), &mut out).map_err(write_fail)?;
                if len > limit {
                    return Err(too_large());
                }
            }
            Location::Http(u) => {
                let mut resp = self.request(loc, u, limit).await?;
                while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
                    len += chunk.len() as u64;
                    if len > limit {
                        return Err(too_large());
                    }
                    out.write_all(&chunk).map_err(write_fail)?;
                }
            }
        }
        out.flush().map_err(write_fail)?;
        Ok(len)
    }
}

/// Reads the regular file at `p`, at most `limit` bytes. It is opened without blocking (a FIFO
/// would wait for a writer) and checked on the open descriptor, so a device or pipe is named and
/// refused rather than read without end.
fn read_local(p: &Path, limit: u64) -> Result<Vec<u8>, LocationError> {
    let fail = |e: std::io::Error| LocationError::Fetch {
        url: p.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(p)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "folder"
        } else if t.is_fifo() {
            "named pipe (FIFO)"
        } else if t.is_char_device() {
            "character device"
        } else if t.is_block_device() {
            "block device"
        } else if t.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(LocationError::NotAFile {
            path: p.display().to_string(),
            kind,
        });
    }
    let too_large = || LocationError::TooLarge {
        url: p.display().to_string(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    // The file may grow after the check: one byte past the limit is enough to know.
    let mut body = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut body).map_err(fail)?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_stage_urls_take_the_inner_url_verbatim() {
        let l = Location::parse_torrent_ref("bittorrent://https://example.org/a/x.torrent?b=1")
            .unwrap();
        assert_eq!(
            l,
            Location::Http(Url::parse("https://example.org/a/x.torrent?b=1").unwrap())
        );
        let l = Location::parse_torrent_ref("bittorrent://file:///tmp/x.torrent").unwrap();
        assert_eq!(l, Location::File("/tmp/x.torrent".into()));
        assert_eq!(
            Location::parse_torrent_ref("/tmp/x.torrent").unwrap(),
            Location::File("/tmp/x.torrent".into())
        );
    }

    #[test]
    fn unsupported_inner_schemes_are_named() {
        for bad in [
            "bittorrent://ftp://example.org/x.torrent",
            "bittorrent://gopher://h/x",
            "magnet://x",
        ] {
            let err = Location::parse_torrent_ref(bad).unwrap_err();
            assert!(
                matches!(err, LocationError::UnsupportedScheme { .. }),
                "{bad}"
            );
        }
        let err =
            Location::parse_torrent_ref("bittorrent://ftp://example.org/x.torrent").unwrap_err();
        assert!(err.to_string().contains("\"ftp\""), "{err}");
    }

    #[test]
    fn relative_references_resolve_against_the_feed() {
        let base = Location::parse("https://example.org/feeds/feed.json").unwrap();
        assert_eq!(
            base.join("isos/a.torrent").unwrap().display(),
            "https://example.org/feeds/isos/a.torrent"
        );
        let base = Location::File("/srv/feed/feed.json".into());
        assert_eq!(
            base.join("a.torrent").unwrap(),
            Location::File("/srv/feed/a.torrent".into())
        );
    }
}
