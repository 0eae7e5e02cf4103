//! The demo world: a small signed distribution with three image versions, a tracker and a seeder
//! on 127.0.0.1, and a client home holding version 1.00. The first thing a newcomer runs.

mod advisories;
pub mod repository;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::mirror::MirrorServer;
use crate::tracker::Tracker;
use swarmdate_core::config::Settings;
use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::publish::{
    FeedSpec, IsoPublishOptions, MasterOptions, PublishedRepo, build_image, publish_feed,
    publish_iso, publish_master, respin,
};
use swarmdate_core::torrent::Torrent;
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload, RepoSpec};

/// Package names the demo's images carry (the bytes are generated).
const PACKAGES: &[&str] = &[
    "bash-5.2.26-3.fc41",
    "coreutils-9.5-1.fc41",
    "glibc-2.40-3.fc41",
    "kernel-core-6.11.4-301.fc41",
    "systemd-256.7-1.fc41",
    "NetworkManager-1.48.10-1.fc41",
    "gnome-shell-47.0-1.fc41",
    "firefox-131.0.2-1.fc41",
    "mesa-dri-drivers-24.2.4-1.fc41",
    "python3-3.13.0-1.fc41",
    "dnf5-5.2.6.2-1.fc41",
    "rpm-4.20.0-1.fc41",
    "openssl-libs-3.2.2-9.fc41",
    "grub2-efi-x64-2.12-10.fc41",
    "gtk4-4.16.3-1.fc41",
    "libadwaita-1.6.1-1.fc41",
];

/// What one respin changes.
struct Respin {
    version: &'static str,
    /// (index into the current package list, new name)
    updates: &'static [(usize, &'static str)],
    added: &'static [&'static str],
}

const RESPINS: &[Respin] = &[
    Respin {
        version: "1.01",
        updates: &[
            (0, "bash-5.2.32-1.fc41"),
            (7, "firefox-132.0-1.fc41"),
            (12, "openssl-libs-3.2.2-10.fc41"),
        ],
        added: &["flatpak-1.15.10-1.fc41"],
    },
    Respin {
        version: "1.02",
        updates: &[
            (3, "kernel-core-6.11.5-300.fc41"),
            (4, "systemd-256.8-1.fc41"),
        ],
        added: &["toolbox-0.0.99.6-1.fc41", "podman-5.2.5-1.fc41"],
    },
];

/// A running demo distribution.
pub struct DemoWorld {
    /// The demo's folder.
    pub root: PathBuf,
    /// The distributor's folder: images, torrents, the signed feed.
    pub publish_dir: PathBuf,
    /// The feed's URL.
    pub feed_url: String,
    /// The distribution's public key.
    pub public_key: PathBuf,
    /// The client's home (`--home`): settings, trusted key, images with version 1.00.
    pub client_home: PathBuf,
    /// The versions' torrents, oldest first.
    pub torrents: Vec<Torrent>,
    /// Versions and their images, oldest first.
    pub versions: Vec<(String, PathBuf)>,
    /// The tracker on 127.0.0.1.
    pub tracker: Tracker,
    /// The seeder on 127.0.0.1: every image version and the release repository.
    pub seeder: Arc<Engine>,
    /// A peer holding about half of the updates, which it fetched from the mirror.
    pub peer: Arc<Engine>,
    /// The mirror on 127.0.0.1, web seed of both repositories.
    pub mirror: MirrorServer,
    /// The client's rpm root, with the release's older packages installed.
    pub package_root: PathBuf,
    /// The port the client's engine takes peers on (fixed, so the demo's leecher finds it).
    pub client_port: u16,
    /// How many packages the repositories hold.
    pub packages: usize,
}

/// Release packages the demo generates.
const DEMO_PACKAGES: usize = 200;

/// Writes `len` deterministic pseudo-random bytes (stand-ins for package payloads).
pub fn write_package(path: &Path, len: usize, seed: u64) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(path))?;
    std::fs::write(path, data)
}

fn package_path(tree: &Path, nevr: &str) -> PathBuf {
    let letter = nevr.chars().next().unwrap_or('_').to_ascii_lowercase();
    tree.join("Packages")
        .join(letter.to_string())
        .join(format!("{nevr}.x86_64.rpm"))
}

/// How long a demo engine may take to have its data (seconds of a few MB on loopback): a
/// stall becomes an error that names it, not a demo or test that hangs.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(180);

