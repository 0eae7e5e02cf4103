//! Trust as rpm and dnf define it, with packages made as a distribution makes them: RPMs from
//! `rpmbuild` signed by `rpmsign` with an RSA 4096 GnuPG key, a feed published and signed by
//! someone else (a mirror operator's key). A package installs when the rpm database of the root
//! it goes into trusts its signer; the feed's key vouches for no package; a feed that names the
//! distribution key's fingerprint refuses packages signed by any other key the root trusts.
//! Feed keys that GnuPG revoked or that expired sign no feed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use swarmdate_core::feed::{KeyPair, RepoKind, SignError, TrustedKeys};
use swarmdate_core::openpgp::{Fingerprint, KeyUnusable};
use swarmdate_core::publish::{MasterOptions, publish_feed, publish_master};
use swarmdate_engine::Engine;

use crate::distro_tools::{Gpg, Spec, rpmbuild};
use crate::packages::rpm;
use crate::support::*;

const DISTRO: &str = "Distro 41 <distro-41@example.org>";
const THIRD: &str = "Third Party <packages@third.example.org>";

/// A mirror of two repositories made with the distribution's tools, its feed published by
/// another key, seeded from 127.0.0.1.
struct RealDistro {
    dir: tempfile::TempDir,
    gpg: Gpg,
    distro_fpr: String,
    third_fpr: String,
    publisher: KeyPair,
    origin: Arc<Engine>,
    _origin_state: tempfile::TempDir,
    _tracker: swarmdate_testkit::tracker::Tracker,
    release_dir: PathBuf,
}

impl RealDistro {
    async fn build() -> RealDistro {
        let tracker = tracker().await;
        let announce = tracker.announce_url();
        let dir = tempfile::tempdir().unwrap();
        let gpg = Gpg::new();
        let distro_fpr = gpg.generate(DISTRO, "rsa4096", "never", None);
        let third_fpr = gpg.generate(THIRD, "ed25519", "never", None);
        let mirror = dir.path().join("mirror");
        let release_dir = mirror.join("releases/41/x86_64");
        let updates_dir = mirror.join("updates/41/x86_64");
        let build = |name: &str, version, folder: &Path, signer| {
            let out = folder.join("Packages").join(&name[..1]);
            let file = rpmbuild(
                &Spec {
                    name,
                    version,
                    release: "1",
                    setuid: false,
                },
                &out,
            );
            gpg.rpmsign(signer, &file);
        };
        build("hello", "1.0", &release_dir, DISTRO);
        build("tool", "1.0", &release_dir, DISTRO);
        build("hello", "2.0", &updates_dir, DISTRO);
        build("tool", "2.0", &updates_dir, THIRD);

        // The feed's publisher is not the distribution: its key signs the feed only.
        let publisher = KeyPair::generate("Mirror Operator <feeds@mirror.example.org>").unwrap();
        let publish = dir.path().join("publish");
        let opts = |kind, id: &str, days| MasterOptions {
            kind,
            id: id.into(),
            name: None,
            piece_length: None,
            trackers: vec![announce.clone()],
            web_seeds: Vec::new(),
            similar: Vec::new(),
            out_dir: publish.clone(),
            date: Some(chrono::Utc::now() - chrono::Duration::days(days)),
            signing_keys: Vec::new(),
            ignore_repodata: false,
        };
        let release =
            publish_master(&release_dir, &opts(RepoKind::Release, "release", 30)).unwrap();
        let updates =
            publish_master(&updates_dir, &opts(RepoKind::Updates, "updates-1", 1)).unwrap();
        let mut spec = feed_spec();
        spec.trackers = vec![announce];
        publish_feed(&publish, &spec, &publisher).unwrap();
        std::fs::write(dir.path().join("publisher.asc"), publisher.public_armored()).unwrap();

        let origin_state = tempfile::tempdir().unwrap();
        let origin = repository_origin(
            origin_state.path(),
            &[(&release, &release_dir), (&updates, &updates_dir)],
        )
        .await;
        RealDistro {
            dir,
            gpg,
            distro_fpr,
            third_fpr,
            publisher,
            origin,
            _origin_state: origin_state,
            _tracker: tracker,
            release_dir,
        }
    }

    fn client(&self) -> UserHome {
        UserHome::of(
            format!(
                "file://{}",
                self.dir.path().join("publish/feed.json").display()
            ),
            self.dir.path().join("publisher.asc"),
        )
    }

    /// A root with the release's builds of `names` installed, trusting the keys of `trusted`.
    fn root(&self, name: &str, names: &[&str], trusted: &[&str]) -> PathBuf {
        let root = self.dir.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        rpm("rpm", &root, &["--initdb"]);
        for fpr in trusted {
            let asc = self.dir.path().join(format!("{fpr}.asc"));
            std::fs::write(&asc, self.gpg.export(fpr)).unwrap();
            rpm("rpm", &root, &["--import", asc.to_str().unwrap()]);
        }
        let files: Vec<String> = names
            .iter()
            .map(|n| {
                self.release_dir
                    .join("Packages")
                    .join(&n[..1])
                    .join(format!("{n}-1.0-1.noarch.rpm"))
                    .display()
                    .to_string()
            })
            .collect();
        let mut args = vec!["-i"];
        args.extend(files.iter().map(String::as_str));
        rpm("rpm", &root, &args);
        root
    }

