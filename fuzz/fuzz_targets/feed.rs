//! Feeds and their detached signatures come from the network. The input is one mode byte, then the
//! feed body, a NUL byte, and the armored signature. A fuzzer cannot forge a signature, so when the
//! mode's low bit is set the signature is made here with a key the verifier trusts: over the body,
//! which reaches the JSON, format, expiry and serial checks behind the signature, or (second bit
//! set too) over the tail instead, which reaches the "altered document" refusal.

#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use swarmdate_core::feed::{Feed, KeyPair, SeenSerials, TrustedKeys, sign_detached, verify_feed};

struct Keys {
    signer: KeyPair,
    trusted: TrustedKeys,
}

/// One key per process: generating one costs milliseconds.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = KeyPair::generate("Fuzz <fuzz@example.org>").expect("generating a key");
        let mut trusted = TrustedKeys::default();
        trusted
            .add_armored(&signer.public_armored())
            .expect("our own public key");
        Keys { signer, trusted }
    })
}

/// A fixed clock, so a run does not depend on the day.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (body, sig) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };

    // The model alone, as `publish feed` reads a previous feed.
    let _ = serde_json::from_slice::<Feed>(body);

    let keys = keys();
    let own_sig;
    let sig = match mode & 3 {
        1 | 3 => {
            let signed = if mode & 3 == 1 { body } else { sig };
            own_sig = sign_detached(&keys.signer, signed).expect("signing in memory");
            own_sig.as_bytes()
        }
        _ => sig,
    };
    // In memory: a fresh record per input keeps runs independent of each other.
    let mut seen = SeenSerials::default();
    let first = verify_feed("fuzz", body, sig, &keys.trusted, &mut seen, now());
    if let Ok((feed, key)) = first {
        assert_eq!(key, keys.signer.fingerprint());
        assert!(feed.expires > now());
        // The same serial again is not a replay.
        verify_feed("fuzz", body, sig, &keys.trusted, &mut seen, now())
            .expect("the same feed verifies twice");
    }
});
