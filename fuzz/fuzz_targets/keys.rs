//! The keys a root trusts are read from its rpm database as armored text (`rpm -q gpg-pubkey`,
//! or rpm's file keystore): damaged, truncated or hostile key blocks must be skipped or refused,
//! never a panic, and whether a key is usable (revoked, expired) is decided without one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmdate_core::packages::PackageKeys;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(keys) = PackageKeys::from_armored(std::path::Path::new("/"), &text) {
        for f in keys.fingerprints() {
            assert!(f.as_str().len() == 40 || f.as_str().len() == 64);
            assert_eq!(f.as_str().parse::<swarmdate_core::openpgp::Fingerprint>().unwrap(), f);
        }
    }
    let _ = text.parse::<swarmdate_core::openpgp::Fingerprint>();
});
