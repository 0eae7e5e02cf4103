//! `swarmdate get`: any torrent's payload, two-stage for `bittorrent://`.

use std::path::PathBuf;

use serde_json::json;
use swarmdate_core::i18n::trf;

use swarmdate_core::store::PackageStore;
use swarmdate_core::torrent::Torrent;
use swarmdate_usecases::{download, subset};

use super::context::Ctx;
use super::exit::NeedsConfirmation;
use super::output::bytes;

#[derive(clap::Args)]
pub struct GetArgs {
    /// A .torrent path, an http(s)/file URL, or bittorrent://<url>.
    source: String,
    /// Where the payload goes (default: the current folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Fetch a torrent the feed does not pin without asking.
    #[arg(long)]
    yes: bool,
    /// Keep seeding it (with `swarmdate seed`) once complete.
    #[arg(long)]
    seed: bool,
    /// The payload in --dir is an older version: reuse its unchanged pieces and replace it once
    /// the new one is complete.
    #[arg(long)]
    update: bool,
}

pub async fn run(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    let download::Opened { torrent, from } = download::inspect(ctx, &args.source).await?;
    let hash = torrent.info_hash();
    let pinned = match ctx.feed_url() {
        Some(_) => ctx.feed().await?.feed.pins(&hash),
        None => false,
    };
    // A subset of one of the feed's repositories goes to the package store, each package checked
    // against the master's index, and is shared there: not a folder of files.
    if ctx.feed_url().is_some()
        && let Some(found) = subset::recognise(ctx, &torrent).await?
    {
        return take_in_subset(ctx, &torrent, found).await;
    }
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let dest = download::destination(&torrent, &dir);
    anyhow::ensure!(
        args.update || !dest.exists(),
        "{} exists already; pass --update to update it, or move it away or choose another --dir",
        dest.display()
    );
    ctx.out.event(
        "torrent",
        json!({ "name": torrent.name, "info_hash": hash, "origin": from, "pinned": pinned,
                "data_length": torrent.data_length() }),
    );
    if !pinned && !args.yes {
        let what = trf(
            "{name} ({size}) from {origin}, info hash {hash}, is not pinned by your distribution's feed.",
            &[
                ("name", &torrent.name),
                ("size", &bytes(torrent.data_length())),
                ("origin", &from),
                ("hash", &hash),
            ],
        );
        if !ctx.out.confirm(&format!(
            "{what} {}",
            swarmdate_core::i18n::tr("Fetch it anyway?")
        )) {
            return Err(NeedsConfirmation(format!("{what} Pass --yes to fetch it anyway.")).into());
        }
    }
    let engine = ctx.engine().await?;
    let options = download::Options {
        seed_after: args.seed,
        replace: args.update,
    };
    let added = download::start(&engine, &torrent, &dir, options).await;
    let id = match added {
        Ok(id) => id,
        Err(e) => {
            engine.shutdown().await;
            return Err(e);
        }
    };
    let result = ctx.follow(&engine, id, &torrent.name).await;
    engine.shutdown().await;
    let done = result?;
    ctx.out.say(trf(
        "Fetched {path} ({size})",
        &[
            ("path", &dest.display()),
            ("size", &bytes(torrent.data_length())),
        ],
    ));
    ctx.out.summary(json!({
        "path": dest, "info_hash": hash, "data_length": torrent.data_length(),
        "fetched_bytes": done.bytes_fetched, "received_bytes": done.bytes_received,
    }));
    Ok(())
}

/// Fetches a recognised subset's packages into the store and keeps sharing it there.
async fn take_in_subset(
    ctx: &Ctx,
    torrent: &Torrent,
    found: subset::Recognised,
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let result = async {
        let job = subset::take_in(ctx, &engine, torrent, found).await?;
        let store = PackageStore::open(&ctx.dirs.store())?;
        subset::wait_held(&engine, &job, &store).await?;
        Ok::<_, anyhow::Error>(job)
    }
    .await;
    let fetched = engine
        .snapshot()
        .jobs
        .iter()
        .filter(|j| j.info_hash == torrent.info_hash())
        .map(|j| j.bytes_fetched)
        .sum::<u64>();
    engine.shutdown().await;
    let job = result?;
    ctx.out.say(trf(
        "{name}: the store holds its {n} packages; they are shared from there.",
        &[("name", &torrent.name), ("n", &job.index.packages.len())],
    ));
    ctx.out.summary(json!({
        "subset": torrent.info_hash(), "master": torrent.similar.first(),
        "packages": job.index.packages.len(), "fetched_bytes": fetched, "job": job.job,
    }));
    Ok(())
}
