//! The `swarmdate` binary: the window with no subcommand, the command line otherwise.

mod cli;
#[cfg(feature = "gui")]
mod ui;

fn main() -> std::process::ExitCode {
    swarmdate::i18n::init();
    cli::run()
}
