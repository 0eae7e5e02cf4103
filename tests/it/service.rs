//! One engine per user over a private session bus: the first process runs the engine, commands
//! started later drive it over D-Bus; without a bus a second engine is refused by the lock.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;

use crate::support::*;

/// A private session bus, stopped when dropped.
struct Bus {
    child: std::process::Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}", dir.path().join("bus").display());
        let child = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed");
        let socket = dir.path().join("bus");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(socket.exists(), "the bus is up");
        Bus {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client command on `bus` (or on none).
fn on_bus(client: &UserHome, args: &[&str], bus: Option<&Bus>) -> tokio::process::Command {
    let mut c = client.command(args);
    c.env(
        "DBUS_SESSION_BUS_ADDRESS",
        bus.map_or("unix:path=/nonexistent/bus", |b| b.address.as_str()),
    );
    let mut c = tokio::process::Command::from(c);
    c.kill_on_drop(true);
    c
}

async fn output(mut c: tokio::process::Command) -> Run {
    let out = tokio::time::timeout(Duration::from_secs(180), c.output())
        .await
        .expect("ends within 3 minutes")
        .unwrap();
    Run::from(out)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_started_later_use_the_running_engine_over_the_session_bus() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    let bus = Bus::start();
    let client = UserHome::new(&distro);
    let images = client.images();
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(distro.image("1.00"), images.join("os-1.00.iso")).unwrap();
    let torrent = |v: &str| distro.publish_dir().join(format!("os-{v}.iso.torrent"));

    // The first process runs the engine: a seeder of 1.00.
    let (t100, img) = (torrent("1.00"), images.join("os-1.00.iso"));
    let mut first = on_bus(
        &client,
        &["seed", "--torrent", path(&t100), "--data", path(&img)],
        Some(&bus),
    );
    first.stdout(Stdio::piped());
    let mut first = first.spawn().unwrap();
    wait_seeding(first.stdout.take().unwrap()).await;

    // Without the bus, a second engine on the same state is refused (the positive control below
    // shows the same command works through the bus).
    let downloads = client.home.path().join("downloads");
    let t102 = torrent("1.02");
    let get = ["get", path(&t102), "--dir", path(&downloads)];
    let refused = output(on_bus(&client, &get, None)).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.error().contains("another Swarmdate engine"),
        "{}",
        refused.error()
    );

    // Through the bus: a download and a switch run in the first process's engine.
    let got = output(on_bus(&client, &get, Some(&bus))).await;
    assert_eq!(got.code, 0, "{:?}\n{}", got.events, got.stderr);

    assert_eq!(
        sha256(&downloads.join("os-1.02.iso")),
        sha256(distro.image("1.02"))
    );
    let switched = output(on_bus(&client, &["iso", "switch", "1.01"], Some(&bus))).await;
    assert_eq!(
        switched.code, 0,
        "{:?}\n{}",
        switched.events, switched.stderr
    );
    assert_eq!(
        sha256(&images.join("os-1.01.iso")),
        sha256(distro.image("1.01"))
    );
    assert!(
        !img.exists(),
        "the switch retired the old image in the first process's engine"
    );

    // The first process still owns the engine and stops cleanly; the journal it leaves seeds 1.01.
    assert!(
        first.try_wait().unwrap().is_none(),
        "the engine's process runs on"
    );
    kill(Pid::from_raw(first.id().unwrap() as i32), Signal::SIGINT).unwrap();
    assert!(first.wait().await.unwrap().success());
    let status = client.run(&["seed", "--status"]);
    let names: Vec<_> = status.summary()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["os-1.01.iso"]);
    seeder.shutdown().await;
}

