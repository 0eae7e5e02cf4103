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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::feed::sign::{KeyPair, sign_detached};

    /// A fixed clock, so expiry boundaries are exact rather than racing the real one.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    fn feed(serial: u64) -> Feed {
        Feed {
            format: FORMAT_VERSION,
            serial,
            expires: now() + Duration::days(7),
            refresh_interval_secs: 3600,
            distribution: "Fedora".into(),
            release: "41".into(),
            arch: "x86_64".into(),
            repositories: Vec::new(),
            isos: Vec::new(),
            web_seeds: Vec::new(),
            trackers: Vec::new(),
        }
    }

    fn key(name: &str) -> KeyPair {
        KeyPair::generate(&format!("{name} <{name}@example.org>")).unwrap()
    }

    fn trusting(keys: &[&KeyPair]) -> TrustedKeys {
        let mut t = TrustedKeys::default();
        for k in keys {
            t.add_armored(&k.public_armored()).unwrap();
        }
        t
    }

    /// Signs any JSON document, so malformed feeds carry a good signature and reach the format check.
    fn signed_json(key: &KeyPair, doc: &serde_json::Value) -> (Vec<u8>, Vec<u8>) {
        let bytes = serde_json::to_vec(doc).unwrap();
        let sig = sign_detached(key, &bytes).unwrap().into_bytes();
        (bytes, sig)
    }

    fn check(
        key: &KeyPair,
        trusted: &TrustedKeys,
        seen: &mut SeenSerials,
        f: &Feed,
    ) -> Result<(Feed, String), FeedError> {
        let (bytes, sig) = signed_json(key, &serde_json::to_value(f).unwrap());
        verify_feed(
            "https://example.org/feed.json",
            &bytes,
            &sig,
            trusted,
            seen,
            now(),
        )
    }

    fn replay(r: Result<(Feed, String), FeedError>) -> (u64, u64, String) {
        match r {
            Err(e @ FeedError::Replay { serial, seen, .. }) => (serial, seen, e.to_string()),
            other => panic!("expected a replay refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_fetch_failures_are_not_about_trust() {
        let url = String::from("u");
        let trust = [
            FeedError::Signature {
                url: url.clone(),
                source: SignError::Mismatch { issuer: "X".into() },
            },
            FeedError::Malformed {
                url: url.clone(),
                reason: "r".into(),
            },
            FeedError::Expired {
                url: url.clone(),
                expires: now(),
            },
            FeedError::Replay {
                url: url.clone(),
                serial: 1,
                seen: 2,
            },
        ];
        for e in &trust {
            assert!(e.is_trust(), "{e:?}");
        }
        let fetch = FeedError::from(LocationError::Fetch {
            url,
            reason: "connection refused".into(),
        });
        assert!(!fetch.is_trust());
    }

    #[test]
    fn an_accepted_feed_is_returned_and_its_serial_saved_per_key_and_release() {
        let a = key("a");
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist yet: the first accepted feed creates it.
        let path = dir.path().join("state").join("serials.json");
        let mut seen = SeenSerials::load(&path).unwrap();
        let (got, fp) = check(&a, &trusting(&[&a]), &mut seen, &feed(7)).unwrap();
        assert_eq!(got, feed(7));
        assert_eq!(fp, a.fingerprint());
        let saved: BTreeMap<String, u64> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let want = BTreeMap::from([(format!("{}/Fedora/41/x86_64", a.fingerprint()), 7)]);
        assert_eq!(saved, want);
    }

    #[test]
    fn an_equal_or_newer_serial_passes_and_an_older_one_is_a_replay() {
        let a = key("a");
        let trusted = trusting(&[&a]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serials.json");
        let mut seen = SeenSerials::load(&path).unwrap();
        check(&a, &trusted, &mut seen, &feed(7)).unwrap();
        // The same feed fetched again is no replay.
        check(&a, &trusted, &mut seen, &feed(7)).unwrap();
        let (serial, last, msg) = replay(check(&a, &trusted, &mut seen, &feed(6)));
        assert_eq!((serial, last), (6, 7));
        assert!(msg.contains("serial 6, older than serial 7"), "{msg}");
        assert!(msg.contains("refusing a replayed feed"), "{msg}");
        check(&a, &trusted, &mut seen, &feed(8)).unwrap();
        assert_eq!(replay(check(&a, &trusted, &mut seen, &feed(7))).1, 8);

        // The record survives a restart: a fresh load refuses what the old one refused.
        let mut reloaded = SeenSerials::load(&path).unwrap();
        assert_eq!(
            replay(check(&a, &trusted, &mut reloaded, &feed(7))).0,
            7,
            "serial 8 was saved"
        );
        check(&a, &trusted, &mut reloaded, &feed(8)).unwrap();
    }

    #[test]
    fn serials_of_other_keys_distributions_releases_and_arches_are_independent() {
        let (a, b) = (key("a"), key("b"));
        let trusted = trusting(&[&a, &b]);
        let mut seen = SeenSerials::default();
        check(&a, &trusted, &mut seen, &feed(10)).unwrap();
        // Positive control: the same key and release with an older serial is a replay...
        replay(check(&a, &trusted, &mut seen, &feed(1)));
        // ...but each other key, distribution, release or arch has a record of its own.
        check(&b, &trusted, &mut seen, &feed(1)).unwrap();
        let variants: [fn(&mut Feed); 3] = [
            |f| f.distribution = "Other".into(),
            |f| f.release = "42".into(),
            |f| f.arch = "aarch64".into(),
        ];
        for change in variants {
            let mut f = feed(1);
            change(&mut f);
            check(&a, &trusted, &mut seen, &f).unwrap();
        }
    }

    #[test]
    fn only_a_missing_record_loads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let a = key("a");
        let mut fresh = SeenSerials::load(&dir.path().join("absent.json")).unwrap();
        check(&a, &trusting(&[&a]), &mut fresh, &feed(1)).unwrap();
        // A record that exists but cannot be read must not be mistaken for "nothing seen yet":
        // that would reopen every replay.
        let err = SeenSerials::load(dir.path()).unwrap_err();
        assert_ne!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_serial_that_cannot_be_saved_refuses_the_feed() {
        let a = key("a");
        let trusted = trusting(&[&a]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"").unwrap();
        let mut seen = SeenSerials {
            path: Some(file.join("serials.json")),
            seen: BTreeMap::new(),
        };
        match check(&a, &trusted, &mut seen, &feed(1)) {
            Err(FeedError::Malformed { reason, .. }) => {
                assert!(reason.starts_with("cannot record the serial: "), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Positive control: the same feed with a record kept in memory only.
        check(&a, &trusted, &mut SeenSerials::default(), &feed(1)).unwrap();
    }

    #[test]
    fn a_feed_is_refused_from_the_instant_it_expires() {
        let a = key("a");
        let trusted = trusting(&[&a]);
        let mut seen = SeenSerials::default();
        for expires in [now(), now() - Duration::seconds(1)] {
            let mut f = feed(100);
            f.expires = expires;
            match check(&a, &trusted, &mut seen, &f) {
                Err(e @ FeedError::Expired { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("expired at {expires}")), "{msg}");
                    assert!(msg.contains("your clock is wrong"), "{msg}");
                }
                other => panic!("expected an expiry refusal, got {other:?}"),
            }
        }
        let mut f = feed(1);
        f.expires = now() + Duration::seconds(1);
        // Accepted, and serial 1 passes: the expired feed's serial 100 was never recorded.
        check(&a, &trusted, &mut seen, &f).unwrap();
    }

    #[test]
    fn only_format_version_1_is_read() {
        let a = key("a");
        let trusted = trusting(&[&a]);
        let mut seen = SeenSerials::default();
        let malformed = |doc: serde_json::Value, seen: &mut SeenSerials| {
            let (bytes, sig) = signed_json(&a, &doc);
            match verify_feed("f", &bytes, &sig, &trusted, seen, now()) {
                Err(e @ FeedError::Malformed { .. }) => e.to_string(),
                other => panic!("expected a malformed-feed refusal, got {other:?}"),
            }
        };
        let mut doc = serde_json::to_value(feed(1)).unwrap();
        doc["format"] = 2.into();
        let msg = malformed(doc.clone(), &mut seen);
        assert!(msg.contains("format version Some(2)"), "{msg}");
        assert!(msg.contains("reads version 1; update Swarmdate"), "{msg}");
        doc.as_object_mut().unwrap().remove("format");
        assert!(malformed(doc, &mut seen).contains("format version None"));
        let msg = malformed(serde_json::json!({"format": 1}), &mut seen);
        assert!(
            msg.starts_with("feed f is not a valid feed: missing field"),
            "{msg}"
        );
        // Positive control: version 1, same key, same record.
        check(&a, &trusted, &mut seen, &feed(1)).unwrap();
    }

    #[test]
    fn a_signature_by_an_untrusted_key_or_over_other_bytes_is_refused() {
        let (a, b) = (key("a"), key("b"));
        let trusted = trusting(&[&a]);
        let mut seen = SeenSerials::default();
        match check(&b, &trusted, &mut seen, &feed(1)) {
            Err(FeedError::Signature {
                source: SignError::UntrustedKey { .. },
                ..
            }) => {}
            other => panic!("expected an untrusted-key refusal, got {other:?}"),
        }
        let (mut bytes, sig) = signed_json(&a, &serde_json::to_value(feed(1)).unwrap());
        bytes.push(b' ');
        match verify_feed("f", &bytes, &sig, &trusted, &mut seen, now()) {
            Err(FeedError::Signature {
                source: SignError::Mismatch { .. },
                ..
            }) => {}
            other => panic!("expected a mismatch refusal, got {other:?}"),
        }
        check(&a, &trusted, &mut seen, &feed(1)).unwrap();
    }
}
