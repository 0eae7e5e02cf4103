//! `swarmdate seed`: seed what this machine holds, without a window.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use swarmdate_core::i18n::{tr, trf, trn};

use super::context::Ctx;
use super::output::bytes;
use swarmdate_usecases::seeding;
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
        let status = seeding::status(ctx)?;
        for j in &status.jobs {
            let mut state = match (j.goal_met, j.paused) {
                (true, true) => tr("goal reached, paused"),
                (_, true) => tr("paused"),
                _ => String::new(),
            };
            let n = j.packages_in_images;
            if n > 0 {
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
        if status.jobs.is_empty() {
            ctx.out.say(tr("Nothing is seeded yet."));
        }
        for t in &status.contribution {
            ctx.out.say(trn(
                "{name}: {up} uploaded to {peers} peer, {down} downloaded",
                "{name}: {up} uploaded to {peers} peers, {down} downloaded",
                t.peers_served,
                &[
                    ("name", &t.name),
                    ("up", &bytes(t.uploaded)),
                    ("peers", &t.peers_served),
                    ("down", &bytes(t.downloaded)),
                ],
            ));
        }
        let up = status.uploaded();
        ctx.out
            .say(trf("In all: {up} uploaded", &[("up", &bytes(up))]));
        let in_images: serde_json::Map<String, serde_json::Value> = status
            .jobs
            .iter()
            .filter(|j| j.packages_in_images > 0)
            .map(|j| (j.id.to_string(), j.packages_in_images.into()))
            .collect();
        ctx.out.summary(json!({
            "jobs": status.jobs, "contribution": status.contribution, "uploaded": up,
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
        if let Err(e) = seeding::share(&engine, &torrent, data, args.super_seed).await {
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
