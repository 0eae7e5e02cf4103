//! How rpm's tools are run.

use std::process::Command;

/// `rpm`, `rpmkeys` or `dnf` in a fixed, clean environment (`LC_ALL=C`, no `LANGUAGE`, nothing
/// else of the caller's): their output parses the same on every system, and nothing the caller
/// set steers a privileged run.
pub(crate) fn clean_command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C");
    c
}
