//! Builders for the worlds tests run in: image chains made with xorriso, signed feeds, seeders on
//! 127.0.0.1, and the `swarmdate` binary run as a client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use bencode::{BencodeValue, ByteBufOwned};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use std::collections::HashMap;
use swarmdate_core::feed::KeyPair;
use swarmdate_core::packages::{Dep, Nevra, Op};
use swarmdate_core::publish::{FeedSpec, IsoPublishOptions, publish_feed, publish_iso, respin};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload};
use swarmdate_testkit::demo::repository::package_path;
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};
use swarmdate_testkit::tracker::Tracker;

/// The `swarmdate-helper` binary, built beside `swarmdate` by `cargo test --workspace` (it is the
/// helper crate's; cargo names only a package's own binaries to its tests).
pub fn helper_exe() -> std::path::PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_swarmdate")).with_file_name("swarmdate-helper");
    assert!(
        exe.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        exe.display()
    );
    exe
}

/// Writes `len` pseudo-random bytes (deterministic per seed).
pub fn random_file(path: &Path, len: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// A fresh ISO9660 image of `tree` with Rock Ridge and Joliet names.
pub fn mkisofs(tree: &Path, out: &Path) {
    let st = Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-V", "SWARMDATE_TEST", "-o"])
        .arg(out)
        .arg(tree)
        .output()
        .expect("xorriso is installed");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// A published distribution: a chain of image versions, a signed feed and its key.
pub struct Distro {
    pub dir: tempfile::TempDir,
    pub key: KeyPair,
    pub versions: Vec<(String, PathBuf)>,
}

impl Distro {
    /// The publish folder.
    pub fn publish_dir(&self) -> PathBuf {
        self.dir.path().join("publish")
    }

    /// The feed URL.
    pub fn feed_url(&self) -> String {
        format!("file://{}", self.publish_dir().join("feed.json").display())
    }

    /// The public key file users trust.
    pub fn public_key(&self) -> PathBuf {
        self.dir.path().join("public.asc")
    }

    /// The image of a version.
    pub fn image(&self, version: &str) -> &Path {
        &self.versions.iter().find(|(v, _)| v == version).unwrap().1
    }

    /// Builds images 1.00 (fresh), 1.01 and 1.02 (appended respins) of about `mb` MB, publishes
    /// torrents announcing to `tracker`, and signs a feed.
    pub fn build(mb: usize, piece_kib: u32, tracker: &str) -> Distro {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let publish = dir.path().join("publish");
        std::fs::create_dir_all(&publish).unwrap();
        let files = 20;
        let each = mb * 1_000_000 / files;
        for i in 0..files {
            random_file(
                &tree.join(format!("Packages/p/pkg{i:02}-1.0-1.x86_64.rpm")),
                each,
                i as u64,
            );
        }
        let mut versions = Vec::new();
        let v100 = publish.join("os-1.00.iso");
        mkisofs(&tree, &v100);
        versions.push(("1.00".to_string(), v100));
        // Each respin replaces two packages and adds one.
        for (n, version) in ["1.01", "1.02"].iter().enumerate() {
            let base = 100 + 10 * n as u64;
            for k in 0..2 {
                let old = tree.join(format!("Packages/p/pkg{:02}-1.0-1.x86_64.rpm", 3 * n + k));
                std::fs::remove_file(&old).unwrap();
                random_file(
                    &tree.join(format!(
                        "Packages/p/pkg{:02}-1.{}-1.x86_64.rpm",
                        3 * n + k,
                        n + 1
                    )),
                    each / 2 + k * 10_000,
                    base + k as u64,
                );
            }
            random_file(
                &tree.join(format!("Packages/n/new{n}-1.0-1.x86_64.rpm")),
                700_000,
                base + 5,
            );
            let new = publish.join(format!("os-{version}.iso"));
            respin(&versions.last().unwrap().1, &tree, "/", &new).unwrap();
            versions.push((version.to_string(), new));
        }
        Distro::publish(dir, versions, piece_kib, tracker)
    }

    /// Publishes images already in `<dir>/publish` (oldest first): torrents announcing to
    /// `tracker`, and a signed feed.
    pub fn publish(
        dir: tempfile::TempDir,
        versions: Vec<(String, PathBuf)>,
        piece_kib: u32,
        tracker: &str,
    ) -> Distro {
        for (i, (v, img)) in versions.iter().enumerate() {
            let opts = IsoPublishOptions {
                piece_length: Some(piece_kib << 10),
                trackers: vec![tracker.to_owned()],
                date: Some(chrono::Utc::now() - chrono::Duration::days(10 - i as i64)),
                ..Default::default()
            };
            publish_iso(img, v, &opts).unwrap();
        }
        let key = KeyPair::generate("Test distribution <dist@example.org>").unwrap();
        std::fs::write(dir.path().join("public.asc"), key.public_armored()).unwrap();
        publish_feed(&dir.path().join("publish"), &feed_spec(), &key).unwrap();
        Distro { dir, key, versions }
    }
}

/// The feed fields tests use.
pub fn feed_spec() -> FeedSpec {
    FeedSpec {
        distribution: "Test".into(),
        release: "1".into(),
        arch: "x86_64".into(),
        serial: None,
        expires: chrono::Utc::now() + chrono::Duration::days(7),
        refresh_interval_secs: 600,
        trackers: vec![],
        web_seeds: vec![],
    }
}

/// A seeder engine on 127.0.0.1 serving every image of a distribution from its own folder.
pub async fn seed_all(distro: &Distro, state: &Path) -> Arc<Engine> {
    seed_all_with(distro, EngineConfig::loopback(state)).await
}

/// The same with an engine set up as `cfg` says.
pub async fn seed_all_with(distro: &Distro, cfg: EngineConfig) -> Arc<Engine> {
    let engine = Engine::start(cfg).await.unwrap();
    let mut ids = Vec::new();
    for (version, img) in &distro.versions {
        let payload = Payload::Image(img.clone());
        ids.push(
            engine
                .add_job(&distro.torrent(version), JobSpec::Seed { payload })
                .await
                .unwrap(),
        );
    }
    for id in ids {
        engine.wait(id).await.unwrap();
    }
    engine
}

/// Total bytes an engine has uploaded, by its own counters.
pub fn uploaded(engine: &Engine) -> u64 {
    engine
        .snapshot()
        .jobs
        .iter()
        .map(|j| j.bytes_uploaded)
        .sum()
}

/// The engine's snapshot of one job.
pub fn job_snapshot(
    engine: &Engine,
    job: swarmdate_engine::JobId,
) -> swarmdate_engine::JobSnapshot {
    engine
        .snapshot()
        .jobs
        .into_iter()
        .find(|j| j.id == job)
        .unwrap()
}

/// Starts a tracker on 127.0.0.1.
pub async fn tracker() -> Tracker {
    Tracker::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Settings in a home for the binary (`--home`): 127.0.0.1 only, any free port.
pub fn loopback_settings(home: &Path) {
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/settings.json"),
        r#"{"loopback_only": true, "listen_port": 0}"#,
    )
    .unwrap();
}

/// A client's home folder: loopback only, trusting the distribution's key.
pub struct UserHome {
    pub home: tempfile::TempDir,
    pub feed_url: String,
    pub key: PathBuf,
}

impl UserHome {
    pub fn new(distro: &Distro) -> UserHome {
        UserHome::of(distro.feed_url(), distro.public_key())
    }

    /// A client of the feed at `feed_url` signed by `key`, in a home of its own on 127.0.0.1.
    pub fn of(feed_url: String, key: PathBuf) -> UserHome {
        UserHome::of_in(feed_url, key, &std::env::temp_dir())
    }

    /// The same, with its home in a new folder under `dir`.
    pub fn of_in(feed_url: String, key: PathBuf, dir: &Path) -> UserHome {
        let home = tempfile::tempdir_in(dir).unwrap();
        loopback_settings(home.path());
        UserHome {
            home,
            feed_url,
            key,
        }
    }

    /// The client as the use cases see it (the window's way in).
    pub fn user(&self) -> swarmdate_usecases::User {
        swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
            home: Some(self.home.path().to_owned()),
            feed: Some(self.feed_url.clone()),
            trust: vec![self.key.clone()],
            listen: None,
        })
        .unwrap()
    }

    /// The client's images folder.
    pub fn images(&self) -> PathBuf {
        self.home.path().join("data/images")
    }

    /// A `swarmdate` command with this home, feed and key.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_swarmdate"));
        c.arg("--home")
            .arg(self.home.path())
            .arg("--feed")
            .arg(&self.feed_url)
            .arg("--trust")
            .arg(&self.key)
            .arg("--json")
            .args(args)
            .env("LANG", "C.UTF-8");
        // For debugging a hanging client: SWARMDATE_TEST_STDERR=/tmp/x.log SWARMDATE_LOG=debug.
        if let Ok(path) = std::env::var("SWARMDATE_TEST_STDERR") {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            c.stderr(f);
        }
        c
    }

    /// Runs a command to its end.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }
}