/// Two commands, each needing the engine: the second uses the first one's, and the first keeps it
/// running until the second is done, whichever finishes its own work first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_running_the_engine_waits_for_its_clients() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let state = tempfile::tempdir().unwrap();
    let seeder = seed_all(&distro, state.path()).await;
    seeder.set_limits(Some(2 << 20), None);
    let bus = Bus::start();
    let client = UserHome::new(&distro);
    let (a, b) = (client.home.path().join("a"), client.home.path().join("b"));
    let torrent = |v: &str| distro.publish_dir().join(format!("os-{v}.iso.torrent"));
    let (t100, t101) = (torrent("1.00"), torrent("1.01"));
    let spawn = |args: &[&str]| {
        let mut c = on_bus(&client, args, Some(&bus));
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut first = spawn(&["get", path(&t100), "--dir", path(&a)]);
    // The second starts once the first owns the engine: it has said so and its bus name is taken.
    let mut lines = tokio::io::BufReader::new(first.stdout.take().unwrap()).lines();
    let mut first_events = Vec::new();
    let name = engine_bus_name(&mut lines, &mut first_events).await;
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .await
        .unwrap();
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !dbus
        .name_has_owner(name.as_str().try_into().unwrap())
        .await
        .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is never owned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rest = tokio::spawn(async move {
        while let Some(line) = lines.next_line().await.unwrap() {
            first_events.extend(serde_json::from_str::<serde_json::Value>(&line).ok());
        }
        first_events
    });
    let second = spawn(&["get", path(&t101), "--dir", path(&b)]);
    let (r1, r2) = tokio::join!(first.wait_with_output(), second.wait_with_output());
    let (mut r1, r2) = (Run::from(r1.unwrap()), Run::from(r2.unwrap()));
    r1.events = rest.await.unwrap();
    let remote = |r: &Run| {
        r.events
            .iter()
            .find(|e| e["event"] == "engine")
            .map(|e| e["remote"] == true)
    };
    assert_eq!(remote(&r1), Some(false), "the first runs the engine");
    assert_eq!(remote(&r2), Some(true), "the second uses it over the bus");
    assert_eq!(sha256(&a.join("os-1.00.iso")), sha256(distro.image("1.00")));
    assert_eq!(sha256(&b.join("os-1.01.iso")), sha256(distro.image("1.01")));
    seeder.shutdown().await;
}

/// A world where `iso switch 1.02 --mode MODE` runs slowly in a process that owns the engine.
struct SlowSwitch {
    _tracker: swarmdate_testkit::tracker::Tracker,
    distro: Distro,
    seeder: std::sync::Arc<swarmdate_engine::Engine>,
    _state: tempfile::TempDir,
    bus: Bus,
    client: UserHome,
    image: std::path::PathBuf,
}

impl SlowSwitch {
    async fn new() -> SlowSwitch {
        let (tracker, distro) = distro_with_tracker(6).await;
        let state = tempfile::tempdir().unwrap();
        let seeder = seed_all(&distro, state.path()).await;
        // Slow enough to be stopped half-way.
        seeder.set_limits(Some(64 << 10), None);
        let client = UserHome::new(&distro);
        let images = client.images();
        std::fs::create_dir_all(&images).unwrap();
        let image = images.join("os-1.00.iso");
        std::fs::copy(distro.image("1.00"), &image).unwrap();
        SlowSwitch {
            _tracker: tracker,
            distro,
            seeder,
            _state: state,
            bus: Bus::start(),
            client,
            image,
        }
    }

    /// Runs the switch in a process of its own and stops it from this one, through the same use
    /// case as the window's Stop, once pieces arrive; returns how the command ended.
    async fn stopped(&self, mode: &str) -> Run {
        use swarmdate_engine::service::{EngineHandle, Remote};
        use swarmdate_engine::{JobKind, JobState};
        use swarmdate_usecases::switching;

        let switch = ["iso", "switch", "1.02", "--mode", mode];
        let mut first = on_bus(&self.client, &switch, Some(&self.bus));
        first.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut first = first.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(first.stdout.take().unwrap()).lines();
        let mut events = Vec::new();
        let name = engine_bus_name(&mut lines, &mut events).await;
        let rest = tokio::spawn(async move {
            while let Some(line) = lines.next_line().await.unwrap() {
                events.extend(serde_json::from_str::<serde_json::Value>(&line).ok());
            }
            events
        });
        let conn = zbus::connection::Builder::address(self.bus.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        // The name is owned before the command says it has its engine.
        let engine = EngineHandle::Remote(Remote::connect(&conn, &name).await.unwrap());
        let mut rx = engine.subscribe();
        let job = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let fetching = rx.borrow_and_update().jobs.iter().find_map(|j| {
                    let arriving = j.kind == JobKind::Switch
                        && j.state == JobState::Downloading
                        && j.bytes_fetched > 0;
                    arriving.then_some(j.id)
                });
                if let Some(id) = fetching {
                    break id;
                }
                rx.changed().await.unwrap();
            }
        })
        .await
        .expect("pieces arrive");
        switching::stop(&engine, job).await.unwrap();
        // Released: the engine's process waits for the processes that hold it.
        engine.shutdown().await;
        let out = tokio::time::timeout(Duration::from_secs(60), first.wait_with_output())
            .await
            .expect("the command ends once stopped")
            .unwrap();
        let mut stopped = Run::from(out);
        stopped.events = rest.await.unwrap();
        stopped
    }
}

