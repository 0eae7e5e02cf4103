//! Opening a link: look at the torrent, then download it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use super::Backend;

/// A torrent someone asked to open, fetched and checked.
pub use swarmdate_usecases::download::Opened as TorrentInfo;

use swarmdate_engine::JobId;
use swarmdate_usecases::download;

impl Backend {
    /// Fetches and checks the torrent a link or path names.
    pub fn inspect(
        self: &Arc<Self>,
        reference: String,
    ) -> impl Future<Output = Result<TorrentInfo, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            download::inspect(&me.client(), &reference)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// Downloads `torrent` into `dir` (built in staging, then renamed) and shares it after.
    pub fn download(
        self: &Arc<Self>,
        torrent: swarmdate_core::torrent::Torrent,
        dir: PathBuf,
    ) -> impl Future<Output = Result<JobId, String>> + Send + 'static {
        let me = self.clone();
        self.run(async move {
            let r: anyhow::Result<JobId> = async {
                let engine = me.engine().await?;
                let options = download::Options {
                    seed_after: true,
                    replace: false,
                };
                download::start(engine, &torrent, &dir, options).await
            }
            .await;
            r.map_err(|e| format!("{e:#}"))
        })
    }
}
