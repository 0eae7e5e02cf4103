//! Benchmark results as files: JSON for machines, a Markdown table for people, an SVG chart
//! (plotters) for a glance. `scripts/bench.sh` puts them in one folder that README links.

use std::path::Path;

use plotters::prelude::*;

use super::clients::{ClientsBench, Leecher, Task};
use super::crowd::CrowdBench;
use super::swarm::SwarmBench;

/// Writes `clients.json`, `clients.md` and `clients.svg` into `dir`.
pub fn write_clients(dir: &Path, b: &ClientsBench) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("clients.json"), serde_json::to_vec_pretty(b)?)?;
    std::fs::write(dir.join("clients.md"), clients_markdown(b))?;
    clients_svg(&dir.join("clients.svg"), b)
}

/// Writes `swarm-image.{json,md}` (or `swarm-packages.*` for a folder) into `dir`.
pub fn write_swarm(dir: &Path, runs: &[SwarmBench]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let kind = if runs.iter().any(|r| r.files > 1) {
        "packages"
    } else {
        "image"
    };
    let base = dir.join(format!("swarm-{kind}"));
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_vec_pretty(runs)?,
    )?;
    std::fs::write(base.with_extension("md"), swarm_markdown(runs))?;
    Ok(())
}

/// Writes `crowd.json` and `crowd.md` into `dir`.
pub fn write_crowd(dir: &Path, runs: &[CrowdBench]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("crowd.json"), serde_json::to_vec_pretty(runs)?)?;
    std::fs::write(dir.join("crowd.md"), crowd_markdown(runs))?;
    Ok(())
}

/// One row per crowd run: the mirror's copies of what the clients wanted together, and time.
pub fn crowd_markdown(runs: &[CrowdBench]) -> String {
    let mut md = String::from(
        "# A crowd updating from a snapshot only the mirror holds\n\n| clients | how many | packages | wanted MB (one copy) | rate KiB/s | mirror MB | mirror copies | plain HTTP copies | all done s | ideal s | × ideal |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        md += &format!(
            "| {} | {} | {} | {:.1} | {} | {:.1} | {:.2} | {:.2} | {:.1} | {:.1} | {:.2} |\n",
            r.kind.name(),
            r.clients,
            r.packages,
            r.union_bytes as f64 / 1e6,
            r.rate / 1024,
            r.mirror_bytes as f64 / 1e6,
            r.mirror_copies,
            r.wanted_bytes as f64 / r.union_bytes as f64,
            r.all_done_secs,
            r.ideal_secs,
            r.all_done_secs / r.ideal_secs
        );
    }
    md
}

/// One table per task: each client's medians and its ratio to Swarmdate.
pub fn clients_markdown(b: &ClientsBench) -> String {
    let mut md = format!(
        "# Swarmdate against other clients\n\nOne seeder (a Swarmdate engine) and one leecher at a \
         time on loopback; medians of {} runs. Machine: {}. Update: {} MiB changed in place.\n",
        b.runs,
        b.machine,
        b.changed >> 20
    );
    md += "\nDownloads are timed from the leecher's announce (its start-up left out); the update \
           from the leecher's launch, so checking the older file counts (ready s: launch to \
           announce; check MiB/s: the file over that).\n";
    for task in [Task::File, Task::Folder, Task::Update] {
        md += &format!(
            "\n## {}\n\n| client | wall s | × Swarmdate | CPU s/GiB | × Swarmdate | served MB | ready s | check MiB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            task.name()
        );
        for r in b.rows.iter().filter(|r| r.task == task) {
            let check = if task == Task::Update && r.ready_secs > 0.0 {
                format!(
                    "{:.0}",
                    r.payload as f64 / f64::from(1u32 << 20) / r.ready_secs
                )
            } else {
                "–".to_owned()
            };
            md += &format!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {check} |\n",
                r.client.name(),
                r.wall_secs,
                r.wall_ratio,
                r.cpu_secs_per_gib,
                r.cpu_ratio,
                r.served as f64 / 1e6,
                r.ready_secs,
            );
        }
    }
    md
}

