//! The distributor's side: torrents for images, appended respins, and the signed feed.

mod feed;
mod iso;
mod master;
mod respin;

pub use feed::{FeedSpec, publish_feed};
pub use iso::{IsoPublishOptions, RELEASE_SUFFIX, publish_iso};
pub use master::{
    MasterOptions, PaddingFigure, PublishedRepo, REPO_SUFFIX, choose_piece_length, padding_figures,
    publish_master,
};
pub use respin::{build_image, respin};