/// A switch stopped from another process (as the window's Stop does) ends the command with what
/// the window says too: stopped, the image still 1.00 (its bytes unchanged), what was fetched kept;
/// the same command again resumes it and fetches only what was left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_stopped_from_another_process_says_so_and_the_next_try_keeps_its_pieces() {
    let w = SlowSwitch::new().await;
    let before = sha256(&w.image);
    let stopped = w.stopped("copy").await;
    assert_eq!(stopped.code, 1, "{:?}\n{}", stopped.events, stopped.stderr);
    let said = stopped.error();
    assert!(
        said.starts_with("Stopped: os-1.00.iso is still 1.00; ")
            && said.contains("kept for the next try"),
        "{said}"
    );
    let summary = stopped.summary().clone();
    let kept = summary["kept_bytes"].as_u64().unwrap();
    let left = summary["left_bytes"].as_u64().unwrap();
    assert!(kept > 0 && summary["rolled_back"] == false, "{summary}");
    assert_eq!(summary["version"], "1.00");
    // The image, not the message, says which version it is.
    assert_eq!(sha256(&w.image), before);
    let images = w.client.images();
    assert!(!images.join("os-1.02.iso").exists());

    // The same command again resumes it: only what was left comes over the wire.
    w.seeder.set_limits(None, None);
    let switch = ["iso", "switch", "1.02", "--mode", "copy"];
    let again = output(on_bus(&w.client, &switch, Some(&w.bus))).await;
    assert_eq!(again.code, 0, "{:?}\n{}", again.events, again.stderr);
    let done = again.summary();
    let piece = u64::from(w.distro.torrent("1.02").piece_length);
    let received = done["received_bytes"].as_u64().unwrap();
    assert!(received <= left + piece, "{done} after {summary}");
    assert_eq!(
        sha256(&images.join("os-1.02.iso")),
        sha256(w.distro.image("1.02"))
    );
    w.seeder.shutdown().await;
}

/// An in-place switch cannot stop half-way: stopped from another process, it is rolled back, and
/// the command says the image is 1.00 again and that nothing was kept; the image's bytes agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_in_place_switch_is_rolled_back_and_says_nothing_was_kept() {
    let w = SlowSwitch::new().await;
    let before = sha256(&w.image);
    let stopped = w.stopped("in-place").await;
    assert_eq!(stopped.code, 1, "{:?}\n{}", stopped.events, stopped.stderr);
    let said = stopped.error();
    assert!(
        said.starts_with("Stopped: os-1.00.iso is 1.00 again; ")
            && said.contains("nothing fetched is kept"),
        "{said}"
    );
    let summary = stopped.summary();
    assert_eq!(summary["rolled_back"], true, "{summary}");
    assert_eq!(summary["kept_bytes"], 0, "{summary}");
    assert_eq!(sha256(&w.image), before);
    assert_eq!(names(&w.client.images()), ["os-1.00.iso"]);
    w.seeder.shutdown().await;
}

/// Reads a command's JSON events (kept in `events`) until it says it runs the engine; returns
/// the engine's bus name.
async fn engine_bus_name(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    events: &mut Vec<serde_json::Value>,
) -> String {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            events.push(v.clone());
            if v["event"] == "engine" {
                return v["bus_name"].as_str().unwrap().to_owned();
            }
        }
        panic!("the command ended without an engine");
    })
    .await
    .expect("the command has its engine within a minute")
}

