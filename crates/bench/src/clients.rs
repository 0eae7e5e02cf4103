//! `bench clients`: Swarmdate against the BitTorrent clients people run. One leecher at a time
//! downloads from one fixed seeder (a Swarmdate engine in this process, no limits) on loopback:
//! `swarmdate get` (the path a user takes, with its checks), aria2c, transmission-daemon and
//! qbittorrent-nox, each with discovery off. Tasks: a 1 GiB file, a 2,000-file folder, and an
//! update of the 1 GiB file with 20 scattered MiB changed (the old file is in place first).
//!
//! Each run starts once the leecher has announced to the tracker (its start-up is not counted):
//! then the seeder resumes, announces and dials it. Wall time runs until the leecher has every
//! piece verified (the daemons) or has exited (the programs); CPU seconds are the leecher's over
//! the same span, from `/proc` and the reaped child's rusage. The bytes each run took are counted
//! at the seeder.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use swarmdate_core::torrent::{Torrent, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobId, JobSpec, Payload};
use swarmdate_testkit::third_party::{QBittorrent, Transmission, cpu_secs, free_port, wait_until};
use swarmdate_testkit::tracker::Tracker;

/// The clients compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Leecher {
    /// `swarmdate get`.
    Swarmdate,
    /// aria2c 1.36.
    Aria2c,
    /// transmission-daemon 3.00.
    Transmission,
    /// qbittorrent-nox 4.5 (libtorrent 2.0).
    #[value(name = "qbittorrent")]
    QBittorrent,
}

impl Leecher {
    /// Every client, Swarmdate first (the others' ratios are to it).
    pub const ALL: [Leecher; 4] = [
        Leecher::Swarmdate,
        Leecher::Aria2c,
        Leecher::Transmission,
        Leecher::QBittorrent,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Leecher::Swarmdate => "Swarmdate",
            Leecher::Aria2c => "aria2c",
            Leecher::Transmission => "Transmission",
            Leecher::QBittorrent => "qBittorrent",
        }
    }
}

/// What the leecher does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Download one large file.
    File,
    /// Download a folder of many files.
    Folder,
    /// Bring an older version of the large file up to date.
    Update,
}

impl Task {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Task::File => "1 GiB file",
            Task::Folder => "2,000-file folder",
            Task::Update => "update in place",
        }
    }
}

/// One run of one client.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds from the leecher's launch to its announce: for an update, checking the older file.
    pub ready_secs: f64,
    /// Seconds to the leecher's completion: from its launch for an update, otherwise from the
    /// seeder's resume after its announce.
    pub wall_secs: f64,
    /// The leecher's CPU seconds over that span.
    pub cpu_secs: f64,
    /// Bytes the seeder uploaded in the run.
    pub served: u64,
}

/// The medians of one client on one task.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The task.
    pub task: Task,
    /// The client.
    pub client: Leecher,
    /// Payload bytes of the task's torrent.
    pub payload: u64,
    /// Median seconds from launch to announce.
    pub ready_secs: f64,
    /// Median wall seconds.
    pub wall_secs: f64,
    /// Median CPU seconds per GiB of payload.
    pub cpu_secs_per_gib: f64,
    /// Median bytes the seeder served.
    pub served: u64,
    /// `wall_secs` over Swarmdate's.
    pub wall_ratio: f64,
    /// `cpu_secs_per_gib` over Swarmdate's.
    pub cpu_ratio: f64,
    /// Every run.
    pub samples: Vec<Sample>,
}

/// What `bench clients` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsBench {
    /// The machine: CPU model, cores, kernel.
    pub machine: String,
    /// Runs per client and task (the figures are their medians).
    pub runs: usize,
    /// Bytes the update changed.
    pub changed: u64,
    /// One row per task and client.
    pub rows: Vec<Row>,
}

/// Sizes of the payloads.
#[derive(Debug, Clone, Copy)]
pub struct ClientsSizes {
    /// The large file.
    pub file: u64,
    /// Files in the folder.
    pub files: usize,
    /// Their mean size (they range from half of it to one and a half times it).
    pub file_mean: u64,
    /// Scattered 1 MiB regions the update changes.
    pub changed_mib: usize,
}

