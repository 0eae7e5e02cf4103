//! The user's settings, kept as JSON in the config folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Whom this machine shares with: its answer to the first-run question, since seeding tells
/// other peers which packages and versions it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sharing {
    /// Trackers, the DHT and local discovery: peers anywhere.
    Everyone,
    /// Local discovery and the configured peers only: no tracker or DHT learns of this machine.
    LocalNetwork,
    /// Nobody: no announces, no incoming peers; downloads come from the mirrors.
    Nobody,
}

/// When a finished image or download stops being shared.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedGoal {
    /// Share as long as the engine runs.
    #[default]
    Forever,
    /// Until it has uploaded this many times its size.
    Ratio(f64),
    /// For this many hours after it was complete.
    Hours(u32),
}

impl SeedGoal {
    /// Whether a torrent of `size` bytes that uploaded `uploaded` and has been shared for
    /// `shared_for` met the goal.
    pub fn met(&self, uploaded: u64, size: u64, shared_for: std::time::Duration) -> bool {
        match *self {
            SeedGoal::Forever => false,
            SeedGoal::Ratio(r) => size > 0 && uploaded as f64 >= r * size as f64,
            SeedGoal::Hours(h) => shared_for.as_secs() >= u64::from(h) * 3600,
        }
    }
}

/// Settings a user (or the demo) chooses; every field has a sensible default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The distribution's feed URL.
    pub feed_url: Option<String>,
    /// Where ISO images are kept (default: the data folder's `images`).
    pub images_dir: Option<PathBuf>,
    /// The port peers reach us on (default 6881; 0 picks a free one).
    pub listen_port: Option<u16>,
    /// Listen on loopback only (the demo).
    pub loopback_only: bool,
    /// Use the DHT.
    pub dht: Option<bool>,
    /// Use local peer discovery.
    pub local_discovery: Option<bool>,
    /// Ask the router for a port mapping.
    pub upnp: bool,
    /// Upload limit in bytes/s.
    pub upload_limit: Option<u32>,
    /// Download limit in bytes/s.
    pub download_limit: Option<u32>,
    /// The package store's size in bytes, past which superseded builds are evicted (default
    /// [`DEFAULT_STORE_SIZE`]).
    pub store_size: Option<u64>,
    /// Pause sharing while the connection is metered (default on).
    pub pause_on_metered: Option<bool>,
    /// Pause sharing while the machine runs on battery (default off).
    pub pause_on_battery: Option<bool>,
    /// Whom to share with; `None` until the user answered (the command line then shares with
    /// everyone, as a BitTorrent client does; the window asks first).
    pub sharing: Option<Sharing>,
    /// When finished images and downloads stop being shared (packages are always shared: the
    /// same job fetches the next updates).
    pub seed_goal: SeedGoal,
    /// Peers every torrent asks besides those the trackers and the DHT name (a LAN seed box).
    pub known_peers: Vec<std::net::SocketAddr>,
    /// Install the system's updates at the next restart (systemd's offline updates) rather
    /// than while it runs: the window's main update action.
    pub install_at_restart: bool,
}

/// The store's default size cap: room for an installed desktop's packages and a round of
/// superseded builds to seed to people who downgrade.
pub const DEFAULT_STORE_SIZE: u64 = 4 << 30;

impl Settings {
    /// The store's size cap.
    pub fn store_cap(&self) -> u64 {
        self.store_size.unwrap_or(DEFAULT_STORE_SIZE)
    }

    /// Whether sharing pauses now, on a metered connection or on battery as the user chose.
    pub fn sharing_paused(&self, metered: bool, on_battery: bool) -> bool {
        (metered && self.pause_on_metered.unwrap_or(true))
            || (on_battery && self.pause_on_battery.unwrap_or(false))
    }

    /// The settings file in a config folder.
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("settings.json")
    }

    /// Reads the settings, or the defaults when there is no file.
    pub fn load(config_dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(config_dir);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!(
                    "the settings file {} is invalid: {e}; fix or delete it",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the settings atomically.
    pub fn save(&self, config_dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(config_dir)?;
        crate::fsutil::write_atomic(&Self::path(config_dir), &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_pauses_on_a_metered_connection_by_default_and_on_battery_when_asked() {
        let s = Settings::default();
        assert!(!s.sharing_paused(false, false));
        assert!(s.sharing_paused(true, false));
        assert!(!s.sharing_paused(false, true));
        let s = Settings {
            pause_on_metered: Some(false),
            pause_on_battery: Some(true),
            ..Settings::default()
        };
        assert!(!s.sharing_paused(true, false));
        assert!(s.sharing_paused(false, true));
    }

    #[test]
    fn a_seed_goal_is_met_at_its_ratio_or_after_its_hours_and_never_when_forever() {
        use std::time::Duration;
        let hour = Duration::from_secs(3600);
        assert!(!SeedGoal::Forever.met(u64::MAX, 1, hour * 10_000));
        let r = SeedGoal::Ratio(1.5);
        assert!(!r.met(149, 100, hour));
        assert!(r.met(150, 100, Duration::ZERO));
        assert!(!r.met(0, 0, hour), "an empty torrent has no ratio");
        let h = SeedGoal::Hours(24);
        assert!(!h.met(u64::MAX, 1, hour * 23));
        assert!(h.met(0, 1, hour * 24));
    }
}
