//! What the window's component tests share: a runtime for the engine, the main loop pumped
//! until a condition holds, and the demo distribution as real data.

use std::path::Path;
use std::time::{Duration, Instant};

use gtk::prelude::*;

use swarmdate_testkit::demo::DemoWorld;
use swarmdate_usecases::{Overrides, User};

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
pub fn demo(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (DemoWorld, User) {
    let world = rt.block_on(DemoWorld::build(dir, 4, |_| {})).unwrap();
    let client = User::new(Overrides {
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

/// Draws `widget` as it is on screen into a PNG file; returns its RGBA bytes.
pub fn save_png(widget: &impl IsA<gtk::Widget>, path: &Path) -> Vec<u8> {
    let (w, h) = (widget.width(), widget.height());
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(w), f64::from(h));
    let node = snapshot.to_node().expect("the window drew something");
    let renderer = widget
        .native()
        .and_then(|n| n.renderer())
        .expect("a realized window");
    let bounds = gtk::graphene::Rect::new(0.0, 0.0, w as f32, h as f32);
    let texture = renderer.render_texture(&node, Some(&bounds));
    texture.save_to_png(path).unwrap();
    let stride = texture.width() as usize * 4;
    let mut bytes = vec![0; stride * texture.height() as usize];
    texture.download(&mut bytes, stride);
    bytes
}

/// Lets the window lay out and draw for a moment.
pub fn settle() {
    let until = Instant::now() + Duration::from_millis(400);
    pump_until("nothing", || Instant::now() >= until);
}

/// What rpm says `root` has installed: `rpm -qa`'s NEVRAs, without the imported keys.
pub fn installed_in(root: &Path) -> std::collections::BTreeSet<String> {
    let out = std::process::Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", swarmdate_core::packages::DB_PATH, "-qa"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey"))
        .map(str::to_owned)
        .collect()
}

/// dnf itself, outside Swarmdate, on `root` (its own repositories off).
pub fn dnf_in(root: &Path, args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".rpmmacros"),
        format!("%_dbpath {}\n", swarmdate_core::packages::DB_PATH),
    )
    .unwrap();
    let conf = home.path().join("dnf.conf");
    std::fs::write(&conf, "[main]\nreposdir=/dev/null\ninstall_weak_deps=0\n").unwrap();
    let out = std::process::Command::new("dnf")
        .env("HOME", home.path())
        .arg("-c")
        .arg(&conf)
        .arg(format!("--installroot={}", root.display()))
        .args(["--releasever=41", "--disablerepo=*", "--assumeyes", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "dnf {args:?}: {out:?}");
}
