//! Opening a link: any torrent a `bittorrent://` link, a URL or a path names, looked at first
//! (`inspect`), then downloaded into a folder (`start`), built in staging and renamed when whole.

use std::path::{Path, PathBuf};

use swarmdate_core::feed::Location;
use swarmdate_core::torrent::Torrent;
use swarmdate_engine::service::EngineHandle;
use swarmdate_engine::{JobId, JobSpec};

use crate::User;

/// A torrent someone asked to open, fetched and checked.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The parsed, validated torrent.
    pub torrent: Torrent,
    /// Where it came from, for people.
    pub from: String,
}

/// Fetches and checks the torrent `reference` names (a path, an http(s)/file URL or
/// `bittorrent://<url>`); nothing is downloaded yet.
pub async fn inspect(client: &User, reference: &str) -> anyhow::Result<Opened> {
    let loc = Location::parse_torrent_ref(reference)?;
    let torrent = client.torrent_at(&loc).await?;
    Ok(Opened {
        torrent,
        from: loc.display(),
    })
}

/// How a download treats what is there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep sharing it once complete.
    pub seed_after: bool,
    /// The payload in the folder is an older version: reuse its unchanged pieces and replace it
    /// once the new one is complete.
    pub replace: bool,
}

/// Where `torrent`'s payload lands in `dir`.
pub fn destination(torrent: &Torrent, dir: &Path) -> PathBuf {
    dir.join(&torrent.name)
}

/// Starts downloading `torrent` into `dir`. Refused before anything is written when the payload
/// is there already (unless `replace`) or cannot fit.
pub async fn start(
    engine: &EngineHandle,
    torrent: &Torrent,
    dir: &Path,
    options: Options,
) -> anyhow::Result<JobId> {
    let dest = destination(torrent, dir);
    anyhow::ensure!(
        options.replace || !dest.exists(),
        "{} exists already: move it away or choose another folder (or update it in place)",
        dest.display()
    );
    std::fs::create_dir_all(dir)?;
    // The engine's journal keeps it; it must not depend on where the command ran.
    let dir = std::path::absolute(dir)?;
    swarmdate_core::fsutil::ensure_space(&dir, torrent.data_length())?;
    let spec = JobSpec::Fetch {
        dest: dir,
        seed_after: options.seed_after,
        replace: options.replace,
    };
    Ok(engine.add_job(torrent, spec).await?)
}
