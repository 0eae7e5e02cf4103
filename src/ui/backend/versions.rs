//! The Versions page's calls: versions and their plans, switch and stop.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use super::Backend;

use swarmdate_engine::JobId;
use swarmdate_usecases::notices;
use swarmdate_usecases::switching::{self, Ended, OtherSwitch, Switch};
use swarmdate_usecases::versions::Versions;

/// One published ISO version as the Versions page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionItem {
    /// Its place in the feed.
    pub index: usize,
    /// Its name.
    pub version: String,
    /// Its date (YYYY-MM-DD).
    pub date: String,
    /// The image's size.
    pub size: u64,
    /// Whether the local image is this version.
    pub current: bool,
    /// Bytes a switch to it downloads (none for the current one).
    pub download: Option<u64>,
    /// Whether it is newer than the local image.
    pub newer: bool,
}

/// The versions and the local image.
pub struct VersionsView {
    /// The rows.
    pub items: Vec<VersionItem>,
    /// The local image.
    pub image: PathBuf,
    /// What the rows were made from.
    pub versions: Versions,
}

impl std::fmt::Debug for VersionsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionsView")
            .field("items", &self.items)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

/// How a running switch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchProgress {
    /// The engine's job.
    pub job: JobId,
    /// Bytes fetched so far.
    pub fetched: u64,
    /// Bytes the plan fetches.
    pub total: u64,
    /// Download speed in bytes/s.
    pub speed: u64,
    /// Peers connected.
    pub peers: usize,
    /// What the switch told so far (a tracker's refusal, a pre-fill skipped), as sentences.
    pub notes: Vec<String>,
}

impl Backend {
    /// Reads the feed's versions, identifies the local image (`image`, or the one in the images
    /// folder) and plans a switch to every other version.
    pub fn load_versions(
        self: &Arc<Self>,
        image: Option<PathBuf>,
    ) -> impl Future<Output = Result<VersionsView, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let versions = Versions::load(&me.client(), image.as_deref())
                .await
                .map_err(|e| format!("{e:#}"))?;
            let current_date = versions.current.map(|i| versions.versions[i].entry.date);
            let mut items = Vec::new();
            for (i, v) in versions.versions.iter().enumerate() {
                let current = versions.current == Some(i);
                let download = if current {
                    None
                } else {
                    let plan = versions.plan(i, None).await.map_err(|e| format!("{e:#}"))?;
                    Some(plan.fetch_bytes)
                };
                items.push(VersionItem {
                    index: i,
                    version: v.version().to_owned(),
                    date: v.entry.date.format("%Y-%m-%d").to_string(),
                    size: v.entry.size,
                    current,
                    download,
                    newer: current_date.is_some_and(|d| v.entry.date > d),
                });
            }
            Ok(VersionsView {
                items,
                image: versions.image.clone(),
                versions,
            })
        })
    }

    /// Switches the local image to version `to` (resuming its stopped switch to it, rolling
    /// back one to another version), reporting progress; returns how the switch ended.
    pub fn switch(
        self: &Arc<Self>,
        versions: Versions,
        to: usize,
        progress: impl Fn(SwitchProgress) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<Ended, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let r: anyhow::Result<Ended> = async {
                let plan = versions.plan(to, None).await?;
                let engine = me.engine().await?;
                let switch =
                    Switch::start(engine, &versions, to, &plan, false, OtherSwitch::RollBack)
                        .await?;
                let mut on = |step: switching::Step<'_>| {
                    let j = step.job;
                    progress(SwitchProgress {
                        job: j.id,
                        fetched: j.bytes_fetched,
                        // A resumed switch counts what is left from what it had.
                        total: match step.planned {
                            0 => j.bytes_wanted.saturating_sub(j.bytes_had),
                            p => p,
                        },
                        speed: j.down_speed,
                        peers: j.peers.len(),
                        notes: j.notices.iter().map(notices::text).collect(),
                    })
                };
                switch.follow(engine, &mut on, std::future::pending()).await
            }
            .await;
            r.map_err(|e| format!("{e:#}"))
        })
    }

    /// Stops a running switch, keeping what it fetched where it can (see
    /// [`switching::stop`]); the switch's own result says how it ended.
    pub fn stop_switch(
        self: &Arc<Self>,
        job: JobId,
    ) -> impl Future<Output = Result<(), String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let engine = me.engine().await.map_err(|e| format!("{e:#}"))?;
            switching::stop(engine, job)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }
}
