//! Kill points for crash tests: `SWARMDATE_KILL_AT=<phase>:<n>` makes the process SIGKILL itself
//! at the n-th time it passes that phase's point (copy, move, journal, write, rename, rollback).
//!
//! The kill campaign needs kills inside phases that last milliseconds, which an outside timer
//! cannot hit reliably; this is the same SIGKILL an outside killer sends, at a chosen spot.
//! Compiled only with the feature `fault-injection`, which only test builds turn on; otherwise
//! [`point`] does nothing.

#![cfg_attr(not(feature = "fault-injection"), allow(dead_code))]

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::Ordering;

struct Target {
    phase: String,
    at: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let v = std::env::var("SWARMDATE_KILL_AT").ok()?;
            let (phase, at) = v.split_once(':')?;
            Some(Target {
                phase: phase.to_owned(),
                at: at.parse().ok()?,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Marks one pass through `phase` (does nothing without the feature `fault-injection`).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_phase: &str) {}

/// Marks one pass through `phase`.
#[cfg(feature = "fault-injection")]
pub fn point(phase: &str) {
    if let Some(t) = target()
        && t.phase == phase
        && t.seen.fetch_add(1, Ordering::SeqCst) + 1 == t.at
    {
        eprintln!("swarmdate: killed at {phase}:{} (SWARMDATE_KILL_AT)", t.at);
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
