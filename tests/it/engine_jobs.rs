//! Engine intents: pause and resume (kept across a restart), runtime limits, and a fetch job.

use std::time::Duration;

use swarmdate_engine::{Engine, EngineConfig, JobState};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_seeding_stops_serving_survives_a_restart_and_resumes() {
    let (_tracker, distro) = distro_with_tracker(4).await;
    let torrent = distro.torrent("1.01");
    let seeder_state = tempfile::tempdir().unwrap();
    let (seeder, sid) = seed_one(&distro, "1.01", seeder_state.path()).await;
    seeder.set_limits(Some(1 << 20), Some(2 << 20));
    assert_eq!(seeder.snapshot().upload_limit, Some(1 << 20));
    assert_eq!(seeder.snapshot().download_limit, Some(2 << 20));
    seeder.set_limits(None, None);

    seeder.pause(sid).await.unwrap();
    // The pause is journalled: a restarted engine comes back paused.
    seeder.shutdown().await;
    drop(seeder);
    let seeder = Engine::start(EngineConfig::loopback(seeder_state.path()))
        .await
        .unwrap();
    // The first snapshot that lists the journalled job shows it paused.
    wait_for(
        "the restarted engine lists the job",
        Duration::from_secs(30),
        || seeder.snapshot().jobs.iter().any(|j| j.id == sid),
    )
    .await;
    assert_eq!(job_snapshot(&seeder, sid).state, JobState::Paused);

    let fetch = Fetching::start(&torrent).await;
    let (client, cid, dest) = (&fetch.engine, fetch.job, &fetch.dest);
    let waited = tokio::time::timeout(Duration::from_secs(4), client.wait(cid)).await;
    assert!(waited.is_err(), "nothing arrives from a paused seeder");
    assert_eq!(uploaded(&seeder), 0);
    assert!(!dest.path().join("os-1.01.iso").exists());

    seeder.resume(sid).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), client.wait(cid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(
        sha256(&dest.path().join("os-1.01.iso")),
        sha256(distro.image("1.01"))
    );
    // The client has it all, so it all left the seeder.
    let sent = uploaded_now(&seeder).await;
    assert!(sent >= torrent.total_length(), "{sent} uploaded");
    client.shutdown().await;
    seeder.shutdown().await;
}

/// The ledger's lifetime totals equal what the downloading peer counted, after a clean stop, and
/// survive the engine; the peer it served is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_counts_what_the_downloader_received() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let torrent = distro.torrent("1.02");
    let seeder_state = tempfile::tempdir().unwrap();
    let (seeder, _) = seed_one(&distro, "1.02", seeder_state.path()).await;

    let fetch = Fetching::start(&torrent).await;
    let (client, cid) = (&fetch.engine, fetch.job);
    let done = tokio::time::timeout(Duration::from_secs(120), client.wait(cid))
        .await
        .unwrap()
        .unwrap();
    let received = done.bytes_received;
    assert!(received >= torrent.total_length());
    // The seeder's shutdown writes what its counters hold: wait until they hold all it sent.
    wait_for(
        "the seeder's count of what it sent",
        Duration::from_secs(30),
        || uploaded(&seeder) >= received,
    )
    .await;
    client.shutdown().await;
    seeder.shutdown().await;
    drop(seeder);

    let ledger =
        swarmdate_core::ledger::Ledger::open(&seeder_state.path().join("ledger.sqlite")).unwrap();
    let totals = ledger.totals().unwrap();
    let t = totals
        .iter()
        .find(|t| t.info_hash == torrent.info_hash())
        .expect("the torrent is in the ledger");
    assert_eq!(
        t.uploaded, received,
        "the seeder's ledger equals what the downloader received"
    );
    assert_eq!(t.peers_served, 1);
    let minutes = ledger
        .series(swarmdate_core::ledger::Resolution::Minute)
        .unwrap();
    assert_eq!(minutes.iter().map(|b| b.uploaded).sum::<u64>(), received);
}

/// The piece map marks pieces in flight (some blocks arrived, the piece is not complete) while a
/// slow seeder sends them, and none once the download is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_piece_map_shows_pieces_in_flight_while_their_blocks_arrive() {
    use swarmdate_engine::{MIN_RATE_LIMIT, PieceState};
    let (_tracker, distro) = distro_with_tracker(6).await;
    let torrent = distro.torrent("1.02");
    let seeder_state = tempfile::tempdir().unwrap();
    let (seeder, _) = seed_one(&distro, "1.02", seeder_state.path()).await;
    // One 16 KiB block a second: a piece of 64 KiB or more stays in flight for seconds.
    seeder.set_limits(Some(MIN_RATE_LIMIT), None);

    let fetch = Fetching::start(&torrent).await;
    let mut rx = fetch.engine.subscribe();
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            rx.borrow_and_update();
            let in_flight = fetch
                .engine
                .piece_map(fetch.job)
                .map_or(0, |m| m.count(PieceState::InFlight));
            if in_flight > 0 {
                return in_flight;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("a piece in flight within a minute");
    assert!(seen < torrent.pieces().len());

    seeder.set_limits(None, None);
    let done = tokio::time::timeout(Duration::from_secs(120), fetch.engine.wait(fetch.job))
        .await
        .unwrap()
        .unwrap();
    assert!(done.state.is_complete());
    let pieces = fetch.engine.piece_map(fetch.job).unwrap();
    assert_eq!(pieces.count(PieceState::InFlight), 0);
    assert_eq!(
        pieces.count(PieceState::Fetched),
        torrent.pieces().len(),
        "every piece came from the seeder"
    );
    fetch.engine.shutdown().await;
    seeder.shutdown().await;
}
