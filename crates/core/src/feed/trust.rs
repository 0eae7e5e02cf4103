//! Trusting a feed: signature, format, expiry and serial (no replay, no silent freeze).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::location::{Fetcher, Location, LocationError};
use super::model::{FORMAT_VERSION, Feed};
use super::sign::{SignError, TrustedKeys};

/// Why a feed was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The signature is missing, bad, or by an untrusted key.
    #[error("feed {url}: {source}")]
    Signature { url: String, source: SignError },
    /// The document is not a v1 feed.
    #[error("feed {url} is not a valid feed: {reason}")]
    Malformed { url: String, reason: String },
    /// The feed has expired.
    #[error(
        "feed {url} expired at {expires}; the publisher has stopped updating it or your clock is wrong"
    )]
    Expired { url: String, expires: DateTime<Utc> },
    /// The feed is older than one already seen.
    #[error(
        "feed {url} has serial {serial}, older than serial {seen} seen before: refusing a replayed feed"
    )]
    Replay { url: String, serial: u64, seen: u64 },
    /// The feed or its signature could not be fetched.
    #[error(transparent)]
    Fetch(#[from] LocationError),
}

impl FeedError {
    /// Whether the refusal is about trust (signature, expiry, replay) rather than availability.
    pub fn is_trust(&self) -> bool {
        !matches!(self, FeedError::Fetch(_))
    }
}

/// A feed whose signature, expiry and serial have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedFeed {
    /// The feed.
    pub feed: Feed,
    /// Where it came from; relative URLs in it resolve against this.
    pub location: Location,
    /// The fingerprint of the key that signed it.
    pub key: String,
}

/// The newest serial seen per signing key and distribution, kept on disk.
#[derive(Debug, Default)]
pub struct SeenSerials {
    path: Option<PathBuf>,
    seen: BTreeMap<String, u64>,
}

impl SeenSerials {
    /// Loads the record at `path` (empty if it does not exist yet).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let seen = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(SeenSerials {
            path: Some(path.to_owned()),
            seen,
        })
    }

    fn key(fingerprint: &str, feed: &Feed) -> String {
        format!(
            "{fingerprint}/{}/{}/{}",
            feed.distribution, feed.release, feed.arch
        )
    }

    /// Records a newly accepted serial and saves it.
    fn record(&mut self, k: String, serial: u64) -> std::io::Result<()> {
        self.seen.insert(k, serial);
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&self.seen)?)?;
        }
        Ok(())
    }
}

/// Checks a feed's bytes against its detached signature, format, expiry and serial.
pub fn verify_feed(
    url: &str,
    bytes: &[u8],
    sig: &[u8],
    trusted: &TrustedKeys,
    seen: &mut SeenSerials,
    now: DateTime<Utc>,
) -> Result<(Feed, String), FeedError> {
    let key = trusted
        .verify(bytes, sig)
        .map_err(|source| FeedError::Signature {
            url: url.into(),
            source,
        })?;
    let malformed = |reason: String| FeedError::Malformed {
        url: url.into(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let format = value.get("format").and_then(|f| f.as_u64());
    if format != Some(FORMAT_VERSION as u64) {
        return Err(malformed(format!(
            "format version {format:?}, this Swarmdate reads version {FORMAT_VERSION}; update Swarmdate"
        )));
    }
    let feed: Feed = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
    if feed.expires <= now {
        return Err(FeedError::Expired {
            url: url.into(),
            expires: feed.expires,
        });
    }
    let k = SeenSerials::key(&key, &feed);
    if let Some(&last) = seen.seen.get(&k)
        && feed.serial < last
    {
        return Err(FeedError::Replay {
            url: url.into(),
            serial: feed.serial,
            seen: last,
        });
    }
    seen.record(k, feed.serial)
        .map_err(|e| malformed(format!("cannot record the serial: {e}")))?;
    Ok((feed, key))
}

/// Fetches a feed and its `.sig` and verifies them.
pub async fn load_verified(
    location: &Location,
    fetcher: &Fetcher,
    trusted: &TrustedKeys,
    seen: &mut SeenSerials,
) -> Result<VerifiedFeed, FeedError> {
    let url = location.display();
    let bytes = fetcher.get(location).await?;
    let sig_loc = match location {
        Location::File(p) => Location::File(PathBuf::from(format!("{}.sig", p.display()))),
        Location::Http(u) => Location::parse(&format!("{u}.sig"))?,
    };
    let sig = fetcher
        .get(&sig_loc)
        .await
        .map_err(|e| FeedError::Signature {
            url: url.clone(),
            source: SignError::BadSignatureFile(format!(
                "no signature at {}: {e}",
                sig_loc.display()
            )),
        })?;
    let (feed, key) = verify_feed(&url, &bytes, &sig, trusted, seen, Utc::now())?;
    Ok(VerifiedFeed {
        feed,
        location: location.clone(),
        key,
    })
}
