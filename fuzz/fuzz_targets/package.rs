//! Packages arrive from peers and mirrors and are read before their signature is checked: the
//! check must refuse damaged or foreign files with an error, never panic. The input is written to
//! a per-process file (set `TMPDIR=/dev/shm`), as the check reads files.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swarmdate_core::feed::KeyPair;
use swarmdate_core::packages::PackageKeys;

struct Scratch {
    file: PathBuf,
    keys: PackageKeys,
    _dir: tempfile::TempDir,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        // libfuzzer-sys aborts on every panic, even one the check catches (the rpm crate 0.30.2
        // panics on a header index past its data; `PackageKeys::verify` turns that into an
        // error). With the default hook back, only a panic that escapes the check is a crash.
        drop(std::panic::take_hook());
        let dir = tempfile::Builder::new()
            .prefix("swarmdate-fuzz-package-")
            .tempdir()
            .expect("a temporary folder");
        // Any key: fuzzed inputs cannot carry a valid signature by it; what is checked is that
        // every refusal is an error.
        let key = KeyPair::generate("Fuzz <fuzz@example.org>").expect("a key");
        Scratch {
            file: dir.path().join("package.rpm"),
            keys: PackageKeys::from_armored(std::path::Path::new("/"), &key.public_armored())
                .expect("one key"),
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    std::fs::write(&s.file, data).expect("writing the package");
    let _ = s.keys.verify(&s.file);
});
