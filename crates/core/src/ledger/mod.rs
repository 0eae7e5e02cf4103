//! The contribution ledger: lifetime bytes per torrent, peers served, and a time series, in SQLite
//! (WAL). librqbit's counters restart on pause and are not persisted (docs/platform.md §2): the engine
//! feeds deltas here every few seconds, so a SIGKILL loses at most that much.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::torrent::InfoHash;

mod chart;
pub use chart::Span;

/// Minute buckets older than this are rolled up into hours.
const KEEP_MINUTES_SECS: i64 = 24 * 3600;
/// Hour buckets older than this are rolled up into days.
const KEEP_HOURS_SECS: i64 = 31 * 24 * 3600;

/// Time-series resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// One row per minute, for the last day.
    Minute,
    /// One row per hour, for the last month.
    Hour,
    /// One row per day, for ever.
    Day,
}

impl Resolution {
    fn secs(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3600,
            Resolution::Day => 86_400,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Resolution::Minute => "m",
            Resolution::Hour => "h",
            Resolution::Day => "d",
        }
    }
}

/// What one torrent moved since the last record.
#[derive(Debug, Clone)]
pub struct Delta {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Its name, for people.
    pub name: String,
    /// Bytes uploaded since the last record.
    pub uploaded: u64,
    /// Bytes downloaded since the last record.
    pub downloaded: u64,
    /// Peers that were sent data (addresses; librqbit does not expose peer ids).
    pub peers_served: Vec<String>,
}

/// Lifetime figures of one torrent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Bytes uploaded, all time.
    pub uploaded: u64,
    /// Bytes downloaded, all time.
    pub downloaded: u64,
    /// Distinct peers served.
    pub peers_served: u64,
}

/// One bucket of the time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, seconds since the epoch.
    pub start: i64,
    /// Bytes uploaded in it.
    pub uploaded: u64,
    /// Bytes downloaded in it.
    pub downloaded: u64,
}

/// The ledger database.
pub struct Ledger {
    conn: Mutex<Connection>,
}

