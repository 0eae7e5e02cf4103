//! The benchmarks behind `swarmdate-bench`: each prints figures as ratios against references
//! measured in the same run.

mod clients;
mod crowd;
mod first_byte;
mod iso;
mod mirror;
mod plan;
mod repodata;
pub mod report;
mod store;
mod swarm;

pub use clients::{
    ClientsBench, ClientsSizes, Leecher, Row as ClientsRow, Task as ClientsTask, run_clients_bench,
};
pub use crowd::{CrowdBench, CrowdClients, CrowdSetup, run_crowd_bench};
pub use first_byte::{FirstByteBench, FirstByteRun, run_first_byte_bench};
pub use iso::{IsoBench, IsoBenchRow, run_iso_bench};
pub use mirror::{MirrorBench, run_mirror_bench};
pub use plan::{PlanBench, run_plan_bench};
pub use repodata::{RepodataBench, repodata_report, run_repodata_bench};
pub use store::{StoreBench, run_store_bench};
pub use swarm::{SwarmBench, SwarmClients, SwarmSetup, run_swarm_bench};

/// Writes `size` pseudo-random bytes from `seed` (no piece repeats another).
fn write_random(path: &std::path::Path, size: u64, seed: u64) -> std::io::Result<()> {
    use rand::{RngCore, SeedableRng};
    use std::io::Write;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()
}

/// Writes `files` pseudo-random files named `pkg-NNNN.rpm` into `dir`, of sizes between half and
/// one and a half times `mean`, all drawn from `seed`.
fn write_random_folder(
    dir: &std::path::Path,
    files: usize,
    mean: u64,
    seed: u64,
) -> std::io::Result<()> {
    use rand::{Rng, SeedableRng};
    std::fs::create_dir_all(dir)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for n in 0..files {
        let len = rng.gen_range(mean / 2..=mean * 3 / 2);
        write_random(&dir.join(format!("pkg-{n:04}.rpm")), len, rng.r#gen())?;
    }
    Ok(())
}

/// The files directly in `dir`, each under its own name (a multi-file torrent's sources).
fn folder_sources(
    dir: &std::path::Path,
) -> std::io::Result<Vec<swarmdate_core::torrent::SourceFile>> {
    std::fs::read_dir(dir)?
        .map(|e| {
            let e = e?;
            Ok(swarmdate_core::torrent::SourceFile {
                path: vec![e.file_name().to_string_lossy().into_owned()],
                source: e.path(),
            })
        })
        .collect()
}
