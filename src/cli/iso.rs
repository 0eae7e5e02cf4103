//! `swarmdate iso list|status|plan|switch`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use swarmdate::fsutil;
use swarmdate::i18n::{tr, trf};
use swarmdate::iso::{Identified, Plan, PublishedIso, SwitchMode, identify, plan_switch};

use super::context::Ctx;
use super::output::bytes;

#[derive(clap::Subcommand)]
pub enum IsoCmd {
    /// The published versions, with what switching to each would download.
    List {
        /// The local image (default: the one in the images folder).
        #[arg(long)]
        image: Option<PathBuf>,
    },
    /// Which version the local image is.
    Status {
        #[arg(long)]
        image: Option<PathBuf>,
    },
    /// What switching to VERSION would download, exactly, before any transfer.
    Plan {
        version: String,
        #[arg(long)]
        image: Option<PathBuf>,
    },
    /// Switch the local image to VERSION (newer or older): only the differing pieces are fetched.
    #[command(after_help = "Example:\n  swarmdate iso switch 1.02 --image ~/Downloads/os-1.00.iso")]
    Switch {
        version: String,
        #[arg(long)]
        image: Option<PathBuf>,
        /// Keep the old image instead of replacing it.
        #[arg(long)]
        keep_old: bool,
    },
    /// The packages inside the image; --extract copies one out.
    #[command(
        after_help = "Example:\n  swarmdate iso packages --image os.iso --extract Packages/b/bash-5.2.32-1.fc41.x86_64.rpm --to ."
    )]
    Packages {
        #[arg(long)]
        image: Option<PathBuf>,
        /// Also list files that are not packages.
        #[arg(long)]
        all: bool,
        /// The path inside the image of a file to copy out.
        #[arg(long, requires = "to")]
        extract: Option<String>,
        /// The folder to copy it into.
        #[arg(long, requires = "extract")]
        to: Option<PathBuf>,
    },
}

/// The feed's versions, the local image and which version it is.
struct Local {
    versions: Vec<PublishedIso>,
    image: PathBuf,
    current: Option<usize>,
}

async fn load_local(ctx: &Ctx, image: Option<&Path>) -> anyhow::Result<Local> {
    let feed = ctx.feed().await?;
    let versions = ctx.iso_versions(&feed).await?;
    let image = ctx.local_image(image, &versions)?;
    let (img, vs) = (image.clone(), versions.clone());
    let current = match tokio::task::spawn_blocking(move || identify(&img, &vs)).await?? {
        Identified::Version(i) => Some(i),
        Identified::Unknown => None,
    };
    Ok(Local {
        versions,
        image,
        current,
    })
}

async fn make_plan(local: &Local, to: usize) -> anyhow::Result<Plan> {
    let from = local.current.map(|i| local.versions[i].clone());
    let to = local.versions[to].clone();
    let image = local.image.clone();
    let reflink = fsutil::supports_reflink(fsutil::parent_dir(&image));
    Ok(
        tokio::task::spawn_blocking(move || plan_switch(&image, from.as_ref(), &to, reflink))
            .await??,
    )
}

fn find_version(local: &Local, version: &str) -> anyhow::Result<usize> {
    local
        .versions
        .iter()
        .position(|v| v.version() == version)
        .with_context(|| {
            let known: Vec<_> = local.versions.iter().map(|v| v.version()).collect();
            format!(
                "no version {version:?} in the feed (it has {})",
                known.join(", ")
            )
        })
}

fn current_name(local: &Local) -> String {
    local
        .current
        .map(|i| local.versions[i].version().to_owned())
        .unwrap_or_else(|| tr("an unpublished version"))
}

pub async fn run(ctx: &Ctx, cmd: IsoCmd) -> anyhow::Result<()> {
    match cmd {
        IsoCmd::List { image } => list(ctx, image.as_deref()).await,
        IsoCmd::Status { image } => {
            let local = load_local(ctx, image.as_deref()).await?;
            ctx.out.say(trf(
                "{path} is {version}",
                &[
                    ("path", &local.image.display()),
                    ("version", &current_name(&local)),
                ],
            ));
            ctx.out.summary(json!({
                "image": local.image,
                "version": local.current.map(|i| local.versions[i].version()),
            }));
            Ok(())
        }
        IsoCmd::Plan { version, image } => {
            let local = load_local(ctx, image.as_deref()).await?;
            let plan = make_plan(&local, find_version(&local, &version)?).await?;
            say_plan(ctx, &local, &plan);
            ctx.out.summary(&plan);
            Ok(())
        }
        IsoCmd::Packages {
            image,
            all,
            extract,
            to,
        } => packages(ctx, image, all, extract, to).await,
        IsoCmd::Switch {
            version,
            image,
            keep_old,
        } => {
            let outcome = switch(ctx, &version, image.as_deref(), keep_old).await?;
            ctx.out.summary(&outcome);
            Ok(())
        }
    }
}

async fn list(ctx: &Ctx, image: Option<&Path>) -> anyhow::Result<()> {
    let local = load_local(ctx, image).await;
    let (versions, local) = match local {
        Ok(l) => (l.versions.clone(), Some(l)),
        Err(e) if ctx.feed_url().is_some() => {
            // No local image yet: still list what is published.
            let feed = ctx.feed().await?;
            tracing::debug!("no local image: {e:#}");
            (ctx.iso_versions(&feed).await?, None)
        }
        Err(e) => return Err(e),
    };
    let mut rows = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let (current, fetch) = match &local {
            Some(l) if l.current == Some(i) => (true, Some(0)),
            Some(l) => (false, Some(make_plan(l, i).await?.fetch_bytes)),
            None => (false, None),
        };
        let mark = if current {
            tr("(yours)")
        } else {
            String::new()
        };
        let cost = fetch
            .map(|b| trf("{bytes} to download", &[("bytes", &bytes(b))]))
            .unwrap_or_default();
        ctx.out.say(format!(
            "{:>8}  {}  {:>10}  {} {}",
            v.version(),
            v.entry.date.format("%Y-%m-%d"),
            bytes(v.entry.size),
            mark,
            if current { String::new() } else { cost }
        ));
        rows.push(json!({
            "version": v.version(), "date": v.entry.date, "size": v.entry.size,
            "current": current, "fetch_bytes": fetch, "info_hash": v.torrent.info_hash(),
        }));
    }
    ctx.out
        .summary(json!({ "versions": rows, "image": local.as_ref().map(|l| &l.image) }));
    Ok(())
}

