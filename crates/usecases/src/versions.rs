//! The ISO versions a client sees: the feed's versions, the local image and which of them it is,
//! and the plan of a switch to another (`switching` runs it).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::User;
use super::switching::Unfinished;
use swarmdate_core::fsutil;
use swarmdate_core::iso::{
    Identified, Plan, PublishedIso, Room, SwitchMode, identify, plan_switch,
};

/// The feed's versions, the local image and which version it is.
#[derive(Debug, Clone)]
pub struct Versions {
    /// Every published version, as the feed lists them.
    pub versions: Vec<PublishedIso>,
    /// The local image.
    pub image: PathBuf,
    /// The version it is; `None` for an image the feed does not know.
    pub current: Option<usize>,
    /// The engine's state folder: its journal holds a stopped switch's working copy.
    state_dir: PathBuf,
}

impl Versions {
    /// Reads the feed, finds the local image (`image`, or the one in the images folder) and
    /// identifies it.
    pub async fn load(client: &User, image: Option<&Path>) -> anyhow::Result<Self> {
        let feed = client.feed().await?;
        let versions = client.iso_versions(&feed).await?;
        let image = client.local_image(image, &versions)?;
        let (img, vs) = (image.clone(), versions.clone());
        let current = match tokio::task::spawn_blocking(move || identify(&img, &vs)).await?? {
            Identified::Version(i) => Some(i),
            Identified::Unknown => None,
        };
        Ok(Versions {
            versions,
            image,
            current,
            state_dir: client.dirs.engine(),
        })
    }

    /// Plans switching the image to version `to` (an index), with the space this disk has. A
    /// stopped switch of the image to `to` is resumed by the next switch: the pieces its working
    /// copy holds are kept, not fetched again, and its mode stays.
    pub async fn plan(&self, to: usize, prefer: Option<SwitchMode>) -> anyhow::Result<Plan> {
        let kept = self.kept_work(to)?;
        let from = self.current.map(|i| self.versions[i].clone());
        let to = self.versions[to].clone();
        let image = self.image.clone();
        let dir = fsutil::parent_dir(&image);
        let room = Room {
            reflink: fsutil::supports_reflink(dir),
            free: fsutil::available_space(dir)?,
        };
        Ok(
            tokio::task::spawn_blocking(move || -> std::io::Result<Plan> {
                let mut plan = plan_switch(&image, from.as_ref(), &to, room, prefer)?;
                if let Some(u) = kept {
                    plan.keep_from(&u.working, &to.torrent)?;
                    plan.mode = u.mode;
                }
                Ok(plan)
            })
            .await??,
        )
    }

    /// The image's unfinished switch to version `to` whose working copy the next switch takes
    /// up: one beside the image (an in-place one is rolled back when stopped), copied whole.
    fn kept_work(&self, to: usize) -> anyhow::Result<Option<Unfinished>> {
        let dir = fsutil::parent_dir(&self.image);
        Ok(
            Unfinished::find_in(&self.state_dir, dir, Some(&self.image))?.filter(|u| {
                u.info_hash == self.versions[to].torrent.info_hash()
                    && u.mode != SwitchMode::InPlace
                    && u.copied
                    && u.working.is_file()
            }),
        )
    }

    /// The plan to version `to` refined by the target's layout: what is left to fetch once the
    /// files the image and the store hold are placed (the target's directory pieces are fetched
    /// from its swarm to learn it). `None` for an in-place switch (it places nothing), a plan
    /// with nothing to fetch, or a layout that could not be learnt.
    pub async fn refine(
        &self,
        client: &User,
        to: usize,
        plan: &Plan,
    ) -> anyhow::Result<Option<swarmdate_engine::Prefilled>> {
        if plan.mode == SwitchMode::InPlace || plan.pieces.is_empty() {
            return Ok(None);
        }
        let cfg = client.engine_config();
        let swarm = swarmdate_engine::Swarm {
            known_peers: cfg.known_peers.clone(),
            trackers: cfg.trackers,
            port: cfg.listen.map_or(6881, |l| l.port()).max(1),
            local_only: cfg.local_network_only,
            cache: Some(cfg.state_dir.join(swarmdate_engine::LAYOUT_CACHE)),
            local_discovery: cfg.local_discovery_scope(),
            // No engine runs here: its DHT and peers are not at hand.
            session: None,
            patience: swarmdate_engine::PLAN_PATIENCE,
        };
        let store = swarmdate_core::store::PackageStore::open(&client.dirs.store())?;
        swarmdate_engine::refined_fetch(
            &self.image,
            &self.versions[to].torrent,
            &plan.pieces,
            store,
            &swarm,
        )
        .await
    }

    /// The index of `version`, or an error naming the versions there are.
    pub fn find(&self, version: &str) -> anyhow::Result<usize> {
        self.versions
            .iter()
            .position(|v| v.version() == version)
            .with_context(|| {
                let known: Vec<_> = self.versions.iter().map(|v| v.version()).collect();
                format!(
                    "no version {version:?} in the feed (it has {})",
                    known.join(", ")
                )
            })
    }

    /// The current version's name, if the feed knows it.
    pub fn current_version(&self) -> Option<&str> {
        self.current.map(|i| self.versions[i].version())
    }

    /// Where the image of version `to` lands.
    pub fn target_path(&self, to: usize) -> PathBuf {
        fsutil::parent_dir(&self.image).join(&self.versions[to].torrent.name)
    }
}
