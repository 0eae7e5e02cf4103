//! What every command needs: folders, settings, trusted keys, the feed, the engine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use swarmdate::config::Settings;
use swarmdate::engine::{EngineConfig, JobId};
use swarmdate::feed::{Fetcher, Location, SeenSerials, TrustedKeys, VerifiedFeed, load_verified};
use swarmdate::iso::{PublishedIso, check_pin};
use swarmdate::paths::Dirs;
use swarmdate::service::{EngineHandle, bus_name};
use swarmdate::torrent::Torrent;

use super::output::Out;

/// Largest feed or .torrent fetched.
const MAX_DOCUMENT: u64 = 128 << 20;
/// Per-request timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Options every command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Print newline-delimited JSON events and a final summary object.
    #[arg(long, global = true)]
    pub json: bool,
    /// Keep config and data under this folder instead of the XDG folders.
    #[arg(long, global = true, env = "SWARMDATE_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The feed to use (overrides the settings).
    #[arg(long, global = true, value_name = "URL")]
    pub feed: Option<String>,
    /// Also trust this armored public key for feeds.
    #[arg(long = "trust", global = true, value_name = "KEY.asc")]
    pub trust: Vec<PathBuf>,
    /// Accept peers on this address (default 0.0.0.0:6881 or the settings').
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

/// A command's context.
pub struct Ctx {
    pub out: Out,
    pub dirs: Dirs,
    pub settings: Settings,
    global: Global,
    fetcher: Fetcher,
}

impl Ctx {
    /// Reads folders and settings.
    pub fn new(global: Global) -> anyhow::Result<Self> {
        // Absolute: paths go into the engine's journal, which may live in another process.
        let dirs = match &global.home {
            Some(h) => Dirs::under(&std::path::absolute(h)?),
            None => Dirs::for_user()?,
        };
        let settings = Settings::load(&dirs.config)?;
        Ok(Ctx {
            out: Out::new(global.json),
            dirs,
            settings,
            global,
            fetcher: Fetcher::new(MAX_DOCUMENT, FETCH_TIMEOUT),
        })
    }

    /// The keys trusted for feeds: the config folder's `trusted-keys/*.asc` and `--trust`.
    pub fn trusted_keys(&self) -> anyhow::Result<TrustedKeys> {
        let mut keys = TrustedKeys::default();
        keys.add_dir(&self.dirs.config.join("trusted-keys"))?;
        for k in &self.global.trust {
            keys.add_file(k)?;
        }
        Ok(keys)
    }

    /// The feed URL from `--feed` or the settings.
    pub fn feed_url(&self) -> Option<String> {
        self.global
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

    /// The local image: `--image`, or the image in the images folder named like a published one.
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

    /// Engine settings from the settings file and `--listen`.
    pub fn engine_config(&self) -> EngineConfig {
        let s = &self.settings;
        let default_ip: std::net::IpAddr = if s.loopback_only {
            [127, 0, 0, 1].into()
        } else {
            [0, 0, 0, 0].into()
        };
        EngineConfig {
            state_dir: self.dirs.engine(),
            listen: Some(
                self.global
                    .listen
                    .unwrap_or_else(|| SocketAddr::new(default_ip, s.listen_port.unwrap_or(6881))),
            ),
            dht: s.dht.unwrap_or(!s.loopback_only),
            local_discovery: s.local_discovery.unwrap_or(!s.loopback_only),
            trackers: true,
            upnp: s.upnp,
            upload_limit: s.upload_limit,
            download_limit: s.download_limit,
            known_peers: s.known_peers.clone(),
            store_dir: self.dirs.store(),
            abort_on_start: Vec::new(),
        }
    }

    /// This user's engine: the one another process runs (over the session bus), or a new one here.
    pub async fn engine(&self) -> anyhow::Result<EngineHandle> {
        self.engine_with(self.engine_config()).await
    }

    /// This user's engine; `cfg` applies only when it starts here.
    pub async fn engine_with(&self, cfg: EngineConfig) -> anyhow::Result<EngineHandle> {
        let default = self.global.home.is_none().then(|| cfg.state_dir.clone());
        let name = bus_name(&cfg.state_dir, default.as_deref());
        let handle = EngineHandle::connect_or_start(cfg, &name).await?;
        self.out.event(
            "engine",
            serde_json::json!({ "remote": handle.is_remote(), "bus_name": name }),
        );
        Ok(handle)
    }

    /// Runs a job to completion with a progress display; returns its last snapshot.
    pub async fn follow(
        &self,
        engine: &EngineHandle,
        id: JobId,
        label: &str,
    ) -> anyhow::Result<swarmdate::engine::JobSnapshot> {
        let mut progress = self.out.job_progress(label);
        let mut rx = engine.subscribe();
        let waiter = engine.wait(id);
        tokio::pin!(waiter);
        loop {
            tokio::select! {
                r = &mut waiter => {
                    progress.finish();
                    return r;
                }
                changed = rx.changed() => {
                    changed?;
                    if let Some(j) = rx.borrow_and_update().jobs.iter().find(|j| j.id == id) {
                        progress.update(j);
                    }
                }
                _ = tokio::signal::ctrl_c() => {
                    progress.finish();
                    anyhow::bail!("interrupted; the job resumes where it stopped the next time the engine runs");
                }
            }
        }
    }
}
