//! Signature checks of packages, the way rpm and dnf make them (`gpgcheck`): every package must be
//! signed by a key that the rpm database of the root it goes into has imported (`gpg-pubkey`,
//! `rpm --import`), and where the feed names the keys a repository's packages are signed with,
//! by one of those. Feed keys sign feeds only; they vouch for no package.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable, SignedPublicKey};
use rpm::signature::pgp::Verifier;

use super::evr::Nevra;
use super::inventory::{DB_PATH, nevra_of};
use crate::openpgp::{Fingerprint, KeyUnusable, check_usable, user_id};

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file is not an RPM package.
    #[error("{file} is not a readable RPM package: {reason}")]
    Unreadable { file: String, reason: String },
    /// The package carries no signature at all.
    #[error(
        "{nevra} ({file}) is not signed; it was not installed. Only signed packages are installed"
    )]
    Unsigned { nevra: String, file: String },
    /// Signed by a key the root does not trust.
    #[error(
        "{nevra} is signed by key {key_id}, which the rpm database of {root} does not trust; it was not installed. If you trust that key, import it: {import}"
    )]
    UntrustedKey {
        nevra: String,
        key_id: String,
        root: String,
        import: String,
    },
    /// Signed by a key the root trusts, but not one the feed names for this repository.
    #[error(
        "{nevra} is signed by key {signer}, which {root} trusts but the feed does not name for these packages (it names {named}); it was not installed"
    )]
    NotNamed {
        nevra: String,
        /// Key id and user id.
        signer: String,
        root: String,
        named: String,
    },
    /// Signed by a trusted key that was revoked or has expired.
    #[error("{nevra} is signed by {reason}; it was not installed")]
    KeyUnusable {
        nevra: String,
        #[source]
        reason: KeyUnusable,
    },
    /// A trusted key claims the signature, but it does not match the package's bytes.
    #[error(
        "{nevra} ({file}) failed its signature check: {reason}; it was not installed. The package is damaged or was altered after it was signed"
    )]
    BadSignature {
        nevra: String,
        file: String,
        reason: String,
    },
    /// The root trusts no key (none imported), so nothing can be checked.
    #[error(
        "the rpm database of {root} trusts no signing key, so no package can be checked: import your distribution's key ({import})"
    )]
    NoKeys { root: String, import: String },
    /// The root's keys could not be read.
    #[error("cannot read the keys the rpm database of {root} trusts: {reason}")]
    Keys { root: String, reason: String },
}

impl PackageError {
    /// Whether this refusal is about trust (a signature), not about reading a file.
    pub fn is_trust(&self) -> bool {
        !matches!(
            self,
            PackageError::Unreadable { .. } | PackageError::Keys { .. }
        )
    }
}

/// The command that imports a key into `root`'s rpm database, for messages.
fn import_command(root: &Path) -> String {
    if root == Path::new("/") {
        "sudo rpm --import KEY-FILE".into()
    } else {
        format!(
            "rpm --root {} --dbpath {DB_PATH} --import KEY-FILE",
            root.display()
        )
    }
}

/// The keys packages going into one root are checked against.
#[derive(Clone, Debug)]
pub struct PackageKeys {
    root: PathBuf,
    /// Every key the root has imported, usable or not (to name a signer in a refusal).
    keys: Vec<SignedPublicKey>,
    /// The fingerprints the feed names for the packages, if it names any.
    named: Option<BTreeSet<Fingerprint>>,
    /// The usable, root-trusted (and named) keys, loaded for checking.
    verifier: Verifier,
    allowed: usize,
}

