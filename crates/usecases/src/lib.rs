//! One user of a distribution, as both faces see it: folders, settings, trusted keys, the feed,
//! the engine, the package updates they run (`updates`), the ISO versions (`versions`) and switching
//! between them (`switching`).

pub mod autostart;
pub mod download;
pub mod history;
pub mod notices;
pub mod offline;
pub mod seeding;
pub mod subset;
pub mod switching;
pub mod updates;
pub mod versions;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use swarmdate_core::config::{Settings, Sharing};
use swarmdate_core::feed::{
    Fetcher, Location, SeenSerials, TrustedKeys, VerifiedFeed, load_verified,
};
use swarmdate_core::iso::{PublishedIso, check_pin};
use swarmdate_core::paths::Dirs;
use swarmdate_core::torrent::Torrent;
use swarmdate_engine::EngineConfig;
use swarmdate_engine::service::{EngineHandle, bus_name};

/// Largest feed or .torrent fetched.
const MAX_DOCUMENT: u64 = 128 << 20;
/// Per-request timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What a face may override of the settings (command-line options, the demo).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Keep config and data under this folder instead of the XDG folders.
    pub home: Option<PathBuf>,
    /// The feed to use.
    pub feed: Option<String>,
    /// More armored public keys to trust for feeds.
    pub trust: Vec<PathBuf>,
    /// Where to accept peers.
    pub listen: Option<SocketAddr>,
}

/// A user's folders, settings and feed.
pub struct User {
    /// The user's folders.
    pub dirs: Dirs,
    /// The user's settings.
    pub settings: Settings,
    overrides: Overrides,
    fetcher: Fetcher,
}

impl User {
    /// Reads folders and settings.
    pub fn new(overrides: Overrides) -> anyhow::Result<Self> {
        // Absolute: paths go into the engine's journal, which may live in another process.
        let dirs = match &overrides.home {
            Some(h) => Dirs::under(&std::path::absolute(h)?),
            None => Dirs::for_user()?,
        };
        let settings = Settings::load(&dirs.config)?;
        Ok(User {
            dirs,
            settings,
            overrides,
            fetcher: Fetcher::new(MAX_DOCUMENT, FETCH_TIMEOUT),
        })
    }

    /// The same user with the settings read again (after the window changed them).
    pub fn reload(&self) -> anyhow::Result<Self> {
        User::new(self.overrides.clone())
    }

    /// The keys trusted for feeds: the config folder's `trusted-keys/*.asc` and the overrides'.
    pub fn trusted_keys(&self) -> anyhow::Result<TrustedKeys> {
        let mut keys = TrustedKeys::default();
        keys.add_dir(&self.dirs.config.join("trusted-keys"))?;
        for k in &self.overrides.trust {
            keys.add_file(k)?;
        }
        Ok(keys)
    }

    /// The feed URL from the overrides or the settings.
    pub fn feed_url(&self) -> Option<String> {
        self.overrides
            .feed
            .clone()
            .or_else(|| self.settings.feed_url.clone())
    }

    /// The loader for feeds, torrents and indexes.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Fetches and verifies the feed.
    pub async fn feed(&self) -> anyhow::Result<VerifiedFeed> {
        let url = self
            .feed_url()
            .context("no feed configured: pass --feed URL or set feed_url in the settings")?;
        let loc = Location::parse(&url)?;
        let mut seen = SeenSerials::load(&self.dirs.data.join("feed-serials.json"))?;
        Ok(load_verified(&loc, &self.fetcher, &self.trusted_keys()?, &mut seen).await?)
    }

    /// Fetches a torrent from a location and parses it (validation included).
    pub async fn torrent_at(&self, loc: &Location) -> anyhow::Result<Torrent> {
        let bytes = self.fetcher.get(loc).await?;
        Torrent::from_bytes(bytes).with_context(|| format!("reading the torrent {}", loc.display()))
    }

    /// The feed's ISO versions with their torrents, each checked against its pin.
    pub async fn iso_versions(&self, feed: &VerifiedFeed) -> anyhow::Result<Vec<PublishedIso>> {
        let futures = feed.feed.isos.iter().map(|entry| async move {
            let loc = feed.location.join(&entry.torrent_url)?;
            let torrent = self.torrent_at(&loc).await?;
            Ok::<_, anyhow::Error>(check_pin(entry, torrent)?)
        });
        futures::future::try_join_all(futures).await
    }

