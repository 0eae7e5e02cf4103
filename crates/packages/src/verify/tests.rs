//! PackageKeys against packages built and signed in-process with the `rpm` crate: which ones
//! verify, and what each refusal says.

use std::io::Read;
use std::path::{Path, PathBuf};

use pgp::composed::SignedSecretKey;
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PacketTrait, SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, Password, Timestamp};
use rpm::signature::pgp::Signer;

use super::*;
use crate::openpgp::tests::{now_secs, revoked_by, secret_key};

const PAYLOAD: &[u8] = b"the payload of a package made for the signature tests; ";

/// A new signing key for `name` <name@example.org>.
fn key(name: &str) -> SignedSecretKey {
    secret_key(&format!("{name} <{name}@example.org>"), now_secs())
}

/// The armored public half of `key`, as `rpm --import` takes it.
fn public_asc(key: &SignedSecretKey) -> String {
    SignedPublicKey::from(key.clone())
        .to_armored_string(Default::default())
        .unwrap()
}

/// The fingerprint of `key`.
fn fp(key: &SignedSecretKey) -> Fingerprint {
    Fingerprint::of(&SignedPublicKey::from(key.clone()))
}

/// The keys a root at `/srv/root` trusts, given as armored public keys.
fn trusting(keys: &[&SignedSecretKey]) -> PackageKeys {
    let text: String = keys.iter().map(|k| public_asc(k) + "\n").collect();
    PackageKeys::from_armored(Path::new("/srv/root"), &text).unwrap()
}

/// A builder for `name-1.0-1.noarch` holding one file of PAYLOAD, repeated.
fn builder(name: &str) -> rpm::PackageBuilder {
    let config = rpm::BuildConfig::v4()
        .compression(rpm::CompressionType::None)
        .source_date(1_700_000_000u32);
    let mut b = rpm::PackageBuilder::new(name, "1.0", "MIT", "noarch", "A test package");
    b.using_config(config).release("1");
    b.with_file_contents(
        PAYLOAD.repeat(16),
        rpm::FileOptions::new("/usr/share/t/data"),
    )
    .unwrap();
    b
}

/// Writes `pkg` into `dir` under its conventional name.
fn write(dir: &Path, pkg: rpm::Package) -> PathBuf {
    let path = dir.join(format!("{}.rpm", pkg.metadata.get_name().unwrap()));
    let mut bytes = Vec::new();
    pkg.write(&mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `name-1.0-1.noarch`, signed by `key` the way rpm-sign and the rpm crate sign (v4, issuer
/// fingerprint and key id).
fn signed(dir: &Path, name: &str, key: &SignedSecretKey) -> PathBuf {
    let signer = Signer::from_asc(&key.to_armored_string(Default::default()).unwrap()).unwrap();
    write(dir, builder(name).build_and_sign(&signer).unwrap())
}

/// Signs like older gpg and rpm: the signature names its issuer by key id only.
#[derive(Debug)]
struct KeyIdOnly(SignedSecretKey);

impl rpm::signature::Signing for KeyIdOnly {
    type Signature = Vec<u8>;
    fn sign(&self, data: impl Read, t: rpm::Timestamp) -> Result<Vec<u8>, rpm::Error> {
        let key = &self.0.primary_key;
        let mut config = SignatureConfig::v4(
            SignatureType::Binary,
            key.algorithm(),
            HashAlgorithm::Sha256,
        );
        let sign_err = |e: pgp::errors::Error| rpm::Error::SignError(Box::new(e));
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                t.0,
            )))
            .map_err(sign_err)?,
            Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id()))
                .map_err(sign_err)?,
        ];
        let sig = config
            .sign(key, &Password::empty(), data)
            .map_err(sign_err)?;
        let mut bytes = Vec::new();
        sig.to_writer_with_header(&mut bytes).map_err(sign_err)?;
        Ok(bytes)
    }
}

/// The name and version `builder` gives `name`.
fn nevra(name: &str) -> Nevra {
    format!("{name}-1.0-1.noarch").parse().unwrap()
}

#[test]
fn a_package_signed_by_a_trusted_key_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("alice"), key("bob"));
    let keys = trusting(&[&a, &b]);
    assert_eq!(keys.fingerprints(), vec![fp(&a), fp(&b)]);
    let by_a = signed(dir.path(), "hello", &a);
    let by_b = signed(dir.path(), "world", &b);
    assert_eq!(keys.verify(&by_a).unwrap(), nevra("hello"));
    assert_eq!(keys.verify(&by_b).unwrap(), nevra("world"));
    // Naming no key leaves the root's keys as they are; naming one keeps that one.
    assert_eq!(
        keys.restricted_to(&[]).unwrap().verify(&by_a).unwrap(),
        nevra("hello")
    );
    assert_eq!(
        keys.restricted_to(&[fp(&a)])
            .unwrap()
            .verify(&by_a)
            .unwrap(),
        nevra("hello")
    );
}

