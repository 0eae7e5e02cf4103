//! `swarmdate bench`: benchmarks that print figures as ratios against same-run references.

use std::path::PathBuf;

use swarmdate::bench::run_iso_bench;
use swarmdate::i18n::{tr, trf};

use super::context::Ctx;
use super::output::bytes;

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// ISO switch: bytes fetched, planned and new, and time against a hash pass and a copy.
    Iso {
        /// Image size in MB.
        #[arg(long, default_value_t = 512)]
        size_mb: usize,
        /// Share of the image's files a respin replaces, in per mille.
        #[arg(long, default_value_t = 10)]
        changed_permille: usize,
        /// Piece lengths to try, in KiB.
        #[arg(long, value_delimiter = ',', default_value = "64,128,256")]
        piece_kib: Vec<u32>,
        /// Scratch folder (default: a temporary folder; needs about 4 × the image size).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub async fn run(ctx: &Ctx, cmd: BenchCmd) -> anyhow::Result<()> {
    let BenchCmd::Iso {
        size_mb,
        changed_permille,
        piece_kib,
        dir,
    } = cmd;
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let out = &ctx.out;
    let r = run_iso_bench(tmp.path(), size_mb, changed_permille, &piece_kib, |s| {
        out.say(s)
    })
    .await?;
    out.say("");
    out.say(trf(
        "Image {size}; reflink: {reflink}",
        &[("size", &bytes(r.image_size)), ("reflink", &r.reflink)],
    ));
    out.say(tr(
        "piece     mode          fetched     planned   new content  fetched/new  fetched/image  hash s  copy s  switch s  ÷hash",
    ));
    for row in &r.rows {
        out.say(format!(
            "{:>9}  {:<8}  {:>10}  {:>10}  {:>12}  {:>11.3}  {:>13.4}  {:>6.2}  {:>6.2}  {:>8.2}  {:>5.2}",
            bytes(row.piece_length as u64),
            serde_json::to_value(row.mode)?.as_str().unwrap_or_default(),
            bytes(row.fetched),
            bytes(row.planned),
            bytes(row.new_content),
            row.fetched as f64 / row.new_content as f64,
            row.fetched as f64 / row.image_size as f64,
            row.hash_pass_secs,
            row.copy_secs,
            row.switch_secs,
            row.ratio_to_hash,
        ));
    }
    out.summary(&r);
    Ok(())
}
