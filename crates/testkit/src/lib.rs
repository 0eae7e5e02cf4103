//! Worlds for the tests, the benchmarks and `swarmdate demo`: a demo distribution with its feed,
//! repositories and peers (`demo`), generated RPMs (`synth`), a tracker, a static mirror that can
//! lie on purpose, and drivers for third-party BitTorrent programs (`third_party`).
//!
//! Not published, and nothing below the app depends on it.

pub mod demo;
pub mod mirror;
pub mod synth;
pub mod third_party;
pub mod tracker;
