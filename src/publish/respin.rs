//! `publish respin`: a new image version made by appending a session to a copy of the old one, so
//! every old byte stays at its offset (PLATFORM.md §4).

use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::fsutil;

/// Copies `old` to `new` and updates the folder `at` inside it to mirror `tree`, in an appended
/// session (Joliet kept). `new` appears only when complete.
pub fn respin(old: &Path, tree: &Path, at: &str, new: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(tree.is_dir(), "{} is not a folder", tree.display());
    anyhow::ensure!(
        at.starts_with('/'),
        "the path inside the image must start with /, got {at:?}"
    );
    anyhow::ensure!(
        !new.exists(),
        "{} exists already; choose another name",
        new.display()
    );
    let dir = fsutil::parent_dir(new);
    fsutil::ensure_space(dir, std::fs::metadata(old)?.len() + dir_size(tree)?)?;
    let tmp = tempfile::Builder::new()
        .prefix(".swarmdate-respin-")
        .suffix(".iso")
        .tempfile_in(dir)?
        .into_temp_path();
    fsutil::clone_or_copy(old, &tmp)?;
    let out = Command::new("xorriso")
        .arg("-dev")
        .arg(&*tmp)
        .args(["-joliet", "on", "-update_r"])
        .arg(tree)
        .arg(at)
        .arg("-commit")
        .output()
        .context("running xorriso (install it: apt-get install xorriso)")?;
    anyhow::ensure!(
        out.status.success(),
        "xorriso failed: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    fsutil::durable_rename(&tmp, new)?;
    // The temporary path now names nothing; keep TempPath from deleting the new image's old name.
    let _ = tmp.keep();
    Ok(())
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Builds a fresh ISO9660 image of `tree` with Rock Ridge and Joliet names (xorriso).
pub fn build_image(tree: &Path, volume_id: &str, out: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !out.exists(),
        "{} exists already; choose another name",
        out.display()
    );
    let dir = fsutil::parent_dir(out);
    fsutil::ensure_space(dir, dir_size(tree)? + (4 << 20))?;
    let tmp = tempfile::Builder::new()
        .prefix(".swarmdate-image-")
        .suffix(".iso")
        .tempfile_in(dir)?
        .into_temp_path();
    std::fs::remove_file(&tmp)?;
    let out_status = Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-V", volume_id, "-o"])
        .arg(&*tmp)
        .arg(tree)
        .output()
        .context("running xorriso (install it: apt-get install xorriso)")?;
    anyhow::ensure!(
        out_status.status.success(),
        "xorriso failed: {}",
        String::from_utf8_lossy(&out_status.stderr)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    fsutil::durable_rename(&tmp, out)?;
    let _ = tmp.keep();
    Ok(())
}
