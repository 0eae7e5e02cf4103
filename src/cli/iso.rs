//! `swarmdate iso list|status|plan|switch`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::iso::{Plan, SwitchMode};
use swarmdate_usecases::switching::{
    Ended, OtherSwitch, Step as SwitchStep, Switch, SwitchError, Switched, Unfinished,
};
use swarmdate_usecases::versions::Versions;

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
    /// An interrupted switch resumes when the same command runs again.
    #[command(
        after_help = "Examples:\n  swarmdate iso switch 1.02 --image ~/Downloads/os-1.00.iso\n  swarmdate iso switch --abort --image ~/Downloads/os-1.00.iso"
    )]
    Switch {
        #[arg(required_unless_present = "abort")]
        version: Option<String>,
        #[arg(long)]
        image: Option<PathBuf>,
        /// Keep the old image instead of replacing it.
        #[arg(long)]
        keep_old: bool,
        /// How to build the new version: auto picks reflink, else a copy if there is room, else in place.
        #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
        mode: ModeArg,
        /// Stop the image's unfinished switch and put the old version back.
        #[arg(long, conflicts_with_all = ["version", "keep_old"])]
        abort: bool,
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

/// How `iso switch` builds the new version.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Reflink if the file system can, else a copy if there is room, else in place.
    Auto,
    /// A copy beside the old image (it stays complete and seeded until the end).
    Copy,
    /// Rewrite the image itself with an undo journal (needs the least space).
    InPlace,
}

impl ModeArg {
    fn prefer(self) -> Option<SwitchMode> {
        match self {
            ModeArg::Auto => None,
            ModeArg::Copy => Some(SwitchMode::Copy),
            ModeArg::InPlace => Some(SwitchMode::InPlace),
        }
    }
}

fn current_name(local: &Versions) -> String {
    local
        .current
        .map(|i| local.versions[i].version().to_owned())
        .unwrap_or_else(|| tr("an unpublished version"))
}

pub async fn run(ctx: &Ctx, cmd: IsoCmd) -> anyhow::Result<()> {
    match cmd {
        IsoCmd::List { image } => list(ctx, image.as_deref()).await,
        IsoCmd::Status { image } => {
            let local = Versions::load(ctx, image.as_deref()).await?;
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
            let local = Versions::load(ctx, image.as_deref()).await?;
            let to = local.find(&version)?;
            let plan = local.plan(to, None).await?;
            say_plan(ctx, &local, &plan);
            let refined = local.refine(ctx, to, &plan).await?;
            if let Some(r) = &refined {
                ctx.out.say(trf(
                    "Once the files at hand are placed: {fetch} to download ({dirs} of it read the new image's directories; {image} come from your image, {store} from the package store)",
                    &[
                        ("fetch", &bytes(r.layout_fetched + r.still_to_fetch)),
                        ("dirs", &bytes(r.layout_fetched)),
                        ("image", &bytes(r.from_image)),
                        ("store", &bytes(r.from_store)),
                    ],
                ));
            }
            let mut summary = serde_json::to_value(&plan)?;
            summary["refined"] = serde_json::to_value(refined)?;
            ctx.out.summary(summary);
            Ok(())
        }
        IsoCmd::Packages {
            image,
            all,
            extract,
            to,
        } => packages(ctx, image, all, extract, to).await,
        IsoCmd::Switch {
            abort: true, image, ..
        } => abort(ctx, image.as_deref()).await,
        IsoCmd::Switch {
            version,
            image,
            keep_old,
            mode,
            abort: false,
        } => {
            let version = version.context("which version? (see `swarmdate iso list`)")?;
            let outcome = switch(ctx, &version, image.as_deref(), keep_old, mode.prefer()).await?;
            ctx.out.summary(&outcome);
            Ok(())
        }
    }
}