    /// The folder holding ISO images.
    pub fn images_dir(&self) -> PathBuf {
        let dir = self
            .settings
            .images_dir
            .clone()
            .unwrap_or_else(|| self.dirs.images());
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// The local image: `explicit`, or the image in the images folder named like a published one.
    pub fn local_image(
        &self,
        explicit: Option<&Path>,
        versions: &[PublishedIso],
    ) -> anyhow::Result<PathBuf> {
        if let Some(p) = explicit {
            anyhow::ensure!(p.is_file(), "{} is not a file", p.display());
            // The engine's journal keeps it; it must not depend on where the command ran.
            return Ok(std::path::absolute(p)?);
        }
        let dir = self.images_dir();
        versions
            .iter()
            .map(|v| dir.join(&v.torrent.name))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "no image of this distribution in {}: pass --image PATH to point at the one you have",
                    dir.display()
                )
            })
    }

    /// Engine settings from the settings file (and the sharing choice) and the overrides.
    pub fn engine_config(&self) -> EngineConfig {
        let s = &self.settings;
        let default_ip: std::net::IpAddr = if s.loopback_only {
            [127, 0, 0, 1].into()
        } else {
            [0, 0, 0, 0].into()
        };
        let sharing = s.sharing.unwrap_or(Sharing::Everyone);
        let listen = self
            .overrides
            .listen
            .unwrap_or_else(|| SocketAddr::new(default_ip, s.listen_port.unwrap_or(6881)));
        let wide = sharing == Sharing::Everyone;
        EngineConfig {
            state_dir: self.dirs.engine(),
            listen: (sharing != Sharing::Nobody).then_some(listen),
            dht: wide && s.dht.unwrap_or(!s.loopback_only),
            local_discovery: sharing == Sharing::LocalNetwork
                || (wide && s.local_discovery.unwrap_or(!s.loopback_only)),
            trackers: wide,
            upnp: wide && s.upnp,
            upload_limit: s.upload_limit,
            download_limit: s.download_limit,
            known_peers: match sharing {
                Sharing::Nobody => Vec::new(),
                _ => s.known_peers.clone(),
            },
            store_dir: self.dirs.store(),
            abort_on_start: Vec::new(),
            seed_goal: s.seed_goal,
            diverse_order: true,
            local_network_only: sharing == Sharing::LocalNetwork,
            layout_patience: swarmdate_engine::SWITCH_PATIENCE,
        }
    }

    /// The engine's name on the session bus for `cfg`.
    pub fn bus_name(&self, cfg: &EngineConfig) -> String {
        let default = self.overrides.home.is_none().then(|| cfg.state_dir.clone());
        bus_name(&cfg.state_dir, default.as_deref())
    }

    /// This user's engine: the one another process runs (over the session bus), or a new one
    /// here; `cfg` applies only when it starts here.
    pub async fn engine_with(&self, cfg: EngineConfig) -> anyhow::Result<EngineHandle> {
        let name = self.bus_name(&cfg);
        EngineHandle::connect_or_start(cfg, &name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_with(sharing: Option<Sharing>) -> (tempfile::TempDir, User) {
        let home = tempfile::tempdir().unwrap();
        let settings = Settings {
            sharing,
            ..Settings::default()
        };
        settings.save(&home.path().join("config")).unwrap();
        let c = User::new(Overrides {
            home: Some(home.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        (home, c)
    }

    #[test]
    fn the_sharing_choice_decides_who_learns_of_this_machine() {
        // Not asked yet (the command line) and "everyone": every way to find peers.
        for s in [None, Some(Sharing::Everyone)] {
            let cfg = client_with(s).1.engine_config();
            assert!(cfg.trackers && cfg.dht && cfg.local_discovery && cfg.listen.is_some());
        }
        let cfg = client_with(Some(Sharing::LocalNetwork)).1.engine_config();
        assert!(!cfg.trackers && !cfg.dht && !cfg.upnp);
        assert!(cfg.local_discovery && cfg.listen.is_some());
        let cfg = client_with(Some(Sharing::Nobody)).1.engine_config();
        assert!(!cfg.trackers && !cfg.dht && !cfg.local_discovery);
        assert!(cfg.listen.is_none() && cfg.known_peers.is_empty());
    }
}
