//! `swarmdate-bench`: benchmarks that print figures as ratios against same-run references.

mod window;

use std::process::ExitCode;

use std::path::PathBuf;

use serde_json::json;
use swarmdate_bench::{
    ClientsSizes, CrowdClients, CrowdSetup, Leecher, SwarmClients, SwarmSetup, report,
    run_clients_bench, run_iso_bench, run_mirror_bench, run_plan_bench, run_store_bench,
};
use swarmdate_core::i18n::{tr, trf};

use clap::Parser;
use swarmdate::cli::{Ctx, Global, bytes};

#[derive(Parser)]
#[command(
    name = "swarmdate-bench",
    about = "Benchmarks that print figures against references measured in the same run"
)]
struct Args {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: BenchCmd,
}

/// Heap bytes, now and at their peak, for the benchmarks' memory figures (`bench repodata`).
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

fn main() -> ExitCode {
    swarmdate_core::i18n::init();
    let args = Args::parse();
    swarmdate::cli::init_logging();
    let json = args.global.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                let ctx = Ctx::new(args.global)?;
                run(&ctx, args.command).await
            })
        });
    swarmdate::cli::finish(result, json)
}

#[derive(clap::Subcommand)]
enum BenchCmd {
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
        /// Build the new version afresh (every file moves) instead of appending a session.
        #[arg(long)]
        rebuild: bool,
        /// Scratch folder (default: a temporary folder; needs about 4 × the image size).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Planning at distribution scale: inventory, indexes, solver, memory.
    Plan {
        /// Packages in the synthetic release index.
        #[arg(long, default_value_t = 70_000)]
        packages: usize,
        /// Packages installed in the rpm root.
        #[arg(long, default_value_t = 2_500)]
        installed: usize,
    },
    /// Repodata at Fedora's scale against the package index; publishing from repodata against
    /// reading every package.
    Repodata {
        /// Packages in the synthesized primary and index.
        #[arg(long, default_value_t = 70_000)]
        packages: usize,
        /// Packages installed in the planned system.
        #[arg(long, default_value_t = 2_500)]
        installed: usize,
        /// Real packages to publish both ways.
        #[arg(long, default_value_t = 1_000)]
        published: usize,
    },
    /// Packages from a mirror alone, through the engine, against curl on the same files.
    Mirror {
        /// Packages in the repository.
        #[arg(long, default_value_t = 300)]
        packages: usize,
        /// Largest package in KB (the smallest is a fifth of it).
        #[arg(long, default_value_t = 1000)]
        max_kb: usize,
    },
    /// One origin and many clients, each limited to the same rate each way, fetching one image
    /// at once: the copies the origin served and the time against the ideal.
    Swarm(SwarmArgs),
    /// A crowd updating at once from a snapshot only the mirror holds: the mirror's copies and the
    /// time against the ideal, for Swarmdate, plain HTTP and qBittorrent with a web seed.
    Crowd(CrowdArgs),
    /// A switch and an update in a fresh swarm (the demo distribution built anew each run): the
    /// time to their first byte and to their end, and the medians.
    FirstByte {
        /// Runs, each in a fresh swarm.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The demo's image size in MB.
        #[arg(long, default_value_t = 40)]
        image_mb: usize,
        /// Also write first-byte.json into this folder.
        #[arg(long)]
        results: Option<PathBuf>,
    },
    /// Swarmdate against aria2c, Transmission and qBittorrent: one seeder, one leecher at a time,
    /// a large file, a folder of many files and an update in place (run a release build).
    Clients {
        /// The large file in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// Files in the folder.
        #[arg(long, default_value_t = 2000)]
        files: usize,
        /// Their mean size in KB.
        #[arg(long, default_value_t = 500)]
        file_kb: u64,
        /// MiB the update changes, at scattered places.
        #[arg(long, default_value_t = 20)]
        changed_mib: usize,
        /// Runs per client and task (the figures are medians).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The clients to run (default: all; the ratios are to the first).
        #[arg(long, value_enum, value_delimiter = ',')]
        leechers: Vec<Leecher>,
        /// Also write clients.json, clients.md and clients.svg into this folder.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Scratch folder (default: a temporary folder; needs about 5 × the file's size).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The window: piece map draw time, time to first frame, main-loop stalls (needs a display).
    Window {
        /// Scratch folder for the demo distribution (default: a temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The engine holding a distribution-sized master torrent through the package store.
    Store {
        /// Files in the torrent.
        #[arg(long, default_value_t = 70_000)]
        files: usize,
        /// Files the store holds (and seeds).
        #[arg(long, default_value_t = 2_500)]
        held: usize,
    },
}

async fn run(ctx: &Ctx, cmd: BenchCmd) -> anyhow::Result<()> {
    let (size_mb, changed_permille, piece_kib, rebuild, dir) = match cmd {
        BenchCmd::Iso {
            size_mb,
            changed_permille,
            piece_kib,
            rebuild,
            dir,
        } => (size_mb, changed_permille, piece_kib, rebuild, dir),
        BenchCmd::Plan {
            packages,
            installed,
        } => return plan_bench(ctx, packages, installed).await,
        BenchCmd::Store { files, held } => return store_bench(ctx, files, held).await,
        BenchCmd::Repodata {
            packages,
            installed,
            published,
        } => {
            let tmp = tempfile::Builder::new()
                .prefix("swarmdate-bench-")
                .tempdir()?;
            let out = &ctx.out;
            let r = tokio::task::block_in_place(|| {
                swarmdate_bench::run_repodata_bench(
                    tmp.path(),
                    packages,
                    installed,
                    published,
                    |s| out.say(s),
                )
            })?;
            for line in swarmdate_bench::repodata_report(&r) {
                out.say(line);
            }
            out.summary(&r);
            return Ok(());
        }
        BenchCmd::Mirror { packages, max_kb } => return mirror_bench(ctx, packages, max_kb).await,
        BenchCmd::Window { dir } => return window(ctx, dir),
        BenchCmd::Swarm(args) => return swarm_bench(ctx, args).await,
        BenchCmd::Crowd(args) => return crowd_bench(ctx, args).await,
        BenchCmd::FirstByte {
            runs,
            image_mb,
            results,
        } => return first_byte_bench(ctx, runs, image_mb, results).await,
        BenchCmd::Clients {
            size_mib,
            files,
            file_kb,
            changed_mib,
            runs,
            leechers,
            results,
            dir,
        } => {
            let sizes = ClientsSizes {
                file: size_mib << 20,
                files,
                file_mean: file_kb * 1000,
                changed_mib,
            };
            let leechers = if leechers.is_empty() {
                Leecher::ALL.to_vec()
            } else {
                leechers
            };
            return clients_bench(ctx, sizes, runs, &leechers, results, dir).await;
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let out = &ctx.out;
    let r = run_iso_bench(
        tmp.path(),
        size_mb,
        changed_permille,
        &piece_kib,
        rebuild,
        |s| out.say(s),
    )
    .await?;
    out.say("");
    out.say(trf(
        "Image {size}; reflink: {reflink}",
        &[("size", &bytes(r.image_size)), ("reflink", &r.reflink)],
    ));
    out.say(tr(
        "piece     mode          fetched     planned   new content  fetched/new  fetched/image  from image  pre-fill s  read s  hash s  copy s  switch s  ÷hash",
    ));
    for row in &r.rows {
        out.say(format!(
            "{:>9}  {:<8}  {:>10}  {:>10}  {:>12}  {:>11.3}  {:>13.4}  {:>10}  {:>10.2}  {:>6.2}  {:>6.2}  {:>6.2}  {:>8.2}  {:>5.2}",
            bytes(row.piece_length as u64),
            serde_json::to_value(row.mode)?.as_str().unwrap_or_default(),
            bytes(row.fetched),
            bytes(row.planned),
            bytes(row.new_content),
            row.fetched as f64 / row.new_content as f64,
            row.fetched as f64 / row.image_size as f64,
            bytes(row.from_image),
            row.prefill_secs,
            row.read_pass_secs,
            row.hash_pass_secs,
            row.copy_secs,
            row.switch_secs,
            row.ratio_to_hash,
        ));
    }
    out.summary(&r);
    Ok(())
}

async fn clients_bench(
    ctx: &Ctx,
    sizes: ClientsSizes,
    runs: usize,
    leechers: &[Leecher],
    results: Option<PathBuf>,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))?;
    let out = &ctx.out;
    let b = run_clients_bench(tmp.path(), sizes, runs.max(1), leechers, |s| out.say(s)).await?;
    out.say(report::clients_markdown(&b));
    if let Some(dir) = results {
        report::write_clients(&dir, &b)?;
    }
    out.summary(&b);
    Ok(())
}

/// The options of `bench swarm`.
#[derive(clap::Args)]
pub struct SwarmArgs {
    /// Clients downloading.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Payload size in MB.
    #[arg(long, default_value_t = 200)]
    size_mb: u64,
    /// A package folder of this many files instead of one image.
    #[arg(long, default_value_t = 0)]
    files: usize,
    /// Every engine's limit each way, in KiB/s.
    #[arg(long, default_value_t = 4096)]
    rate_kib: u32,
    /// Also write swarm-image.{json,md} (swarm-packages.* with --files) into this folder.
    #[arg(long)]
    results: Option<PathBuf>,
    /// The runs, one after the other on the same payload.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [SwarmClients::IndexOrder, SwarmClients::RandomPieces, SwarmClients::SuperSeed, SwarmClients::Qbittorrent])]
    runs: Vec<SwarmClients>,
}

async fn swarm_bench(ctx: &Ctx, args: SwarmArgs) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let setup = SwarmSetup {
        clients: args.clients,
        size: args.size_mb * 1_000_000,
        files: args.files,
        rate: args.rate_kib.saturating_mul(1024),
    };
    let mut runs = Vec::new();
    // The same swarm in one process: the reference order, Swarmdate's own, another client's.
    for kind in args.runs {
        runs.push(swarmdate_bench::run_swarm_bench(tmp.path(), setup, kind, |s| out.say(s)).await?);
    }
    for line in report::swarm_markdown(&runs).lines() {
        out.say(line);
    }
    if let Some(dir) = &args.results {
        report::write_swarm(dir, &runs)?;
    }
    out.summary(&runs);
    Ok(())
}

#[derive(clap::Args)]
pub struct CrowdArgs {
    /// Clients updating at once.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Packages in the snapshot.
    #[arg(long, default_value_t = 300)]
    packages: usize,
    /// Share of the packages each client wants, per cent.
    #[arg(long, default_value_t = 60)]
    share: u32,
    /// Every client's limit each way, in KiB/s.
    #[arg(long, default_value_t = 1024)]
    rate_kib: u32,
    /// The runs, one after the other on the same snapshot.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [CrowdClients::Swarmdate, CrowdClients::PlainHttp, CrowdClients::Qbittorrent])]
    runs: Vec<CrowdClients>,
    /// Then Swarmdate alone with each of these crowd sizes (the trend of the mirror's copies).
    #[arg(long, value_delimiter = ',')]
    trend: Vec<usize>,
    /// Also write crowd.{json,md} into this folder.
    #[arg(long)]
    results: Option<PathBuf>,
}

async fn crowd_bench(ctx: &Ctx, args: CrowdArgs) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let setup = CrowdSetup {
        clients: args.clients,
        packages: args.packages,
        share_percent: args.share.clamp(1, 100),
        rate: args.rate_kib.saturating_mul(1024),
    };
    let mut runs = Vec::new();
    let trend = args
        .trend
        .iter()
        .map(|&clients| (CrowdClients::Swarmdate, clients));
    for (kind, clients) in args.runs.iter().map(|&k| (k, setup.clients)).chain(trend) {
        let setup = CrowdSetup { clients, ..setup };
        let run = swarmdate_bench::run_crowd_bench(tmp.path(), setup, kind, |s| out.say(s)).await?;
        // Each run's row as it ends, and the files so far: a long bench keeps what it measured.
        if let Some(line) = report::crowd_markdown(std::slice::from_ref(&run))
            .lines()
            .last()
        {
            out.say(line);
        }
        runs.push(run);
        if let Some(dir) = &args.results {
            report::write_crowd(dir, &runs)?;
        }
    }
    for line in report::crowd_markdown(&runs).lines() {
        out.say(line);
    }
    out.summary(&runs);
    Ok(())
}

