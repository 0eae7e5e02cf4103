//! Installation images come from the swarm; before an image is checked against its pin, and for a
//! local image named by the user, reading its file tree must refuse damage with an error. The ISO
//! reader takes a path, so each input is written to one file in a per-process temporary folder.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swarmdate_core::iso::{extract, list_files};

struct Scratch {
    image: PathBuf,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

/// Put TMPDIR on a tmpfs (/dev/shm) to keep the disk out of the loop.
fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("swarmdate-fuzz-iso-")
            .tempdir()
            .expect("a temporary folder");
        Scratch {
            image: dir.path().join("image.iso"),
            out: dir.path().join("extracted"),
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    std::fs::write(&s.image, data).expect("writing the image");
    let Ok(files) = list_files(&s.image) else {
        return;
    };
    if let Some(first) = files.first() {
        if let Ok(n) = extract(&s.image, &first.path, &s.out) {
            assert_eq!(n, std::fs::metadata(&s.out).unwrap().len());
        }
    }
});
