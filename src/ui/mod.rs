//! The desktop window (Relm4 + libadwaita): one component per page, each reading the core
//! through [`backend::Backend`] and never blocking the GTK thread.

mod a11y;
pub mod app;
mod axis;
pub mod backend;
mod consent;
mod dialogs;
pub mod history;
mod open;
mod preferences;
#[cfg(test)]
mod pseudo_locale;
#[cfg(test)]
mod screenshots;
mod seeding;
mod shortcuts;
mod templates;
#[cfg(test)]
mod test_support;
pub mod transfer;
pub mod updates;
pub mod versions;

use std::path::PathBuf;

use gtk::gio::prelude::*;
use relm4::RelmApp;
use swarmdate_usecases::User;

/// The application id (desktop file, metainfo, GResource prefix).
pub const APP_ID: &str = "org.swarmdate.Swarmdate";

/// Opens the window for `client`, updating the system at `root`, until the user quits; `open`
/// is a `bittorrent://` link or `.torrent` file to show first. The engine runs on `rt`, which
/// must outlive the call.
pub fn run(
    rt: tokio::runtime::Handle,
    client: User,
    root: PathBuf,
    open: Option<String>,
) -> anyhow::Result<()> {
    if !display_available() {
        anyhow::bail!(
            "there is no display to open the window on: use the command line (swarmdate --help)"
        );
    }
    register_resources()?;
    let backend = backend::Backend::new(rt, client, root);
    let app = adw::Application::builder()
        .application_id(APP_ID)
        .flags(gtk::gio::ApplicationFlags::HANDLES_OPEN)
        .build();
    // GApplication opens the link here, or hands it to the instance already running and returns.
    let args = match open {
        Some(link) => vec!["swarmdate".to_owned(), link],
        None => Vec::new(),
    };
    if window_runs_elsewhere() {
        // GApplication hands the link (or the activation) over and returns; relm4's run would
        // then wait for one more main-loop event, which never comes in this process.
        app.run_with_args(&args);
        return Ok(());
    }
    RelmApp::from_app(app)
        .with_args(args)
        .run::<app::App>(backend.clone());
    backend.shutdown();
    Ok(())
}

/// Whether the window already runs in this session: GApplication owns the app id on the bus.
fn window_runs_elsewhere() -> bool {
    use gtk::{gio, glib};
    let Ok(bus) = gio::bus_get_sync(gio::BusType::Session, gio::Cancellable::NONE) else {
        return false;
    };
    bus.call_sync(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        Some(&(APP_ID,).to_variant()),
        Some(glib::VariantTy::new("(b)").expect("a valid type")),
        gio::DBusCallFlags::NONE,
        1000,
        gio::Cancellable::NONE,
    )
    .ok()
    .and_then(|v| v.get::<(bool,)>())
    .is_some_and(|(owned,)| owned)
}

/// Whether there is a display to open the window on.
pub fn display_available() -> bool {
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// Registers the compiled GResources (style, icons) once.
pub fn register_resources() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        gtk::gio::resources_register_include!("swarmdate.gresource").map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| anyhow::anyhow!("loading the window's resources: {e}"))
}
