//! Updates installed at the next boot (systemd's offline updates, as GNOME Software's "Restart &
//! Update"): the packages are fetched and checked into the store now; the helper arms
//! `/system-update`; `swarmdate-offline-update.service` installs them early in the next boot;
//! the next start reports how it went, once per user.

use std::path::Path;

use anyhow::Context;
use swarmdate_core::packages::{
    HelperRequest, HelperVerb, OfflineResult, OfflineState, Prepared, cancel_offline,
    offline_state, prepare_offline,
};
use swarmdate_core::plan::Goal;
use swarmdate_engine::service::EngineHandle;

use super::User;
use super::updates::{HELPER, Step, Transaction, needs_helper, privileged_output};

/// The offline state of `root`, and the last result if this user has not been told of it yet.
pub fn state(client: &User, root: &Path) -> anyhow::Result<(OfflineState, Option<OfflineResult>)> {
    let state = offline_state(root)?;
    let unseen = state.result.clone().filter(|r| seen(client) < r.applied_at);
    Ok((state, unseen))
}

/// The file that remembers the last result this user was told of.
fn seen_file(client: &User) -> std::path::PathBuf {
    client.dirs.data.join("offline-seen")
}

fn seen(client: &User) -> i64 {
    std::fs::read_to_string(seen_file(client))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Remembers that this user was told of `result`.
pub fn mark_seen(client: &User, result: &OfflineResult) -> anyhow::Result<()> {
    std::fs::create_dir_all(&client.dirs.data)?;
    swarmdate_core::fsutil::write_atomic(
        &seen_file(client),
        result.applied_at.to_string().as_bytes(),
    )?;
    Ok(())
}

/// Fetches and checks what `transaction` installs, then arms it for the next boot: through the
/// privileged helper for the running system, directly for a root of the user's own.
pub async fn prepare(
    transaction: &Transaction,
    client: &User,
    engine: &EngineHandle,
    on: &mut (dyn FnMut(Step<'_>) + Send),
    cancel: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Prepared> {
    anyhow::ensure!(
        matches!(transaction.goal(), Goal::Update | Goal::Security),
        "only updates are installed at the next boot; downgrades and undos run now"
    );
    let cancel = std::pin::pin!(cancel);
    transaction.fetch_all(client, engine, on, cancel).await?;
    let root = transaction.root();
    let mut args = transaction.helper_args(HelperVerb::OfflinePrepare);
    if transaction.needs_helper() {
        let mut cmd = tokio::process::Command::new("pkexec");
        cmd.arg(HELPER).args(&args);
        privileged_output(cmd).await?;
        offline_state(root)?
            .prepared
            .context("the helper said it prepared the update, but nothing is armed")
    } else {
        args.extend(["--root".into(), root.display().to_string()]);
        let req = HelperRequest::parse(args, None, nix::unistd::getuid().as_raw())?;
        Ok(tokio::task::spawn_blocking(move || prepare_offline(&req)).await??)
    }
}

/// Disarms the update prepared for the next boot of `root`; whether one was.
pub async fn cancel(root: &Path) -> anyhow::Result<bool> {
    if needs_helper(root) {
        let mut cmd = tokio::process::Command::new("pkexec");
        cmd.args([HELPER, "offline-cancel"]);
        Ok(privileged_output(cmd).await?.contains("cancelled"))
    } else {
        Ok(cancel_offline(root)?)
    }
}