/// A finished command: exit code and its JSON events.
pub struct Run {
    pub code: i32,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        let events = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Run {
            code: o.status.code().unwrap_or(-1),
            events,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The final summary object; panics with the output when there is none.
    pub fn summary(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["event"] == "summary")
            .unwrap_or_else(|| {
                panic!(
                    "no summary (exit {}): {:?}\n{}",
                    self.code, self.events, self.stderr
                )
            })
    }

    /// The error event's message.
    pub fn error(&self) -> String {
        self.events
            .iter()
            .find(|e| e["event"] == "error")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| {
                panic!(
                    "no error event (exit {}): {:?}\n{}",
                    self.code, self.events, self.stderr
                )
            })
    }
}

/// The SHA-256 of a file.
pub fn sha256(path: &Path) -> swarmdate_core::hash::Sha256 {
    swarmdate_core::hash::Sha256::of_file(path).unwrap()
}

/// Counts, from the two files alone, the bytes of `new`'s pieces that differ from `old` at the
/// same offset (with `old` cut or zero-extended to `new`'s length, as a switch resizes it).
pub fn differing_bytes(old: &Path, new: &Path, piece: usize) -> u64 {
    let len = std::fs::metadata(new).unwrap().len();
    differing_pieces(old, new, piece)
        .iter()
        .map(|&i| (len - i as u64 * piece as u64).min(piece as u64))
        .sum()
}