/// `wait` for an engine's job, bounded by [`READY_WITHIN`].
async fn within<T>(
    wait: impl std::future::Future<Output = anyhow::Result<T>>,
    who: &str,
) -> anyhow::Result<T> {
    tokio::time::timeout(READY_WITHIN, wait)
        .await
        .map_err(|_| anyhow::anyhow!("{who} did not get its data within {READY_WITHIN:?}"))?
        .with_context(|| who.to_owned())
}

impl DemoWorld {
    /// A peer that downloads the client's first image from the client alone, slowly (so its
    /// Seeding page shows the bytes grow): it waits until the client's engine takes peers.
    pub fn leecher(
        &self,
        bytes_per_sec: u32,
    ) -> impl std::future::Future<Output = anyhow::Result<Arc<Engine>>> + Send + 'static {
        let client: std::net::SocketAddr = ([127, 0, 0, 1], self.client_port).into();
        let dir = self.root.join("leecher");
        let torrent = self.torrents[0].clone();
        async move {
            while tokio::net::TcpStream::connect(client).await.is_err() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            std::fs::create_dir_all(&dir)?;
            let engine = Engine::start(EngineConfig {
                trackers: false,
                known_peers: vec![client],
                download_limit: Some(bytes_per_sec),
                ..EngineConfig::loopback(&dir)
            })
            .await?;
            engine
                .add_job(
                    &torrent,
                    JobSpec::Fetch {
                        dest: dir.join(&torrent.name),
                        seed_after: false,
                        replace: false,
                    },
                )
                .await?;
            Ok(engine)
        }
    }

    /// Builds the world under `root` with images of about `mb` MB; `say` reports each step.
    pub async fn build(root: &Path, mb: usize, say: impl Fn(&str)) -> anyhow::Result<DemoWorld> {
        let tree = root.join("tree");
        let publish_dir = root.join("publish");
        std::fs::create_dir_all(&publish_dir)?;
        let each = mb * 1_000_000 / PACKAGES.len();
        say("Generating packages and image 1.00");
        let (t, p) = (tree.clone(), publish_dir.clone());
        let versions =
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, PathBuf)>> {
                let mut current: Vec<String> = PACKAGES.iter().map(|s| s.to_string()).collect();
                for (i, nevr) in current.iter().enumerate() {
                    write_package(&package_path(&t, nevr), each + i * 4099, i as u64)?;
                }
                let first = p.join("swarmdate-demo-1.00-x86_64.iso");
                build_image(&t, "SWARMDATE_DEMO", &first)?;
                let mut versions = vec![("1.00".to_string(), first)];
                for (
                    n,
                    Respin {
                        version,
                        updates,
                        added,
                    },
                ) in RESPINS.iter().enumerate()
                {
                    for (idx, new) in updates.iter() {
                        std::fs::remove_file(package_path(&t, &current[*idx]))?;
                        write_package(
                            &package_path(&t, new),
                            each + 777 * n,
                            1000 + *idx as u64 + 100 * n as u64,
                        )?;
                        current[*idx] = new.to_string();
                    }
                    for (k, nevr) in added.iter().enumerate() {
                        write_package(
                            &package_path(&t, nevr),
                            each / 3,
                            2000 + k as u64 + 100 * n as u64,
                        )?;
                    }
                    let img = p.join(format!("swarmdate-demo-{version}-x86_64.iso"));
                    respin(&versions.last().expect("1.00 exists").1, &t, "/", &img)?;
                    versions.push((version.to_string(), img));
                }
                Ok(versions)
            })
            .await??;

        let tracker = Tracker::start(([127, 0, 0, 1], 0).into()).await?;
        let mirror = MirrorServer::start(&root.join("mirror"), ([127, 0, 0, 1], 0).into()).await?;
        let key = KeyPair::generate("Swarmdate demo distribution <demo@localhost>")?;
        let public_key = root.join("demo-key.asc");
        std::fs::write(&public_key, key.public_armored())?;
        say("Generating a signed package repository and its updates");
        let (k, m, p, url, mirror_url) = (
            key.clone(),
            root.join("mirror"),
            publish_dir.clone(),
            tracker.announce_url(),
            mirror.url(),
        );
        let (repos, release, updates) = tokio::task::spawn_blocking(
            move || -> anyhow::Result<(repository::GeneratedRepos, PublishedRepo, PublishedRepo)> {
                let repos = repository::generate(&m, &k, DEMO_PACKAGES, 8_000..48_000, 41)?;
                let opts = |kind, id: &str, folder: &str, days: i64| MasterOptions {
                    kind,
                    id: id.into(),
                    name: None,
                    piece_length: None,
                    trackers: vec![url.clone()],
                    web_seeds: vec![format!("{mirror_url}{folder}/41/")],
                    similar: Vec::new(),
                    out_dir: p.clone(),
                    date: Some(Utc::now() - Duration::days(days)),
                    signing_keys: Vec::new(),
                    ignore_repodata: false,
                };
                let release = publish_master(
                    &repos.release,
                    &opts(RepoKind::Release, "release", "releases", 60),
                )?;
                // The updates carry advisories when the distribution's tools are here.
                advisories::add_advisories(&repos.updates, &repos.update_packages, &repos.installed)?;
                let updates = publish_master(
                    &repos.updates,
                    &opts(RepoKind::Updates, "updates", "updates", 1),
                )?;
                Ok((repos, release, updates))
            },
        )
        .await??;
        say("Publishing torrents and signing the feed");
        let (vs, p, url) = (
            versions.clone(),
            publish_dir.clone(),
            tracker.announce_url(),
        );
        let torrents = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Torrent>> {
            let mut out = Vec::new();
            for (i, (version, img)) in vs.iter().enumerate() {
                let opts = IsoPublishOptions {
                    trackers: vec![url.clone()],
                    date: Some(Utc::now() - Duration::days(30 - 10 * i as i64)),
                    ..Default::default()
                };
                out.push(publish_iso(img, version, &opts)?.0);
            }
            let spec = FeedSpec {
                distribution: "Swarmdate Demo".into(),
                release: "41".into(),
                arch: "x86_64".into(),
                serial: None,
                expires: Utc::now() + Duration::days(7),
                refresh_interval_secs: 600,
                trackers: vec![url],
                web_seeds: vec![],
            };
            publish_feed(&p, &spec, &key)?;
            Ok(out)
        })
        .await??;

        say("Starting the seeder on 127.0.0.1");
        let seeder = Engine::start(EngineConfig::loopback(&root.join("seeder"))).await?;
        let mut ids = Vec::new();
        for (t, (_, img)) in torrents.iter().zip(&versions) {
            ids.push(
                seeder
                    .add_job(
                        t,
                        JobSpec::Seed {
                            payload: Payload::Image(img.clone()),
                        },
                    )
                    .await?,
            );
        }
        let release_folder =
            Payload::Folder(swarmdate_core::fsutil::parent_dir(&repos.release).to_owned());
        ids.push(
            seeder
                .add_job(
                    &release.torrent,
                    JobSpec::Seed {
                        payload: release_folder,
                    },
                )
                .await?,
        );
        for id in ids {
            within(seeder.wait(id), "the demo seeder").await?;
        }

        say("Starting a peer that holds half of the updates (fetched from the mirror)");
        let peer_state = root.join("peer");
        let peer = Engine::start(EngineConfig::loopback(&peer_state)).await?;
        let index = peer_state.join("updates.index.json");
        std::fs::write(&index, updates.index.to_json())?;
        let wanted = updates
            .index
            .packages
            .iter()
            .step_by(2)
            .map(|p| p.file_index)
            .collect();
        let spec = RepoSpec {
            index,
            wanted,
            mirrors: Vec::new(),
            images: Vec::new(),
        };
        let id = peer
            .add_job(&updates.torrent, JobSpec::Repository(spec))
            .await?;
        within(peer.wait(id), "the demo peer").await?;

        say("Installing the release's older packages into the client's root");
        let package_root = root.join("client/root");
        let files: Vec<PathBuf> = repos
            .installed
            .iter()
            .map(|n| repos.file(n).context("a generated package"))
            .collect::<anyhow::Result<_>>()?;
        let (r, k) = (package_root.clone(), public_key.clone());
        tokio::task::spawn_blocking(move || repository::install_root(&r, &k, &files)).await??;

        let client_home = root.join("client");
        let feed_url = format!("file://{}", publish_dir.join("feed.json").display());
        let config = client_home.join("config");
        std::fs::create_dir_all(config.join("trusted-keys"))?;
        std::fs::copy(&public_key, config.join("trusted-keys/demo.asc"))?;
        // A free port now, so the demo's leecher can find the client later.
        let client_port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        Settings {
            feed_url: Some(feed_url.clone()),
            listen_port: Some(client_port),
            loopback_only: true,
            ..Default::default()
        }
        .save(&config)?;
        let images = client_home.join("data/images");
        std::fs::create_dir_all(&images)?;
        let first = &versions[0].1;
        std::fs::copy(first, images.join(first.file_name().context("image name")?))?;

        Ok(DemoWorld {
            client_port,
            torrents,
            root: root.to_owned(),
            publish_dir,
            feed_url,
            public_key,
            client_home,
            versions,
            tracker,
            seeder,
            peer,
            mirror,
            package_root,
            packages: repos.release_packages.len(),
        })
    }
}
