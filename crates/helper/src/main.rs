//! `swarmdate-helper install|downgrade|undo N --store DIR [--root DIR] ...`: the privileged
//! installer the desktop app and `swarmdate update` run through pkexec (polkit actions
//! `org.swarmdate.Swarmdate.install-packages`, `.downgrade-packages` and `.undo-transaction`).
//! See `packages::helper` for what it checks.

use std::process::ExitCode;

use swarmdate_packages::{
    HelperCommand, HelperError, HelperVerb, OfflineError, OfflineOutcome, apply_offline,
    cancel_offline, prepare_offline, run_helper,
};

fn main() -> ExitCode {
    let pkexec_uid = std::env::var("PKEXEC_UID").ok();
    let caller = nix::unistd::getuid().as_raw();
    let result = HelperCommand::parse(std::env::args().skip(1), pkexec_uid.as_deref(), caller)
        .map_err(Failure::Helper)
        .and_then(run);
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swarmdate-helper: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Helper(#[from] HelperError),
    #[error(transparent)]
    Offline(#[from] OfflineError),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Helper(e) => e.exit_code(),
            Failure::Offline(OfflineError::Helper(e)) => e.exit_code(),
            Failure::Offline(_) => 1,
        }
    }
}

/// Runs one command; returns what to print.
fn run(cmd: HelperCommand) -> Result<String, Failure> {
    let root = match &cmd {
        HelperCommand::Request(r) => r.root.clone(),
        HelperCommand::OfflineApply { root } | HelperCommand::OfflineCancel { root } => {
            root.clone()
        }
    };
    if root == std::path::Path::new("/") && !nix::unistd::geteuid().is_root() {
        return Err(HelperError::Usage(
            "changing the system needs root (run through pkexec)".into(),
        )
        .into());
    }
    match cmd {
        HelperCommand::Request(req) if req.verb == HelperVerb::OfflinePrepare => {
            let p = prepare_offline(&req)?;
            Ok(format!(
                "swarmdate-helper: {} packages prepared; they are installed at the next boot\n",
                p.packages.len()
            ))
        }
        HelperCommand::Request(req) => {
            let report = run_helper(&req)?;
            let mut out = report.output;
            out.push_str(&format!(
                "swarmdate-helper: recorded as transaction {} of the history\n",
                report.history
            ));
            if let Some(e) = report.history_error {
                eprintln!(
                    "swarmdate-helper: the transaction ran, but its end was not recorded: {e}"
                );
            }
            Ok(out)
        }
        HelperCommand::OfflineApply { root } => match apply_offline(&root)? {
            None => Ok("swarmdate-helper: no update of Swarmdate's is prepared\n".into()),
            Some(r) => match r.outcome {
                OfflineOutcome::Installed { history, packages } => Ok(format!(
                    "swarmdate-helper: {packages} packages installed, transaction {history} of the history\n"
                )),
                // The result is recorded for the next start; the unit's FailureAction reboots.
                OfflineOutcome::Failed { message } => Err(OfflineError::Refused(message).into()),
            },
        },
        HelperCommand::OfflineCancel { root } => Ok(if cancel_offline(&root)? {
            "swarmdate-helper: the prepared update is cancelled\n".into()
        } else {
            "swarmdate-helper: no update of Swarmdate's was prepared\n".into()
        }),
    }
}