/// Runs every client `runs` times on each task, in `dir`.
pub async fn run_clients_bench(
    dir: &Path,
    sizes: ClientsSizes,
    runs: usize,
    leechers: &[Leecher],
    say: impl Fn(&str),
) -> anyhow::Result<ClientsBench> {
    say("Writing the payloads");
    let src = dir.join("source");
    let src2 = src.clone();
    let [file, folder, newer] =
        tokio::task::spawn_blocking(move || write_payloads(&src2, sizes)).await??;
    let payloads = [
        Payload::Image(file.clone()),
        Payload::Folder(src.clone()),
        Payload::Image(newer.clone()),
    ];
    let tracker = Tracker::start(([127, 0, 0, 1], 0).into()).await?;
    let url = tracker.announce_url();
    let old = file.clone();
    let torrents = tokio::task::spawn_blocking(move || {
        let single = |path: &Path| {
            TorrentBuilder::single_file("image.iso", path)
                .tracker(&url)
                .build()
        };
        anyhow::Ok([
            single(&file)?,
            TorrentBuilder::multi_file("repo", super::folder_sources(&folder)?)
                .tracker(&url)
                .build()?,
            single(&newer)?,
        ])
    })
    .await??;

    say("Starting the seeder");
    let seeder = Engine::start(EngineConfig::loopback(&dir.join("seeder"))).await?;
    let mut seeds = Vec::new();
    for (t, payload) in torrents.iter().zip(payloads) {
        let id = seeder.add_job(t, JobSpec::Seed { payload }).await?;
        seeder.wait(id).await?;
        seeder.pause(id).await?;
        let path = dir.join(format!("{}.torrent", t.info_hash()));
        std::fs::write(&path, t.bytes())?;
        seeds.push((id, path));
    }

    let bench = Bench {
        seeder,
        tracker,
        scratch: dir.join("leech"),
        old,
        source: src,
        // On 127.0.0.1, where the tracker says it is: it never dials the seeder itself.
        transmission: Transmission::start(Ipv4Addr::LOCALHOST)?,
        qbittorrent: QBittorrent::start(Ipv4Addr::new(127, 0, 0, 3))?,
    };
    let mut rows = Vec::new();
    for (task, (t, (seed, file))) in [Task::File, Task::Folder, Task::Update]
        .into_iter()
        .zip(torrents.iter().zip(&seeds))
    {
        let clients: Vec<Leecher> = Leecher::ALL
            .into_iter()
            .filter(|c| leechers.contains(c))
            .collect();
        // Round by round, every client once: this machine's speed drifts (a VM whose host takes
        // back freed memory, so writing into the page cache costs 0.25 to 4 s per GiB depending
        // on what was freed lately), and interleaved runs give every client the same drift.
        let mut all: Vec<Vec<Sample>> = vec![Vec::with_capacity(runs); clients.len()];
        for n in 0..runs {
            for (client, samples) in clients.iter().zip(&mut all) {
                say(&format!(
                    "{}: {} run {} of {runs}",
                    task.name(),
                    client.name(),
                    n + 1
                ));
                let s = bench
                    .run(*client, task, t, *seed, file, n == 0)
                    .await
                    .with_context(|| format!("{} on the {}", client.name(), task.name()))?;
                samples.push(s);
            }
        }
        let mut base: Option<(f64, f64)> = None;
        for (client, samples) in clients.into_iter().zip(all) {
            let gib = t.data_length() as f64 / f64::from(1u32 << 30);
            let wall = median(samples.iter().map(|s| s.wall_secs));
            let cpu = median(samples.iter().map(|s| s.cpu_secs / gib));
            let (bw, bc) = *base.get_or_insert((wall, cpu));
            rows.push(Row {
                task,
                client,
                payload: t.data_length(),
                ready_secs: median(samples.iter().map(|s| s.ready_secs)),
                wall_secs: wall,
                cpu_secs_per_gib: cpu,
                served: median(samples.iter().map(|s| s.served as f64)) as u64,
                wall_ratio: wall / bw,
                cpu_ratio: cpu / bc,
                samples,
            });
        }
    }
    bench.seeder.shutdown().await;
    Ok(ClientsBench {
        machine: machine(),
        runs,
        changed: sizes.changed_mib as u64 * (1 << 20),
        rows,
    })
}

