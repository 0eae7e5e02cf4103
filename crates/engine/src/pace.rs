//! When the mirror peer (`mirror_peer.rs`) may show a repository job new pieces: only while the
//! swarm does not keep the job busy. Fed what the job's loop sees (bytes from peers, bytes from
//! the mirror, the time), it does no I/O and reads no clock, so its rules are tested here.
//!
//! Why rates and not bitfields: librqbit 9.1 does not tell which peer has which piece. A job whose
//! peers deliver at a good rate is being served what they have; one whose peers deliver (next to)
//! nothing has peers without what it needs. So the mirror is asked only in the second case, and
//! only for a few pieces at a time, chosen at random so that a crowd asks for different ones.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// The span over which rates are measured.
const WINDOW: Duration = Duration::from_secs(1);
/// While peers deliver, the mirror gets what they leave of this share of the link: the rest is
/// kept free so that they can deliver more.
const SHARE: f64 = 0.75;
/// Peers delivering less than this share of the link deliver nothing worth waiting for.
const NOTHING_SHARE: f64 = 0.1;
/// Below this, peers deliver nothing worth waiting for, whatever the link; and a mirror rate
/// below it is not worth a request.
const FLOOR: f64 = 16.0 * 1024.0;

/// How much the mirror may be asked for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MirrorUse {
    /// Not at all: peers may be found, or they serve.
    Off,
    /// At most this many bytes/s, beside the peers.
    Limited(NonZeroU32),
    /// As fast as the link allows: no peer delivers.
    Full,
}

/// One job's pace.
#[derive(Debug, Clone)]
pub(crate) struct MirrorPace {
    /// The mirror waits until then (peers may be found first).
    from: Instant,
    /// (when, bytes from peers, bytes from the mirror), over the last [`WINDOW`].
    samples: VecDeque<(Instant, u64, u64)>,
    /// The best rate from peers and the mirror together over a window, bytes/s: the link, when
    /// no download limit says what it is.
    best: f64,
}

impl MirrorPace {
    /// A job whose check ended at `started`; the mirror waits `grace` for peers.
    pub(crate) fn new(started: Instant, grace: Duration) -> Self {
        MirrorPace {
            from: started + grace,
            samples: VecDeque::new(),
            best: 0.0,
        }
    }

