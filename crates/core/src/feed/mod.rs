//! The signed feed: what a distribution publishes (repositories, ISO versions, trackers, web seeds),
//! with a serial and an expiry, pinned by info hash and SHA-256, signed with a detached OpenPGP signature.

mod location;
mod model;
mod sign;
mod trust;

pub use location::{BITTORRENT_PREFIX, Fetcher, Location, LocationError};
pub use model::{FORMAT_VERSION, Feed, IsoVersion, RepoKind, Repository};
pub use sign::{KeyPair, SignError, TrustedKeys, sign_detached};
pub use trust::{FeedError, SeenSerials, VerifiedFeed, load_verified, verify_feed};