/// The indexes of `new`'s pieces that differ from `old` at the same offset (see `differing_bytes`).
pub fn differing_pieces(old: &Path, new: &Path, piece: usize) -> Vec<usize> {
    let old = std::fs::read(old).unwrap();
    let new = std::fs::read(new).unwrap();
    let mut pieces = Vec::new();
    for (i, chunk) in new.chunks(piece).enumerate() {
        let start = i * piece;
        let mut was = vec![0u8; chunk.len()];
        if start < old.len() {
            let end = old.len().min(start + chunk.len());
            was[..end - start].copy_from_slice(&old[start..end]);
        }
        if was != chunk {
            pieces.push(i);
        }
    }
    pieces
}

impl UserHome {
    /// Runs a command without blocking the test's runtime (seeders live on it).
    pub async fn run_async(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(std::time::Duration::from_secs(300), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("swarmdate {args:?} did not finish in 5 minutes"))
            .unwrap();
        Run::from(out)
    }
}

/// Hand-built bencode for torrents our builder would never make.
pub type V = BencodeValue<ByteBufOwned>;

pub fn b(s: &str) -> V {
    V::Bytes(ByteBufOwned(s.as_bytes().to_vec().into()))
}

pub fn raw(bytes: Vec<u8>) -> V {
    V::Bytes(ByteBufOwned(bytes.into()))
}

pub fn dict(entries: Vec<(&str, V)>) -> V {
    V::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (ByteBufOwned(k.as_bytes().to_vec().into()), v))
            .collect::<HashMap<_, _>>(),
    )
}

pub fn encode(v: &V) -> Vec<u8> {
    let mut out = Vec::new();
    bencode::bencode_serialize_to_writer(v, &mut out).unwrap();
    out
}