/// The fixed parts of every run.
struct Bench {
    seeder: std::sync::Arc<Engine>,
    tracker: Tracker,
    scratch: PathBuf,
    /// The older version of the large file, put in place before an update.
    old: PathBuf,
    /// The payloads the seeder seeds (each result is compared with them).
    source: PathBuf,
    transmission: Transmission,
    qbittorrent: QBittorrent,
}

/// A leecher that runs.
enum Started {
    /// A program that exits when done.
    Program(Child),
    /// A daemon that holds the torrent.
    Daemon,
}

impl Bench {
    /// One download by `client`; `verify` compares the result with the source byte for byte.
    async fn run(
        &self,
        client: Leecher,
        task: Task,
        torrent: &Torrent,
        seed: JobId,
        file: &Path,
        verify: bool,
    ) -> anyhow::Result<Sample> {
        let hash = torrent.info_hash();
        self.tracker.forget(&hash);
        let _ = std::fs::remove_dir_all(&self.scratch);
        let dest = self.scratch.join("dest");
        std::fs::create_dir_all(&dest)?;
        if task == Task::Update {
            swarmdate_core::fsutil::clone_or_copy(&self.old, &dest.join(&torrent.name))?;
        }
        let daemon = match client {
            Leecher::Transmission => Some(self.transmission.pid()),
            Leecher::QBittorrent => Some(self.qbittorrent.pid()),
            Leecher::Swarmdate | Leecher::Aria2c => None,
        };
        let daemon_cpu_at_launch = daemon.map(cpu_secs).transpose()?;
        let launched = Instant::now();
        let started = self.start(client, task, file, &dest)?;
        let pid = match &started {
            Started::Program(child) => child.id(),
            Started::Daemon => daemon.context("a daemon without a process")?,
        };
        let tracker = &self.tracker;
        wait_until(
            "the leecher's announce",
            Duration::from_secs(60),
            || Ok(tracker.leecher_count(&hash)),
            |&n| n >= 1,
        )?;
        let ready_secs = launched.elapsed().as_secs_f64();

        // An update is measured from the launch, so that checking the older file counts; the
        // downloads from the announce (the clients' start-up differs, and is not the transfer).
        let (cpu_before, clock) = if task == Task::Update {
            (daemon_cpu_at_launch.unwrap_or(0.0), launched)
        } else {
            (cpu_secs(pid)?, Instant::now())
        };
        self.seeder.resume(seed).await?;
        // librqbit starts a resumed torrent's counters afresh; this is 0 unless they carry over.
        let served_before = self.served(seed);
        let cpu = match started {
            Started::Program(child) => {
                let children_before = children_cpu()?;
                let status = tokio::task::spawn_blocking(move || wait_program(child)).await??;
                ensure!(status.success(), "the program ended with {status}");
                children_cpu()? - children_before - cpu_before
            }
            Started::Daemon => {
                let done = || match client {
                    Leecher::Transmission => self.transmission.counters(&hash),
                    _ => self.qbittorrent.counters(&hash),
                };
                wait_until("the download", Duration::from_secs(600), done, |c| {
                    c.done >= 1.0
                })?;
                cpu_secs(pid)? - cpu_before
            }
        };
        let wall_secs = clock.elapsed().as_secs_f64();
        // The seeder's counter catches up within a snapshot.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let served = self.served(seed).saturating_sub(served_before);
        self.seeder.pause(seed).await?;
        match client {
            Leecher::Transmission => self.transmission.remove(&hash, false)?,
            Leecher::QBittorrent => self.qbittorrent.remove(&hash, false)?,
            _ => {}
        }
        let expected = match task {
            Task::Update => self.source.join("newer").join(&torrent.name),
            Task::File | Task::Folder => self.source.join(&torrent.name),
        };
        let got = dest.join(&torrent.name);
        if verify {
            tokio::task::spawn_blocking(move || same_tree(&expected, &got)).await??;
        }
        Ok(Sample {
            ready_secs,
            wall_secs,
            cpu_secs: cpu,
            served,
        })
    }

