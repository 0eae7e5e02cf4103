//! What the window's component tests share: a runtime for the engine, the main loop pumped
//! until a condition holds, and the demo distribution as real data.

use std::time::{Duration, Instant};

use swarmdate::client::{Client, Overrides};
use swarmdate::demo::DemoWorld;

/// A runtime for the backend, and libadwaita started on this (the GTK) thread.
pub fn runtime() -> tokio::runtime::Runtime {
    adw::init().expect("libadwaita starts");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the GTK main loop until `done` holds (or fails after two minutes).
pub fn pump_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let ctx = gtk::glib::MainContext::default();
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if !ctx.iteration(false) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The demo distribution in `dir` (4 MB images) and its client.
pub fn demo(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (DemoWorld, Client) {
    let world = rt.block_on(DemoWorld::build(dir, 4, |_| {})).unwrap();
    let client = Client::new(Overrides {
        home: Some(world.client_home.clone()),
        ..Default::default()
    })
    .unwrap();
    (world, client)
}

/// Stops the demo's peers.
pub fn stop(rt: &tokio::runtime::Runtime, world: DemoWorld) {
    rt.block_on(async {
        world.seeder.shutdown().await;
        world.peer.shutdown().await;
    });
}