/// A multi-file torrent with the given paths, each 10 bytes, in one 16 KiB piece.
pub fn multi(paths: &[Vec<&str>]) -> Vec<u8> {
    let files = paths
        .iter()
        .map(|p| {
            dict(vec![
                ("length", V::Integer(10)),
                ("path", V::List(p.iter().map(|c| b(c)).collect())),
            ])
        })
        .collect();
    encode(&dict(vec![(
        "info",
        dict(vec![
            ("name", b("payload")),
            ("piece length", V::Integer(16384)),
            ("pieces", raw(vec![7u8; 20])),
            ("files", V::List(files)),
        ]),
    )]))
}

/// Every file below `dir` with its digest: to show a refusal touched nothing.
pub fn tree_state(dir: &Path) -> Vec<(PathBuf, swarmdate_core::hash::Sha256)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(tree_state(&p));
            } else {
                out.push((p.clone(), sha256(&p)));
            }
        }
    }
    out.sort();
    out
}

impl Distro {
    /// Rewrites the feed through `edit` and signs it with `key`.
    pub fn resign(&self, key: &KeyPair, edit: impl FnOnce(&mut swarmdate_core::feed::Feed)) {
        let path = self.publish_dir().join("feed.json");
        let mut feed: swarmdate_core::feed::Feed =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut feed);
        let bytes = serde_json::to_vec_pretty(&feed).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let sig = swarmdate_core::feed::sign_detached(key, &bytes).unwrap();
        std::fs::write(self.publish_dir().join("feed.json.sig"), sig).unwrap();
    }
}

/// A file system the test mounts (it runs as root, as CI does); unmounted when dropped.
pub struct Mount {
    _holder: tempfile::TempDir,
    pub path: PathBuf,
}

impl Mount {
    /// A tmpfs of `mb` MiB.
    pub fn tmpfs(mb: u64) -> Mount {
        let holder = tempfile::tempdir().unwrap();
        let path = holder.path().join("mnt");
        std::fs::create_dir_all(&path).unwrap();
        mount(
            &["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"],
            &path,
        );
        Mount {
            _holder: holder,
            path,
        }
    }

    /// A loop-mounted XFS of `mb` MiB, which can reflink.
    pub fn xfs(mb: u64) -> Mount {
        let holder = tempfile::tempdir().unwrap();
        let image = holder.path().join("fs.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(mb << 20)
            .unwrap();
        let st = Command::new("mkfs.xfs")
            .args(["-q", "-f"])
            .arg(&image)
            .status()
            .expect("mkfs.xfs (xfsprogs) is installed");
        assert!(st.success());
        let path = holder.path().join("mnt");
        std::fs::create_dir_all(&path).unwrap();
        mount(&["-o", "loop", image.to_str().unwrap()], &path);
        Mount {
            _holder: holder,
            path,
        }
    }

    /// Bytes in use, as df counts them.
    pub fn used(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.path).unwrap();
        (st.blocks() - st.blocks_free()) as u64 * st.fragment_size() as u64
    }
}

