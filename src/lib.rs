//! Swarmdate's core: torrents, feeds, the torrent engine, ISO versions and publishing.
//!
//! This library has no GTK in it; the window and the command line are two faces on it.

pub mod bench;
pub mod client;
pub mod config;
pub mod demo;
pub mod engine;
pub mod feed;
pub mod fsutil;
pub mod hash;
pub mod i18n;
pub mod iso;
pub mod ledger;
pub mod mirror;
pub mod openpgp;
pub mod packages;
pub mod paths;
pub mod plan;
pub mod publish;
pub mod service;
pub mod store;
pub mod text;
pub mod torrent;
pub mod tracker;
