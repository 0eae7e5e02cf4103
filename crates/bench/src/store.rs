//! `bench store`: the engine holding a distribution-sized master torrent through the package
//! store. Tens of thousands of small package files make the torrent; the store holds a few
//! thousand of them; the engine adds the torrent as a repository job that seeds what is held.
//! Reports the time until it seeds against one hash pass over the held files, the descriptors
//! open and the files created, which must not grow with the torrent's file count.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{Evr, INDEX_FORMAT, IndexedPackage, Nevra, PackageIndex, Relations};
use swarmdate_core::store::PackageStore;
use swarmdate_core::torrent::{SourceFile, TorrentBuilder};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, RepoSpec};

/// What `bench store` measured.
#[derive(Debug, Clone, Serialize)]
pub struct StoreBench {
    /// Files in the torrent.
    pub files: usize,
    /// Files the store holds.
    pub held: usize,
    /// Pieces in the torrent.
    pub pieces: usize,
    /// Seconds from adding the job until it seeds.
    pub add_secs: f64,
    /// Seconds for one SHA-1 pass over the held files (the least a check can cost).
    pub hash_held_secs: f64,
    /// Descriptors open in this process before the engine started.
    pub fds_before: usize,
    /// Descriptors open while the engine seeds.
    pub fds_seeding: usize,
    /// Files under the engine's and the store's folders, besides the held packages.
    pub files_created: usize,
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Builds a torrent of `files` small packages under `dir`, puts `held` of them in a store, and
/// measures the engine adding it.
pub async fn run_store_bench(
    dir: &Path,
    files: usize,
    held: usize,
    say: impl Fn(&str),
) -> anyhow::Result<StoreBench> {
    say(&format!("Writing {files} package files"));
    let mirror = dir.join("mirror/x86_64");
    let mut rng = StdRng::seed_from_u64(files as u64);
    let mut sources = Vec::with_capacity(files);
    let mut nevras = Vec::with_capacity(files);
    for i in 0..files {
        let n = Nevra::new(format!("pkg{i:05}"), Evr::new(0, "1.0", "1.fc41"), "x86_64");
        let path = vec!["Packages".to_owned(), "p".to_owned(), n.file_name()];
        let file = mirror.join("Packages/p").join(n.file_name());
        std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(&file))?;
        let mut data = vec![0u8; rng.gen_range(1_000..4_000)];
        rng.fill(&mut data[..]);
        std::fs::write(&file, &data)?;
        sources.push(SourceFile { path, source: file });
        nevras.push(n);
    }
    say("Building the torrent");
    let torrent = {
        let s = sources.clone();
        tokio::task::spawn_blocking(move || {
            TorrentBuilder::multi_file("x86_64", s)
                .align(true)
                .piece_length(16 << 10)
                .build()
        })
        .await??
    };
    let index = PackageIndex {
        format: INDEX_FORMAT,
        info_hash: torrent.info_hash(),
        name: torrent.name.clone(),
        piece_length: torrent.piece_length,
        packages: torrent
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.pad)
            .zip(sources.iter().zip(&nevras))
            .map(|((i, f), (s, n))| {
                Ok(IndexedPackage {
                    file_index: i,
                    path: f.path.join("/"),
                    nevra: n.clone(),
                    size: f.length,
                    sha256: Sha256::of_file(&s.source)?,
                    summary: String::new(),
                    relations: Relations::default(),
                    changelog: Vec::new(),
                })
            })
            .collect::<std::io::Result<_>>()?,
        advisories: Vec::new(),
    };
    let state = dir.join("engine");
    let store_dir = state.join("store");
    let store = PackageStore::open(&store_dir)?;
    say(&format!("Putting {held} of them in the store"));
    let step = (files / held.max(1)).max(1);
    let held_files: Vec<&IndexedPackage> = index.packages.iter().step_by(step).take(held).collect();
    for p in &held_files {
        let src = mirror.join(&p.path);
        store.import(&src, &p.sha256)?;
    }
    drop(store);
    let t = Instant::now();
    for p in &held_files {
        swarmdate_core::hash::digest_file::<sha1::Sha1>(&mirror.join(&p.path))?;
    }
    let hash_held_secs = t.elapsed().as_secs_f64();
    let before_files = count_files(&state);

    let fds_before = count_fds();
    let mut cfg = EngineConfig::loopback(&state);
    cfg.trackers = false;
    let engine = Engine::start(cfg).await?;
    let index_path = dir.join("index.json");
    std::fs::write(&index_path, index.to_json())?;
    say("Adding the torrent to the engine");
    let t = Instant::now();
    let id = engine
        .add_job(
            &torrent,
            JobSpec::Repository(RepoSpec {
                index: index_path,
                wanted: Default::default(),
                mirrors: Vec::new(),
                images: Vec::new(),
            }),
        )
        .await?;
    engine.wait(id).await?;
    let add_secs = t.elapsed().as_secs_f64();
    let fds_seeding = count_fds();
    let files_created = count_files(&state) - before_files;
    engine.shutdown().await;
    Ok(StoreBench {
        files,
        held: held_files.len(),
        pieces: torrent.pieces().len(),
        add_secs,
        hash_held_secs,
        fds_before,
        fds_seeding,
        files_created,
    })
}
