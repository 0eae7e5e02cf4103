//! `bench iso`: an image of about 500 MB, about 1% changed by an appended respin or a fresh rebuild
//! (every file moves), switched at several piece lengths. Reports bytes fetched, planned and new,
//! the pre-fill's time against one read of the image, and the switch's wall time against one hash
//! pass over the image and one copy of it, measured in the same run.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use swarmdate_core::fsutil;
use swarmdate_core::iso::{PublishedIso, Room, SwitchMode, check_pin, plan_switch};
use swarmdate_core::publish::{IsoPublishOptions, build_image, publish_iso, respin};
use swarmdate_engine::{Engine, EngineConfig, JobSpec, Payload};
use swarmdate_testkit::demo::write_package;
use swarmdate_testkit::tracker::Tracker;

/// What was measured at one piece length in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct IsoBenchRow {
    /// Piece length in bytes.
    pub piece_length: u32,
    /// How the switch built the new version.
    pub mode: SwitchMode,
    /// Bytes the seeder uploaded (its own counter).
    pub fetched: u64,
    /// Bytes the plan said would be fetched.
    pub planned: u64,
    /// Bytes of files the old image does not hold.
    pub new_content: u64,
    /// File bytes the pre-fill placed from the old image.
    pub from_image: u64,
    /// Seconds the pre-fill took (learning the target's layout, placing files).
    pub prefill_secs: f64,
    /// Seconds for one plain sequential read of the old image, just before the switch.
    pub read_pass_secs: f64,
    /// Size of the target image.
    pub image_size: u64,
    /// Wall seconds of the whole switch (copy, check, transfer, rename).
    pub switch_secs: f64,
    /// Seconds for one single-threaded SHA-1 pass over the image, just before the switch.
    pub hash_pass_secs: f64,
    /// Seconds for one copy of the image (flushed), just before the switch.
    pub copy_secs: f64,
    /// The switch against one hash pass over the image.
    pub ratio_to_hash: f64,
}

/// The whole benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct IsoBench {
    /// Image size in bytes.
    pub image_size: u64,
    /// Whether the file system could reflink.
    pub reflink: bool,
    /// Whether the new version was built afresh (every file moved) instead of appended.
    pub rebuild: bool,
    /// One row per piece length.
    pub rows: Vec<IsoBenchRow>,
}

fn hash_pass(path: &Path) -> std::io::Result<f64> {
    let start = Instant::now();
    std::hint::black_box(swarmdate_core::hash::digest_file::<sha1::Sha1>(path)?);
    Ok(start.elapsed().as_secs_f64())
}

/// Builds the images under `dir` (about `mb` MB, `changed_permille` ‰ replaced) and measures a
/// switch at each piece length in KiB, in every mode the file system allows.
pub async fn run_iso_bench(
    dir: &Path,
    mb: usize,
    changed_permille: usize,
    piece_kibs: &[u32],
    rebuild: bool,
    say: impl Fn(&str),
) -> anyhow::Result<IsoBench> {
    let tree = dir.join("tree");
    let (old, new) = (dir.join("bench-1.00.iso"), dir.join("bench-1.01.iso"));
    let files = 200usize;
    let each = mb * 1_000_000 / files;
    let changed = (files * changed_permille).div_ceil(1000).max(1);
    say(&format!(
        "Building a {mb} MB image and a {} replacing {changed} of {files} files",
        if rebuild { "fresh rebuild" } else { "respin" }
    ));
    let new_content = {
        let (tree, old, new) = (tree.clone(), old.clone(), new.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let name =
                |i: usize, v: u32| tree.join(format!("Packages/p/pkg{i:03}-1.{v}-1.x86_64.rpm"));
            for i in 0..files {
                write_package(&name(i, 0), each + i * 511, i as u64)?;
            }
            build_image(&tree, "BENCH", &old)?;
            let mut new_bytes = 0u64;
            for i in (0..files).step_by(files / changed).take(changed) {
                std::fs::remove_file(name(i, 0))?;
                let len = each + i * 511 + 3000;
                write_package(&name(i, 1), len, 10_000 + i as u64)?;
                new_bytes += len as u64;
            }
            if rebuild {
                build_image(&tree, "BENCH", &new)?;
            } else {
                respin(&old, &tree, "/", &new)?;
            }
            Ok(new_bytes)
        })
        .await??
    };
    let image_size = std::fs::metadata(&new)?.len();
    let reflink = fsutil::supports_reflink(dir);
    let tracker = Tracker::start(([127, 0, 0, 1], 0).into()).await?;

    let mut rows = Vec::new();
    for &kib in piece_kibs {
        say(&format!("Switching 1.00 → 1.01 with {kib} KiB pieces"));
        let run = dir.join(format!("run-{kib}"));
        let _ = std::fs::remove_dir_all(&run);
        let publish = run.join("publish");
        std::fs::create_dir_all(&publish)?;
        let opts = IsoPublishOptions {
            piece_length: Some(kib << 10),
            trackers: vec![tracker.announce_url()],
            out_dir: Some(publish.clone()),
            ..Default::default()
        };
        let (o, n, opts2) = (old.clone(), new.clone(), opts.clone());
        let (from, to) =
            tokio::task::spawn_blocking(move || -> anyhow::Result<(PublishedIso, PublishedIso)> {
                let (t0, e0) = publish_iso(&o, "1.00", &opts2)?;
                let (t1, e1) = publish_iso(&n, "1.01", &opts2)?;
                Ok((check_pin(&e0, t0)?, check_pin(&e1, t1)?))
            })
            .await??;
        let seeder = Engine::start(EngineConfig::loopback(&run.join("seeder"))).await?;
        let sid = seeder
            .add_job(
                &to.torrent,
                JobSpec::Seed {
                    payload: Payload::Image(new.clone()),
                },
            )
            .await?;
        seeder.wait(sid).await?;
        let mut modes = vec![SwitchMode::Copy, SwitchMode::InPlace];
        if reflink {
            modes.insert(0, SwitchMode::Reflink);
        }
        for mode in modes {
            let row = switch_once(&run, &old, &new, &from, &to, &seeder, mode).await?;
            rows.push(IsoBenchRow {
                new_content,
                image_size,
                ..row
            });
        }
        seeder.shutdown().await;
        std::fs::remove_dir_all(&run)?;
    }
    Ok(IsoBench {
        image_size,
        reflink,
        rebuild,
        rows,
    })
}

