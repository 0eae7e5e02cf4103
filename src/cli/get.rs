//! `swarmdate get`: any torrent's payload, two-stage for `bittorrent://`.

use std::path::PathBuf;

use serde_json::json;
use swarmdate::engine::JobSpec;
use swarmdate::feed::Location;
use swarmdate::i18n::trf;

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
}

pub async fn run(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    let loc = Location::parse_torrent_ref(&args.source)?;
    let torrent = ctx.torrent_at(&loc).await?;
    let hash = torrent.info_hash();
    let pinned = match ctx.feed_url() {
        Some(_) => ctx.feed().await?.feed.pins(&hash),
        None => false,
    };
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let dest = dir.join(&torrent.name);
    anyhow::ensure!(
        !dest.exists(),
        "{} exists already; move it away or choose another --dir",
        dest.display()
    );
    ctx.out.event(
        "torrent",
        json!({ "name": torrent.name, "info_hash": hash, "origin": loc.display(), "pinned": pinned,
                "data_length": torrent.data_length() }),
    );
    if !pinned && !args.yes {
        let what = trf(
            "{name} ({size}) from {origin}, info hash {hash}, is not pinned by your distribution's feed.",
            &[
                ("name", &torrent.name),
                ("size", &bytes(torrent.data_length())),
                ("origin", &loc.display()),
                ("hash", &hash),
            ],
        );
        if !ctx.out.confirm(&format!(
            "{what} {}",
            swarmdate::i18n::tr("Fetch it anyway?")
        )) {
            return Err(NeedsConfirmation(format!("{what} Pass --yes to fetch it anyway.")).into());
        }
    }
    std::fs::create_dir_all(&dir)?;
    // Checked before anything is written: a download that cannot fit touches nothing.
    swarmdate::fsutil::ensure_space(&dir, torrent.data_length())?;
    let engine = ctx.engine().await?;
    let added = engine
        .add_job(
            &torrent,
            JobSpec::Fetch {
                dest: std::path::absolute(&dir)?,
                seed_after: args.seed,
            },
        )
        .await;
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