/// A ledger that cannot be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("the contribution ledger failed: {0}")]
pub struct LedgerError(#[from] rusqlite::Error);

impl Ledger {
    /// Opens (or creates) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS torrents (
                 info_hash TEXT PRIMARY KEY, name TEXT NOT NULL,
                 uploaded INTEGER NOT NULL DEFAULT 0, downloaded INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS peers (
                 info_hash TEXT NOT NULL, peer TEXT NOT NULL,
                 last_served INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (info_hash, peer));
             CREATE TABLE IF NOT EXISTS series (
                 info_hash TEXT NOT NULL, resolution TEXT NOT NULL, start INTEGER NOT NULL,
                 uploaded INTEGER NOT NULL, downloaded INTEGER NOT NULL,
                 PRIMARY KEY (info_hash, resolution, start));",
        )?;
        // Version 1 kept no time per peer: its peers count as served before any month asked.
        let dated: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('peers') WHERE name = 'last_served'",
            [],
            |r| r.get(0),
        )?;
        if dated == 0 {
            conn.execute_batch(
                "ALTER TABLE peers ADD COLUMN last_served INTEGER NOT NULL DEFAULT 0",
            )?;
        }
        conn.pragma_update(None, "user_version", 2)?;
        Ok(Ledger {
            conn: Mutex::new(conn),
        })
    }

    /// Adds the deltas observed at `at`, in one transaction.
    pub fn record(&self, at: DateTime<Utc>, deltas: &[Delta]) -> Result<(), LedgerError> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction()?;
        let minute = at.timestamp() - at.timestamp().rem_euclid(60);
        for d in deltas {
            let hash = d.info_hash.to_string();
            tx.execute(
                "INSERT INTO torrents (info_hash, name, uploaded, downloaded) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(info_hash) DO UPDATE SET name = ?2,
                     uploaded = uploaded + ?3, downloaded = downloaded + ?4",
                params![hash, d.name, d.uploaded as i64, d.downloaded as i64],
            )?;
            if d.uploaded > 0 || d.downloaded > 0 {
                tx.execute(
                    "INSERT INTO series VALUES (?1, 'm', ?2, ?3, ?4)
                     ON CONFLICT(info_hash, resolution, start) DO UPDATE SET
                         uploaded = uploaded + ?3, downloaded = downloaded + ?4",
                    params![hash, minute, d.uploaded as i64, d.downloaded as i64],
                )?;
            }
            for p in &d.peers_served {
                tx.execute(
                    "INSERT INTO peers (info_hash, peer, last_served) VALUES (?1, ?2, ?3)
                     ON CONFLICT(info_hash, peer) DO UPDATE SET last_served = ?3",
                    params![hash, p, at.timestamp()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rolls minute rows older than a day into hours, and hour rows older than a month into days.
    pub fn roll_up(&self, now: DateTime<Utc>) -> Result<(), LedgerError> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction()?;
        for (from, to, keep) in [
            (Resolution::Minute, Resolution::Hour, KEEP_MINUTES_SECS),
            (Resolution::Hour, Resolution::Day, KEEP_HOURS_SECS),
        ] {
            let cutoff = now.timestamp() - keep;
            tx.execute(
                "INSERT INTO series (info_hash, resolution, start, uploaded, downloaded)
                 SELECT info_hash, ?2, start - (start % ?3), SUM(uploaded), SUM(downloaded)
                 FROM series WHERE resolution = ?1 AND start < ?4
                 GROUP BY info_hash, start - (start % ?3)
                 ON CONFLICT(info_hash, resolution, start) DO UPDATE SET
                     uploaded = uploaded + excluded.uploaded, downloaded = downloaded + excluded.downloaded",
                params![from.code(), to.code(), to.secs(), cutoff],
            )?;
            tx.execute(
                "DELETE FROM series WHERE resolution = ?1 AND start < ?2",
                params![from.code(), cutoff],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Lifetime figures of every torrent, most uploaded first.
    pub fn totals(&self) -> Result<Vec<Totals>, LedgerError> {
        let conn = self.conn.lock().unwrap();
        let mut st = conn.prepare(
            "SELECT t.info_hash, t.name, t.uploaded, t.downloaded,
                    (SELECT COUNT(*) FROM peers p WHERE p.info_hash = t.info_hash)
             FROM torrents t ORDER BY t.uploaded DESC, t.name",
        )?;
        let rows = st.query_map([], |r| {
            let hash: String = r.get(0)?;
            Ok(Totals {
                info_hash: parse_hash(hash)?,
                name: r.get(1)?,
                uploaded: r.get::<_, i64>(2)? as u64,
                downloaded: r.get::<_, i64>(3)? as u64,
                peers_served: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Bytes each torrent uploaded from `since` (seconds since the epoch) on, from the time
    /// series at whatever resolution it keeps them (exact when `since` starts an hour of UTC and
    /// lies within the last month, where hours are kept); torrents that uploaded nothing are left out.
    pub fn uploaded_since(&self, since: i64) -> Result<Vec<(InfoHash, u64)>, LedgerError> {
        let conn = self.conn.lock().unwrap();
        let mut st = conn.prepare(
            "SELECT info_hash, SUM(uploaded) FROM series WHERE start >= ?1
             GROUP BY info_hash HAVING SUM(uploaded) > 0 ORDER BY info_hash",
        )?;
        let rows = st.query_map([since], |r| {
            let hash: String = r.get(0)?;
            Ok((parse_hash(hash)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Distinct peers (addresses) served over all torrents, a peer served by several counted
    /// once; with `since`, only those sent data from then on.
    pub fn peers_served(&self, since: Option<i64>) -> Result<u64, LedgerError> {
        let conn = self.conn.lock().unwrap();
        let n: i64 = conn.query_row(
            "SELECT COUNT(DISTINCT peer) FROM peers WHERE last_served >= ?1",
            [since.unwrap_or(i64::MIN)],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The time series of all torrents together at one resolution, oldest first.
    pub fn series(&self, resolution: Resolution) -> Result<Vec<Bucket>, LedgerError> {
        let conn = self.conn.lock().unwrap();
        let mut st = conn.prepare(
            "SELECT start, SUM(uploaded), SUM(downloaded) FROM series WHERE resolution = ?1
             GROUP BY start ORDER BY start",
        )?;
        let rows = st.query_map([resolution.code()], |r| {
            Ok(Bucket {
                start: r.get(0)?,
                uploaded: r.get::<_, i64>(1)? as u64,
                downloaded: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An info hash as the ledger stores it (hex).
fn parse_hash(hash: String) -> rusqlite::Result<InfoHash> {
    hash.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn delta(up: u64, down: u64, peers: &[&str]) -> Delta {
        Delta {
            info_hash: InfoHash([7; 20]),
            name: "os.iso".into(),
            uploaded: up,
            downloaded: down,
            peers_served: peers.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn totals_accumulate_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 10).unwrap();
        {
            let l = Ledger::open(&path).unwrap();
            l.record(t0, &[delta(100, 5, &["10.0.0.1:1"])]).unwrap();
            l.record(
                t0 + chrono::Duration::seconds(20),
                &[delta(50, 0, &["10.0.0.1:1", "10.0.0.2:1"])],
            )
            .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        let t = &l.totals().unwrap()[0];
        assert_eq!((t.uploaded, t.downloaded, t.peers_served), (150, 5, 2));
        let minutes = l.series(Resolution::Minute).unwrap();
        assert_eq!(
            minutes,
            vec![Bucket {
                start: t0.timestamp() - 10,
                uploaded: 150,
                downloaded: 5
            }]
        );
    }

    #[test]
    fn old_minutes_roll_up_into_hours_and_days_keeping_the_sums() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap();
        for m in 0..180 {
            l.record(start + chrono::Duration::minutes(m), &[delta(10, 1, &[])])
                .unwrap();
        }
        l.roll_up(start + chrono::Duration::days(2)).unwrap();
        assert!(l.series(Resolution::Minute).unwrap().is_empty());
        let hours = l.series(Resolution::Hour).unwrap();
        assert_eq!(hours.len(), 3);
        assert!(
            hours
                .iter()
                .all(|h| h.uploaded == 600 && h.downloaded == 60)
        );
        l.roll_up(start + chrono::Duration::days(40)).unwrap();
        assert!(l.series(Resolution::Hour).unwrap().is_empty());
        assert_eq!(
            l.series(Resolution::Day).unwrap(),
            vec![Bucket {
                start: start.timestamp(),
                uploaded: 1800,
                downloaded: 180
            }]
        );
        assert_eq!(l.totals().unwrap()[0].uploaded, 1800);
    }

    #[test]
    fn uploads_and_peers_since_a_time_and_peers_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let month = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let other = |up, peers: &[&str]| Delta {
            info_hash: InfoHash([9; 20]),
            ..delta(up, 0, peers)
        };
        l.record(t0, &[delta(100, 0, &["a:1"]), other(40, &["a:1", "b:1"])])
            .unwrap();
        let t1 = month + chrono::Duration::hours(30);
        l.record(t1, &[delta(7, 0, &["a:1", "c:1"]), other(0, &[])])
            .unwrap();
        l.roll_up(t1).unwrap();
        assert_eq!(
            l.uploaded_since(month.timestamp()).unwrap(),
            vec![(InfoHash([7; 20]), 7)]
        );
        assert_eq!(l.uploaded_since(0).unwrap().len(), 2);
        assert_eq!(l.peers_served(None).unwrap(), 3);
        assert_eq!(l.peers_served(Some(month.timestamp())).unwrap(), 2);
        let per_torrent: u64 = l.totals().unwrap().iter().map(|t| t.peers_served).sum();
        assert_eq!(per_torrent, 4, "a:1 is counted by both torrents");
    }

    #[test]
    fn a_version_1_ledger_gains_the_peers_time_and_keeps_its_figures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE torrents (
                     info_hash TEXT PRIMARY KEY, name TEXT NOT NULL,
                     uploaded INTEGER NOT NULL DEFAULT 0, downloaded INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE peers (
                     info_hash TEXT NOT NULL, peer TEXT NOT NULL, PRIMARY KEY (info_hash, peer));
                 PRAGMA user_version = 1;",
            )
            .unwrap();
            let hash = InfoHash([7; 20]).to_string();
            c.execute(
                "INSERT INTO torrents VALUES (?1, 'os.iso', 500, 0)",
                params![hash],
            )
            .unwrap();
            c.execute("INSERT INTO peers VALUES (?1, 'a:1')", params![hash])
                .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        assert_eq!(l.peers_served(None).unwrap(), 1);
        assert_eq!(l.peers_served(Some(now.timestamp() - 3600)).unwrap(), 0);
        l.record(now, &[delta(5, 0, &["a:1"])]).unwrap();
        assert_eq!(l.peers_served(Some(now.timestamp() - 3600)).unwrap(), 1);
        assert_eq!(l.totals().unwrap()[0].uploaded, 505);
        // Opening again changes nothing.
        drop(l);
        assert_eq!(Ledger::open(&path).unwrap().peers_served(None).unwrap(), 1);
    }
}
