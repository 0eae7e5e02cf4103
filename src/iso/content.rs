//! What an image holds: its files (Rock Ridge or Joliet names) and extracting one of them.

use std::path::Path;

use hadris_fs::MountOptions;
use hadris_fs::sync::Volume;
use hadris_iso::sync::IsoFs;
use hadris_storage::host::FileDevice;
use serde::Serialize;

/// A file inside an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageFile {
    /// Path from the image's root, without a leading slash.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

impl ImageFile {
    /// Whether it is an RPM package.
    pub fn is_package(&self) -> bool {
        self.path.ends_with(".rpm")
    }
}

/// An image that cannot be read as ISO9660.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {image} as an ISO image: {reason}")]
pub struct ImageError {
    /// The image.
    pub image: String,
    /// What went wrong.
    pub reason: String,
}

type IsoVolume = Volume<IsoFs<FileDevice>>;

fn mount(image: &Path) -> Result<IsoVolume, ImageError> {
    let err = |reason: String| ImageError {
        image: image.display().to_string(),
        reason,
    };
    let dev = FileDevice::open(image).map_err(|e| err(e.to_string()))?;
    let fs = IsoFs::mount(dev, MountOptions::new()).map_err(|e| err(format!("{e:?}")))?;
    Ok(Volume::new(fs))
}

/// Deeper directories than this are refused (ISO 9660 itself allows 8 levels; Rock Ridge more).
const MAX_DEPTH: usize = 64;

/// Every file in the image, in path order, read through its richest name tree.
pub fn list_files(image: &Path) -> Result<Vec<ImageFile>, ImageError> {
    let vol = mount(image)?;
    let err = |reason: String| ImageError {
        image: image.display().to_string(),
        reason,
    };
    let mut out = Vec::new();
    let mut dirs = vec![String::new()];
    // A damaged or hostile image can make a directory its own descendant: each directory is
    // listed once (found by fuzzing: the walk never ended).
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = dirs.pop() {
        if dir.split('/').count() > MAX_DEPTH {
            return Err(err(format!(
                "directories nest deeper than {MAX_DEPTH} levels at {dir}"
            )));
        }
        let listing = vol
            .read_dir(format!("/{dir}"))
            .map_err(|e| err(format!("{e:?}")))?;
        for entry in listing {
            let entry = entry.map_err(|e| err(format!("{e:?}")))?;
            let name = String::from_utf8_lossy(entry.name().as_bytes()).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let meta = entry.metadata();
            if meta.file_type().is_dir() {
                if seen.insert(entry.node()) {
                    dirs.push(path);
                }
            } else {
                out.push(ImageFile {
                    path,
                    size: meta.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Copies one file out of the image to `dest`, atomically.
pub fn extract(image: &Path, path: &str, dest: &Path) -> Result<u64, ImageError> {
    let vol = mount(image)?;
    let bytes = vol
        .read(format!("/{}", path.trim_start_matches('/')))
        .map_err(|e| ImageError {
            image: image.display().to_string(),
            reason: format!("{path}: {e:?}"),
        })?;
    crate::fsutil::write_atomic(dest, &bytes).map_err(|e| ImageError {
        image: image.display().to_string(),
        reason: format!("writing {}: {e}", dest.display()),
    })?;
    Ok(bytes.len() as u64)
}
