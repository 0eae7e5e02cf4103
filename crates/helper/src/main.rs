//! `swarmdate-helper install|downgrade|undo N --store DIR [--root DIR] ...`: the privileged
//! installer the desktop app and `swarmdate update` run through pkexec (polkit actions
//! `org.swarmdate.Swarmdate.install-packages`, `.downgrade-packages` and `.undo-transaction`).
//! See `packages::helper` for what it checks.

use std::process::ExitCode;

use swarmdate_packages::{HelperRequest, run_helper};

fn main() -> ExitCode {
    let pkexec_uid = std::env::var("PKEXEC_UID").ok();
    let caller = nix::unistd::getuid().as_raw();
    let result = HelperRequest::parse(std::env::args().skip(1), pkexec_uid.as_deref(), caller)
        .and_then(|req| {
            if req.root == std::path::Path::new("/") && !nix::unistd::geteuid().is_root() {
                return Err(swarmdate_packages::HelperError::Usage(
                    "installing into the system needs root (run through pkexec)".into(),
                ));
            }
            run_helper(&req)
        });
    match result {
        Ok(report) => {
            print!("{}", report.output);
            println!(
                "swarmdate-helper: recorded as transaction {} of the history",
                report.history
            );
            if let Some(e) = report.history_error {
                eprintln!(
                    "swarmdate-helper: the transaction ran, but its end was not recorded: {e}"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swarmdate-helper: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