/// The swarm runs as a table.
pub fn swarm_markdown(runs: &[SwarmBench]) -> String {
    let mut md = String::from(
        "# One origin, many clients\n\n| clients | how many | files | MB | piece KiB | rate KiB/s | origin copies | all done s | ideal s | × ideal |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        md += &format!(
            "| {} | {} | {} | {:.0} | {} | {} | {:.2} | {:.1} | {:.1} | {:.2} |\n",
            r.kind.name(),
            r.clients,
            r.files,
            r.size as f64 / 1e6,
            r.piece_length / 1024,
            r.rate / 1024,
            r.origin_copies,
            r.all_done_secs,
            r.ideal_secs,
            r.all_done_secs / r.ideal_secs
        );
    }
    md
}

/// Bars per task: wall seconds on top, CPU seconds per GiB below, one colour per client.
fn clients_svg(path: &Path, b: &ClientsBench) -> anyhow::Result<()> {
    let tasks = [Task::File, Task::Folder, Task::Update];
    let root = SVGBackend::new(path, (1200, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(320);
    for (area, wall) in [(top, true), (bottom, false)] {
        for (panel, task) in area.split_evenly((1, 3)).iter().zip(tasks) {
            let rows: Vec<_> = b.rows.iter().filter(|r| r.task == task).collect();
            let value = |c: Leecher| {
                rows.iter().find(|r| r.client == c).map_or(0.0, |r| {
                    if wall {
                        r.wall_secs
                    } else {
                        r.cpu_secs_per_gib
                    }
                })
            };
            let top = Leecher::ALL.into_iter().map(value).fold(0.0, f64::max) * 1.15;
            let caption = if wall {
                format!("{}: wall s", task.name())
            } else {
                format!("{}: CPU s/GiB", task.name())
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(28)
                .y_label_area_size(48)
                .build_cartesian_2d(
                    (0u32..Leecher::ALL.len() as u32).into_segmented(),
                    0.0..top.max(0.01),
                )?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => Leecher::ALL
                        .get(*i as usize)
                        .map_or(String::new(), |c| c.name().to_owned()),
                    SegmentValue::Last => String::new(),
                })
                .draw()?;
            chart.draw_series(
                Histogram::vertical(&chart)
                    .margin(8)
                    .style_func(|x, _| {
                        let i = match x {
                            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => *i as usize,
                            SegmentValue::Last => 0,
                        };
                        Palette99::pick(i).filled()
                    })
                    .data(
                        Leecher::ALL
                            .into_iter()
                            .enumerate()
                            .map(|(i, c)| (i as u32, value(c))),
                    ),
            )?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Row;

    fn row(task: Task, client: Leecher, wall: f64, cpu: f64) -> Row {
        Row {
            task,
            client,
            payload: 1 << 30,
            ready_secs: 2.0,
            wall_secs: wall,
            cpu_secs_per_gib: cpu,
            served: 1_073_741_824,
            wall_ratio: wall / 2.0,
            cpu_ratio: cpu / 4.0,
            samples: Vec::new(),
        }
    }

    #[test]
    fn the_files_hold_each_clients_medians_and_ratios() {
        let b = ClientsBench {
            machine: "test machine".into(),
            runs: 5,
            changed: 20 << 20,
            rows: vec![
                row(Task::File, Leecher::Swarmdate, 2.0, 4.0),
                row(Task::File, Leecher::QBittorrent, 1.0, 2.0),
                row(Task::Update, Leecher::Swarmdate, 3.0, 1.0),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        write_clients(dir.path(), &b).unwrap();
        let md = std::fs::read_to_string(dir.path().join("clients.md")).unwrap();
        assert!(
            md.contains("| Swarmdate | 2.00 | 1.00 | 4.00 | 1.00 | 1073.7 | 2.00 | – |"),
            "{md}"
        );
        assert!(
            md.contains("| qBittorrent | 1.00 | 0.50 | 2.00 | 0.50 | 1073.7 | 2.00 | – |"),
            "{md}"
        );
        // The update's check speed: 1 GiB in 2 s.
        assert!(
            md.contains("| Swarmdate | 3.00 | 1.50 | 1.00 | 0.25 | 1073.7 | 2.00 | 512 |"),
            "{md}"
        );
        assert!(md.contains("medians of 5 runs") && md.contains("20 MiB changed"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("clients.json")).unwrap())
                .unwrap();
        assert_eq!(json["rows"][1]["client"], "qbittorrent");
        let svg = std::fs::read_to_string(dir.path().join("clients.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("qBittorrent"),
            "{svg}"
        );
        // One bar per client and panel, the two measured ones taller than nothing.
        assert!(svg.matches("<rect").count() >= 6 * 4);
    }
}