impl PackageKeys {
    /// The keys `root`'s rpm database trusts: its `gpg-pubkey` entries, as `rpm -q gpg-pubkey`
    /// lists them, and the armored keys of rpm's file keystore (`pubkeys/` in the database
    /// folder) where the root's rpm keeps them there (docs/platform.md §8).
    pub fn of_root(root: &Path) -> Result<Self, PackageError> {
        let bad = |reason: String| PackageError::Keys {
            root: root.display().to_string(),
            reason,
        };
        let out = super::tool::clean_command("rpm")
            .arg("--root")
            .arg(root)
            .args([
                "--dbpath",
                DB_PATH,
                "-q",
                "gpg-pubkey",
                "--qf",
                "%{DESCRIPTION}\n",
            ])
            .output()
            .map_err(|e| bad(format!("cannot run rpm ({e}); install rpm")))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        let keystore = root.join(DB_PATH.trim_start_matches('/')).join("pubkeys");
        if let Ok(entries) = std::fs::read_dir(&keystore) {
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                // Keys are small; anything else in that folder is not one.
                let is_key =
                    std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() <= 1 << 20);
                if is_key && let Ok(asc) = std::fs::read_to_string(&p) {
                    text.push_str(&asc);
                    text.push('\n');
                }
            }
        }
        Self::from_armored(root, &text)
    }

    /// Keys given as armored text (several blocks may follow one another), as trusted by `root`.
    pub fn from_armored(root: &Path, text: &str) -> Result<Self, PackageError> {
        const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
        let mut keys = Vec::new();
        for block in text.split_inclusive(END).filter(|b| b.contains(END)) {
            let Some(start) = block.find("-----BEGIN PGP PUBLIC KEY BLOCK-----") else {
                continue;
            };
            // One damaged entry must not hide the others; rpm skips it too.
            if let Ok((key, _)) = SignedPublicKey::from_string(&block[start..]) {
                keys.push(key);
            }
        }
        let mut me = PackageKeys {
            root: root.to_owned(),
            keys,
            named: None,
            verifier: Verifier::new(),
            allowed: 0,
        };
        me.load_verifier()?;
        Ok(me)
    }

    /// Only keys the feed names (by fingerprint) may sign the packages; the root must still
    /// trust them. An empty list names none, and leaves the root's keys as they are.
    pub fn restricted_to(&self, named: &[Fingerprint]) -> Result<Self, PackageError> {
        if named.is_empty() {
            return Ok(self.clone());
        }
        let mut me = self.clone();
        me.named = Some(named.iter().cloned().collect());
        me.load_verifier()?;
        Ok(me)
    }

    /// The fingerprints of the keys the root trusts.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.keys.iter().map(Fingerprint::of).collect()
    }

    fn load_verifier(&mut self) -> Result<(), PackageError> {
        if self.keys.is_empty() {
            return Err(PackageError::NoKeys {
                root: self.root.display().to_string(),
                import: import_command(&self.root),
            });
        }
        let now = chrono::Utc::now();
        let mut verifier = Verifier::new();
        let mut allowed = 0;
        for key in &self.keys {
            let named = self
                .named
                .as_ref()
                .is_none_or(|n| n.contains(&Fingerprint::of(key)));
            if !named || check_usable(key, now).is_err() {
                continue;
            }
            let armored =
                key.to_armored_string(Default::default())
                    .map_err(|e| PackageError::Keys {
                        root: self.root.display().to_string(),
                        reason: e.to_string(),
                    })?;
            // A key the rpm crate cannot use (say an algorithm it lacks) cannot vouch for a package.
            if verifier.load_from_asc(&armored).is_ok() {
                allowed += 1;
            }
        }
        self.verifier = verifier;
        self.allowed = allowed;
        Ok(())
    }

    /// Checks the header signature and, through the digests it covers, the whole payload. A
    /// header-only check would accept a package with a tampered payload.
    pub fn verify(&self, file: &Path) -> Result<Nevra, PackageError> {
        let shown = file.display().to_string();
        // The rpm crate (0.30.2) panics on some damaged headers (found by fuzzing: slice indexes
        // past the header's data, while parsing and while reading the signature entries); a
        // damaged download must be an error, not a crash.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.check(file, &shown)))
            .unwrap_or_else(|_| {
                Err(PackageError::Unreadable {
                    file: shown.clone(),
                    reason: "its header is damaged".into(),
                })
            })
    }

    fn check(&self, file: &Path, shown: &str) -> Result<Nevra, PackageError> {
        let unreadable = |reason: String| PackageError::Unreadable {
            file: shown.to_owned(),
            reason,
        };
        super::header_check::check(file).map_err(unreadable)?;
        let pkg = rpm::Package::open(file).map_err(|e| unreadable(e.to_string()))?;
        let nevra = nevra_of(&pkg.metadata).map_err(|e| unreadable(e.to_string()))?;
        let signers: Vec<(Option<String>, Option<String>)> = pkg
            .signatures()
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s.fingerprint().map(str::to_ascii_uppercase),
                    s.key_id().map(str::to_ascii_uppercase),
                )
            })
            .collect();
        if signers.is_empty() {
            return Err(PackageError::Unsigned {
                nevra: nevra.to_string(),
                file: shown.to_owned(),
            });
        }
        if self.allowed > 0 && pkg.verify_signature(&self.verifier).is_ok() {
            return Ok(nevra);
        }
        Err(self.refusal(&pkg, &nevra, shown, &signers))
    }

    /// Says why a package whose signature did not pass was refused: who signed it, and what to do.
    fn refusal(
        &self,
        pkg: &rpm::Package,
        nevra: &Nevra,
        shown: &str,
        signers: &[(Option<String>, Option<String>)],
    ) -> PackageError {
        let root = self.root.display().to_string();
        let (fp, kid) = &signers[0];
        let signer = self.keys.iter().find(|k| {
            let f = Fingerprint::of(k);
            fp.as_deref() == Some(f.as_str()) || kid.as_deref() == Some(f.key_id())
        });
        let key_id = fp
            .as_deref()
            .map(|f| f[f.len().saturating_sub(16)..].to_owned())
            .or_else(|| kid.clone())
            .unwrap_or_else(|| "(unnamed)".into());
        let Some(key) = signer else {
            return PackageError::UntrustedKey {
                nevra: nevra.to_string(),
                key_id,
                root,
                import: import_command(&self.root),
            };
        };
        let uid = format!(" ({})", user_id(key));
        if let Err(reason) = check_usable(key, chrono::Utc::now()) {
            return PackageError::KeyUnusable {
                nevra: nevra.to_string(),
                reason,
            };
        }
        if let Some(named) = &self.named
            && !named.contains(&Fingerprint::of(key))
        {
            return PackageError::NotNamed {
                nevra: nevra.to_string(),
                signer: format!("{key_id}{uid}"),
                root,
                named: named
                    .iter()
                    .map(|f| f.key_id().to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
        }
        let reason = pkg
            .verify_signature(&self.verifier)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "the signature does not match".into());
        PackageError::BadSignature {
            nevra: nevra.to_string(),
            file: shown.to_owned(),
            reason: format!("signed by key {key_id}{uid}, but {reason}"),
        }
    }
}

#[cfg(test)]
mod tests;
