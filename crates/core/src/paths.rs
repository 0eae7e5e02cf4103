//! Where Swarmdate keeps things (XDG base directories).

use std::path::PathBuf;

/// The folders one user's Swarmdate uses.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `$XDG_CONFIG_HOME/swarmdate`: feed URL, trusted keys, limits.
    pub config: PathBuf,
    /// `$XDG_DATA_HOME/swarmdate`: images, the store, the job journal, engine state. Not the cache:
    /// users clear caches, and seeded data must not vanish under a running torrent.
    pub data: PathBuf,
    /// `$XDG_CACHE_HOME/swarmdate`: what can be fetched again (plain repositories' repodata).
    pub cache: PathBuf,
}

impl Dirs {
    /// The user's folders, from the XDG variables or their defaults.
    pub fn for_user() -> anyhow::Result<Self> {
        let d = directories::ProjectDirs::from("org", "Swarmdate", "swarmdate")
            .ok_or_else(|| anyhow::anyhow!("no home folder: set HOME or XDG_DATA_HOME"))?;
        Ok(Dirs {
            config: d.config_dir().to_owned(),
            data: d.data_dir().to_owned(),
            cache: d.cache_dir().to_owned(),
        })
    }

    /// Folders under one root (tests, the demo, `--state-dir`).
    pub fn under(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Dirs {
            config: root.join("config"),
            data: root.join("data"),
            cache: root.join("cache"),
        }
    }

    /// The engine's own state: lock, job journal, torrent list.
    pub fn engine(&self) -> PathBuf {
        self.data.join("engine")
    }

    /// The package store.
    pub fn store(&self) -> PathBuf {
        self.data.join("store")
    }

    /// The default folder for ISO images.
    pub fn images(&self) -> PathBuf {
        self.data.join("images")
    }
}
