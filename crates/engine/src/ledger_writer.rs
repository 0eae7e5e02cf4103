//! The contribution ledger's writer: a task that owns the SQLite ledger, gathers what the
//! snapshots count, and writes it every 10 s, when asked, and when it stops, on tokio's blocking
//! pool, so the snapshot loop never waits for SQLite. A SIGKILL loses at most the last 10 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use swarmdate_core::ledger::{Delta, Ledger, Totals};
use swarmdate_core::torrent::InfoHash;

/// How often what was counted is written.
pub(crate) const WRITE_EVERY: Duration = Duration::from_secs(10);

enum Msg {
    /// Counted since the last message.
    Deltas(Vec<Delta>),
    /// Write now; answered once written.
    Flush(oneshot::Sender<()>),
    /// Write now, then read every torrent's totals.
    Totals(oneshot::Sender<anyhow::Result<Vec<Totals>>>),
    /// Write and stop.
    Stop,
}

/// The handle the engine keeps: sends deltas, asks for writes and totals.
pub(crate) struct LedgerWriter {
    tx: mpsc::UnboundedSender<Msg>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LedgerWriter {
    /// Starts the writer task on `ledger`, writing every `every`.
    pub(crate) fn start(ledger: Ledger, every: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(Arc::new(ledger), rx, every));
        LedgerWriter {
            tx,
            task: Mutex::new(Some(task)),
        }
    }

    /// Hands over what the snapshots counted; it is written at the next write.
    pub(crate) fn send(&self, deltas: Vec<Delta>) {
        if !deltas.is_empty() {
            // After a stop nothing is written any more; the counts had their last chance.
            let _ = self.tx.send(Msg::Deltas(deltas));
        }
    }

    /// Writes everything sent so far; returns once it is in the database.
    pub(crate) async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// Every torrent's lifetime figures, everything sent so far included.
    pub(crate) async fn totals(&self) -> anyhow::Result<Vec<Totals>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Totals(reply))
            .map_err(|_| anyhow::anyhow!("the contribution ledger has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the contribution ledger has stopped"))?
    }

    /// Writes everything sent so far and stops the task; returns once it has.
    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Deltas not yet written, one per torrent.
#[derive(Default)]
struct Pending(HashMap<InfoHash, Delta>);

impl Pending {
    fn add(&mut self, deltas: Vec<Delta>) {
        for d in deltas {
            match self.0.get_mut(&d.info_hash) {
                Some(p) => {
                    p.name = d.name;
                    p.uploaded += d.uploaded;
                    p.downloaded += d.downloaded;
                    for peer in d.peers_served {
                        if !p.peers_served.contains(&peer) {
                            p.peers_served.push(peer);
                        }
                    }
                }
                None => {
                    self.0.insert(d.info_hash, d);
                }
            }
        }
    }

    fn take(&mut self) -> Vec<Delta> {
        std::mem::take(&mut self.0).into_values().collect()
    }
}

async fn run(ledger: Arc<Ledger>, mut rx: mpsc::UnboundedReceiver<Msg>, every: Duration) {
    let mut pending = Pending::default();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = tick.tick() => write(&ledger, pending.take()).await,
            msg = rx.recv() => match msg {
                Some(Msg::Deltas(d)) => pending.add(d),
                Some(Msg::Flush(done)) => {
                    write(&ledger, pending.take()).await;
                    let _ = done.send(());
                }
                Some(Msg::Totals(reply)) => {
                    write(&ledger, pending.take()).await;
                    let l = ledger.clone();
                    let totals = tokio::task::spawn_blocking(move || l.totals())
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|r| r.map_err(anyhow::Error::from));
                    let _ = reply.send(totals);
                }
                // Stopped, or the engine is gone: what was sent is written before the end.
                Some(Msg::Stop) | None => {
                    write(&ledger, pending.take()).await;
                    break;
                }
            },
        }
    }
}

/// Records `deltas` and rolls old buckets up, off the runtime's workers.
async fn write(ledger: &Arc<Ledger>, deltas: Vec<Delta>) {
    let ledger = ledger.clone();
    let written = tokio::task::spawn_blocking(move || {
        let now = chrono::Utc::now();
        ledger
            .record(now, &deltas)
            .and_then(|_| ledger.roll_up(now))
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{e}"),
        Err(e) => tracing::warn!("writing the contribution ledger stopped: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(byte: u8, uploaded: u64, peer: &str) -> Delta {
        Delta {
            info_hash: InfoHash([byte; 20]),
            name: format!("t{byte}"),
            uploaded,
            downloaded: 0,
            peers_served: vec![peer.to_owned()],
        }
    }

    fn uploaded(totals: &[Totals], byte: u8) -> (u64, u64) {
        let t = totals
            .iter()
            .find(|t| t.info_hash == InfoHash([byte; 20]))
            .unwrap();
        (t.uploaded, t.peers_served)
    }

    #[tokio::test]
    async fn writes_on_request_and_at_a_stop_and_merges_what_it_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let writer = LedgerWriter::start(Ledger::open(&path).unwrap(), Duration::from_secs(3600));
        writer.send(vec![delta(1, 10, "a"), delta(2, 5, "a")]);
        writer.send(vec![delta(1, 7, "b"), delta(1, 1, "a")]);
        let totals = writer.totals().await.unwrap();
        assert_eq!(uploaded(&totals, 1), (18, 2));
        assert_eq!(uploaded(&totals, 2), (5, 1));
        writer.send(vec![delta(2, 3, "c")]);
        writer.shutdown().await;
        let on_disk = Ledger::open(&path).unwrap().totals().unwrap();
        assert_eq!(uploaded(&on_disk, 2), (8, 2), "a stop writes what was sent");
        assert!(writer.totals().await.is_err());
    }

    #[tokio::test]
    async fn writes_by_itself_every_period() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let every = Duration::from_millis(300);
        let writer = LedgerWriter::start(Ledger::open(&path).unwrap(), every);
        writer.send(vec![delta(1, 10, "a")]);
        let read = || Ledger::open(&path).unwrap().totals().unwrap();
        assert!(read().is_empty(), "nothing is written before the period");
        let mut waited = Duration::ZERO;
        while read().is_empty() && waited < Duration::from_secs(10) {
            tokio::time::sleep(every).await;
            waited += every;
        }
        assert_eq!(uploaded(&read(), 1), (10, 1));
        drop(writer);
    }
}
