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

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;
    use pgp::composed::{KeyType, SecretKeyParamsBuilder, SignedSecretKey};
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::packet::{RevocationCode, SignatureConfig, SignatureType, Subpacket, SubpacketData};
    use pgp::types::{Password, Tag, Timestamp};

    use super::*;

    const V4: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
    const V6: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
    const DAY: u32 = 86_400;

    /// Seconds since the epoch now, as OpenPGP timestamps count them.
    pub(crate) fn now_secs() -> u32 {
        u32::try_from(Utc::now().timestamp()).expect("a date before 2106")
    }

    /// A new Ed25519 signing key for `uid`, created at `created` (seconds since the epoch).
    pub(crate) fn secret_key(uid: &str, created: u32) -> SignedSecretKey {
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .created_at(Timestamp::from_secs(created))
            .primary_user_id(uid.into())
            .build()
            .expect("key parameters")
            .generate(rand::thread_rng())
            .expect("generating an Ed25519 key")
    }

    /// `key` whose user id self-signature is replaced by one that gives it `lifetime` seconds.
    pub(crate) fn with_lifetime(mut key: SignedSecretKey, lifetime: u32) -> SignedSecretKey {
        let signed_at = key.primary_key.created_at().as_secs() + 1;
        let mut config = SignatureConfig::v4(
            SignatureType::CertPositive,
            key.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                signed_at,
            )))
            .unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                key.primary_key.fingerprint(),
            ))
            .unwrap(),
            Subpacket::regular(SubpacketData::KeyExpirationTime(
                pgp::types::Duration::from_secs(lifetime),
            ))
            .unwrap(),
        ];
        let user = &key.details.users[0].id;
        let sig = config
            .sign_certification(
                &key.primary_key,
                key.primary_key.public_key(),
                &Password::empty(),
                Tag::UserId,
                user,
            )
            .expect("certifying the user id");
        key.details.users[0].signatures = vec![sig];
        key
    }

    /// `key`'s public half with a key revocation made by `by` (the key itself, or a forger).
    pub(crate) fn revoked_by(
        key: &SignedSecretKey,
        by: &SignedSecretKey,
        reason: &str,
    ) -> SignedPublicKey {
        let mut config = SignatureConfig::v4(
            SignatureType::KeyRevocation,
            by.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now())).unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                by.primary_key.fingerprint(),
            ))
            .unwrap(),
            Subpacket::regular(SubpacketData::RevocationReason(
                RevocationCode::KeyCompromised,
                reason.to_owned().into_bytes().into(),
            ))
            .unwrap(),
        ];
        let sig = config
            .sign_key(
                &by.primary_key,
                &Password::empty(),
                key.primary_key.public_key(),
            )
            .expect("signing the revocation");
        let mut public = SignedPublicKey::from(key.clone());
        public.details.revocation_signatures.push(sig);
        public
    }

    #[test]
    fn fingerprints_parse_in_both_lengths_and_gpg_spacing() {
        let v4: Fingerprint = V4.parse().unwrap();
        assert_eq!(v4.as_str(), V4);
        assert_eq!(v4.to_string(), V4);
        assert_eq!(v4.key_id(), "89ABCDEF01234567");
        let v6: Fingerprint = V6.parse().unwrap();
        assert_eq!(v6.as_str(), V6);
        assert_eq!(v6.key_id(), "0123456789ABCDEF");
        // gpg's grouped, lower-case form names the same key.
        let spaced: Fingerprint = "0123 4567 89ab cdef 0123  4567 89ab cdef 0123 4567"
            .parse()
            .unwrap();
        assert_eq!(spaced, v4);
    }

    #[test]
    fn other_lengths_and_non_hex_are_not_fingerprints() {
        for bad in [
            "",
            &V4[..39],
            &format!("{V4}0"),
            &V6[..63],
            &"G".repeat(40),
            &"g".repeat(64),
            &format!("{}Z", &V4[..39]),
        ] {
            let err = bad.parse::<Fingerprint>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{bad:?} is not an OpenPGP fingerprint (40 or 64 hex digits)")
            );
        }
    }

    #[test]
    fn a_key_has_its_fingerprint_and_first_user_id() {
        let key = SignedPublicKey::from(secret_key("Test Signer <signer@example.org>", now_secs()));
        let fp = Fingerprint::of(&key);
        assert_eq!(fp.as_str(), format!("{:X}", key.fingerprint()));
        assert_eq!(fp.as_str().len(), 40);
        assert_eq!(
            fp.key_id(),
            key.legacy_key_id().to_string().to_ascii_uppercase(),
            "the key id rpm prints"
        );
        assert_eq!(user_id(&key), "Test Signer <signer@example.org>");
        let mut bare = key;
        bare.details.users.clear();
        assert_eq!(user_id(&bare), "");
    }

    #[test]
    fn a_fresh_key_is_usable_and_a_self_revoked_one_is_not() {
        let secret = secret_key("Revoked <r@example.org>", now_secs());
        let fresh = SignedPublicKey::from(secret.clone());
        assert_eq!(check_usable(&fresh, Utc::now()), Ok(()));
        let revoked = revoked_by(&secret, &secret, "  key leaked \n");
        let err = check_usable(&revoked, Utc::now()).unwrap_err();
        let fingerprint = Fingerprint::of(&fresh);
        assert_eq!(
            err,
            KeyUnusable::Revoked {
                fingerprint: fingerprint.clone(),
                user_id: "Revoked <r@example.org>".into(),
                reason: " (key leaked)".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "key {fingerprint} (Revoked <r@example.org>) was revoked by its owner (key leaked)"
            )
        );
        // A revocation that gives no reason says none, not "()".
        let silent = revoked_by(&secret, &secret, " ");
        assert_eq!(
            check_usable(&silent, Utc::now()).unwrap_err().to_string(),
            format!("key {fingerprint} (Revoked <r@example.org>) was revoked by its owner")
        );
    }

    #[test]
    fn a_revocation_made_by_another_key_is_ignored() {
        let secret = secret_key("Target <t@example.org>", now_secs());
        let forger = secret_key("Forger <f@example.org>", now_secs());
        let forged = revoked_by(&secret, &forger, "forged");
        assert_eq!(check_usable(&forged, Utc::now()), Ok(()));
    }

    #[test]
    fn a_key_expires_at_its_creation_plus_its_lifetime() {
        let created = now_secs() - 10 * DAY;
        let key = SignedPublicKey::from(with_lifetime(
            secret_key("Short <s@example.org>", created),
            DAY,
        ));
        let end = i64::from(created + DAY);
        let at = |t: i64| Utc.timestamp_opt(t, 0).unwrap();
        assert_eq!(check_usable(&key, at(end - 1)), Ok(()), "a second before");
        let expired = KeyUnusable::Expired {
            fingerprint: Fingerprint::of(&key),
            user_id: "Short <s@example.org>".into(),
            at: at(end),
        };
        assert_eq!(check_usable(&key, at(end)), Err(expired.clone()));
        assert_eq!(check_usable(&key, Utc::now()), Err(expired.clone()));
        assert_eq!(
            expired.to_string(),
            format!(
                "key {} (Short <s@example.org>) expired on {}",
                Fingerprint::of(&key),
                at(end)
            )
        );
    }

    #[test]
    fn a_key_within_its_lifetime_or_without_one_is_usable() {
        let created = now_secs() - DAY;
        let long = SignedPublicKey::from(with_lifetime(
            secret_key("Long <l@example.org>", created),
            365 * DAY,
        ));
        assert_eq!(check_usable(&long, Utc::now()), Ok(()));
        // A lifetime of zero is OpenPGP's "does not expire".
        let forever = SignedPublicKey::from(with_lifetime(
            secret_key("Forever <f@example.org>", created),
            0,
        ));
        assert_eq!(check_usable(&forever, Utc::now()), Ok(()));
    }
}
