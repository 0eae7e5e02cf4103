//! Images made with xorriso: a fresh build, and a respin that appends a session to a copy of the
//! old image so every old byte stays at its offset (docs/platform.md §4).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::fsutil;

/// Builds a fresh ISO9660 image of `tree` with Rock Ridge and Joliet names.
pub fn build_image(tree: &Path, volume_id: &str, out: &Path) -> anyhow::Result<()> {
    make_image(tree, out, 4 << 20, |tmp| {
        // xorriso writes a new image only where no file exists.
        std::fs::remove_file(tmp)?;
        let args: [&OsStr; 9] = [
            "-as".as_ref(),
            "mkisofs".as_ref(),
            "-R".as_ref(),
            "-J".as_ref(),
            "-V".as_ref(),
            volume_id.as_ref(),
            "-o".as_ref(),
            tmp.as_os_str(),
            tree.as_os_str(),
        ];
        xorriso(&args)
    })
}

/// Copies `old` to `new` and updates the folder `at` inside it to mirror `tree`, in an appended
/// session (Joliet kept).
pub fn respin(old: &Path, tree: &Path, at: &str, new: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        at.starts_with('/'),
        "the path inside the image must start with /, got {at:?}"
    );
    make_image(tree, new, std::fs::metadata(old)?.len(), |tmp| {
        fsutil::clone_or_copy(old, tmp)?;
        let args: [&OsStr; 8] = [
            "-dev".as_ref(),
            tmp.as_os_str(),
            "-joliet".as_ref(),
            "on".as_ref(),
            "-update_r".as_ref(),
            tree.as_os_str(),
            at.as_ref(),
            "-commit".as_ref(),
        ];
        xorriso(&args)
    })
}

/// Runs `write` on a temporary file beside `out`, then renames it to `out`: the image appears
/// only when complete, and never replaces an existing file.
fn make_image(
    tree: &Path,
    out: &Path,
    extra_space: u64,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(tree.is_dir(), "{} is not a folder", tree.display());
    anyhow::ensure!(
        !out.exists(),
        "{} exists already; choose another name",
        out.display()
    );
    let dir = fsutil::parent_dir(out);
    fsutil::ensure_space(dir, extra_space + dir_size(tree)?)?;
    let tmp = tempfile::Builder::new()
        .prefix(".swarmdate-image-")
        .suffix(".iso")
        .tempfile_in(dir)?
        .into_temp_path();
    write(&tmp)?;
    fsutil::durable_rename(&tmp, out)?;
    // The temporary name is gone after the rename; nothing is left to delete.
    let _ = tmp.keep();
    Ok(())
}

fn xorriso(args: &[&OsStr]) -> anyhow::Result<()> {
    let out = Command::new("xorriso")
        .args(args)
        .output()
        .context("running xorriso (install it: apt-get install xorriso)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<_> = stderr.lines().rev().take(5).collect();
    anyhow::ensure!(out.status.success(), "xorriso failed: {}", tail.join(" / "));
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
