//! Output for people (text, progress bars on a terminal) or scripts (newline-delimited JSON).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};
use swarmdate_core::i18n::trf;
use swarmdate_core::text::escape_controls;
use swarmdate_engine::{JobSnapshot, JobState};

/// Where output goes and in which form.
pub struct Out {
    json: bool,
    terminal: bool,
}

impl Out {
    /// Chooses the form from `--json` and whether stderr is a terminal.
    pub fn new(json: bool) -> Self {
        Out {
            json,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Whether scripts are reading.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Whether a person can answer a question.
    pub fn can_ask(&self) -> bool {
        !self.json && std::io::stdin().is_terminal() && self.terminal
    }

    /// A line for people (nothing in JSON mode). Its control characters are shown escaped: the
    /// lines hold names, comments and URLs from torrents, feeds and peers, and one of those must
    /// not forge a line or drive the terminal.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", escape_controls(text.as_ref()));
        }
    }

    /// A JSON event (nothing for people).
    pub fn event(&self, name: &str, body: impl Serialize) {
        if self.json {
            let mut v = serde_json::to_value(body).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("event".into(), json!(name));
            } else {
                v = json!({ "event": name, "value": v });
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{v}");
            let _ = out.flush();
        }
    }

    /// The final summary object for scripts.
    pub fn summary(&self, body: impl Serialize) {
        self.event("summary", body);
    }

    /// Reports an error in the chosen form.
    pub fn error(&self, err: &anyhow::Error, code: u8) {
        if self.json {
            self.event(
                "error",
                json!({ "message": format!("{err:#}"), "exit_code": code }),
            );
        } else {
            // Escaped line by line: some errors quote a solver's or dnf's lines on purpose.
            let text = format!("{err:#}");
            let lines: Vec<_> = text.split('\n').map(escape_controls).collect();
            eprintln!("swarmdate: {}", lines.join("\n"));
        }
    }

    /// Asks a yes/no question on the terminal.
    pub fn confirm(&self, question: &str) -> bool {
        if !self.can_ask() {
            return false;
        }
        eprint!("{} [y/N] ", escape_controls(question));
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
    }

    /// A progress display for one job.
    pub fn job_progress(&self, label: &str) -> JobProgress {
        let bar = (!self.json && self.terminal).then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_message(escape_controls(label).into_owned());
            b
        });
        JobProgress {
            bar,
            json: self.json,
            last_event: None,
            mirror_error: None,
            told: Vec::new(),
        }
    }
}

/// Shows one job's progress from engine snapshots.
pub struct JobProgress {
    bar: Option<ProgressBar>,
    json: bool,
    last_event: Option<Instant>,
    /// The mirror failure last told, so each is told once.
    mirror_error: Option<String>,
    /// The jobs' notices told so far, so each is told once.
    told: Vec<(swarmdate_engine::JobId, swarmdate_engine::Notice)>,
}

/// Human-readable byte counts.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

fn state_name(s: &JobState) -> &'static str {
    match s {
        JobState::Preparing => "preparing",
        JobState::Checking => "checking",
        JobState::Downloading => "downloading",
        JobState::Finalizing => "finalizing",
        JobState::RollingBack => "rolling back",
        JobState::Seeding => "seeding",
        JobState::Done => "done",
        JobState::Paused => "paused",
        JobState::Failed(_) => "failed",
    }
}

impl JobProgress {
    /// Updates the display from a snapshot of the job.
    pub fn update(&mut self, job: &JobSnapshot) {
        let to_fetch = job.bytes_wanted.saturating_sub(job.bytes_had);
        // Bytes from mirrors arrive too: the bar counts every source.
        let arrived = job.bytes_fetched + job.bytes_from_mirrors;
        if let Some(b) = &self.bar {
            b.set_length(to_fetch.max(arrived));
            b.set_position(arrived);
            b.set_message(state_name(&job.state));
        }
        if job.mirror_error != self.mirror_error {
            self.mirror_error = job.mirror_error.clone();
            if let Some(e) = &self.mirror_error {
                let line = trf(
                    "A mirror failed ({error}); trying again while peers may still deliver.",
                    &[("error", &escape_controls(e))],
                );
                match &self.bar {
                    Some(b) => b.println(line),
                    None if !self.json => println!("{line}"),
                    None => {}
                }
            }
        }
        for (id, notice) in swarmdate_usecases::notices::new_ones([job], &mut self.told) {
            if self.json {
                let mut body = json!({ "job": id });
                if let (Value::Object(b), Ok(Value::Object(n))) =
                    (&mut body, serde_json::to_value(&notice))
                {
                    b.extend(n);
                }
                Out {
                    json: true,
                    terminal: false,
                }
                .event("notice", body);
            } else {
                let line = swarmdate_usecases::notices::text(&notice);
                match &self.bar {
                    Some(b) => b.println(line),
                    None => println!("{line}"),
                }
            }
        }
        if self.json
            && self
                .last_event
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(500))
        {
            self.last_event = Some(Instant::now());
            let out = Out {
                json: true,
                terminal: false,
            };
            out.event(
                "progress",
                json!({
                    "job": job.id, "state": state_name(&job.state), "bytes_wanted": job.bytes_wanted,
                    "bytes_had": job.bytes_had, "bytes_fetched": job.bytes_fetched,
                    "bytes_received": job.bytes_received, "down_speed": job.down_speed,
                    "bytes_from_mirrors": job.bytes_from_mirrors, "mirror_error": job.mirror_error,
                    "peers": job.peers.len(),
                }),
            );
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
