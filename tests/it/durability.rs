//! A durability audit under `strace -f`: a SIGKILL keeps the page cache, so only the order of
//! system calls shows a missing fsync. Every rename onto an image name follows an fsync of the file
//! after its last write, and no byte goes into an image while an undo-journal entry is unflushed.

use std::collections::HashMap;
use std::path::Path;

use crate::support::*;

/// One system call from the trace, at the line where it completed.
#[derive(Debug)]
struct Call {
    name: String,
    /// Paths of the file descriptors in its arguments (strace -y), in order.
    fds: Vec<String>,
    /// Quoted strings in its arguments (rename's paths).
    strings: Vec<String>,
    /// The line where it started.
    started: usize,
    /// The line where it completed.
    done: usize,
}

fn parse_args(args: &str) -> (Vec<String>, Vec<String>) {
    let (mut fds, mut strings) = (Vec::new(), Vec::new());
    let mut rest = args;
    while let Some(i) = rest.find(['<', '"']) {
        let close = if rest.as_bytes()[i] == b'<' { '>' } else { '"' };
        let Some(j) = rest[i + 1..].find(close) else {
            break;
        };
        let inner = rest[i + 1..i + 1 + j].to_owned();
        if close == '>' {
            fds.push(inner);
        } else {
            strings.push(inner);
        }
        rest = &rest[i + j + 2..];
    }
    (fds, strings)
}

/// Reads an `strace -f -y` log into calls in completion order.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<(String, String), (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((pid, body)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let body = body.trim_start();
        if let Some(rest) = body.strip_prefix("<... ") {
            let name = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Some((started, args)) = pending.remove(&(pid.to_owned(), name.clone())) {
                let (fds, strings) = parse_args(&args);
                calls.push(Call {
                    name,
                    fds,
                    strings,
                    started,
                    done: n,
                });
            }
            continue;
        }
        let Some((name, args)) = body.split_once('(') else {
            continue;
        };
        if args.ends_with("<unfinished ...>") {
            pending.insert((pid.to_owned(), name.to_owned()), (n, args.to_owned()));
        } else {
            let (fds, strings) = parse_args(args);
            calls.push(Call {
                name: name.to_owned(),
                fds,
                strings,
                started: n,
                done: n,
            });
        }
    }
    calls
}

const WRITES: [&str; 7] = [
    "write",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "ftruncate",
    "fallocate",
    "copy_file_range",
];

/// What the audit found in one trace.
#[derive(Debug, Default)]
struct Audit {
    renames_checked: usize,
    journal_entries: usize,
    image_writes: usize,
    violations: Vec<String>,
}

fn audit(trace: &str, images: &Path) -> Audit {
    let mut a = Audit::default();
    // Per path: where the last write completed, and where the last fsync started and completed.
    let mut last_write: HashMap<String, usize> = HashMap::new();
    let mut last_sync: HashMap<String, (usize, usize)> = HashMap::new();
    // A journal write not yet covered by an fsync that started after it completed.
    let mut unflushed: Option<usize> = None;
    // Where the last covering journal fsync completed.
    let mut flushed_at = 0;
    for c in parse_trace(trace) {
        let target_fd = match c.name.as_str() {
            "copy_file_range" => c.fds.get(1),
            _ => c.fds.first(),
        };
        let path = target_fd.cloned().unwrap_or_default();
        if WRITES.contains(&c.name.as_str()) {
            if path.ends_with("undo.journal") && c.name == "pwrite64" {
                a.journal_entries += 1;
                unflushed.get_or_insert(c.done);
            }
            if path.ends_with(".iso") && c.name.starts_with("pwrite") {
                a.image_writes += 1;
                if let Some(w) = unflushed {
                    a.violations.push(format!(
                        "line {}: a write into {path} before the journal write of line {w} was flushed",
                        c.started
                    ));
                } else if flushed_at > c.started {
                    a.violations.push(format!(
                        "line {}: a write into {path} began before the journal flush ending at line {flushed_at}",
                        c.started
                    ));
                }
            }
            last_write.insert(path, c.done);
        } else if c.name == "fsync" || c.name == "fdatasync" {
            if path.ends_with("undo.journal") && unflushed.is_some_and(|w| w < c.started) {
                unflushed = None;
                flushed_at = c.done;
            }
            last_sync.insert(path, (c.started, c.done));
        } else if c.name.starts_with("rename") {
            let (Some(from), Some(to)) = (c.strings.first(), c.strings.get(1)) else {
                continue;
            };
            if Path::new(to).parent() != Some(images) {
                continue;
            }
            a.renames_checked += 1;
            let wrote = last_write.get(from).copied();
            let synced = last_sync.get(from).copied();
            let ok = synced.is_some_and(|(s, d)| wrote.is_none_or(|w| s > w) && d < c.started);
            if !ok {
                a.violations.push(format!(
                    "line {}: rename {from} → {to} without an fsync after its last write (write {wrote:?}, fsync {synced:?})",
                    c.started
                ));
            }
        }
    }
    a
}