    /// Takes what the job has received so far in all, and the session's download limit (bytes/s);
    /// says how much the mirror may be asked for now.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        from_peers: u64,
        from_mirror: u64,
        limit: Option<u32>,
    ) -> MirrorUse {
        self.samples.push_back((now, from_peers, from_mirror));
        while self
            .samples
            .front()
            .is_some_and(|s| now.duration_since(s.0) > WINDOW)
        {
            self.samples.pop_front();
        }
        if now < self.from {
            return MirrorUse::Off;
        }
        let (t0, p0, m0) = *self.samples.front().expect("just pushed");
        let span = now.duration_since(t0).as_secs_f64();
        if span < WINDOW.as_secs_f64() / 2.0 {
            // Right after a pause in observations: nothing is known of the rates.
            return MirrorUse::Full;
        }
        let peers = from_peers.saturating_sub(p0) as f64 / span;
        let all = peers + from_mirror.saturating_sub(m0) as f64 / span;
        self.best = self.best.max(all);
        let link = limit.map_or(self.best, f64::from);
        if peers < FLOOR.max(link * NOTHING_SHARE) {
            return MirrorUse::Full;
        }
        let left = link * SHARE - peers;
        if left < FLOOR {
            return MirrorUse::Off;
        }
        MirrorUse::Limited(NonZeroU32::new(left as u32).expect("at least the floor"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(200);
    const MIB: u64 = 1 << 20;

    /// Feeds `secs` seconds of samples, peers and mirror delivering at the rates given (bytes/s),
    /// with a 1 MiB/s download limit; returns the last answer.
    fn run(
        pace: &mut MirrorPace,
        at: &mut Instant,
        totals: &mut (u64, u64),
        secs: u32,
        (peers, mirror): (u64, u64),
    ) -> MirrorUse {
        let mut said = MirrorUse::Off;
        for _ in 0..secs * 5 {
            *at += TICK;
            totals.0 += peers / 5;
            totals.1 += mirror / 5;
            said = pace.observe(*at, totals.0, totals.1, Some(MIB as u32));
        }
        said
    }

    fn limited(said: MirrorUse) -> u64 {
        match said {
            MirrorUse::Limited(r) => u64::from(r.get()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_mirror_waits_out_the_grace_then_runs_full_when_no_peer_delivers() {
        let t0 = Instant::now();
        let mut pace = MirrorPace::new(t0, Duration::from_secs(2));
        assert_eq!(
            pace.observe(t0 + Duration::from_millis(1900), 0, 0, None),
            MirrorUse::Off
        );
        let (mut at, mut totals) = (t0 + Duration::from_millis(1900), (0, 0));
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 1, (0, 0)),
            MirrorUse::Full
        );
    }

    #[test]
    fn the_mirror_gets_what_peers_leave_and_nothing_when_they_fill_the_link() {
        let t0 = Instant::now();
        let mut pace = MirrorPace::new(t0, Duration::ZERO);
        let (mut at, mut totals) = (t0, (0, 0));
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 2, (0, MIB)),
            MirrorUse::Full
        );
        // Peers deliver a quarter: the mirror gets half the link, a quarter kept for the peers.
        let r = limited(run(&mut pace, &mut at, &mut totals, 2, (MIB / 4, MIB / 2)));
        assert!((MIB / 2 - 1024..=MIB / 2 + 1024).contains(&r), "{r}");
        // They deliver 0.8 MiB/s: the mirror is not asked.
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 2, (MIB * 8 / 10, 0)),
            MirrorUse::Off
        );
        // They stop: the mirror runs full again.
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 2, (0, 0)),
            MirrorUse::Full
        );
        // A trickle (a twentieth) counts as nothing.
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 2, (MIB / 20, MIB)),
            MirrorUse::Full
        );
    }

    #[test]
    fn a_seeding_peer_found_during_the_grace_keeps_the_mirror_out() {
        let t0 = Instant::now();
        let mut pace = MirrorPace::new(t0, Duration::from_secs(2));
        let (mut at, mut totals) = (t0, (0, 0));
        assert_eq!(
            run(&mut pace, &mut at, &mut totals, 1, (0, 0)),
            MirrorUse::Off
        );
        for _ in 0..10 {
            assert_eq!(
                run(&mut pace, &mut at, &mut totals, 1, (MIB, 0)),
                MirrorUse::Off
            );
        }
    }

    #[test]
    fn without_a_limit_the_link_is_the_best_rate_seen() {
        let t0 = Instant::now();
        let mut pace = MirrorPace::new(t0, Duration::ZERO);
        let (mut at, mut totals) = (t0, (0u64, 0u64));
        // 8 MiB/s from the mirror: the link is 8 MiB/s.
        for _ in 0..10 {
            at += TICK;
            totals.1 += 8 * MIB / 5;
            assert_eq!(pace.observe(at, totals.0, totals.1, None), MirrorUse::Full);
        }
        // Peers at 2 MiB/s: the mirror gets 0.75 × 8 − 2 = 4 MiB/s.
        let mut said = MirrorUse::Off;
        for _ in 0..10 {
            at += TICK;
            totals.0 += 2 * MIB / 5;
            said = pace.observe(at, totals.0, totals.1, None);
        }
        assert!(limited(said).abs_diff(4 * MIB) < 1024, "{said:?}");
        // Peers at 6 MiB/s: nothing left.
        for _ in 0..10 {
            at += TICK;
            totals.0 += 6 * MIB / 5;
            said = pace.observe(at, totals.0, totals.1, None);
        }
        assert_eq!(said, MirrorUse::Off);
    }
}