/// Switches a fresh copy of `old` to `to` in `mode` and times it against a hash pass and a copy.
async fn switch_once(
    run: &Path,
    old: &Path,
    new: &Path,
    from: &PublishedIso,
    to: &PublishedIso,
    seeder: &Engine,
    mode: SwitchMode,
) -> anyhow::Result<IsoBenchRow> {
    let images = run.join("client-images");
    let _ = std::fs::remove_dir_all(&images);
    std::fs::create_dir_all(&images)?;
    let local = images.join("bench-1.00.iso");
    std::fs::copy(old, &local)?;
    let room = Room {
        reflink: fsutil::supports_reflink(&images),
        free: fsutil::available_space(&images)?,
    };
    let (l, f, t) = (local.clone(), from.clone(), to.clone());
    let plan = tokio::task::spawn_blocking(move || plan_switch(&l, Some(&f), &t, room, Some(mode)))
        .await??;

    // The references, measured right before the switch under the same cache conditions.
    let read_pass_secs = {
        let o = old.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<f64> {
            let start = Instant::now();
            std::io::copy(&mut std::fs::File::open(&o)?, &mut std::io::sink())?;
            Ok(start.elapsed().as_secs_f64())
        })
        .await??
    };
    let hash_pass_secs = {
        let n = new.to_owned();
        tokio::task::spawn_blocking(move || hash_pass(&n)).await??
    };
    let copy_secs = {
        let (o, c) = (old.to_owned(), run.join("copy-probe.iso"));
        tokio::task::spawn_blocking(move || -> std::io::Result<f64> {
            let start = Instant::now();
            std::fs::copy(&o, &c)?;
            std::fs::File::open(&c)?.sync_all()?;
            let t = start.elapsed().as_secs_f64();
            std::fs::remove_file(&c)?;
            Ok(t)
        })
        .await??
    };
    let client_dir = run.join("client");
    let _ = std::fs::remove_dir_all(&client_dir);
    let client = Engine::start(EngineConfig::loopback(&client_dir)).await?;
    let uploaded = || {
        seeder
            .snapshot()
            .jobs
            .iter()
            .map(|j| j.bytes_uploaded)
            .sum::<u64>()
    };
    let before = uploaded();
    let start = Instant::now();
    let id = client
        .switch_image(&local, &to.torrent, mode, plan.space_needed, false)
        .await?;
    client.wait(id).await?;
    let switch_secs = start.elapsed().as_secs_f64();
    let done = client.snapshot().jobs.into_iter().find(|j| j.id == id);
    let (from_image, prefill_secs) = done
        .and_then(|j| j.prefilled)
        .map_or((0, 0.0), |r| (r.from_image, r.millis as f64 / 1000.0));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let fetched = uploaded() - before;
    client.shutdown().await;
    anyhow::ensure!(
        swarmdate_core::hash::Sha256::of_file(&images.join("bench-1.01.iso"))? == to.entry.sha256,
        "the switched image differs from 1.01"
    );
    Ok(IsoBenchRow {
        piece_length: plan.piece_length,
        mode,
        fetched,
        planned: plan.fetch_bytes,
        new_content: 0,
        from_image,
        prefill_secs,
        read_pass_secs,
        image_size: 0,
        switch_secs,
        hash_pass_secs,
        copy_secs,
        ratio_to_hash: switch_secs / hash_pass_secs,
    })
}