/// A payload that is not its torrent's data is refused for trust (exit 3) with the same words
/// whether the engine runs in the command's process or in another one on the bus; the right data
/// is seeded both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_refusal_is_the_same_in_process_and_over_the_bus() {
    let (_tracker, distro) = distro_with_tracker(6).await;
    let bus = Bus::start();
    let client = UserHome::new(&distro);
    let data = client.home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let copy = |v: &str, name: &str| {
        let p = data.join(name);
        std::fs::copy(distro.image(v), &p).unwrap();
        p
    };
    let (good100, good101) = (copy("1.00", "os-1.00.iso"), copy("1.01", "os-1.01.iso"));
    // 1.01's bytes under another name, given as 1.00's data.
    let wrong = copy("1.01", "not-1.00.iso");
    let torrent = |v: &str| distro.publish_dir().join(format!("os-{v}.iso.torrent"));
    let (t100, t101) = (torrent("1.00"), torrent("1.01"));
    let bad = ["seed", "--torrent", path(&t100), "--data", path(&wrong)];
    let remote = |r: &Run| {
        r.events
            .iter()
            .find(|e| e["event"] == "engine")
            .map(|e| e["remote"] == true)
    };

    // In this process (no bus).
    let here = output(on_bus(&client, &bad, None)).await;
    assert_eq!(here.code, 3, "{:?}\n{}", here.events, here.stderr);
    assert_eq!(remote(&here), Some(false), "{:?}", here.events);
    assert!(
        here.error().contains("is not this torrent's data"),
        "{}",
        here.error()
    );

    // Positive control in a process that owns the engine on the bus: the right data seeds.
    let mut first = on_bus(
        &client,
        &["seed", "--torrent", path(&t101), "--data", path(&good101)],
        Some(&bus),
    );
    first.stdout(Stdio::piped());
    let mut first = first.spawn().unwrap();
    wait_seeding(first.stdout.take().unwrap()).await;

    // Over the bus: the same refusal, the same code, the same words.
    let there = output(on_bus(&client, &bad, Some(&bus))).await;
    assert_eq!(remote(&there), Some(true), "{:?}", there.events);
    assert_eq!(there.code, 3, "{:?}\n{}", there.events, there.stderr);
    assert_eq!(there.error(), here.error());

    // Positive control over the bus: 1.00's own data is accepted and seeded by the remote engine.
    let mut good = on_bus(
        &client,
        &["seed", "--torrent", path(&t100), "--data", path(&good100)],
        Some(&bus),
    );
    good.stdout(Stdio::piped());
    let mut good = good.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(good.stdout.take().unwrap()).lines();
    let mut remote_seen = None;
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == "engine" {
                remote_seen = Some(v["remote"] == true);
            }
            if v["event"] == "seed"
                && v["name"] == "os-1.00.iso"
                && v["state"]["state"] == "seeding"
            {
                return;
            }
        }
        panic!("the remote seed ended before 1.00 seeded");
    })
    .await
    .expect("1.00 seeds within a minute");
    assert_eq!(remote_seen, Some(true));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    kill(Pid::from_raw(good.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), good.wait()).await;
    assert!(ended.expect("Ctrl+C ends it").unwrap().success());

    assert!(
        first.try_wait().unwrap().is_none(),
        "the engine's process runs on"
    );
    kill(Pid::from_raw(first.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), first.wait()).await;
    assert!(ended.expect("Ctrl+C ends it").unwrap().success());
}

/// Pieces of the large job the signal-size tests use.
const MANY_PIECES: usize = 100_000;

/// A single-file torrent of `MANY_PIECES` 16 KiB pieces whose hashes match nothing: fetched into an
/// empty folder with no peers, its job stays downloading with every piece missing.
fn many_pieces_torrent() -> swarmdate_core::torrent::Torrent {
    let hashes: Vec<u8> = (0..MANY_PIECES * 20).map(|i| (i % 251) as u8).collect();
    let info = dict(vec![
        ("length", V::Integer((MANY_PIECES as i64) << 14)),
        ("name", b("many.iso")),
        ("piece length", V::Integer(16 << 10)),
        ("pieces", raw(hashes)),
    ]);
    swarmdate_core::torrent::Torrent::from_bytes(encode(&dict(vec![("info", info)]))).unwrap()
}

/// The engine of this test process, offered on `bus` under `name`.
async fn served_engine(
    bus: &Bus,
    state: &Path,
    name: &str,
) -> (
    std::sync::Arc<swarmdate_engine::Engine>,
    swarmdate_engine::service::Host,
) {
    let mut cfg = swarmdate_engine::EngineConfig::loopback(state);
    cfg.trackers = false;
    let engine = swarmdate_engine::Engine::start(cfg).await.unwrap();
    let conn = connect(bus).await;
    let host = swarmdate_engine::service::Host::serve(&conn, name, engine.clone())
        .await
        .unwrap();
    (engine, host)
}

/// A plain connection to `bus`, as another process of the user would open.
async fn connect(bus: &Bus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .await
        .unwrap()
}