    /// Signs the feed again with the updates repository naming `keys` for its packages.
    fn name_signing_keys(&self, keys: &[&str]) {
        let path = self.dir.path().join("publish/feed.json");
        let mut feed: swarmdate_core::feed::Feed =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        feed.serial += 1;
        for r in &mut feed.repositories {
            r.signing_keys = keys.iter().map(|k| k.parse().unwrap()).collect();
        }
        let bytes = serde_json::to_vec_pretty(&feed).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let sig = swarmdate_core::feed::sign_detached(&self.publisher, &bytes).unwrap();
        std::fs::write(self.dir.path().join("publish/feed.json.sig"), sig).unwrap();
    }
}

fn packages(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = installed_in(root).into_iter().collect();
    v.sort();
    v
}

async fn update(client: &UserHome, root: &Path) -> Run {
    client
        .run_async(&["update", "--yes", "--root", root.to_str().unwrap()])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_are_trusted_by_the_roots_rpm_keys_not_by_the_feeds() {
    let d = RealDistro::build().await;
    let client = d.client();

    // The root trusts the distribution's key only; tool 2.0 is signed by a third key.
    let a = d.root("a", &["hello", "tool"], &[&d.distro_fpr]);
    let before = packages(&a);
    let run = update(&client, &a).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let third_id = &d.third_fpr[d.third_fpr.len() - 16..];
    let err = run.error();
    assert!(
        err.contains(&format!("tool-2.0-1.noarch is signed by key {third_id}"))
            && err.contains("does not trust")
            && err.contains(&format!(
                "rpm --root {} --dbpath /var/lib/rpm --import",
                a.display()
            )),
        "{err}"
    );
    assert_eq!(
        packages(&a),
        before,
        "nothing of the transaction was installed"
    );

    // Positive control: a root that trusts both signers takes both updates, though neither of
    // their keys is the feed's.
    let b = d.root("b", &["hello", "tool"], &[&d.distro_fpr, &d.third_fpr]);
    let run = update(&client, &b).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = packages(&b);
    assert!(
        after.contains(&"hello-2.0-1.noarch".to_owned()),
        "{after:?}"
    );
    assert!(after.contains(&"tool-2.0-1.noarch".to_owned()), "{after:?}");
    assert!(
        d.origin
            .snapshot()
            .jobs
            .iter()
            .any(|j| j.bytes_uploaded > 0)
    );

    // The feed names the distribution's key: a package signed by another key the root trusts
    // is refused all the same.
    d.name_signing_keys(&[&d.distro_fpr]);
    let c = d.root("c", &["hello", "tool"], &[&d.distro_fpr, &d.third_fpr]);
    let before = packages(&c);
    let run = update(&client, &c).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let err = run.error();
    assert!(
        err.contains(&format!(
            "tool-2.0-1.noarch is signed by key {third_id} ({THIRD})"
        )) && err.contains("the feed does not name"),
        "{err}"
    );
    assert_eq!(packages(&c), before);

    // Positive control under the named key: its own packages install.
    let e = d.root("e", &["hello"], &[&d.distro_fpr]);
    let run = update(&client, &e).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(packages(&e), vec!["hello-2.0-1.noarch".to_owned()]);
}

/// A feed signed with a key GnuPG revoked, or one that expired, is refused; the same feed signed
/// by a valid key passes.
#[test]
fn revoked_and_expired_feed_keys_sign_no_feed() {
    let gpg = Gpg::new();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.json");
    std::fs::write(&feed, br#"{"format":1}"#).unwrap();
    let bytes = std::fs::read(&feed).unwrap();
    let trust = |armored: &str| {
        let mut t = TrustedKeys::default();
        t.add_armored(armored).unwrap();
        t
    };

    // Positive control: a valid key's signature passes.
    let valid = gpg.generate("Valid <valid@example.org>", "ed25519", "never", None);
    let sig = gpg.sign_detached(&valid, &feed, None);
    let fp = trust(&gpg.export(&valid)).verify(&bytes, &sig).unwrap();
    assert_eq!(fp, valid);

    // Revoked after signing: the key as published now carries its revocation.
    let revoked = gpg.generate("Revoked <revoked@example.org>", "ed25519", "never", None);
    let sig = gpg.sign_detached(&revoked, &feed, None);
    let before = gpg.export(&revoked);
    assert!(
        trust(&before).verify(&bytes, &sig).is_ok(),
        "valid before the revocation"
    );
    gpg.revoke(&revoked);
    let err = trust(&gpg.export(&revoked))
        .verify(&bytes, &sig)
        .unwrap_err();
    assert!(
        matches!(&err, SignError::KeyUnusable(KeyUnusable::Revoked { fingerprint, .. })
            if *fingerprint == revoked.parse::<Fingerprint>().unwrap()),
        "{err}"
    );
    assert!(err.to_string().contains("was revoked"), "{err}");

    // Expired: made in 2020, valid for one day, the signature made while it was valid.
    let expired = gpg.generate(
        "Expired <expired@example.org>",
        "ed25519",
        "1d",
        Some("20200101T000000"),
    );
    let sig = gpg.sign_detached(&expired, &feed, Some("20200101T010000"));
    let err = trust(&gpg.export(&expired))
        .verify(&bytes, &sig)
        .unwrap_err();
    assert!(
        matches!(&err, SignError::KeyUnusable(KeyUnusable::Expired { at, .. })
            if at.format("%Y-%m-%d").to_string() == "2020-01-02"),
        "{err}"
    );
}
