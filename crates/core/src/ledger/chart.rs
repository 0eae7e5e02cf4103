//! The upload history as the Seeding page draws it: bytes uploaded per bar over the last hour
//! (minutes), day (hours) or month (days), whatever resolution the ledger keeps them at.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Bucket, Ledger, LedgerError, Resolution};

/// How far back a chart looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Span {
    /// 60 bars of a minute.
    Hour,
    /// 24 bars of an hour.
    Day,
    /// 30 bars of a day.
    Month,
}

impl Span {
    /// Every span, in the order [`Ledger::upload_charts`] returns them.
    pub const ALL: [Span; 3] = [Span::Hour, Span::Day, Span::Month];

    /// Bars and seconds per bar.
    fn bars(self) -> (usize, i64) {
        match self {
            Span::Hour => (60, 60),
            Span::Day => (24, 3600),
            Span::Month => (30, 86_400),
        }
    }
}

impl Ledger {
    /// Bytes uploaded in each bar of every span of [`Span::ALL`] up to `now`, oldest first (rows
    /// of every resolution, read once, summed into the bar that contains their start).
    pub fn upload_charts(&self, now: DateTime<Utc>) -> Result<[Vec<u64>; 3], LedgerError> {
        let mut rows: Vec<Bucket> = Vec::new();
        for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
            rows.extend(self.series(r)?);
        }
        Ok(Span::ALL.map(|span| bars(&rows, span, now.timestamp())))
    }
}

/// Sums `rows` into the bars of `span` ending with the bar that holds `now`.
fn bars(rows: &[Bucket], span: Span, now: i64) -> Vec<u64> {
    let (n, width) = span.bars();
    let last = now.div_euclid(width);
    let mut out = vec![0u64; n];
    for b in rows {
        let age = last - b.start.div_euclid(width);
        if (0..n as i64).contains(&age) {
            out[n - 1 - age as usize] += b.uploaded;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: i64, uploaded: u64) -> Bucket {
        Bucket {
            start,
            uploaded,
            downloaded: 0,
        }
    }

    #[test]
    fn rows_land_in_the_bar_of_their_start_and_old_ones_fall_out() {
        let now = 1_000 * 86_400 + 12 * 3600 + 30 * 60 + 30; // day 1000, 12:30:30
        let rows = [
            bucket(now - 60, 5),              // the previous minute
            bucket(now - 30, 7),              // this minute
            bucket(now - 2 * 3600, 100),      // two hours ago (a minute row)
            bucket(now - 3 * 86_400, 1_000),  // three days ago (a day row)
            bucket(now - 40 * 86_400, 9_999), // older than a month
        ];
        let hour = bars(&rows, Span::Hour, now);
        assert_eq!(hour.len(), 60);
        assert_eq!((hour[59], hour[58]), (7, 5));
        assert_eq!(hour.iter().sum::<u64>(), 12);
        let day = bars(&rows, Span::Day, now);
        assert_eq!(day[23], 12);
        assert_eq!(day[21], 100);
        assert_eq!(day.iter().sum::<u64>(), 112);
        let month = bars(&rows, Span::Month, now);
        assert_eq!(month[29], 112);
        assert_eq!(month[26], 1_000);
        assert_eq!(month.iter().sum::<u64>(), 1_112);
    }
}
