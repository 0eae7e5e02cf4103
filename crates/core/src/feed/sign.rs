//! OpenPGP keys and detached signatures for feeds. Feed keys sign feeds only: packages are
//! checked against the keys of the rpm database they go into (`packages::PackageKeys`).

use std::path::Path;

use pgp::composed::{
    Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedPublicKey,
    SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

/// Why a signature was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signature file is not an OpenPGP signature.
    #[error("the signature is not a valid OpenPGP signature: {0}")]
    BadSignatureFile(String),
    /// A key file could not be read.
    #[error("cannot read the key {path}: {reason}")]
    BadKey { path: String, reason: String },
    /// No trusted key made this signature.
    #[error(
        "the signature was made by key {issuer}, which is not among the trusted keys ({trusted}); import the distribution's key if you trust it"
    )]
    UntrustedKey { issuer: String, trusted: String },
    /// A trusted key claims the signature, but it does not match the content.
    #[error(
        "the signature by key {issuer} does not match the content: the document was altered or damaged"
    )]
    Mismatch { issuer: String },
    /// The signing key is trusted but revoked or expired: a feed it signs is refused.
    #[error("{0}; the feed it signed is refused: ask the publisher for their current key")]
    KeyUnusable(#[from] crate::openpgp::KeyUnusable),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A signing key with its public half.
#[derive(Clone)]
pub struct KeyPair {
    secret: SignedSecretKey,
}

impl KeyPair {
    /// Generates a new Ed25519 signing key for `user_id` (the demo and tests make their own).
    pub fn generate(user_id: &str) -> Result<Self, SignError> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.into())
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?;
        let secret = params
            .generate(rand::thread_rng())
            .map_err(|e| SignError::Signing(e.to_string()))?;
        Ok(KeyPair { secret })
    }

    /// Reads an armored secret key.
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let bad = |reason: String| SignError::BadKey {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let (secret, _) = SignedSecretKey::from_string(&text).map_err(|e| bad(e.to_string()))?;
        Ok(KeyPair { secret })
    }

    /// The armored secret key.
    pub fn secret_armored(&self) -> String {
        self.secret
            .to_armored_string(Default::default())
            .expect("armoring a key in memory")
    }

    /// The armored public key, to hand to users.
    pub fn public_armored(&self) -> String {
        self.public()
            .to_armored_string(Default::default())
            .expect("armoring a key in memory")
    }

    /// The public key.
    pub fn public(&self) -> SignedPublicKey {
        SignedPublicKey::from(self.secret.clone())
    }

    /// The key's fingerprint in upper-case hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.secret.fingerprint())
    }
}

/// Makes an armored detached signature of `data`.
pub fn sign_detached(key: &KeyPair, data: &[u8]) -> Result<String, SignError> {
    let sig = DetachedSignature::sign_binary_data(
        rand::thread_rng(),
        &key.secret.primary_key,
        &Password::empty(),
        HashAlgorithm::Sha256,
        data,
    )
    .map_err(|e| SignError::Signing(e.to_string()))?;
    sig.to_armored_string(Default::default())
        .map_err(|e| SignError::Signing(e.to_string()))
}

/// The public keys a user trusts.
#[derive(Default, Clone)]
pub struct TrustedKeys {
    keys: Vec<SignedPublicKey>,
}

impl TrustedKeys {
    /// Adds an armored public key read from `path`.
    pub fn add_file(&mut self, path: &Path) -> Result<(), SignError> {
        let text = std::fs::read_to_string(path).map_err(|e| SignError::BadKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.add_armored(&text).map_err(|e| match e {
            SignError::BadKey { reason, .. } => SignError::BadKey {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Adds an armored public key.
    pub fn add_armored(&mut self, text: &str) -> Result<(), SignError> {
        let (key, _) = SignedPublicKey::from_string(text).map_err(|e| SignError::BadKey {
            path: "(inline)".into(),
            reason: e.to_string(),
        })?;
        self.keys.push(key);
        Ok(())
    }

    /// Adds every `*.asc` key in a folder; a missing folder adds none.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), SignError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "asc"))
            .collect();
        paths.sort();
        for p in paths {
            self.add_file(&p)?;
        }
        Ok(())
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks an armored detached signature of `data`; returns the signing key's fingerprint.
    pub fn verify(&self, data: &[u8], armored_sig: &[u8]) -> Result<String, SignError> {
        let (sig, _) = DetachedSignature::from_armor_single(armored_sig)
            .map_err(|e| SignError::BadSignatureFile(e.to_string()))?;
        let issuers: Vec<String> = sig
            .signature
            .issuer_fingerprint()
            .iter()
            .map(|f| format!("{f:X}"))
            .chain(
                sig.signature
                    .issuer_key_id()
                    .iter()
                    .map(|k| hex::encode_upper(k.as_ref())),
            )
            .collect();
        let issuer = issuers
            .first()
            .cloned()
            .unwrap_or_else(|| "(unnamed)".into());
        let mut claimed = false;
        for key in &self.keys {
            let fp = format!("{:X}", key.fingerprint());
            let key_id = hex::encode_upper(key.legacy_key_id().as_ref());
            if !issuers.iter().any(|i| *i == fp || *i == key_id) {
                continue;
            }
            claimed = true;
            if sig.verify(key, data).is_ok() {
                // A revoked or expired key signs nothing any more, whatever it signed before.
                crate::openpgp::check_usable(key, chrono::Utc::now())?;
                return Ok(fp);
            }
        }
        if claimed {
            return Err(SignError::Mismatch { issuer });
        }
        let trusted = self
            .keys
            .iter()
            .map(|k| format!("{:X}", k.fingerprint()))
            .collect::<Vec<_>>()
            .join(", ");
        Err(SignError::UntrustedKey {
            issuer,
            trusted: if trusted.is_empty() {
                "none".into()
            } else {
                trusted
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_only_with_its_key_and_content() {
        let a = KeyPair::generate("A <a@example.org>").unwrap();
        let b = KeyPair::generate("B <b@example.org>").unwrap();
        let sig = sign_detached(&a, b"feed bytes").unwrap();
        let mut trust_a = TrustedKeys::default();
        trust_a.add_armored(&a.public_armored()).unwrap();
        assert_eq!(
            trust_a.verify(b"feed bytes", sig.as_bytes()).unwrap(),
            a.fingerprint()
        );
        assert!(matches!(
            trust_a.verify(b"feed bytez", sig.as_bytes()),
            Err(SignError::Mismatch { .. })
        ));
        let mut trust_b = TrustedKeys::default();
        trust_b.add_armored(&b.public_armored()).unwrap();
        let err = trust_b.verify(b"feed bytes", sig.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(&a.fingerprint()), "{err}");
    }

    #[test]
    fn secret_key_round_trips_through_armor() {
        let a = KeyPair::generate("A <a@example.org>").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.asc");
        std::fs::write(&p, a.secret_armored()).unwrap();
        assert_eq!(KeyPair::load(&p).unwrap().fingerprint(), a.fingerprint());
    }
}
