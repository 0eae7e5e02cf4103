//! The `swarmdate` binary: the window with no subcommand, the command line otherwise.

fn main() -> std::process::ExitCode {
    swarmdate_core::i18n::init();
    swarmdate::cli::run()
}