#[test]
fn a_root_that_trusts_no_key_says_how_to_import_one() {
    let err = PackageKeys::from_armored(Path::new("/"), "").unwrap_err();
    assert!(err.is_trust());
    assert_eq!(
        err.to_string(),
        "the rpm database of / trusts no signing key, so no package can be checked: import your distribution's key (sudo rpm --import KEY-FILE)"
    );
    // A damaged block is no key either.
    let damaged =
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n-----END PGP PUBLIC KEY BLOCK-----\n";
    let err = PackageKeys::from_armored(Path::new("/mnt/sysimage"), damaged).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the rpm database of /mnt/sysimage trusts no signing key, so no package can be checked: import your distribution's key (rpm --root /mnt/sysimage --dbpath /var/lib/rpm --import KEY-FILE)"
    );
    // Beside it, a good key is still read.
    let a = key("alice");
    let keys =
        PackageKeys::from_armored(Path::new("/"), &format!("{damaged}{}", public_asc(&a))).unwrap();
    assert_eq!(keys.fingerprints(), vec![fp(&a)]);
}

#[test]
fn an_unsigned_package_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("alice");
    let keys = trusting(&[&a]);
    let file = write(dir.path(), builder("plain").build().unwrap());
    let err = keys.verify(&file).unwrap_err();
    assert!(matches!(&err, PackageError::Unsigned { .. }), "{err:?}");
    assert!(err.is_trust());
    assert_eq!(
        err.to_string(),
        format!(
            "plain-1.0-1.noarch ({}) is not signed; it was not installed. Only signed packages are installed",
            file.display()
        )
    );
    assert!(keys.verify(&signed(dir.path(), "signed", &a)).is_ok());
}

#[test]
fn a_package_signed_by_a_key_the_root_lacks_is_refused_with_the_import_hint() {
    let dir = tempfile::tempdir().unwrap();
    let (a, stranger) = (key("alice"), key("mallory"));
    let keys = trusting(&[&a]);
    let err = keys
        .verify(&signed(dir.path(), "evil", &stranger))
        .unwrap_err();
    let key_id = fp(&stranger).key_id().to_owned();
    let PackageError::UntrustedKey {
        nevra: n,
        key_id: k,
        root,
        import,
    } = &err
    else {
        panic!("not UntrustedKey: {err:?}");
    };
    assert_eq!(
        (n.as_str(), k.as_str(), root.as_str(), import.as_str()),
        (
            "evil-1.0-1.noarch",
            key_id.as_str(),
            "/srv/root",
            "rpm --root /srv/root --dbpath /var/lib/rpm --import KEY-FILE"
        )
    );
    assert!(err.is_trust());
    assert_eq!(
        err.to_string(),
        format!(
            "evil-1.0-1.noarch is signed by key {key_id}, which the rpm database of /srv/root does not trust; it was not installed. If you trust that key, import it: rpm --root /srv/root --dbpath /var/lib/rpm --import KEY-FILE"
        )
    );
    assert!(keys.verify(&signed(dir.path(), "good", &a)).is_ok());
}

#[test]
fn a_package_signed_by_a_revoked_key_is_refused_and_other_keys_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("alice"), key("bob"));
    let by_a = signed(dir.path(), "hello", &a);
    assert!(
        trusting(&[&a]).verify(&by_a).is_ok(),
        "before the revocation"
    );
    let revoked = revoked_by(&a, &a, "key leaked")
        .to_armored_string(Default::default())
        .unwrap();
    let keys = PackageKeys::from_armored(
        Path::new("/srv/root"),
        &format!("{revoked}\n{}", public_asc(&b)),
    )
    .unwrap();
    let err = keys.verify(&by_a).unwrap_err();
    let PackageError::KeyUnusable { nevra: n, reason } = &err else {
        panic!("not KeyUnusable: {err:?}");
    };
    assert_eq!(n, "hello-1.0-1.noarch");
    assert_eq!(
        reason,
        &KeyUnusable::Revoked {
            fingerprint: fp(&a),
            user_id: "alice <alice@example.org>".into(),
            reason: " (key leaked)".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "hello-1.0-1.noarch is signed by key {} (alice <alice@example.org>) was revoked by its owner (key leaked); it was not installed",
            fp(&a)
        )
    );
    assert!(err.is_trust());
    assert_eq!(
        keys.verify(&signed(dir.path(), "world", &b)).unwrap(),
        nevra("world")
    );
}

