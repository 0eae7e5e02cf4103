//! `swarmdate seed`: seed what this machine holds, without a window.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_engine::{EngineError, JobId, JobSpec, JobState, Payload, read_journal};

use super::context::Ctx;
use super::output::bytes;
use swarmdate_usecases::updates::follow_feed;

#[derive(clap::Args)]
pub struct SeedArgs {
    /// Show what is seeded and exit.
    #[arg(long)]
    status: bool,
    /// Add this torrent to what is seeded (with --data; repeat both for more).
    #[arg(long, requires = "data")]
    torrent: Vec<PathBuf>,
    /// The payload of each --torrent, in order: the file (single-file torrent) or its folder.
    #[arg(long, requires = "torrent")]
    data: Vec<PathBuf>,
    /// Seed each --torrent as a new release's origin: every peer is shown only pieces the swarm
    /// lacks (BEP 16 initial seeding), so the origin's upload sends about one copy.
    #[arg(long, requires = "torrent")]
    super_seed: bool,
}

pub async fn run(ctx: &Ctx, args: SeedArgs) -> anyhow::Result<()> {
    if args.status {
        let jobs = read_journal(&ctx.dirs.engine())?;
        let ledger =
            swarmdate_core::ledger::Ledger::open(&ctx.dirs.engine().join("ledger.sqlite"))?;
        let totals = ledger.totals()?;
        let mut in_images = serde_json::Map::new();
        for j in &jobs {
            let mut state = match (j.goal_met, j.paused) {
                (true, true) => tr("goal reached, paused"),
                (_, true) => tr("paused"),
                _ => String::new(),
            };
            let n = packages_from_images(ctx, j)?;
            if n > 0 {
                in_images.insert(j.id.to_string(), n.into());
                state = trn(
                    "{state} ({n} package from your images)",
                    "{state} ({n} packages from your images)",
                    n,
                    &[("state", &state), ("n", &n)],
                );
            }
            ctx.out
                .say(format!("{:>4}  {}  {}  {state}", j.id, j.info_hash, j.name).trim_end());
        }
        if jobs.is_empty() {
            ctx.out.say(tr("Nothing is seeded yet."));
        }
        for t in &totals {
            ctx.out.say(trf(
                "{name}: {up} uploaded to {peers} peers, {down} downloaded",
                &[
                    ("name", &t.name),
                    ("up", &bytes(t.uploaded)),
                    ("peers", &t.peers_served),
                    ("down", &bytes(t.downloaded)),
                ],
            ));
        }
        let up: u64 = totals.iter().map(|t| t.uploaded).sum();
        ctx.out
            .say(trf("In all: {up} uploaded", &[("up", &bytes(up))]));
        ctx.out.summary(json!({
            "jobs": jobs, "contribution": totals, "uploaded": up,
            "packages_in_images": in_images,
        }));
        return Ok(());
    }
    anyhow::ensure!(
        args.torrent.len() == args.data.len(),
        "give one --data for each --torrent, in the same order"
    );
    let engine = ctx.engine().await?;
    for (t, data) in args.torrent.iter().zip(&args.data) {
        // Through the fetcher: only a regular file, within the size any torrent may have.
        let torrent = ctx
            .torrent_at(&swarmdate_core::feed::Location::File(t.clone()))
            .await?;
        let payload = if data.is_file() {
            Payload::Image(data.canonicalize()?)
        } else {
            Payload::Folder(data.canonicalize()?)
        };
        let spec = match args.super_seed {
            true => JobSpec::SuperSeed { payload },
            false => JobSpec::Seed { payload },
        };
        let added = match engine.add_job(&torrent, spec).await {
            Ok(id) => checked(&engine, id).await.map_err(|e| (Some(id), e)),
            Err(e) => Err((None, e)),
        };
        if let Err((id, e)) = added {
            // A payload that is not the torrent's is refused, not kept as a failing job.
            if let Some(id) = id {
                let _ = engine.remove(id).await;
            }
            engine.shutdown().await;
            return Err(e.into());
        }
    }
    ctx.out.say(tr("Seeding; press Ctrl+C to stop."));
    // Listening from here on, not per turn of the loop: a Ctrl+C between two turns (right after
    // a tick printed that the job seeds) would otherwise be lost and the command never end.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    // With a feed, its repositories are followed: newer snapshots joined within the refresh
    // interval, holding what the store has.
    let follow = ctx.feed_url().is_some();
    let mut refresh = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        tokio::select! {
            _ = &mut refresh, if follow => {
                let next = match follow_feed(ctx, &engine).await {
                    Ok((joined, every)) => {
                        if joined > 0 {
                            ctx.out.say(trf("Joined {n} repositories of the feed.", &[("n", &joined)]));
                            ctx.out.event("joined", json!({ "repositories": joined }));
                        }
                        every
                    }
                    Err(e) => {
                        tracing::warn!("following the feed: {e:#}");
                        60
                    }
                };
                refresh.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(next.max(1)));
            }
            _ = tick.tick() => {
                let snap = engine.snapshot();
                for j in &snap.jobs {
                    ctx.out.event("seed", json!({
                        "job": j.id, "name": j.name, "state": j.state, "uploaded": j.bytes_uploaded,
                        "peers": j.peers.len(), "up_speed": j.up_speed,
                    }));
                }
                if !ctx.out.is_json() {
                    let up: u64 = snap.jobs.iter().map(|j| j.bytes_uploaded).sum();
                    let peers: usize = snap.jobs.iter().map(|j| j.peers.len()).sum();
                    eprint!("\r{}", trf("{n} torrents, {peers} peers, {up} uploaded   ",
                        &[("n", &snap.jobs.len()), ("peers", &peers), ("up", &bytes(up))]));
                }
            }
            _ = interrupt.recv() => break,
        }
    }
    engine.shutdown().await;
    ctx.out.say("");
    Ok(())
}

/// Waits until a seeding job has checked its payload: seeding (or paused), or its refusal (typed,
/// so a payload that is not the torrent's is a trust refusal wherever the engine runs).
async fn checked(
    engine: &swarmdate_engine::service::EngineHandle,
    id: JobId,
) -> Result<(), EngineError> {
    let mut rx = engine.subscribe();
    loop {
        let job = rx.borrow_and_update().job(id).cloned();
        match job {
            Some(j) if matches!(j.state, JobState::Failed(_)) => return Err(j.failure_error()),
            Some(j) if j.state.is_complete() || j.state == JobState::Paused => return Ok(()),
            _ => {}
        }
        if let Err(e) = rx.changed().await {
            return Err(EngineError::Other(format!(
                "the engine stopped while it checked the data: {e}"
            )));
        }
    }
}

/// How many packages a repository job seeds from inside images (those the store lacks).
fn packages_from_images(ctx: &Ctx, job: &swarmdate_engine::JobRecord) -> anyhow::Result<u64> {
    let JobSpec::Repository(spec) = &job.spec else {
        return Ok(0);
    };
    if spec.images.is_empty() {
        return Ok(0);
    }
    let index = swarmdate_core::packages::PackageIndex::from_json(&std::fs::read(&spec.index)?)?;
    let cache = ctx.dirs.engine().join("image-packages.json");
    let inside = swarmdate_core::iso::packages_in_images(&spec.images, &cache)?;
    let store = swarmdate_core::store::PackageStore::open(&ctx.dirs.store())?;
    Ok(index
        .packages
        .iter()
        .filter(|p| {
            !store.holds(&p.sha256) && inside.get(&p.sha256).is_some_and(|i| i.size == p.size)
        })
        .count() as u64)
}