    /// Starts `client` on the torrent file `file`, downloading into `dest`.
    fn start(
        &self,
        client: Leecher,
        task: Task,
        file: &Path,
        dest: &Path,
    ) -> anyhow::Result<Started> {
        let quiet = |cmd: &mut Command| {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        Ok(match client {
            Leecher::Swarmdate => {
                let home = self.scratch.join("home");
                std::fs::create_dir_all(home.join("config"))?;
                std::fs::write(
                    home.join("config/settings.json"),
                    r#"{"loopback_only": true, "listen_port": 0}"#,
                )?;
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.arg("--home").arg(&home).arg("get").arg(file);
                cmd.arg("--yes").arg("--dir").arg(dest);
                if task == Task::Update {
                    cmd.arg("--update");
                }
                Started::Program(quiet(&mut cmd).context("starting swarmdate get")?)
            }
            Leecher::Aria2c => {
                let mut cmd = Command::new("aria2c");
                cmd.arg(format!("--dir={}", dest.display()))
                    .arg(format!("--listen-port={}", free_port(Ipv4Addr::LOCALHOST)?))
                    .args([
                        "--seed-time=0",
                        "--enable-dht=false",
                        "--enable-dht6=false",
                        "--bt-enable-lpd=false",
                        "--enable-peer-exchange=false",
                        "--check-integrity=true",
                        "--allow-overwrite=true",
                        "--auto-file-renaming=false",
                        "--summary-interval=0",
                        "--quiet=true",
                    ])
                    .arg(file);
                Started::Program(quiet(&mut cmd).context("starting aria2c (scripts/setup.sh)")?)
            }
            Leecher::Transmission => {
                // It never dials the seeder, and the seeder does not dial an address it has
                // seen before: a new port each run.
                self.transmission
                    .set_peer_port(free_port(Ipv4Addr::LOCALHOST)?)?;
                self.transmission.add(file, dest)?;
                Started::Daemon
            }
            Leecher::QBittorrent => {
                self.qbittorrent.add(file, dest)?;
                Started::Daemon
            }
        })
    }

    /// Bytes the seeder uploaded for a job so far.
    fn served(&self, seed: JobId) -> u64 {
        self.seeder
            .snapshot()
            .jobs
            .iter()
            .find(|j| j.id == seed)
            .map_or(0, |j| j.bytes_uploaded)
    }
}

/// Waits for a program, killing it after ten minutes.
fn wait_program(mut child: Child) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("it did not finish in ten minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// CPU seconds of every child this process has reaped.
fn children_cpu() -> anyhow::Result<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(secs(u.user_time()) + secs(u.system_time()))
}

/// The median of some figures (0 for none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Writes the large file, the folder and the large file's newer version under `src`.
fn write_payloads(src: &Path, sizes: ClientsSizes) -> anyhow::Result<[PathBuf; 3]> {
    let file = src.join("image.iso");
    let folder = src.join("repo");
    let newer = src.join("newer/image.iso");
    std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(&newer))?;
    super::write_random(&file, sizes.file, 1)?;
    super::write_random_folder(&folder, sizes.files, sizes.file_mean, 2)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // The newer version: 20 regions of 1 MiB rewritten at scattered places.
    std::fs::copy(&file, &newer)?;
    let out = std::fs::OpenOptions::new().write(true).open(&newer)?;
    let mib = 1u64 << 20;
    let regions = sizes.file / mib;
    ensure!(
        regions >= sizes.changed_mib as u64,
        "the file is too small for {} changed MiB",
        sizes.changed_mib
    );
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < sizes.changed_mib {
        chosen.insert(rng.gen_range(0..regions));
    }
    let mut block = vec![0u8; mib as usize];
    for r in chosen {
        rng.fill(&mut block[..]);
        // Not on a piece boundary: a real change rarely is.
        let at = (r * mib + 12_345).min(sizes.file - mib);
        std::os::unix::fs::FileExt::write_all_at(&out, &block, at)?;
    }
    out.sync_all()?;
    Ok([file, folder, newer])
}

/// Checks that two files or folders hold the same bytes.
fn same_tree(want: &Path, got: &Path) -> anyhow::Result<()> {
    if want.is_dir() {
        for e in std::fs::read_dir(want)? {
            let e = e?;
            same_tree(&e.path(), &got.join(e.file_name()))?;
        }
        return Ok(());
    }
    let digest = |p: &Path| swarmdate_core::hash::Sha256::of_file(p);
    ensure!(
        digest(want).with_context(|| format!("reading {}", want.display()))?
            == digest(got).with_context(|| format!("reading {}", got.display()))?,
        "{} differs from the source",
        got.display()
    );
    Ok(())
}

/// The CPU model, core count and kernel, for the results.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}