async fn first_byte_bench(
    ctx: &Ctx,
    runs: usize,
    image_mb: usize,
    results: Option<PathBuf>,
) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let b =
        swarmdate_bench::run_first_byte_bench(tmp.path(), runs, image_mb, |s| out.say(s)).await?;
    let secs = |v: Option<f64>| v.map_or("–".to_owned(), |s| format!("{s:.2} s"));
    out.say(format!(
        "Medians of {} runs: switch first byte {}, done {}; update first byte {}, from a peer {}, done {}",
        b.runs.len(),
        secs(b.median(|r| Some(r.switch_first_byte))),
        secs(b.median(|r| Some(r.switch_done))),
        secs(b.median(|r| Some(r.update_first_byte))),
        secs(b.median(|r| r.update_first_peer_byte)),
        secs(b.median(|r| Some(r.update_done))),
    ));
    if let Some(dir) = results {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("first-byte.json"), serde_json::to_vec_pretty(&b)?)?;
    }
    out.summary(&b);
    Ok(())
}

async fn plan_bench(ctx: &Ctx, packages: usize, installed: usize) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let r = run_plan_bench(tmp.path(), packages, installed, |s| out.say(s)).await?;
    out.say(trf(
        "{p} packages ({u} updates), {i} installed, indexes {size}",
        &[
            ("p", &r.packages),
            ("u", &r.updates),
            ("i", &r.installed),
            ("size", &bytes(r.index_bytes)),
        ],
    ));
    out.say(trf(
        "inventory   {ours} s  (rpm -qa {qa} s: ×{ratio})",
        &[
            ("ours", &format!("{:.3}", r.inventory_secs)),
            ("qa", &format!("{:.3}", r.rpm_qa_secs)),
            ("ratio", &format!("{:.2}", r.inventory_secs / r.rpm_qa_secs)),
        ],
    ));
    out.say(trf(
        "indexes     {parse} s parse, {cat} s merge",
        &[
            ("parse", &format!("{:.3}", r.index_parse_secs)),
            ("cat", &format!("{:.3}", r.catalogue_secs)),
        ],
    ));
    out.say(trf(
        "plan        {plan} s, {n} packages (×{ratio} the index parse)",
        &[
            ("plan", &format!("{:.3}", r.plan_secs)),
            ("n", &r.changes),
            ("ratio", &format!("{:.2}", r.plan_secs / r.index_parse_secs)),
        ],
    ));
    out.say(trf(
        "memory      indexes held {held} (×{held_ratio} their JSON), planning peak +{peak} (×{peak_ratio})",
        &[
            ("held", &bytes(r.index_memory)),
            ("held_ratio", &format!("{:.2}", r.index_memory as f64 / r.index_bytes as f64)),
            ("peak", &bytes(r.plan_peak_memory)),
            ("peak_ratio", &format!("{:.2}", r.plan_peak_memory as f64 / r.index_bytes as f64)),
        ],
    ));
    out.summary(json!(r));
    Ok(())
}