/// Runs a client command under strace; returns the run and the trace.
async fn traced(client: &UserHome, args: &[&str], dir: &Path) -> (Run, String) {
    let inner = client.command(args);
    let log = dir.join(format!("trace-{}.txt", args.join("-").replace('/', "_")));
    let mut cmd = tokio::process::Command::new("strace");
    cmd.args(["-f", "-y", "-qq", "-s", "0", "-o"])
        .arg(&log)
        .arg("-e")
        .arg(format!(
            "trace=rename,renameat,renameat2,fsync,fdatasync,{}",
            WRITES.join(",")
        ))
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().await.expect("strace is installed");
    (Run::from(out), std::fs::read_to_string(&log).unwrap())
}

/// Copy mode, in place forward, and an in-place abort, each audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kept_name_is_flushed_before_its_rename_and_every_journal_entry_before_its_write() {
    let (_tracker, distro) = distro_with_tracker(20).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let traces = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let images = home.path().join("images");
    let client = client_in(&distro, &images, "1.00");

    let steps: [(&[&str], &str); 4] = [
        (&["iso", "switch", "1.01", "--mode", "copy"], "copy"),
        (&["iso", "switch", "1.02", "--mode", "in-place"], "in place"),
        (
            &["iso", "switch", "1.00", "--mode", "in-place"],
            "in place, shrinking",
        ),
        (&["iso", "switch", "--abort"], "abort"),
    ];
    for (args, what) in steps {
        if what == "abort" {
            // Something to abort: an in-place switch killed mid-write.
            let mut c = client.command(&["iso", "switch", "1.01", "--mode", "in-place"]);
            c.env("SWARMDATE_KILL_AT", "write:6");
            let r = Run::from(c.output().unwrap());
            assert_eq!(r.code, -1, "{:?}\n{}", r.events, r.stderr);
        }
        let (run, trace) = traced(&client, args, traces.path()).await;
        assert_eq!(run.code, 0, "{what}: {:?}\n{}", run.events, run.stderr);
        let a = audit(&trace, &images);
        eprintln!(
            "{what}: {} renames onto image names checked, {} journal entries, {} image writes",
            a.renames_checked, a.journal_entries, a.image_writes
        );
        assert!(a.violations.is_empty(), "{what}: {:#?}", a.violations);
        assert!(
            a.renames_checked >= 1,
            "{what}: the audit saw the final rename"
        );
        if what.starts_with("in place") {
            assert!(
                a.journal_entries >= 1 && a.image_writes >= 1,
                "{what}: {a:?}"
            );
        }
        if what == "abort" {
            assert!(
                a.image_writes >= 1,
                "the rollback wrote old bytes back: {a:?}"
            );
        }
    }
    assert_eq!(
        sha256(&images.join("os-1.00.iso")),
        sha256(distro.image("1.00"))
    );

    // Positive control: the audit catches a rename without an fsync, and a write before a flush.
    let bad = format!(
        "1 pwrite64(3<{w}>, \"\"..., 10, 0) = 10\n1 rename(\"{w}\", \"{t}\") = 0\n\
         1 pwrite64(4</x/undo.journal>, \"\"..., 10, 20) = 10\n1 pwrite64(3<{t}>, \"\"..., 10, 0) = 10\n",
        w = "/w/os.iso",
        t = images.join("os-9.iso").display()
    );
    assert_eq!(audit(&bad, &images).violations.len(), 2);
    seeder.shutdown().await;
}
