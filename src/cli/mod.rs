//! The command line: one binary, subcommands for headless users and distributors.

mod bench;
mod context;
mod demo;
mod exit;
mod get;
mod iso;
mod output;
mod publish;
mod seed;
mod torrent;
mod update;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::{Ctx, Global};

#[derive(Parser)]
#[command(
    name = "swarmdate",
    version,
    about = "Package updates and installation images over BitTorrent",
    after_help = exit::EXIT_CODES,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Without a command, the window opens.
    #[command(subcommand)]
    command: Option<Command>,
    /// A bittorrent:// link or .torrent file for the window to open (as the desktop passes it).
    #[arg(value_name = "LINK")]
    open: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// A small local distribution with peers on 127.0.0.1; switches an image both ways.
    Demo(demo::DemoArgs),
    /// Installation images: list versions, identify yours, plan and switch.
    #[command(subcommand)]
    Iso(iso::IsoCmd),
    /// Inspect torrent files.
    #[command(subcommand)]
    Torrent(torrent::TorrentCmd),
    /// Download any torrent's payload: a path, an http(s)/file URL, or bittorrent://<url>.
    #[command(
        after_help = "Examples:\n  swarmdate get bittorrent://https://example.org/x.torrent --dir ~/Downloads\n  swarmdate get ./x.torrent --yes"
    )]
    Get(get::GetArgs),
    /// Update the installed packages from the feed's repositories, over their swarms.
    #[command(
        after_help = "Examples:\n  swarmdate update --check\n  swarmdate update --yes\n  swarmdate update --root /tmp/root --yes   # a root other than the system's"
    )]
    Update(update::UpdateArgs),
    /// Install an older build of a package (and what must come down with it).
    #[command(
        after_help = "Examples:\n  swarmdate downgrade firefox --check\n  swarmdate downgrade firefox 131.0.2 --yes"
    )]
    Downgrade(update::DowngradeArgs),
    /// Seed what this machine holds, without a window.
    Seed(seed::SeedArgs),
    /// The distributor's side: keys, image torrents, respins, the signed feed.
    #[command(subcommand)]
    Publish(publish::PublishCmd),
    /// Benchmarks that print figures against references measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

/// Parses the arguments, runs the command and returns the documented exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return exit::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging();
    let json = cli.global.json;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from);
    let result = rt.and_then(|rt| match cli.command {
        Some(command) => rt.block_on(dispatch(cli.global, command)),
        None => open_window(rt.handle().clone(), cli.global, cli.open),
    });
    match result {
        Ok(()) => exit::exit(0),
        Err(err) => {
            let code = exit::code_for(&err);
            output::Out::new(json).error(&err, code);
            exit::exit(code)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWARMDATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,librqbit=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The window for the system, with the user's settings.
#[cfg(feature = "gui")]
fn open_window(
    rt: tokio::runtime::Handle,
    global: Global,
    open: Option<String>,
) -> anyhow::Result<()> {
    let client = swarmdate::client::Client::new(global.overrides())?;
    crate::ui::run(rt, client, "/".into(), open)
}

#[cfg(not(feature = "gui"))]
fn open_window(_: tokio::runtime::Handle, _: Global, _: Option<String>) -> anyhow::Result<()> {
    anyhow::bail!("this Swarmdate was built without its window: see swarmdate --help")
}

async fn dispatch(global: Global, command: Command) -> anyhow::Result<()> {
    let ctx = Ctx::new(global)?;
    match command {
        Command::Demo(a) => demo::run(&ctx, a).await,
        Command::Iso(c) => iso::run(&ctx, c).await,
        Command::Torrent(c) => torrent::run(&ctx, c).await,
        Command::Get(a) => get::run(&ctx, a).await,
        Command::Update(a) => update::update(&ctx, a).await,
        Command::Downgrade(a) => update::downgrade(&ctx, a).await,
        Command::Seed(a) => seed::run(&ctx, a).await,
        Command::Publish(c) => publish::run(&ctx, c).await,
        Command::Bench(c) => bench::run(&ctx, c).await,
    }
}
