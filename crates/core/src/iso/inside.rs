//! The packages inside images, by digest, and where their bytes are: an image seeds them to the
//! package swarm straight from its own bytes, with no copy. Hashing every package of an image
//! takes seconds, so the digests are kept in a cache file, keyed by each image's path, length and
//! modification time.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::layout::{read_extents, read_layout};
use crate::hash::Sha256;

/// A package inside an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InImage {
    /// The image.
    pub image: PathBuf,
    /// The package's size.
    pub size: u64,
    /// Its bytes, as byte ranges of the image in file order.
    pub extents: Vec<Range<u64>>,
}

impl InImage {
    /// Reads the package's bytes `at..at + buf.len()`.
    pub fn read_at(&self, image: &std::fs::File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        read_extents(image, &self.extents, at, buf)
    }
}

/// The packages inside some images, by SHA-256.
pub type PackagesInImages = HashMap<Sha256, InImage>;

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    images: BTreeMap<PathBuf, Cached>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    len: u64,
    modified: (u64, u32),
    packages: Vec<(Sha256, InImage)>,
}

/// The `.iso` files in `dir` (none if it does not exist).
pub fn images_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "iso") && p.is_file())
        .collect();
    out.sort();
    out
}

/// The packages inside `images`, from `cache` where it is current, hashed (and cached) where
/// not. An image that is gone or cannot be read as ISO 9660 holds none.
pub fn packages_in_images(images: &[PathBuf], cache: &Path) -> std::io::Result<PackagesInImages> {
    let mut old: Cache = std::fs::read(cache)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut new = Cache::default();
    for image in images {
        // An image that is gone (a switch retired it) holds nothing: its packages come from
        // the swarm or the mirrors instead.
        let meta = match std::fs::metadata(image) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!("{} is gone: it seeds no packages", image.display());
                continue;
            }
            meta => meta?,
        };
        let m = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let modified = (m.as_secs(), m.subsec_nanos());
        let entry = match old.images.remove(image) {
            Some(c) if c.len == meta.len() && c.modified == modified => c,
            _ => Cached {
                len: meta.len(),
                modified,
                packages: hash_packages(image)?,
            },
        };
        new.images.insert(image.clone(), entry);
    }
    let bytes = serde_json::to_vec(&new).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic(cache, &bytes)?;
    Ok(new.images.into_values().flat_map(|c| c.packages).collect())
}

/// Every RPM package inside `image`, hashed.
fn hash_packages(image: &Path) -> std::io::Result<Vec<(Sha256, InImage)>> {
    let layout = match read_layout(image) {
        Ok(l) => l,
        Err(e) => {
            tracing::info!("{e}: it seeds no packages");
            return Ok(Vec::new());
        }
    };
    use sha2::Digest;
    let file = std::fs::File::open(image)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in layout.files.iter().filter(|f| f.path.ends_with(".rpm")) {
        let mut hasher = sha2::Sha256::new();
        let mut at = 0;
        while at < f.size {
            let n = (f.size - at).min(buf.len() as u64) as usize;
            read_extents(&file, &f.extents, at, &mut buf[..n])?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        let found = InImage {
            image: image.to_owned(),
            size: f.size,
            extents: f.extents.clone(),
        };
        out.push((Sha256(hasher.finalize().into()), found));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A switch retires an image a repository job still names: it holds nothing, and the
    /// images that are there are still read (the cache forgets the gone one).
    #[test]
    fn an_image_that_is_gone_holds_no_packages() {
        let dir = tempfile::tempdir().unwrap();
        let (gone, here, cache) = (
            dir.path().join("os-1.01.iso"),
            dir.path().join("os-1.02.iso"),
            dir.path().join("cache.json"),
        );
        // Not ISO 9660: read, and holding none, unlike the missing one that must not fail.
        std::fs::write(&here, vec![0u8; 64 << 10]).unwrap();
        let found = packages_in_images(&[gone.clone(), here.clone()], &cache).unwrap();
        assert!(found.is_empty());
        let cached: Cache = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_eq!(cached.images.keys().collect::<Vec<_>>(), vec![&here]);
    }
}
