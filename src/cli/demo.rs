//! `swarmdate demo`: a small local distribution with peers and a mirror on 127.0.0.1, and a
//! client that switches its image 1.00 → 1.02 → 1.00, then updates its packages (half from a
//! peer, the rest from the mirror) into its own rpm root. With a display, the window opens on
//! the demo distribution instead, and the user does the same by hand.

use std::path::PathBuf;

use serde_json::json;
use swarmdate_core::i18n::{tr, trf};
use swarmdate_testkit::demo::DemoWorld;

use super::context::{Ctx, Global};
use super::iso::switch;
use super::output::bytes;
use super::update::update_root;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Run without a window (the default when there is no display).
    #[arg(long)]
    headless: bool,
    /// Build the demo here instead of a temporary folder (kept afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Approximate image size in MB.
    #[arg(long, default_value_t = 64)]
    size_mb: usize,
    /// Hold the demo client's downloads to this many kB/s, to watch a switch or an update as it
    /// happens (and stop it).
    #[arg(long, value_name = "KB_PER_S")]
    download_limit: Option<u32>,
}

pub async fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<()> {
    let tmp;
    let root = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("swarmdate-demo-")
                .tempdir()?;
            tmp.path().to_owned()
        }
    };
    let out = &ctx.out;
    let window = !args.headless && window_possible();
    if !args.headless && !window {
        out.say(tr("There is no display: running the headless demo."));
    }
    out.say(trf(
        "Building the demo distribution in {dir}",
        &[("dir", &root.display())],
    ));
    let world = DemoWorld::build(&root, args.size_mb, |step| {
        out.say(format!("  {step}"));
        out.event("step", json!({ "step": step }));
    })
    .await?;
    out.say(trf(
        "Seeder on 127.0.0.1:{port}, tracker {tracker}",
        &[
            ("port", &world.seeder.listen_port().unwrap_or_default()),
            ("tracker", &world.tracker.announce_url()),
        ],
    ));

    if let Some(kb) = args.download_limit {
        let client = swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
            home: Some(world.client_home.clone()),
            ..Default::default()
        })?;
        let mut settings = client.settings.clone();
        settings.download_limit = Some(kb.saturating_mul(1000).max(1000));
        settings.save(&client.dirs.config)?;
    }
    if window {
        return open_window(&world).await;
    }
    let client = Ctx::new(Global {
        json: ctx.out.is_json(),
        home: Some(world.client_home.clone()),
        feed: None,
        trust: Vec::new(),
        listen: None,
    })?;
    let mut outcomes = Vec::new();
    for version in ["1.02", "1.00"] {
        out.say("");
        let o = switch(&client, version, None, false, None).await?;
        out.event("switched", &o);
        outcomes.push(o);
    }
    out.say("");
    out.say(trf(
        "Updating the packages of {root} ({n} in the repositories; a peer holds half of the updates, the mirror {mirror} has them all)",
        &[
            ("root", &world.package_root.display()),
            ("n", &world.packages),
            ("mirror", &world.mirror.url()),
        ],
    ));
    update_root(&client, world.package_root.clone()).await?;
    out.say(trf(
        "The mirror served {served} in {requests} requests.",
        &[
            ("served", &bytes(world.mirror.bytes_served())),
            ("requests", &world.mirror.requests()),
        ],
    ));
    world.seeder.shutdown().await;
    world.peer.shutdown().await;

    out.say("");
    out.say(tr("Switch            planned      fetched   image size"));
    let mut from = "1.00";
    for o in &outcomes {
        out.say(format!(
            "{:<14} {:>10}   {:>10}   {:>10}",
            format!("{from} → {}", o.version),
            bytes(o.planned_bytes),
            bytes(o.fetched_bytes),
            bytes(o.image_size)
        ));
        from = &o.version;
    }
    out.summary(json!({
        "root": root,
        "switches": outcomes,
        "package_root": world.package_root,
        "mirror_bytes_served": world.mirror.bytes_served(),
    }));
    Ok(())
}

#[cfg(feature = "gui")]
fn window_possible() -> bool {
    crate::ui::display_available()
}

#[cfg(not(feature = "gui"))]
fn window_possible() -> bool {
    false
}

/// The window on the demo's client, until the user closes it; then the demo's peers stop.
#[cfg(feature = "gui")]
async fn open_window(world: &DemoWorld) -> anyhow::Result<()> {
    let client = swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
        home: Some(world.client_home.clone()),
        ..Default::default()
    })?;
    let rt = tokio::runtime::Handle::current();
    let root = world.package_root.clone();
    // Once the window shares the client's image, a demo peer downloads it from the client.
    let leecher = tokio::spawn(world.leecher(128 << 10));
    // GTK runs on this (the main) thread; the runtime's workers go on serving the demo's peers.
    let shown = tokio::task::block_in_place(|| crate::ui::run(rt, client, root, None));
    leecher.abort();
    if let Ok(Ok(engine)) = leecher.await {
        engine.shutdown().await;
    }
    world.seeder.shutdown().await;
    world.peer.shutdown().await;
    shown
}

#[cfg(not(feature = "gui"))]
async fn open_window(_: &DemoWorld) -> anyhow::Result<()> {
    unreachable!("window_possible() is false without the window")
}
