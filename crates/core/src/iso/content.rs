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

/// Every file in the image, in path order, read through its richest name tree.
pub fn list_files(image: &Path) -> Result<Vec<ImageFile>, ImageError> {
    Ok(super::read_layout(image)?
        .files
        .into_iter()
        .map(|f| ImageFile {
            path: f.path,
            size: f.size,
        })
        .collect())
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
