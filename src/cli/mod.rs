//! The command line: one binary, subcommands for headless users and distributors.

mod context;
mod demo;
mod exit;
mod get;
mod history;
mod iso;
mod output;
mod publish;
mod seed;
mod subset;
mod torrent;
mod update;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use context::{Ctx, Global};
pub use output::{Out, bytes};

#[derive(Parser)]
#[command(
    name = "swarmdate",
    version,
    about = "Package updates and installation images over BitTorrent",
    after_help = exit::EXIT_CODES
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Without a command, the window opens.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Global options that take a value (so their value is not taken for a link).
const VALUED: [&str; 4] = ["--home", "--feed", "--trust", "--listen"];

/// Takes out of `args` a `bittorrent://` link or `.torrent` file given where a command would
/// go (`swarmdate LINK`, as the desktop file passes it): the window opens it.
fn take_link(args: &mut Vec<String>) -> Option<String> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if VALUED.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        let link =
            a.starts_with(swarmdate_core::feed::BITTORRENT_PREFIX) || a.ends_with(".torrent");
        return link.then(|| args.remove(i));
    }
    None
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
    /// The transactions of this system (or a root), and undoing one.
    #[command(
        after_help = "Examples:\n  swarmdate history\n  swarmdate history show 4\n  swarmdate history undo 4 --yes"
    )]
    History(history::HistoryArgs),
    /// Seed what this machine holds, without a window.
    Seed(seed::SeedArgs),
    /// Export the packages this machine holds as a torrent any BitTorrent client can seed.
    #[command(
        after_help = "Examples:\n  swarmdate subset --export ~/held.torrent\n  swarmdate subset --export held.torrent --root / --payload ~/seed-from-here"
    )]
    Subset(subset::SubsetArgs),
    /// The distributor's side: keys, image torrents, respins, the signed feed.
    #[command(subcommand)]
    Publish(publish::PublishCmd),
}

/// Parses the arguments, runs the command and returns the documented exit code.
pub fn run() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let open = take_link(&mut args);
    let cli = match Cli::try_parse_from(args) {
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
        None => open_window(rt.handle().clone(), cli.global, open),
    });
    finish(result, json)
}

/// The documented exit code for a command's result, its error printed (as JSON with `json`).
pub fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    match result {
        Ok(()) => exit::exit(0),
        Err(err) => {
            let code = exit::code_for(&err);
            output::Out::new(json).error(&err, code);
            exit::exit(code)
        }
    }
}

/// Logs to stderr, filtered by `SWARMDATE_LOG` (default: warnings).
pub fn init_logging() {
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
    let client = swarmdate_usecases::User::new(global.overrides())?;
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
        Command::History(a) => history::run(&ctx, a).await,
        Command::Seed(a) => seed::run(&ctx, a).await,
        Command::Subset(a) => subset::run(&ctx, a).await,
        Command::Publish(c) => publish::run(&ctx, c).await,
    }
}

#[cfg(test)]
mod tests {
    use super::take_link;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_link_where_a_command_goes_is_for_the_window_and_nowhere_else() {
        let mut a = args(&["swarmdate", "bittorrent://https://example.org/x.torrent"]);
        assert_eq!(
            take_link(&mut a).as_deref(),
            Some("bittorrent://https://example.org/x.torrent")
        );
        assert_eq!(a, ["swarmdate"]);
        let mut a = args(&["swarmdate", "--home", "/h", "/tmp/x.torrent"]);
        assert_eq!(take_link(&mut a).as_deref(), Some("/tmp/x.torrent"));
        assert_eq!(a, ["swarmdate", "--home", "/h"]);
        // A command's own argument stays the command's.
        for line in [
            &[
                "swarmdate",
                "get",
                "bittorrent://https://example.org/x.torrent",
            ][..],
            &["swarmdate", "--home", "/h", "iso", "switch", "1.02"][..],
            &["swarmdate", "torrent", "show", "x.torrent"][..],
        ] {
            let mut a = args(line);
            assert_eq!(take_link(&mut a), None, "{line:?}");
            assert_eq!(a, args(line));
        }
    }
}