async fn store_bench(ctx: &Ctx, files: usize, held: usize) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let r = run_store_bench(tmp.path(), files, held, |s| out.say(s)).await?;
    out.say(trf(
        "{files} files ({pieces} pieces), {held} held: seeding after {add} s (×{ratio} one hash pass over the held files, {hash} s)",
        &[
            ("files", &r.files),
            ("pieces", &r.pieces),
            ("held", &r.held),
            ("add", &format!("{:.2}", r.add_secs)),
            ("ratio", &format!("{:.2}", r.add_secs / r.hash_held_secs.max(1e-6))),
            ("hash", &format!("{:.3}", r.hash_held_secs)),
        ],
    ));
    out.say(trf(
        "descriptors {before} before, {seeding} while seeding; {created} files created",
        &[
            ("before", &r.fds_before),
            ("seeding", &r.fds_seeding),
            ("created", &r.files_created),
        ],
    ));
    out.summary(json!(r));
    Ok(())
}

async fn mirror_bench(ctx: &Ctx, packages: usize, max_kb: usize) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-")
        .tempdir()?;
    let out = &ctx.out;
    let max = max_kb * 1000;
    let r = run_mirror_bench(tmp.path(), packages, max / 5..max, |s| out.say(s)).await?;
    out.say(trf(
        "{n} packages, {size}: curl {curl} s, engine {engine} s (×{ratio}); the mirror served {served} to the engine",
        &[
            ("n", &r.packages),
            ("size", &bytes(r.bytes)),
            ("curl", &format!("{:.2}", r.curl_secs)),
            ("engine", &format!("{:.2}", r.engine_secs)),
            ("ratio", &format!("{:.2}", r.engine_secs / r.curl_secs)),
            ("served", &bytes(r.mirror_bytes)),
        ],
    ));
    out.summary(json!(r));
    Ok(())
}

