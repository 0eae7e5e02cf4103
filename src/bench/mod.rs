//! Benchmarks that print figures as ratios against references measured in the same run.

mod iso;
mod mirror;
mod plan;
mod store;
mod swarm;

pub use iso::{IsoBench, IsoBenchRow, run_iso_bench};
pub use mirror::{MirrorBench, run_mirror_bench};
pub use plan::{PlanBench, run_plan_bench};
pub use store::{StoreBench, run_store_bench};
pub use swarm::{SwarmBench, run_swarm_bench};
