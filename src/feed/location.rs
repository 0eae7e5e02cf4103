//! Where feeds, torrents and indexes come from: local paths, `file://`, `http(s)://`, and the
//! two-stage `bittorrent://<inner-url>` (fetch the .torrent at the inner URL, then its payload).

use std::path::PathBuf;
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
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// Fetching failed.
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
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

    /// Reads the whole document.
    pub async fn get(&self, loc: &Location) -> Result<Vec<u8>, LocationError> {
        let too_large = || LocationError::TooLarge {
            url: loc.display(),
            limit: self.max_bytes,
        };
        let fail = |reason: String| LocationError::Fetch {
            url: loc.display(),
            reason,
        };
        match loc {
            Location::File(p) => {
                let meta = std::fs::metadata(p).map_err(|e| fail(e.to_string()))?;
                if meta.len() > self.max_bytes {
                    return Err(too_large());
                }
                std::fs::read(p).map_err(|e| fail(e.to_string()))
            }
            Location::Http(u) => {
                let mut resp = self
                    .client
                    .get(u.clone())
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| fail(e.to_string()))?;
                if resp.content_length().is_some_and(|l| l > self.max_bytes) {
                    return Err(too_large());
                }
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > self.max_bytes {
                        return Err(too_large());
                    }
                }
                Ok(body)
            }
        }
    }
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