/// `bench window`, on this (the main) thread: GTK runs here, the engine on the runtime's workers.
fn window(ctx: &Ctx, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("swarmdate-bench-window-")
        .tempdir()?;
    let dir = dir.unwrap_or_else(|| tmp.path().to_owned());
    let rt = tokio::runtime::Handle::current();
    let b = tokio::task::block_in_place(|| window::run(rt, &dir, |s| ctx.out.say(s)))?;
    ctx.out.say(trf(
        "Piece map, 400,000 pieces: texture {texture} ms, drawn at 1,000 × 400 in {frame} ms",
        &[
            ("texture", &format!("{:.1}", b.piece_map_texture_ms)),
            ("frame", &format!("{:.1}", b.piece_map_frame_ms)),
        ],
    ));
    ctx.out.say(trf(
        "First frame: Swarmdate {app} ms, a minimal libadwaita window {minimal} ms (×{ratio})",
        &[
            ("app", &format!("{:.0}", b.app_first_frame_ms)),
            ("minimal", &format!("{:.0}", b.minimal_first_frame_ms)),
            (
                "ratio",
                &format!("{:.2}", b.app_first_frame_ms / b.minimal_first_frame_ms),
            ),
        ],
    ));
    ctx.out.say(trf(
        "Longest main-loop stall during the demo's update and switch: {stall} ms ({ticks} ticks)",
        &[
            ("stall", &format!("{:.1}", b.longest_stall_ms)),
            ("ticks", &b.ticks),
        ],
    ));
    ctx.out.summary(json!(b));
    Ok(())
}
