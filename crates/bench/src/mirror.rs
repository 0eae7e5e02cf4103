//! `bench mirror`: packages from a mirror alone (no peer), through the engine's fallback, against
//! `curl` fetching the same files from the same mirror in the same run.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::publish::{MasterOptions, publish_master};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, RepoSpec};
use swarmdate_testkit::mirror::MirrorServer;

/// What `bench mirror` measured.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorBench {
    /// Packages fetched.
    pub packages: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Seconds curl took for all of them (one process, one file after another).
    pub curl_secs: f64,
    /// Seconds the engine took until every package was in the store.
    pub engine_secs: f64,
    /// Bytes the mirror served to the engine.
    pub mirror_bytes: u64,
}

/// Generates a repository of `packages` packages of `min..max` bytes, serves it, and measures.
pub async fn run_mirror_bench(
    dir: &Path,
    packages: usize,
    payload: std::ops::Range<usize>,
    say: impl Fn(&str),
) -> anyhow::Result<MirrorBench> {
    say("Generating the repository");
    let key = KeyPair::generate("Bench <bench@localhost>")?;
    let mirror_dir = dir.join("mirror");
    let mirror = MirrorServer::start(&mirror_dir, ([127, 0, 0, 1], 0).into()).await?;
    let (m, url) = (mirror_dir.clone(), mirror.url());
    let published = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let repos = swarmdate_testkit::demo::repository::generate(&m, &key, packages, payload, 7)?;
        let r = publish_master(
            &repos.release,
            &MasterOptions {
                kind: RepoKind::Release,
                id: "release".into(),
                name: None,
                piece_length: None,
                trackers: Vec::new(),
                web_seeds: vec![format!("{url}releases/41/")],
                similar: Vec::new(),
                out_dir: m.join("publish"),
                date: None,
                signing_keys: Vec::new(),
                ignore_repodata: false,
            },
        )?;
        Ok(r)
    })
    .await??;
    let files: Vec<_> = published.index.packages.iter().collect();
    let bytes: u64 = files.iter().map(|p| p.size).sum();

    say("curl");
    let out = dir.join("curl");
    std::fs::create_dir_all(&out)?;
    let mut curl = tokio::process::Command::new("curl");
    curl.args(["--silent", "--fail"]);
    for (i, p) in files.iter().enumerate() {
        curl.arg("-o").arg(out.join(i.to_string())).arg(format!(
            "{}releases/41/x86_64/{}",
            mirror.url(),
            p.path
        ));
    }
    let t = Instant::now();
    let st = curl.status().await?;
    let curl_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(st.success(), "curl failed");

    say("the engine, mirror only");
    let served_before = mirror.bytes_served();
    let state = dir.join("engine");
    let mut cfg = EngineConfig::loopback(&state);
    cfg.trackers = false;
    let engine = Engine::start(cfg).await?;
    let index = dir.join("index.json");
    std::fs::write(&index, published.index.to_json())?;
    let t = Instant::now();
    let id = engine
        .add_job(
            &published.torrent,
            JobSpec::Repository(RepoSpec {
                index,
                wanted: files.iter().map(|p| p.file_index).collect(),
                mirrors: Vec::new(),
                images: Vec::new(),
            }),
        )
        .await?;
    engine.wait(id).await?;
    let engine_secs = t.elapsed().as_secs_f64();
    engine.shutdown().await;
    Ok(MirrorBench {
        packages: files.len(),
        bytes,
        curl_secs,
        engine_secs,
        mirror_bytes: mirror.bytes_served() - served_before,
    })
}
