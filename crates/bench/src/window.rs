//! `swarmdate-bench window`: the window's own figures, each against a reference in the same
//! run: the piece map's draw time at 400,000 pieces (texture and a whole frame of the picture),
//! the app's time to first frame against a minimal libadwaita window, and the longest stall of
//! the GTK main loop while the demo distribution is updated and its image switched.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;
use serde::Serialize;

use swarmdate_engine::{PieceMap, PieceState};

use swarmdate::ui::app::{self, App};
use swarmdate::ui::backend::Backend;
use swarmdate::ui::transfer::piece_map;
use swarmdate::ui::{updates, versions};

/// What `bench window` measured.
#[derive(Debug, Serialize)]
pub struct WindowBench {
    /// Milliseconds to build the 400,000-piece texture (median of 9).
    pub piece_map_texture_ms: f64,
    /// Milliseconds to draw it scaled to 1,000 × 400 (median of 9).
    pub piece_map_frame_ms: f64,
    /// Milliseconds from presenting a minimal libadwaita window to its first painted frame.
    pub minimal_first_frame_ms: f64,
    /// The same for Swarmdate's window on the demo distribution.
    pub app_first_frame_ms: f64,
    /// The longest the main loop went without running a 5 ms timer, during the demo's update
    /// and switch, in milliseconds (the timer's own 5 ms subtracted).
    pub longest_stall_ms: f64,
    /// Main-loop iterations observed meanwhile.
    pub ticks: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the main loop until `done` holds.
fn pump_until(mut done: impl FnMut() -> bool, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let ctx = glib::MainContext::default();
    while !done() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the window did not get there in time"
        );
        ctx.iteration(true);
    }
    Ok(())
}

/// Milliseconds from `present` to the window's first painted frame.
fn first_frame(window: &gtk::Window) -> anyhow::Result<f64> {
    let painted = Rc::new(Cell::new(None::<Instant>));
    let p = painted.clone();
    window.connect_realize(move |w| {
        let p = p.clone();
        if let Some(clock) = w.frame_clock() {
            clock.connect_after_paint(move |_| {
                if p.get().is_none() {
                    p.set(Some(Instant::now()));
                }
            });
        }
    });
    let start = Instant::now();
    window.present();
    pump_until(|| painted.get().is_some(), Duration::from_secs(60))?;
    Ok((painted.get().expect("painted") - start).as_secs_f64() * 1000.0)
}

/// Measures the piece map at 400,000 pieces: building the texture, and drawing it scaled to
/// 1,000 × 400 (its render node rasterized by the window's renderer).
fn piece_map_figures(window: &gtk::Window) -> (f64, f64) {
    let states = [
        PieceState::HadBefore,
        PieceState::Fetched,
        PieceState::Missing,
        PieceState::InFlight,
    ];
    let map = PieceMap((0..400_000).map(|i| states[(i / 7) % 4]).collect());
    let renderer = window.renderer().expect("a realized window");
    let (mut textures, mut frames) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = Instant::now();
        let texture = piece_map::texture(&map);
        textures.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let snapshot = gtk::Snapshot::new();
        texture.snapshot(&snapshot, 1000.0, 400.0);
        let node = snapshot.to_node().expect("a texture node");
        let _ = renderer.render_texture(&node, None);
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (median(textures), median(frames))
}

/// Runs the benchmark on the demo distribution in `dir`; `say` reports the steps.
pub fn run(
    rt: tokio::runtime::Handle,
    dir: &std::path::Path,
    say: impl Fn(&str),
) -> anyhow::Result<WindowBench> {
    anyhow::ensure!(
        swarmdate::ui::display_available(),
        "the window benchmark needs a display (run it under xvfb-run)"
    );
    swarmdate::ui::register_resources()?;
    adw::init()?;
    say("Building the demo distribution");
    let world = rt.block_on(swarmdate_testkit::demo::DemoWorld::build(dir, 16, |_| {}))?;
    let client = swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
        home: Some(world.client_home.clone()),
        ..Default::default()
    })?;

    say("A minimal libadwaita window (reference)");
    // Like the app's window: an ApplicationWindow not yet added to an application.
    let minimal = glib::Object::builder::<adw::ApplicationWindow>().build();
    minimal.set_default_size(720, 640);
    minimal.set_content(Some(&adw::StatusPage::builder().title("Reference").build()));
    let minimal_first_frame_ms = first_frame(minimal.upcast_ref())?;
    say("The piece map at 400,000 pieces");
    let (piece_map_texture_ms, piece_map_frame_ms) = piece_map_figures(minimal.upcast_ref());
    minimal.close();

    say("Swarmdate's window");
    let backend = Backend::new(rt.clone(), client, world.package_root.clone());
    let app = App::builder().launch(backend.clone()).detach();
    let app_first_frame_ms = first_frame(app.widget().upcast_ref())?;
    app.emit(app::Input::Consent(
        swarmdate_core::config::Sharing::Everyone,
    ));
    pump_until(|| app.model().loaded(), Duration::from_secs(120))?;

    say("The demo's update and a switch, with the main loop watched");
    let stalls = Rc::new(RefCell::new((Instant::now(), Duration::ZERO, 0u64)));
    let s = stalls.clone();
    let period = Duration::from_millis(5);
    let watch = glib::timeout_add_local(period, move || {
        let mut s = s.borrow_mut();
        let gap = s.0.elapsed();
        s.1 = s.1.max(gap.saturating_sub(period));
        s.0 = Instant::now();
        s.2 += 1;
        glib::ControlFlow::Continue
    });
    app.model().updates().emit(updates::Input::Update);
    pump_until(
        || app.model().updates().model().is_finished(),
        Duration::from_secs(300),
    )?;
    let to = app.model().versions().model().newest_other();
    if let Some(to) = to {
        app.model().versions().emit(versions::Input::Switch(to));
        pump_until(
            || app.model().versions().model().switched(),
            Duration::from_secs(300),
        )?;
    }
    watch.remove();
    let (_, longest, ticks) = *stalls.borrow();
    drop(app);
    backend.shutdown();
    rt.block_on(async {
        world.seeder.shutdown().await;
        world.peer.shutdown().await;
    });
    Ok(WindowBench {
        piece_map_texture_ms,
        piece_map_frame_ms,
        minimal_first_frame_ms,
        app_first_frame_ms,
        longest_stall_ms: longest.as_secs_f64() * 1000.0,
        ticks,
    })
}