/// The largest `Changed` body an independent observer receives over `signals` signals.
async fn largest_changed_body(bus: &Bus, signals: usize) -> usize {
    use futures::StreamExt;
    let observer = connect(bus).await;
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(swarmdate_engine::service::INTERFACE)
        .unwrap()
        .member("Changed")
        .unwrap()
        .build();
    let mut stream = zbus::MessageStream::for_match_rule(rule, &observer, None)
        .await
        .unwrap();
    let mut largest = 0;
    for _ in 0..signals {
        let msg = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the engine signals within 30 s")
            .unwrap()
            .unwrap();
        largest = largest.max(msg.body().data().len());
    }
    largest
}

/// Adds the many-pieces fetch job to `engine` and waits until it is downloading.
async fn many_pieces_job(
    engine: &std::sync::Arc<swarmdate_engine::Engine>,
    dest: &Path,
) -> swarmdate_engine::JobId {
    use swarmdate_engine::{JobSpec, JobState};
    let spec = JobSpec::Fetch {
        dest: dest.to_owned(),
        seed_after: false,
        replace: false,
    };
    let job = engine.add_job(&many_pieces_torrent(), spec).await.unwrap();
    let mut rx = engine.subscribe();
    tokio::time::timeout(Duration::from_secs(60), async {
        while rx
            .borrow_and_update()
            .job(job)
            .is_none_or(|j| j.state != JobState::Downloading)
        {
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("the job is downloading within a minute");
    job
}

/// The `Changed` signal carries no piece map: for a 100,000-piece job its body, as an independent
/// observer on the bus receives it, stays far below one byte per piece, while `PieceMap` returns
/// every piece's state. (Measured: 206 bytes; with the JSON snapshot and its maps, 100,451.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changed_signal_stays_small_for_a_job_of_many_pieces() {
    use swarmdate_engine::PieceState;
    use swarmdate_engine::service::{EngineHandle, Remote};
    let bus = Bus::start();
    let (state, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let name = "org.swarmdate.Engine.test";
    let (engine, host) = served_engine(&bus, state.path(), name).await;
    let job = many_pieces_job(&engine, dest.path()).await;

    let size = largest_changed_body(&bus, 4).await;
    println!("Changed signal body for a {MANY_PIECES}-piece job: {size} bytes");
    assert!(size < 16 << 10, "{size} bytes");

    let remote = EngineHandle::Remote(Remote::connect(&connect(&bus).await, name).await.unwrap());
    let map = remote.piece_map(job).await.unwrap();
    assert_eq!(map.0.len(), MANY_PIECES);
    assert_eq!(map.count(PieceState::Missing), MANY_PIECES);
    remote.shutdown().await;
    host.release().await;
    engine.shutdown().await;
}

/// A client over the bus sees the same snapshot fields and the same piece maps as the engine's
/// own process: a seeded payload (every piece had before) and a fetch with every piece missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_client_sees_the_same_snapshot_and_piece_map_as_in_process() {
    use swarmdate_engine::service::{EngineHandle, Remote};
    use swarmdate_engine::{JobSpec, JobState, Payload, PieceState};
    let bus = Bus::start();
    let (state, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let name = "org.swarmdate.Engine.test";
    let (engine, host) = served_engine(&bus, state.path(), name).await;
    let data = dest.path().join("seeded.iso");
    random_file(&data, 40 << 14, 7);
    let torrent = swarmdate_core::torrent::TorrentBuilder::single_file("seeded.iso", &data)
        .piece_length(16 << 10)
        .build()
        .unwrap();
    let seeded = engine
        .add_job(
            &torrent,
            JobSpec::Seed {
                payload: Payload::Image(data.clone()),
            },
        )
        .await
        .unwrap();
    engine.wait(seeded).await.unwrap();
    let fetching = many_pieces_job(&engine, &dest.path().join("many")).await;

    let remote = EngineHandle::Remote(Remote::connect(&connect(&bus).await, name).await.unwrap());
    // Both sides read their latest snapshot once the remote one has followed a change; nothing
    // moves in this engine (no peers), so they agree at once.
    let mut rx = remote.subscribe();
    rx.changed().await.unwrap();
    let there = serde_json::to_value(&*rx.borrow_and_update()).unwrap();
    let here = serde_json::to_value(engine.snapshot()).unwrap();
    assert_eq!(there, here);
    let jobs = there["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{there}");
    assert_eq!(
        remote.snapshot().job(seeded).unwrap().state,
        JobState::Seeding
    );

    for (job, state, n) in [
        (seeded, PieceState::HadBefore, 40),
        (fetching, PieceState::Missing, MANY_PIECES),
    ] {
        let (remote_map, local_map) = (
            remote.piece_map(job).await.unwrap(),
            engine.piece_map(job).unwrap(),
        );
        assert_eq!(remote_map, local_map);
        assert_eq!(remote_map.count(state), n);
    }
    assert_eq!(remote.jobs().await.unwrap(), engine.jobs());
    remote.shutdown().await;
    host.release().await;
    engine.shutdown().await;
}

/// What the engine's bus answers a raw call (as any local process may send), by error name.
async fn call<B>(conn: &zbus::Connection, method: &str, body: &B) -> Result<(), String>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    use swarmdate_engine::service::{INTERFACE, OBJECT_PATH};
    match conn
        .call_method(
            Some("org.swarmdate.Engine.test"),
            OBJECT_PATH,
            Some(INTERFACE),
            method,
            body,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(zbus::Error::MethodError(name, _, _)) => Err(name.to_string()),
        Err(e) => panic!("{method}: not a named error: {e}"),
    }
}

/// Malformed and oversized arguments from another process get named errors before the engine
/// acts on them; the same calls well formed (the positive controls) succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_oversized_argument_over_the_bus_gets_a_named_error() {
    use swarmdate_engine::service::wire::{MAX_PATH_BYTES, WireGoal, WireSpec};
    use swarmdate_engine::{JobSpec, Payload};
    let bus = Bus::start();
    let (state, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (engine, host) = served_engine(&bus, state.path(), "org.swarmdate.Engine.test").await;
    let conn = connect(&bus).await;
    let spec_error = Err("org.swarmdate.Engine.Error.Spec".to_owned());
    let torrent = many_pieces_torrent();
    let bytes = &torrent.bytes()[..];
    let fetch = |dest: std::path::PathBuf| {
        WireSpec::from(&JobSpec::Fetch {
            dest,
            seed_after: false,
            replace: false,
        })
    };

    // Positive controls: a well-formed job and seeding goal are taken.
    let good = fetch(dest.path().to_owned());
    assert_eq!(call(&conn, "AddJob", &(bytes, &good)).await, Ok(()));
    assert_eq!(engine.jobs().len(), 1);
    let ratio = WireGoal::from(swarmdate_core::config::SeedGoal::Ratio(2.0));
    assert_eq!(call(&conn, "SetSeedGoal", &(&ratio,)).await, Ok(()));

    // A spec of two variants, a path past PATH_MAX, a relative path.
    let mut two = good.clone();
    two.seed.push(
        WireSpec::from(&JobSpec::Seed {
            payload: Payload::Folder(dest.path().to_owned()),
        })
        .seed[0]
            .clone(),
    );
    assert_eq!(call(&conn, "AddJob", &(bytes, &two)).await, spec_error);
    let long = dest.path().join("d".repeat(MAX_PATH_BYTES));
    let long = fetch(long);
    assert_eq!(call(&conn, "AddJob", &(bytes, &long)).await, spec_error);
    let relative = fetch("downloads".into());
    assert_eq!(call(&conn, "AddJob", &(bytes, &relative)).await, spec_error);
    // A seeding ratio that is no number, a switch mode that does not exist, a package that is no
    // NEVRA.
    let nan = WireGoal {
        kind: "ratio".into(),
        ratio: f64::NAN,
        hours: 0,
    };
    assert_eq!(call(&conn, "SetSeedGoal", &(&nan,)).await, spec_error);
    let image = dest.path().join("a.iso");
    let switch = (
        image.as_os_str().as_encoded_bytes(),
        bytes,
        "sideways",
        0u64,
        false,
    );
    assert_eq!(call(&conn, "SwitchImage", &switch).await, spec_error);
    let installed = vec!["not a package".to_owned()];
    assert_eq!(
        call(&conn, "TrimStore", &(1u64 << 30, installed)).await,
        spec_error
    );
    // A job that does not exist; an argument of the wrong D-Bus type.
    assert_eq!(
        call(&conn, "PieceMap", &(99u64,)).await,
        Err("org.swarmdate.Engine.Error.NotFound".to_owned())
    );
    // (zbus refuses a body that does not match the method's signature before the engine's code
    // runs, with its own error name.)
    assert_eq!(
        call(&conn, "AddJob", &(bytes, "{\"kind\":\"fetch\"}")).await,
        Err("org.freedesktop.zbus.Error".to_owned())
    );
    // None of them added a job.
    assert_eq!(engine.jobs().len(), 1);
    host.release().await;
    engine.shutdown().await;
}
