//! ISO image versions: identifying a local image, planning a switch from the two torrents' piece
//! hashes, reading the packages inside an image, and where an image keeps its files (its layout),
//! so a switch can rebuild a target from files already at hand.

mod content;
mod identify;
mod inside;
mod layout;
mod plan;
mod prefill;

pub use content::{ImageError, ImageFile, extract, list_files};
pub use identify::{Identified, identify};
pub use inside::{InImage, PackagesInImages, images_in, packages_in_images};
pub use layout::{Layout, PlacedFile, layout_through, read_extents, read_layout};
pub use plan::{Plan, Room, SwitchMode, differing_pieces, plan_switch};
pub use prefill::{AtHand, Made, Origin, Prefill, Rebuilder, prefill, summarize};

use crate::feed::IsoVersion;
use crate::torrent::Torrent;

/// A published version with its torrent, fetched and checked against the feed's pin.
#[derive(Debug, Clone)]
pub struct PublishedIso {
    /// The feed's entry.
    pub entry: IsoVersion,
    /// The version's torrent.
    pub torrent: Torrent,
}

impl PublishedIso {
    /// The version string.
    pub fn version(&self) -> &str {
        &self.entry.version
    }
}

/// A torrent that does not match the feed's pin.
#[derive(Debug, thiserror::Error)]
#[error("the torrent for {what} has info hash {got}, but the feed pins {pinned}: refusing it")]
pub struct PinMismatch {
    /// What the torrent was for.
    pub what: String,
    /// The pinned hash.
    pub pinned: crate::torrent::InfoHash,
    /// The hash of what arrived.
    pub got: crate::torrent::InfoHash,
}

/// Checks that a fetched torrent is the one the feed pins and describes the pinned image.
pub fn check_pin(entry: &IsoVersion, torrent: Torrent) -> Result<PublishedIso, PinMismatch> {
    if torrent.info_hash() != entry.info_hash {
        return Err(PinMismatch {
            what: format!("version {}", entry.version),
            pinned: entry.info_hash,
            got: torrent.info_hash(),
        });
    }
    Ok(PublishedIso {
        entry: entry.clone(),
        torrent,
    })
}
