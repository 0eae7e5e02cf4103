//! Benchmarks that print figures as ratios against references measured in the same run.

mod iso;

pub use iso::{IsoBench, IsoBenchRow, run_iso_bench};