fn say_plan(ctx: &Ctx, local: &Local, plan: &Plan) {
    let out = &ctx.out;
    out.say(trf(
        "{path}: {from} → {to}",
        &[
            ("path", &local.image.display()),
            ("from", &current_name(local)),
            ("to", &plan.to),
        ],
    ));
    out.say(trf(
        "{fetch} to download ({n} pieces of {len}), {reuse} reused, new image {size}",
        &[
            ("fetch", &bytes(plan.fetch_bytes)),
            ("n", &plan.pieces.len()),
            ("len", &bytes(plan.piece_length as u64)),
            ("reuse", &bytes(plan.reuse_bytes)),
            ("size", &bytes(plan.target_size)),
        ],
    ));
    out.say(match plan.mode {
        SwitchMode::Reflink => tr("Mode: reflink (the file system shares unchanged blocks)"),
        SwitchMode::Copy => trf(
            "Mode: copy ({size} of free space needed while switching; the old image stays until the new one is complete)",
            &[("size", &bytes(plan.space_needed))],
        ),
    });
}

/// What a switch did, for the summary and the demo's table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwitchOutcome {
    pub version: String,
    pub image: PathBuf,
    pub planned_bytes: u64,
    pub fetched_bytes: u64,
    pub received_bytes: u64,
    pub had_bytes: u64,
    pub image_size: u64,
}

/// Switches the local image and reports what it took; the summary is left to the caller.
pub async fn switch(
    ctx: &Ctx,
    version: &str,
    image: Option<&Path>,
    keep_old: bool,
) -> anyhow::Result<SwitchOutcome> {
    let local = load_local(ctx, image).await?;
    let to_idx = find_version(&local, version)?;
    let plan = make_plan(&local, to_idx).await?;
    say_plan(ctx, &local, &plan);
    ctx.out.event("plan", &plan);
    if plan.is_noop() {
        ctx.out
            .say(tr("Nothing to do: the image already is this version."));
        return Ok(SwitchOutcome {
            version: version.to_owned(),
            image: local.image.clone(),
            planned_bytes: 0,
            fetched_bytes: 0,
            received_bytes: 0,
            had_bytes: plan.target_size,
            image_size: plan.target_size,
        });
    }
    let to = &local.versions[to_idx];
    let target = fsutil::parent_dir(&local.image).join(&to.torrent.name);
    let engine = ctx.engine().await?;
    // An interrupted switch resumes: the engine restarted it from its journal.
    let id = match engine.switch_image(&local.image, &to.torrent, keep_old) {
        Ok(id) => id,
        Err(e) => {
            engine.shutdown().await;
            return Err(e);
        }
    };
    let result = ctx
        .follow(&engine, id, &trf("to {v}", &[("v", &version)]))
        .await;
    engine.shutdown().await;
    let done = result?;
    ctx.out.say(trf(
        "Switched to {v}: {path}. Fetched {fetched} ({received} received from peers); planned {planned}.",
        &[
            ("v", &version),
            ("path", &target.display()),
            ("fetched", &bytes(done.bytes_fetched)),
            ("received", &bytes(done.bytes_received)),
            ("planned", &bytes(plan.fetch_bytes)),
        ],
    ));
    Ok(SwitchOutcome {
        version: version.to_owned(),
        image: target,
        planned_bytes: plan.fetch_bytes,
        fetched_bytes: done.bytes_fetched,
        received_bytes: done.bytes_received,
        had_bytes: done.bytes_had,
        image_size: plan.target_size,
    })
}

async fn packages(
    ctx: &Ctx,
    image: Option<PathBuf>,
    all: bool,
    extract: Option<String>,
    to: Option<PathBuf>,
) -> anyhow::Result<()> {
    let image = match image {
        Some(p) => p,
        None => load_local(ctx, None).await?.image,
    };
    if let (Some(path), Some(dir)) = (extract, to) {
        let name = Path::new(&path)
            .file_name()
            .context("the path names no file")?
            .to_owned();
        let dest = dir.join(name);
        anyhow::ensure!(!dest.exists(), "{} exists already", dest.display());
        let (img, d) = (image.clone(), dest.clone());
        let n =
            tokio::task::spawn_blocking(move || swarmdate::iso::extract(&img, &path, &d)).await??;
        ctx.out.say(trf(
            "Extracted {path} ({size})",
            &[("path", &dest.display()), ("size", &bytes(n))],
        ));
        ctx.out.summary(json!({ "extracted": dest, "size": n }));
        return Ok(());
    }
    let img = image.clone();
    let files = tokio::task::spawn_blocking(move || swarmdate::iso::list_files(&img)).await??;
    let shown: Vec<_> = files
        .into_iter()
        .filter(|f| all || f.is_package())
        .collect();
    for f in &shown {
        ctx.out.say(format!("{:>12}  {}", f.size, f.path));
    }
    ctx.out.summary(json!({ "image": image, "files": shown }));
    Ok(())
}