async fn list(ctx: &Ctx, image: Option<&Path>) -> anyhow::Result<()> {
    let local = Versions::load(ctx, image).await;
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
            Some(l) => (false, Some(l.plan(i, None).await?.fetch_bytes)),
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

fn say_plan(ctx: &Ctx, local: &Versions, plan: &Plan) {
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
    let why = if plan.mode_chosen {
        tr("as asked")
    } else {
        match plan.mode {
            SwitchMode::Reflink => tr("the file system shares unchanged blocks"),
            SwitchMode::Copy => trf(
                "no reflinks here, and {free} free is room for a copy",
                &[("free", &bytes(plan.free_space))],
            ),
            SwitchMode::InPlace => trf(
                "no reflinks here, and {free} free is less than the {copy} a copy needs",
                &[
                    ("free", &bytes(plan.free_space)),
                    ("copy", &bytes(plan.copy_space)),
                ],
            ),
        }
    };
    out.say(match plan.mode {
        SwitchMode::Reflink => trf("Mode: reflink ({why})", &[("why", &why)]),
        SwitchMode::Copy => trf(
            "Mode: copy ({why}); {size} of free space needed while switching; the old image stays until the new one is complete",
            &[("why", &why), ("size", &bytes(plan.space_needed))],
        ),
        SwitchMode::InPlace => trf(
            "Mode: in place ({why}); {size} of free space needed for the undo journal; the image is not seeded while it changes, and `swarmdate iso switch --abort` puts it back",
            &[("why", &why), ("size", &bytes(plan.space_needed))],
        ),
    });
}

/// What a switch did, for the summary and the demo's table.
pub type SwitchOutcome = Switched;

/// Switches the local image and reports what it took; the summary is left to the caller.
pub async fn switch(
    ctx: &Ctx,
    version: &str,
    image: Option<&Path>,
    keep_old: bool,
    prefer: Option<SwitchMode>,
) -> anyhow::Result<SwitchOutcome> {
    if let Some(u) = Unfinished::find(ctx, image)? {
        return resume(ctx, version, u).await;
    }
    let local = Versions::load(ctx, image).await?;
    let to_idx = local.find(version)?;
    let plan = local.plan(to_idx, prefer).await?;
    say_plan(ctx, &local, &plan);
    ctx.out.event("plan", &plan);
    if plan.is_noop() {
        ctx.out
            .say(tr("Nothing to do: the image already is this version."));
        return Ok(Switched::unchanged(&local, to_idx, &plan));
    }
    let engine = ctx.engine().await?;
    match Switch::start(
        &engine,
        &local,
        to_idx,
        &plan,
        keep_old,
        OtherSwitch::Refuse,
    )
    .await
    {
        Ok(started) => follow_switch(ctx, &engine, started).await,
        Err(e) => {
            engine.shutdown().await;
            Err(e)
        }
    }
}

/// Follows a switch to its end, then stops the engine; says how it ended.
async fn follow_switch(
    ctx: &Ctx,
    engine: &swarmdate_engine::service::EngineHandle,
    switch: Switch,
) -> anyhow::Result<SwitchOutcome> {
    let version = switch.version().to_owned();
    let mut progress = ctx.out.job_progress(&trf("to {v}", &[("v", &version)]));
    let ended = switch
        .follow(
            engine,
            &mut |s: SwitchStep<'_>| progress.update(s.job),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
    progress.finish();
    engine.shutdown().await;
    let done = match ended? {
        Ended::Switched(done) => done,
        Ended::Stopped(stopped) => {
            ctx.out.summary(&stopped);
            anyhow::bail!(stopped.message(bytes));
        }
        Ended::Failed(e) => return Err(e.into()),
    };
    ctx.out.say(trf(
        "Switched to {v}. Fetched {fetched} ({received} received from peers).",
        &[
            ("v", &version),
            ("fetched", &bytes(done.fetched_bytes)),
            ("received", &bytes(done.received_bytes)),
        ],
    ));
    if let Some(r) = done.prefilled.filter(|r| r.from_image + r.from_store > 0) {
        ctx.out.say(trf(
            "Prefilled from local files first: {image} from the old image, {store} from the package store; {left} was left to fetch.",
            &[
                ("image", &bytes(r.from_image)),
                ("store", &bytes(r.from_store)),
                ("left", &bytes(r.still_to_fetch)),
            ],
        ));
    }
    Ok(done)
}

/// Finishes a switch the journal holds (stopped, interrupted or killed), if it goes to `version`.
async fn resume(ctx: &Ctx, version: &str, u: Unfinished) -> anyhow::Result<SwitchOutcome> {
    let feed = ctx.feed().await?;
    let versions = ctx.iso_versions(&feed).await?;
    u.check_goes_to(&versions, version)?;
    ctx.out.say(trf(
        "Resuming the interrupted switch of {path} to {v}",
        &[("path", &u.image.display()), ("v", &version)],
    ));
    let engine = ctx.engine().await?;
    let switch = match Switch::resume(&engine, &u, &versions).await {
        Ok(s) => s,
        Err(e) => {
            engine.shutdown().await;
            return Err(e);
        }
    };
    follow_switch(ctx, &engine, switch).await
}

/// `iso switch --abort`: the old version back under its name.
async fn abort(ctx: &Ctx, image: Option<&Path>) -> anyhow::Result<()> {
    let u = Unfinished::find(ctx, image)?.ok_or_else(|| {
        SwitchError::NoneUnfinished(image.map_or(ctx.images_dir(), Path::to_path_buf))
    })?;
    // Started here, the engine rolls the switch back at once instead of resuming it first.
    let engine = ctx.engine_with(u.abort_config(ctx)).await?;
    let mut progress = ctx.out.job_progress(&tr("rolling back"));
    let ended = u
        .abort(
            &engine,
            &mut |s: SwitchStep<'_>| progress.update(s.job),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
    progress.finish();
    engine.shutdown().await;
    if let Ended::Failed(e) = ended? {
        return Err(e.into());
    }
    ctx.out.say(trf(
        "Aborted: {path} is the old version again.",
        &[("path", &u.image.display())],
    ));
    ctx.out
        .summary(json!({ "aborted": true, "image": u.image }));
    Ok(())
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
        None => Versions::load(ctx, None).await?.image,
    };
    if let (Some(path), Some(dir)) = (extract, to) {
        let name = Path::new(&path)
            .file_name()
            .context("the path names no file")?
            .to_owned();
        let dest = dir.join(name);
        anyhow::ensure!(!dest.exists(), "{} exists already", dest.display());
        let (img, d) = (image.clone(), dest.clone());
        let n = tokio::task::spawn_blocking(move || swarmdate_core::iso::extract(&img, &path, &d))
            .await??;
        ctx.out.say(trf(
            "Extracted {path} ({size})",
            &[("path", &dest.display()), ("size", &bytes(n))],
        ));
        ctx.out.summary(json!({ "extracted": dest, "size": n }));
        return Ok(());
    }
    let img = image.clone();
    let files =
        tokio::task::spawn_blocking(move || swarmdate_core::iso::list_files(&img)).await??;
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
