//! When a wanted package comes from the mirrors instead of the swarm: one small state machine per
//! file, fed what a repository job's loop sees (connected peers, the file's bytes, the time) and
//! answering what to do. It does no I/O and reads no clock, so its rules are tested here.

use std::time::{Duration, Instant};

/// A wanted file whose bytes have not grown for this long, with peers connected, goes to a mirror.
pub(crate) const STALL: Duration = Duration::from_secs(5);
/// With no peer connected for this long after the check, every wanted file goes to a mirror.
pub(crate) const NO_PEERS: Duration = Duration::from_secs(2);
/// The wait before the first retry of a failed mirror fetch; each failure doubles it.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between retries: a mirror that is down for a while is still asked again.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(60);

/// Where one wanted file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// The swarm is expected to deliver; the file's bytes last grew at `since`.
    Swarm { since: Instant },
    /// A mirror fetch is under way.
    Mirror,
    /// The last mirror fetch failed: no other before `until`; the swarm may still deliver.
    Backoff { until: Instant, since: Instant },
    /// In the store.
    Done,
}

/// What the job's loop sees of one wanted file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    /// When it looked.
    pub now: Instant,
    /// Peers connected to the torrent.
    pub peers: u32,
    /// The file's bytes so far from the swarm.
    pub bytes: u64,
    /// Whether another mirror fetch may start (they are limited per job).
    pub room: bool,
}

/// What to do about the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing now.
    Wait,
    /// Fetch it from a mirror, then report with [`Fallback::fetched`] or [`Fallback::failed`].
    Fetch,
}

/// One wanted file's way to the store: the swarm, or the mirrors when the swarm does not deliver.
#[derive(Debug, Clone)]
pub(crate) struct Fallback {
    /// When the job's check ended: the no-peer wait counts from there.
    started: Instant,
    /// How long to wait with no peer (none when no peer can be found at all).
    grace: Duration,
    state: State,
    bytes: u64,
    failures: u32,
    /// Why the last mirror fetch failed, until one succeeds: shown in the job's snapshot.
    error: Option<String>,
}

impl Fallback {
    /// A file first seen with `bytes`, in a job whose check ended at `started`.
    pub(crate) fn new(started: Instant, grace: Duration, bytes: u64) -> Self {
        Fallback {
            started,
            grace,
            state: State::Swarm { since: started },
            bytes,
            failures: 0,
            error: None,
        }
    }

    /// Where the file stands.
    #[cfg(test)]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Why the last mirror fetch failed, while the file is still missing.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Takes an observation; says whether to start a mirror fetch (the state is then `Mirror`).
    pub(crate) fn observe(&mut self, o: Observation) -> Action {
        let progressed = o.bytes != self.bytes;
        self.bytes = o.bytes;
        self.state = match self.state {
            State::Mirror | State::Done => return Action::Wait,
            // Bytes from the swarm restart the stall timer, in a backoff too.
            State::Swarm { .. } if progressed => State::Swarm { since: o.now },
            State::Backoff { until, .. } if progressed => State::Backoff {
                until,
                since: o.now,
            },
            State::Backoff { until, .. } if o.now < until => return Action::Wait,
            State::Backoff { since, .. } => State::Swarm { since },
            s @ State::Swarm { .. } => s,
        };
        let State::Swarm { since } = self.state else {
            return Action::Wait;
        };
        let stalled = if o.peers == 0 {
            o.now - self.started >= self.grace && o.now - since >= self.grace
        } else {
            o.now - since >= STALL
        };
        if stalled && o.room {
            self.state = State::Mirror;
            Action::Fetch
        } else {
            Action::Wait
        }
    }

    /// The mirror fetch put the file in the store.
    pub(crate) fn fetched(&mut self) {
        self.state = State::Done;
        self.error = None;
    }

    /// The swarm put the file in the store.
    pub(crate) fn delivered(&mut self) {
        self.state = State::Done;
        self.error = None;
    }

    /// The mirror fetch failed at `now`: the next waits longer, up to [`MAX_RETRY`].
    pub(crate) fn failed(&mut self, now: Instant, error: String) {
        if self.state == State::Done {
            return;
        }
        self.failures += 1;
        let delay = FIRST_RETRY
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_RETRY);
        self.state = State::Backoff {
            until: now + delay,
            since: now,
        };
        self.error = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn seen(at: Instant, peers: u32, bytes: u64) -> Observation {
        Observation {
            now: at,
            peers,
            bytes,
            room: true,
        }
    }

