//! The distributor's side: torrents for images, appended respins, and the signed feed.

mod feed;
mod iso;
mod respin;

pub use feed::{FeedSpec, publish_feed};
pub use iso::{IsoPublishOptions, RELEASE_SUFFIX, publish_iso};
pub use respin::{build_image, respin};