#[test]
fn a_trusted_key_the_feed_does_not_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("alice"), key("bob"));
    let keys = trusting(&[&a, &b]).restricted_to(&[fp(&b)]).unwrap();
    let err = keys.verify(&signed(dir.path(), "hello", &a)).unwrap_err();
    let (a_id, b_id) = (fp(&a).key_id().to_owned(), fp(&b).key_id().to_owned());
    let PackageError::NotNamed {
        nevra: n,
        signer,
        root,
        named,
    } = &err
    else {
        panic!("not NotNamed: {err:?}");
    };
    assert_eq!(n, "hello-1.0-1.noarch");
    assert_eq!(signer, &format!("{a_id} (alice <alice@example.org>)"));
    assert_eq!(root, "/srv/root");
    assert_eq!(named, &b_id);
    assert_eq!(
        err.to_string(),
        format!(
            "hello-1.0-1.noarch is signed by key {a_id} (alice <alice@example.org>), which /srv/root trusts but the feed does not name for these packages (it names {b_id}); it was not installed"
        )
    );
    assert!(keys.verify(&signed(dir.path(), "world", &b)).is_ok());
}

#[test]
fn a_signature_that_names_its_key_by_id_only_is_attributed_to_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("alice"), key("bob"));
    let file = write(
        dir.path(),
        builder("old").build_and_sign(KeyIdOnly(a.clone())).unwrap(),
    );
    assert_eq!(trusting(&[&a]).verify(&file).unwrap(), nevra("old"));
    // Refused, the signer is still found by its key id alone, and named.
    let keys = trusting(&[&a, &b]).restricted_to(&[fp(&b)]).unwrap();
    let err = keys.verify(&file).unwrap_err();
    let PackageError::NotNamed { signer, .. } = &err else {
        panic!("not NotNamed: {err:?}");
    };
    assert_eq!(
        signer,
        &format!("{} (alice <alice@example.org>)", fp(&a).key_id())
    );
}

#[test]
fn a_package_altered_after_signing_fails_its_signature_check() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("alice");
    let keys = trusting(&[&a]);
    let file = signed(dir.path(), "hello", &a);
    assert!(keys.verify(&file).is_ok());
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(PAYLOAD.len())
        .position(|w| w == PAYLOAD)
        .expect("the uncompressed payload is in the file");
    bytes[at] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let err = keys.verify(&file).unwrap_err();
    let PackageError::BadSignature {
        nevra: n,
        file: f,
        reason,
    } = &err
    else {
        panic!("not BadSignature: {err:?}");
    };
    assert_eq!(n, "hello-1.0-1.noarch");
    assert_eq!(f, &file.display().to_string());
    let said = format!(
        "signed by key {} (alice <alice@example.org>), but ",
        fp(&a).key_id()
    );
    assert!(reason.starts_with(&said), "{reason}");
    assert!(err.is_trust());
    assert!(
        err.to_string().ends_with(
            "; it was not installed. The package is damaged or was altered after it was signed"
        ),
        "{err}"
    );
}

#[test]
fn reading_failures_are_not_about_trust() {
    let dir = tempfile::tempdir().unwrap();
    let keys = trusting(&[&key("alice")]);
    let junk = dir.path().join("junk.rpm");
    std::fs::write(&junk, b"not an rpm").unwrap();
    let err = keys.verify(&junk).unwrap_err();
    assert!(matches!(&err, PackageError::Unreadable { .. }), "{err:?}");
    assert!(!err.is_trust());
    let keys_err = PackageError::Keys {
        root: "/".into(),
        reason: "cannot run rpm".into(),
    };
    assert!(!keys_err.is_trust());
}

#[test]
fn a_roots_keystore_gives_its_small_key_files_only() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("var/lib/rpm/pubkeys");
    std::fs::create_dir_all(store.join("folder.key")).unwrap();
    let (a, big) = (key("alice"), key("bigfile"));
    std::fs::write(store.join("a.key"), public_asc(&a)).unwrap();
    // Past 1 MiB a file is not taken for a key, whatever it holds.
    let padded = format!("{}\n{}", "#".repeat(1 << 20), public_asc(&big));
    std::fs::write(store.join("b.key"), padded).unwrap();
    let keys = PackageKeys::of_root(root.path()).unwrap();
    assert_eq!(keys.fingerprints(), vec![fp(&a)]);
}
