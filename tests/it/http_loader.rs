//! Feeds and torrents over HTTP on 127.0.0.1, and the loader's size limit.

use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use swarmdate_core::feed::{Fetcher, Location, LocationError};

use crate::support::*;

/// Serves the files of a folder; returns the base URL.
async fn serve(dir: PathBuf) -> String {
    async fn file(
        State(dir): State<PathBuf>,
        Path(name): Path<String>,
    ) -> Result<Vec<u8>, StatusCode> {
        std::fs::read(dir.join(name)).map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/{name}", axum::routing::get(file))
        .with_state(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_and_torrents_load_over_http() {
    let distro =
        tokio::task::spawn_blocking(|| Distro::build(3, 64, "http://127.0.0.1:9/announce"))
            .await
            .unwrap();
    let base = serve(distro.publish_dir()).await;
    let mut client = UserHome::new(&distro);
    client.feed_url = format!("{base}/feed.json");
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.02"), client.images().join("os-1.02.iso")).unwrap();

    let list = client.run_async(&["iso", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let versions = list.summary()["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 3);
    assert!(
        versions
            .iter()
            .any(|v| v["version"] == "1.02" && v["current"] == true)
    );

    let show = client
        .run_async(&[
            "torrent",
            "show",
            &format!("bittorrent://{base}/os-1.00.iso.torrent"),
        ])
        .await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.summary()["name"], "os-1.00.iso");

    let missing = client
        .run_async(&[
            "torrent",
            "show",
            &format!("bittorrent://{base}/nope.torrent"),
        ])
        .await;
    assert_eq!(
        missing.code, 1,
        "a missing document is a failure, not a trust refusal"
    );
    assert!(missing.error().contains("nope.torrent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_over_the_size_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small"), vec![1u8; 1000]).unwrap();
    std::fs::write(dir.path().join("big"), vec![1u8; 5000]).unwrap();
    let base = serve(dir.path().to_owned()).await;
    let fetcher = Fetcher::new(2000, Duration::from_secs(10));
    let small = fetcher
        .get(&Location::parse(&format!("{base}/small")).unwrap())
        .await
        .unwrap();
    assert_eq!(small.len(), 1000);
    let err = fetcher
        .get(&Location::parse(&format!("{base}/big")).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, LocationError::TooLarge { .. }), "{err}");
    let local = fetcher
        .get(&Location::File(dir.path().join("big")))
        .await
        .unwrap_err();
    assert!(matches!(local, LocationError::TooLarge { .. }), "{local}");
}

/// `swarmdate torrent show SOURCE` in a home of its own, with a hang guard only: a refusal is
/// expected in well under a second.
async fn show(source: &str) -> (Run, Duration) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"));
    cmd.arg("--home")
        .arg(home.path())
        .args(["--json", "torrent", "show", source])
        .env("LANG", "C.UTF-8")
        .kill_on_drop(true);
    let start = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("torrent show {source} hung"))
        .unwrap();
    (Run::from(out), start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_documents_are_read_only_from_regular_files_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Positive control: a real torrent file shows.
    let data = dir.path().join("payload.bin");
    random_file(&data, 100_000, 7);
    let t = swarmdate_core::torrent::TorrentBuilder::single_file("payload.bin", &data)
        .build()
        .unwrap();
    let file = dir.path().join("x.torrent");
    std::fs::write(&file, t.bytes()).unwrap();
    let (ok, _) = show(&format!("bittorrent://file://{}", file.display())).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.summary()["name"], "payload.bin");
    assert_eq!(ok.summary()["info_hash"], t.info_hash().to_string());

    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Over the 128 MiB the client reads for a document; sparse, so it costs no disk.
    let big = dir.path().join("big.torrent");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((128 << 20) + 1).unwrap();
    let folder = dir.path().join("folder.torrent");
    std::fs::create_dir(&folder).unwrap();
    for (path, says) in [
        (
            FsPath::new("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (fifo.as_path(), "is a named pipe (FIFO), not a regular file"),
        (folder.as_path(), "is a folder, not a regular file"),
        (big.as_path(), "is larger than 134217728 bytes"),
    ] {
        let (run, took) = show(&format!("bittorrent://file://{}", path.display())).await;
        assert_eq!(run.code, 1, "{path:?}: {}", run.stderr);
        let msg = run.error();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(says), "{path:?}: {msg}");
        assert!(
            took < Duration::from_secs(10),
            "{path:?} refused only after {took:?}"
        );
        eprintln!("{}: refused in {took:?}: {msg}", path.display());
    }
}
