//! Swarmdate's core: the formats and rules both faces and the engine share. Torrents, feeds and
//! their trust, ISO versions and layouts, update plans, the package store, the upload ledger,
//! publishing, settings and folders, translations.
//!
//! No GTK, no BitTorrent session, no HTTP server and no runtime of its own live here.

pub mod config;
pub mod feed;
pub mod fsutil;
pub mod i18n;
pub mod iso;
pub mod ledger;
pub mod packages;
pub mod paths;
pub mod plan;
pub mod publish;
pub mod store;
pub mod text;
pub mod torrent;

pub use swarmdate_packages::{hash, openpgp};
/// Repositories as dnf sees them: repodata read and checked.
pub use swarmdate_repos as repos;
