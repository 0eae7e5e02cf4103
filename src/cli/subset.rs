//! `swarmdate subset --export FILE`: the packages this machine holds (and the next update wants)
//! as a standalone torrent any BitTorrent client can seed; the engine shares it from the store.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::json;
use swarmdate_core::i18n::trf;
use swarmdate_core::plan::Goal;
use swarmdate_core::store::PackageStore;
use swarmdate_usecases::subset;
use swarmdate_usecases::updates::Transaction;

use super::context::Ctx;
use super::output::bytes;

/// `swarmdate subset`.
#[derive(clap::Args)]
pub struct SubsetArgs {
    /// Where to write the subset torrent.
    #[arg(long, value_name = "FILE")]
    export: PathBuf,
    /// The repository (the end of its torrent's name in the feed, or its info hash); default:
    /// the one that carries the most of the packages.
    #[arg(long, value_name = "ID")]
    repo: Option<String>,
    /// Also include what updating this root would fetch.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Lay the payload out under this folder (links to the store, pad files as sparse zeros)
    /// for another client to seed it from disk.
    #[arg(long, value_name = "DIR")]
    payload: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: SubsetArgs) -> anyhow::Result<()> {
    let wanted: HashSet<_> = match &args.root {
        Some(root) => Transaction::prepare(ctx, Goal::Update, root)
            .await?
            .plan()
            .downloads
            .iter()
            .map(|d| d.sha256)
            .collect(),
        None => HashSet::new(),
    };
    let engine = ctx.engine().await?;
    let exported = subset::export(ctx, &engine, args.repo.as_deref(), &wanted).await;
    engine.shutdown().await;
    let exported = exported?;
    swarmdate_core::fsutil::write_atomic(&args.export, exported.torrent.bytes())?;
    let payload = match &args.payload {
        Some(dir) => Some(subset::lay_out(
            &exported,
            &*PackageStore::open(&ctx.dirs.store())?,
            dir,
        )?),
        None => None,
    };
    let size = exported.torrent.data_length();
    ctx.out.say(trf(
        "Wrote {path}: {n} packages, {size}, info hash {hash}; it is shared from the store while Swarmdate seeds.",
        &[
            ("path", &args.export.display()),
            ("n", &exported.index.packages.len()),
            ("size", &bytes(size)),
            ("hash", &exported.torrent.info_hash()),
        ],
    ));
    ctx.out.summary(json!({
        "path": args.export, "info_hash": exported.torrent.info_hash(),
        "master": exported.torrent.similar.first(), "packages": exported.index.packages.len(),
        "data_length": size, "payload": payload, "job": exported.job,
    }));
    Ok(())
}