    #[test]
    fn no_peer_for_the_grace_sends_the_file_to_a_mirror() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(f.observe(seen(t0 + S, 0, 0)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 2 * S, 0, 0)), Action::Fetch);
        assert_eq!(f.state(), State::Mirror);
        assert_eq!(
            f.observe(seen(t0 + 3 * S, 0, 0)),
            Action::Wait,
            "one fetch at a time"
        );
        f.fetched();
        assert_eq!(f.state(), State::Done);
        assert_eq!(f.observe(seen(t0 + 9 * S, 0, 0)), Action::Wait);
    }

    #[test]
    fn with_no_way_to_find_peers_the_mirror_starts_at_once() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, Duration::ZERO, 0);
        assert_eq!(f.observe(seen(t0, 0, 0)), Action::Fetch);
    }

    #[test]
    fn with_peers_only_five_seconds_without_progress_send_it_to_a_mirror() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(f.observe(seen(t0 + 4 * S, 3, 0)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 5 * S, 3, 0)), Action::Fetch);
    }

    #[test]
    fn progress_resets_the_timer() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(f.observe(seen(t0 + 4 * S, 3, 100)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 8 * S, 3, 100)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 9 * S, 3, 100)), Action::Fetch);
        // The peers leaving after progress: the no-peer wait counts from the last progress too.
        let mut g = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(g.observe(seen(t0 + 3 * S, 0, 50)), Action::Wait);
        assert_eq!(g.observe(seen(t0 + 4 * S, 0, 50)), Action::Wait);
        assert_eq!(g.observe(seen(t0 + 5 * S, 0, 50)), Action::Fetch);
    }

    #[test]
    fn no_room_waits_for_a_free_fetch() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        let full = Observation {
            room: false,
            ..seen(t0 + 3 * S, 0, 0)
        };
        assert_eq!(f.observe(full), Action::Wait);
        assert!(matches!(f.state(), State::Swarm { .. }));
        assert_eq!(f.observe(seen(t0 + 3 * S, 0, 0)), Action::Fetch);
    }

    #[test]
    fn a_failed_fetch_is_retried_later_and_later_up_to_the_cap_keeping_its_error() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        let mut now = t0 + NO_PEERS;
        assert_eq!(f.observe(seen(now, 0, 0)), Action::Fetch);
        let mut waits = Vec::new();
        for n in 0..8 {
            f.failed(now, format!("HTTP 503 ({n})"));
            assert_eq!(f.error(), Some(format!("HTTP 503 ({n})").as_str()));
            let State::Backoff { until, .. } = f.state() else {
                panic!("a failure backs off");
            };
            assert_eq!(
                f.observe(seen(until - Duration::from_millis(1), 0, 0)),
                Action::Wait
            );
            assert_eq!(f.observe(seen(until, 0, 0)), Action::Fetch);
            waits.push(until - now);
            now = until;
        }
        assert_eq!(&waits[..4], &[2 * S, 4 * S, 8 * S, 16 * S]);
        assert!(waits.iter().all(|w| *w <= MAX_RETRY));
        assert_eq!(waits[7], MAX_RETRY);
        f.fetched();
        assert_eq!(f.error(), None, "a success clears the error");
    }

    #[test]
    fn swarm_progress_during_a_backoff_pushes_the_retry_back() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(f.observe(seen(t0 + 2 * S, 0, 0)), Action::Fetch);
        f.failed(t0 + 2 * S, "refused".into());
        // Peers arrive and deliver during the backoff: the stall counts from their last bytes.
        assert_eq!(f.observe(seen(t0 + 3 * S, 2, 10)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 5 * S, 2, 10)), Action::Wait);
        assert_eq!(f.observe(seen(t0 + 8 * S, 2, 10)), Action::Fetch);
    }

    #[test]
    fn a_file_the_swarm_delivered_ignores_a_late_mirror_failure() {
        let t0 = Instant::now();
        let mut f = Fallback::new(t0, NO_PEERS, 0);
        assert_eq!(f.observe(seen(t0 + 2 * S, 0, 0)), Action::Fetch);
        f.delivered();
        f.failed(t0 + 3 * S, "late".into());
        assert_eq!(f.state(), State::Done);
        assert_eq!(f.error(), None);
    }
}