fn mount(args: &[&str], at: &Path) {
    let out = Command::new("mount").args(args).arg(at).output().unwrap();
    assert!(
        out.status.success(),
        "these tests mount file systems and need root (CI runs as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A tracker on 127.0.0.1 and a distribution of about `mb` MB announcing to it.
pub async fn distro_with_tracker(mb: usize) -> (Tracker, Distro) {
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let distro = tokio::task::spawn_blocking(move || Distro::build(mb, 64, &url))
        .await
        .unwrap();
    (tracker, distro)
}

/// A seeder engine on 127.0.0.1 serving one version, ready when this returns.
pub async fn seed_one(
    distro: &Distro,
    version: &str,
    state: &Path,
) -> (Arc<Engine>, swarmdate_engine::JobId) {
    let engine = Engine::start(EngineConfig::loopback(state)).await.unwrap();
    let payload = Payload::Image(distro.image(version).to_owned());
    let id = engine
        .add_job(&distro.torrent(version), JobSpec::Seed { payload })
        .await
        .unwrap();
    engine.wait(id).await.unwrap();
    (engine, id)
}

impl Distro {
    /// The published torrent of a version.
    pub fn torrent(&self, version: &str) -> swarmdate_core::torrent::Torrent {
        let path = format!("{}.torrent", self.image(version).display());
        swarmdate_core::torrent::Torrent::from_bytes(std::fs::read(path).unwrap()).unwrap()
    }
}

/// A client engine on 127.0.0.1 fetching a torrent into a folder of its own.
pub struct Fetching {
    pub engine: Arc<Engine>,
    pub job: swarmdate_engine::JobId,
    pub dest: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Fetching {
    pub async fn start(torrent: &swarmdate_core::torrent::Torrent) -> Fetching {
        let state = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let engine = Engine::start(EngineConfig::loopback(state.path()))
            .await
            .unwrap();
        let spec = JobSpec::Fetch {
            dest: dest.path().to_owned(),
            seed_after: false,
            replace: false,
        };
        let job = engine.add_job(torrent, spec).await.unwrap();
        Fetching {
            engine,
            job,
            dest,
            _state: state,
        }
    }
}

/// An engine listening on `ip` (its own 127.0.0.x), with or without trackers, asking `known` peers.
pub async fn engine_on(
    ip: [u8; 4],
    state: &Path,
    trackers: bool,
    known: Vec<std::net::SocketAddr>,
) -> Arc<Engine> {
    let mut cfg = EngineConfig::loopback(state);
    cfg.listen = Some(std::net::SocketAddr::from((ip, 0)));
    cfg.trackers = trackers;
    cfg.known_peers = known;
    Engine::start(cfg).await.unwrap()
}

/// A client whose images folder is `dir`, holding `version`'s image there.
pub fn client_in(distro: &Distro, dir: &Path, version: &str) -> UserHome {
    let client = UserHome::new(distro);
    let settings = format!(
        r#"{{"loopback_only": true, "listen_port": 0, "images_dir": {:?}}}"#,
        dir.to_str().unwrap()
    );
    std::fs::write(client.home.path().join("config/settings.json"), settings).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(distro.image(version), dir.join(format!("os-{version}.iso"))).unwrap();
    client
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs the `swarmdate` binary with `args` alone (the distributor's commands need no client home).
pub fn run_cli(args: &[&str]) -> Run {
    Run::from(
        Command::new(env!("CARGO_BIN_EXE_swarmdate"))
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap(),
    )
}

/// `n` generated packages laid out as a mirror: `<repo>/Packages/<first letter>/<file>`, each
/// after the first requiring the first.
pub fn mirror_repo(repo: &Path, key: &KeyPair, n: usize, seed: u64) -> Vec<PackageSpec> {
    let factory = PackageFactory::new(key).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let specs: Vec<PackageSpec> = (0..n)
        .map(|i| {
            let name = format!("{}pkg{i:03}", (b'a' + (i % 7) as u8) as char);
            let nevra: Nevra = format!("{name}-1.{i}-1.fc41.x86_64").parse().unwrap();
            let mut s = PackageSpec::new(nevra, rng.gen_range(100_000..900_000));
            if i > 0 {
                let dep = Dep::with("apkg000", Op::Ge, "1.0".parse().unwrap());
                s.relations.requires.push(dep);
            }
            s
        })
        .collect();
    for (i, s) in specs.iter().enumerate() {
        let dir = package_path(repo, &s.nevra).parent().unwrap().to_owned();
        std::fs::create_dir_all(&dir).unwrap();
        factory.build(s, seed + i as u64, &dir).unwrap();
    }
    specs
}

/// A published package distribution: a generated release and updates snapshot on a mirror
/// folder, their torrents and indexes in a signed feed.
pub struct PackageDistro {
    pub dir: tempfile::TempDir,
    pub key: KeyPair,
    pub repos: swarmdate_testkit::demo::repository::GeneratedRepos,
    pub release: swarmdate_core::publish::PublishedRepo,
    pub updates: swarmdate_core::publish::PublishedRepo,
}

impl PackageDistro {
    /// `n` release packages with payloads in `payload`, announced to `tracker`.
    pub fn build(n: usize, payload: std::ops::Range<usize>, tracker: &str) -> PackageDistro {
        Self::build_in(tempfile::tempdir().unwrap(), n, payload, tracker, None)
    }

    /// The same in `dir`, with the mirror at `mirror_url` serving `dir/mirror` as web seed.
    pub fn build_in(
        dir: tempfile::TempDir,
        n: usize,
        payload: std::ops::Range<usize>,
        tracker: &str,
        mirror_url: Option<&str>,
    ) -> PackageDistro {
        use swarmdate_core::feed::RepoKind;
        use swarmdate_core::publish::{MasterOptions, publish_master};
        let key = KeyPair::generate("Distro <distro@example.org>").unwrap();
        let repos = swarmdate_testkit::demo::repository::generate(
            &dir.path().join("mirror"),
            &key,
            n,
            payload,
            41,
        )
        .unwrap();
        let publish = dir.path().join("publish");
        let opts = |kind, id: &str, days: i64| MasterOptions {
            kind,
            id: id.into(),
            name: None,
            piece_length: None,
            trackers: vec![tracker.to_owned()],
            // BEP 19: root + name + path, so the root is the folder above the repository's.
            web_seeds: mirror_url
                .map(|u| {
                    let folder = if kind == RepoKind::Release {
                        "releases"
                    } else {
                        "updates"
                    };
                    vec![format!("{u}{folder}/41/")]
                })
                .unwrap_or_default(),
            similar: Vec::new(),
            out_dir: publish.clone(),
            date: Some(chrono::Utc::now() - chrono::Duration::days(days)),
            signing_keys: Vec::new(),
            ignore_repodata: false,
        };
        let release =
            publish_master(&repos.release, &opts(RepoKind::Release, "release", 30)).unwrap();
        let updates =
            publish_master(&repos.updates, &opts(RepoKind::Updates, "updates-1", 1)).unwrap();
        let mut spec = feed_spec();
        spec.trackers = vec![tracker.to_owned()];
        publish_feed(&publish, &spec, &key).unwrap();
        std::fs::write(dir.path().join("key.asc"), key.public_armored()).unwrap();
        PackageDistro {
            dir,
            key,
            repos,
            release,
            updates,
        }
    }

    /// The feed URL.
    pub fn feed_url(&self) -> String {
        format!(
            "file://{}",
            self.dir.path().join("publish/feed.json").display()
        )
    }

    /// A client of this distribution (its own home) with `root` as its system.
    pub fn client(&self) -> UserHome {
        UserHome::of(self.feed_url(), self.dir.path().join("key.asc"))
    }

    /// An engine seeding both repositories from the mirror folder, ready when this returns.
    pub async fn origin(&self, state: &Path) -> Arc<Engine> {
        repository_origin(
            state,
            &[
                (&self.release, &self.repos.release),
                (&self.updates, &self.repos.updates),
            ],
        )
        .await
    }

    /// Publishes a second updates snapshot (snapshot 1's packages and `n` newer builds) at the
    /// mirror's `updates2/` and signs the feed again; returns its folder, the new builds and it.
    pub async fn next_snapshot(
        &self,
        tracker: &Tracker,
        mirror: &swarmdate_testkit::mirror::MirrorServer,
        n: usize,
        seed: u64,
    ) -> NextSnapshot {
        use swarmdate_core::feed::RepoKind;
        use swarmdate_core::publish::{MasterOptions, publish_master};
        let (repos, key, url, m) = (
            self.repos.clone(),
            self.key.clone(),
            tracker.announce_url(),
            mirror.url(),
        );
        let publish = self.dir.path().join("publish");
        let similar = self.updates.torrent.info_hash();
        tokio::task::spawn_blocking(move || {
            let (folder, new) = swarmdate_testkit::demo::repository::next_snapshot(
                &repos, &key, "updates2", n, seed,
            )
            .unwrap();
            let r = publish_master(
                &folder,
                &MasterOptions {
                    kind: RepoKind::Updates,
                    id: "updates-2".into(),
                    name: None,
                    piece_length: None,
                    trackers: vec![url.clone()],
                    web_seeds: vec![format!("{m}updates2/41/")],
                    similar: vec![similar],
                    out_dir: publish.clone(),
                    date: Some(chrono::Utc::now()),
                    signing_keys: Vec::new(),
                    ignore_repodata: false,
                },
            )
            .unwrap();
            let mut spec = feed_spec();
            spec.trackers = vec![url];
            publish_feed(&publish, &spec, &key).unwrap();
            let new_bytes = new
                .iter()
                .map(|n| std::fs::metadata(package_path(&folder, n)).unwrap().len())
                .sum();
            NextSnapshot {
                folder,
                new,
                new_bytes,
                published: r,
            }
        })
        .await
        .unwrap()
    }

    /// A root with the generated older set installed.
    pub fn root(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let root = crate::packages::rpm_root(&d, &self.key);
        let files: Vec<String> = self
            .repos
            .installed
            .iter()
            .map(|n| self.repos.file(n).unwrap().to_str().unwrap().to_owned())
            .collect();
        let mut args = vec!["-i"];
        args.extend(files.iter().map(String::as_str));
        crate::packages::rpm("rpm", &root, &args);
        root
    }
}

/// A second updates snapshot, as [`PackageDistro::next_snapshot`] published it.
pub struct NextSnapshot {
    /// Its repository folder.
    pub folder: PathBuf,
    /// The builds it adds.
    pub new: Vec<Nevra>,
    /// Their bytes.
    pub new_bytes: u64,
    /// Its torrent, index and feed entry.
    pub published: swarmdate_core::publish::PublishedRepo,
}

/// A package distribution whose repositories a mirror on 127.0.0.1 serves as their web seed.
pub async fn distro_with_mirror(
    n: usize,
    payload: std::ops::Range<usize>,
) -> (
    Tracker,
    swarmdate_testkit::mirror::MirrorServer,
    PackageDistro,
) {
    let tracker = tracker().await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = swarmdate_testkit::mirror::MirrorServer::start(
        &dir.path().join("mirror"),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let (url, m) = (tracker.announce_url(), mirror.url());
    let d = tokio::task::spawn_blocking(move || {
        PackageDistro::build_in(dir, n, payload, &url, Some(&m))
    })
    .await
    .unwrap();
    (tracker, mirror, d)
}

/// The packages installed in an rpm root (imported keys left out).
pub fn installed_in(root: &Path) -> std::collections::BTreeSet<String> {
    crate::packages::rpm("rpm", root, &["-qa"])
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey"))
        .map(str::to_owned)
        .collect()
}

/// Polls `cond` every 50 ms until it holds; `limit` is only a hang guard, past it the test fails
/// naming `what`.
pub async fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {limit:?} for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A snapshot of `engine` computed after this call: the second one published from now, since the
/// first may have been under way already. Counters read from it include every byte that had
/// left the engine when this was called (a peer that exited got all it asked for).
pub async fn fresh_snapshot(engine: &Engine) -> swarmdate_engine::Snapshot {
    let mut rx = engine.subscribe();
    rx.borrow_and_update();
    for _ in 0..2 {
        tokio::time::timeout(std::time::Duration::from_secs(30), rx.changed())
            .await
            .expect("the engine publishes snapshots")
            .expect("the engine runs");
    }
    rx.borrow().clone()
}

/// Total bytes an engine has uploaded, from a snapshot computed after this call.
pub async fn uploaded_now(engine: &Engine) -> u64 {
    fresh_snapshot(engine)
        .await
        .jobs
        .iter()
        .map(|j| j.bytes_uploaded)
        .sum()
}

impl PackageDistro {
    /// What an update of the generated installed set must leave: every installed name at its
    /// newest build, kernels side by side, legacy-tool replaced by modern-tool, the new library
    /// pulled in.
    pub fn expected_after_update(&self) -> std::collections::BTreeSet<String> {
        let newest = |n: &Nevra| {
            self.repos
                .update_packages
                .iter()
                .find(|u| u.name == n.name && u.arch == n.arch)
                .unwrap_or(n)
                .to_string()
        };
        let mut want: std::collections::BTreeSet<String> = self
            .repos
            .installed
            .iter()
            .filter(|n| n.name != "legacy-tool" && n.name != "kernel")
            .map(newest)
            .collect();
        for n in &self.repos.update_packages {
            if ["kernel", "modern-tool", "libnew"].contains(&n.name.as_str()) {
                want.insert(n.to_string());
            }
        }
        want.insert("kernel-6.11.4-301.fc41.x86_64".into());
        want
    }

    /// The builds an update's summary says it installed, and the bytes of their files.
    pub fn changes(&self, summary: &Value) -> (std::collections::BTreeSet<String>, u64) {
        let mut bytes = 0;
        let builds = summary["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let n: Nevra = serde_json::from_value(c["package"].clone()).unwrap();
                bytes += std::fs::metadata(self.repos.file(&n).unwrap())
                    .unwrap()
                    .len();
                n.to_string()
            })
            .collect();
        (builds, bytes)
    }
}

/// Reads `seed --json`'s events until its job seeds (within a minute), then drains the rest.
pub async fn wait_seeding(stdout: tokio::process::ChildStdout) {
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == "seed" && v["state"]["state"] == "seeding" {
                break;
            }
        }
    })
    .await
    .expect("the seeder seeds within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
}

/// An engine on 127.0.0.1 seeding published repositories, each from its mirror folder (the
/// repository's own folder; the torrent's name is that folder's name), ready when this returns.
pub async fn repository_origin(
    state: &Path,
    repos: &[(&swarmdate_core::publish::PublishedRepo, &PathBuf)],
) -> Arc<Engine> {
    let engine = Engine::start(EngineConfig::loopback(state)).await.unwrap();
    let mut ids = Vec::new();
    for (r, dir) in repos {
        let payload = Payload::Folder(dir.parent().unwrap().to_owned());
        ids.push(
            engine
                .add_job(&r.torrent, JobSpec::Seed { payload })
                .await
                .unwrap(),
        );
    }
    for id in ids {
        engine.wait(id).await.unwrap();
    }
    engine
}

/// aria2c downloading `torrent` into `dir` from the peers its trackers give (every other way of
/// finding peers off), leaving when done; fails the test unless it ends well within 2 minutes.
pub async fn aria2c(torrent: &Path, dir: &Path) {
    let mut aria = tokio::process::Command::new("aria2c");
    aria.args([
        "--seed-time=0",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--file-allocation=falloc",
        "--listen-port=46881-46899",
        "--console-log-level=warn",
        "--summary-interval=0",
    ])
    .arg(format!("--dir={}", dir.display()))
    .arg(torrent)
    .kill_on_drop(true);
    let done = tokio::time::timeout(std::time::Duration::from_secs(120), aria.output())
        .await
        .expect("aria2c finished within 2 minutes")
        .expect("aria2c is installed");
    assert!(
        done.status.success(),
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
}

/// A small package distribution (30 release packages) seeded by an origin on 127.0.0.1 through
/// a tracker: the world most end-to-end package tests start from.
pub struct SeededDistro {
    pub distro: PackageDistro,
    pub origin: Arc<Engine>,
    _origin_state: tempfile::TempDir,
    _tracker: Tracker,
}

impl SeededDistro {
    /// Builds and seeds it; ready when this returns.
    pub async fn start() -> SeededDistro {
        let tracker = tracker().await;
        let url = tracker.announce_url();
        let distro =
            tokio::task::spawn_blocking(move || PackageDistro::build(30, 20_000..60_000, &url))
                .await
                .unwrap();
        let origin_state = tempfile::tempdir().unwrap();
        let origin = distro.origin(origin_state.path()).await;
        SeededDistro {
            distro,
            origin,
            _origin_state: origin_state,
            _tracker: tracker,
        }
    }
}

/// Every file below `dir`, depth first.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
