//! OpenPGP facts both trust rules need (feeds and packages): a key's fingerprint, who it says it
//! is, and whether it may still be used (neither revoked nor expired).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pgp::composed::SignedPublicKey;
use pgp::types::KeyDetails;

/// An OpenPGP key fingerprint (v4: 40 hex digits, v6: 64), kept in upper case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

/// A fingerprint that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an OpenPGP fingerprint (40 or 64 hex digits)")]
pub struct BadFingerprint(String);

impl Fingerprint {
    /// The key's fingerprint.
    pub fn of(key: &SignedPublicKey) -> Self {
        Fingerprint(format!("{:X}", key.fingerprint()))
    }

    /// The 16-digit key id rpm and gpg print (the fingerprint's last 8 bytes, v4 keys).
    pub fn key_id(&self) -> &str {
        &self.0[self.0.len() - 16..]
    }

    /// The fingerprint in upper-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Fingerprint {
    type Err = BadFingerprint;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // gpg prints fingerprints in groups of four; accept that form too.
        let hex: String = s.chars().filter(|c| *c != ' ').collect();
        if (hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Fingerprint(hex.to_ascii_uppercase()))
        } else {
            Err(BadFingerprint(s.to_owned()))
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The key's first user id ("Fedora (43) <fedora-43-primary@fedoraproject.org>"), or "".
pub fn user_id(key: &SignedPublicKey) -> String {
    key.details
        .users
        .first()
        .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
        .unwrap_or_default()
}

/// Why a key may no longer be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyUnusable {
    /// Its owner revoked it.
    #[error("key {fingerprint} ({user_id}) was revoked by its owner{reason}")]
    Revoked {
        fingerprint: Fingerprint,
        user_id: String,
        reason: String,
    },
    /// Its validity period has ended.
    #[error("key {fingerprint} ({user_id}) expired on {at}")]
    Expired {
        fingerprint: Fingerprint,
        user_id: String,
        at: DateTime<Utc>,
    },
}

/// Whether `key` may be used at `now`: no valid revocation signature of its own, and not past
/// the expiry its newest self-signature sets. Signatures that do not verify are ignored, so a
/// forged revocation cannot disable a key and a forged self-signature cannot extend one.
pub fn check_usable(key: &SignedPublicKey, now: DateTime<Utc>) -> Result<(), KeyUnusable> {
    let fingerprint = Fingerprint::of(key);
    let user_id = user_id(key);
    if let Some(rev) = key
        .details
        .revocation_signatures
        .iter()
        .find(|s| s.verify_key(&key.primary_key).is_ok())
    {
        let reason = rev
            .revocation_reason_string()
            .map(|r| String::from_utf8_lossy(r).trim().to_owned())
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return Err(KeyUnusable::Revoked {
            fingerprint,
            user_id,
            reason,
        });
    }
    // The newest valid self-signature (user binding or direct key signature) says how long the
    // key lives; none with an expiry means it does not expire.
    let primary = &key.primary_key;
    let newest = key
        .details
        .users
        .iter()
        .flat_map(|u| {
            u.signatures.iter().filter(move |s| {
                s.verify_certification(primary, pgp::types::Tag::UserId, &u.id)
                    .is_ok()
            })
        })
        .chain(
            key.details
                .direct_signatures
                .iter()
                .filter(|s| s.verify_key(primary).is_ok()),
        )
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0));
    let lifetime = newest
        .and_then(|s| s.key_expiration_time())
        .map(std::time::Duration::from)
        .filter(|d| !d.is_zero());
    if let Some(lifetime) = lifetime {
        let created = i64::from(primary.created_at().as_secs());
        let end = created + lifetime.as_secs() as i64;
        if now.timestamp() >= end {
            return Err(KeyUnusable::Expired {
                fingerprint,
                user_id,
                at: DateTime::from_timestamp(end, 0).unwrap_or_default(),
            });
        }
    }
    Ok(())
}
