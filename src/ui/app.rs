//! The main window: a header with the view switcher and the main menu, the pages in a view
//! stack, and the switcher at the bottom when the window is narrow. Closing the window keeps
//! the app sharing in the background until the user quits it; on first run it asks whom to
//! share with before the engine starts.

use std::sync::Arc;

use adw::prelude::*;
use gtk::{gio, glib};
use relm4::prelude::*;

use swarmdate_core::config::{Settings, Sharing};
use swarmdate_core::i18n::{tr, trn};

use super::backend::Backend;
use super::history::{self, HistoryDialog};
use super::open::OpenTorrent;
use super::preferences::{self, Preferences};
use super::seeding::{self, SeedingPage};
use super::updates::{self, UpdatesPage};
use super::versions::{self, VersionsPage};

/// The window's model: its pages.
pub struct App {
    backend: Arc<Backend>,
    updates: Controller<UpdatesPage>,
    versions: Controller<VersionsPage>,
    seeding: Controller<SeedingPage>,
    /// The Updates tab, whose badge counts the updates.
    updates_tab: adw::ViewStackPage,
    preferences: Option<Controller<Preferences>>,
    /// The History dialog, made when first shown and kept (an undo in it runs on when closed).
    history: Option<Controller<HistoryDialog>>,
    /// Keeps the app alive while the window is hidden.
    hold: Option<gio::ApplicationHoldGuard>,
    /// The update count last notified, so the same updates are announced once.
    notified: usize,
    /// A torrent to open once the user said whom to share with.
    pending_open: Option<String>,
    /// The open-torrent dialog.
    opened: Option<Controller<OpenTorrent>>,
    /// The connection is metered; the machine runs on battery.
    metered: bool,
    on_battery: bool,
    /// The torrents paused for those, to resume the same ones.
    auto_paused: Option<Vec<swarmdate_engine::JobId>>,
    toasts: adw::ToastOverlay,
}

/// What the window is told.
#[derive(Debug)]
pub enum Input {
    /// The Updates page counted its updates.
    UpdateCount(usize),
    /// An update on the Updates page ended (installed, stopped or failed): the Versions page
    /// reads the system again.
    UpdatesChanged,
    /// The user quit: the window goes at once, the engine stops after.
    Quit,
    /// Look for updates again (Ctrl+R).
    Refresh,
    /// The user answered whom to share with.
    Consent(Sharing),
    /// Show the preferences (Ctrl+,).
    ShowPreferences,
    /// The preferences were saved (or not).
    PreferencesSaved(Result<(), String>),
    /// Show the about window.
    ShowAbout,
    /// Show the transactions and offer to undo them (Ctrl+H).
    ShowHistory,
    /// An undo in the History dialog ended: the other pages read the system again.
    HistoryChanged,
    /// Bring the window up on the Updates page (the notification).
    ShowUpdates,
    /// Show this page (Alt+1, 2, 3).
    ShowPage(&'static str),
    /// Show what a `bittorrent://` link or `.torrent` file is, and offer to download it.
    Open(String),
    /// The window was closed: go on sharing in the background.
    Hidden,
    /// A switch or a downgrade on the Versions page ended: what is installed may have changed,
    /// so the Updates page looks again.
    VersionsChanged,
    /// The connection became metered or not, the machine went on battery or off it.
    Conditions { metered: bool, on_battery: bool },
    /// The torrents paused for those conditions (or why not).
    AutoPaused(Result<Vec<swarmdate_engine::JobId>, String>),
    /// Those torrents were resumed (or why not).
    AutoResumed(Result<Vec<swarmdate_engine::JobId>, String>),
}

impl App {
    /// The Updates page.
    pub fn updates(&self) -> &Controller<UpdatesPage> {
        &self.updates
    }

    /// The Versions page.
    pub fn versions(&self) -> &Controller<VersionsPage> {
        &self.versions
    }

    /// The History dialog, once shown.
    pub fn history(&self) -> Option<&Controller<HistoryDialog>> {
        self.history.as_ref()
    }

    /// Whether every page has shown its first data (or why it has none).
    pub fn loaded(&self) -> bool {
        self.updates.model().is_settled()
            && self.versions.model().is_settled()
            && self.seeding.model().is_settled()
    }

    /// Asks whom to share with (first run), then starts sharing.
    fn ask_consent(
        window: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
        settings: &Settings,
    ) {
        let s = sender.clone();
        super::consent::ask(window, settings, move |sharing| {
            s.input(Input::Consent(sharing))
        });
    }

    /// Tells the desktop about new updates (once per count; GNOME shows it when the window
    /// is not in front).
    fn notify_updates(&mut self, n: usize) {
        let app = relm4::main_application();
        if n == 0 || n == self.notified || !app.is_registered() {
            self.notified = n;
            return;
        }
        self.notified = n;
        let note = gio::Notification::new(&tr("Updates are available"));
        note.set_body(Some(&trn(
            "{n} package can be updated.",
            "{n} packages can be updated.",
            n as u64,
            &[("n", &n)],
        )));
        note.set_default_action("app.show-updates");
        app.send_notification(Some("updates"), &note);
    }

    /// Pauses sharing when the conditions call for it, resumes what was paused when they end.
    fn apply_conditions(&mut self, sender: &ComponentSender<Self>) {
        let settings = &self.backend.client().settings;
        let pause = settings.sharing_paused(self.metered, self.on_battery);
        // Nothing before the user agreed to share (the engine is not started for this).
        if settings.sharing.is_none() {
            return;
        }
        match (pause, self.auto_paused.take()) {
            (true, None) => {
                // Marked at once, so a second notice does not pause twice.
                self.auto_paused = Some(Vec::new());
                let run = self.backend.pause_sharing(None);
                let s = sender.clone();
                relm4::spawn(async move { s.input(Input::AutoPaused(run.await)) });
            }
            (false, Some(jobs)) if !jobs.is_empty() => {
                let run = self.backend.pause_sharing(Some(jobs));
                let s = sender.clone();
                relm4::spawn(async move { s.input(Input::AutoResumed(run.await)) });
            }
            (_, kept) => self.auto_paused = kept,
        }
    }

    /// Reads the history again if its dialog was shown (it lists the transaction that ended).
    fn refresh_history(&self) {
        if let Some(dialog) = &self.history {
            dialog.emit(history::Input::Refresh);
        }
    }

    fn toast(&self, text: &str) {
        self.toasts.add_toast(adw::Toast::new(text));
    }
}

/// How often the app looks for updates while it runs.
const CHECK_EVERY_SECS: u32 = 3600;

/// The app's actions and their keyboard shortcuts.
fn add_actions(sender: &ComponentSender<App>) {
    let app = relm4::main_application();
    let action = |name: &str, input: fn() -> Input| {
        let a = gio::SimpleAction::new(name, None);
        let s = sender.clone();
        a.connect_activate(move |_, _| s.input(input()));
        app.add_action(&a);
    };
    action("preferences", || Input::ShowPreferences);
    action("about", || Input::ShowAbout);
    action("history", || Input::ShowHistory);
    action("refresh", || Input::Refresh);
    action("show-updates", || Input::ShowUpdates);
    action("quit", || Input::Quit);
    app.set_accels_for_action("app.preferences", &["<Control>comma"]);
    app.set_accels_for_action("app.quit", &["<Control>q"]);
    app.set_accels_for_action("app.history", &["<Control>h"]);
    app.set_accels_for_action("app.refresh", &["<Control>r", "F5"]);
    for (i, page) in ["updates", "versions", "seeding"].into_iter().enumerate() {
        let a = gio::SimpleAction::new(&format!("page-{page}"), None);
        let s = sender.clone();
        a.connect_activate(move |_, _| s.input(Input::ShowPage(page)));
        app.add_action(&a);
        app.set_accels_for_action(&format!("app.page-{page}"), &[&format!("<Alt>{}", i + 1)]);
    }
    app.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
    // The window hides (sharing goes on), as its close button does.
    app.set_accels_for_action("window.close", &["<Control>w"]);
}

#[relm4::component(pub)]
impl SimpleComponent for App {
    /// The backend. Links and `.torrent` files come through the application's `open` signal,
    /// also from a second `swarmdate LINK` process while this one runs.
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = ();

    view! {
        adw::ApplicationWindow {
            set_title: Some(&tr("Swarmdate")),
            set_default_size: (720, 640),
            set_width_request: 360,
            set_height_request: 294,
            connect_close_request[sender] => move |w| {
                // Sharing goes on: the app stays until the user quits it.
                w.set_visible(false);
                sender.input(Input::Hidden);
                glib::Propagation::Stop
            },

            #[local_ref]
            toasts -> adw::ToastOverlay {
                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,

                    #[name = "header"]
                    adw::HeaderBar {
                        #[wrap(Some)]
                        #[name = "title"]
                        set_title_widget = &adw::ViewSwitcherTitle {
                            set_stack: Some(&stack),
                            set_title: &tr("Swarmdate"),
                        },
                        #[name = "menu_button"]
                        pack_end = &gtk::MenuButton {
                            set_icon_name: "open-menu-symbolic",
                            set_tooltip_text: Some(&tr("Main Menu")),
                            set_primary: true,
                            set_menu_model: Some(&{
                                let menu = gio::Menu::new();
                                menu.append(Some(&tr("History")), Some("app.history"));
                                menu.append(Some(&tr("Preferences")), Some("app.preferences"));
                                menu.append(Some(&tr("Keyboard Shortcuts")), Some("win.show-help-overlay"));
                                menu.append(Some(&tr("About Swarmdate")), Some("app.about"));
                                menu.append(Some(&tr("Quit")), Some("app.quit"));
                                menu
                            }),
                        },
                    },
                    #[name = "stack"]
                    adw::ViewStack {
                        set_vexpand: true,
                    },
                    #[name = "bar"]
                    adw::ViewSwitcherBar {
                        set_stack: Some(&stack),
                    },
                },
            },
        }
    }

    fn init(
        backend: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let updates =
            UpdatesPage::builder()
                .launch(backend.clone())
                .forward(sender.input_sender(), |o| match o {
                    updates::Output::Count(n) => Input::UpdateCount(n),
                    updates::Output::Changed => Input::UpdatesChanged,
                });
        updates.emit(updates::Input::Refresh);
        let versions = VersionsPage::builder()
            .launch(backend.clone())
            .forward(sender.input_sender(), |versions::Output::Changed| {
                Input::VersionsChanged
            });
        versions.emit(versions::Input::Refresh);
        let seeding = SeedingPage::builder().launch(backend.clone()).detach();
        let toasts = adw::ToastOverlay::new();
        let widgets = view_output!();
        let tab = |page: &gtk::Widget, name: &str, title: &str, icon: &str| {
            let p = widgets.stack.add_titled(page, Some(name), title);
            p.set_icon_name(Some(icon));
            p
        };
        let updates_tab = tab(
            updates.widget().upcast_ref(),
            "updates",
            &tr("Updates"),
            "software-update-available-symbolic",
        );
        tab(
            versions.widget().upcast_ref(),
            "versions",
            &tr("Versions"),
            "media-optical-symbolic",
        );
        tab(
            seeding.widget().upcast_ref(),
            "seeding",
            &tr("Seeding"),
            "network-transmit-receive-symbolic",
        );
        // The Updates page's action stays in reach in the header while its page shows; the page
        // shows or hides the button itself.
        let holder = gtk::Box::new(gtk::Orientation::Horizontal, 0);
        holder.set_spacing(6);
        holder.append(updates.model().header_action());
        holder.append(updates.model().header_restart_action());
        widgets.header.pack_start(&holder);
        widgets
            .stack
            .bind_property("visible-child-name", &holder, "visible")
            .transform_to(|_, name: Option<String>| Some(name.as_deref() == Some("updates")))
            .sync_create()
            .build();
        // Narrow, the Updates page's action shows an icon: its label could widen the header.
        let page = updates.sender().clone();
        widgets.title.connect_title_visible_notify(move |t| {
            page.emit(updates::Input::Narrow(t.is_title_visible()));
        });
        // The bottom switcher shows when the header has no room for the top one.
        widgets
            .title
            .bind_property("title-visible", &widgets.bar, "reveal")
            .sync_create()
            .build();
        super::a11y::set_label(&widgets.menu_button, &tr("Main Menu"));
        root.set_help_overlay(Some(&super::shortcuts::window()));
        add_actions(&sender);
        // Nothing is announced before the user says whom to share with.
        let asked = backend.client().settings.sharing.is_some();
        if asked {
            seeding.emit(seeding::Input::Start);
        } else {
            let (window, s) = (root.clone(), sender.clone());
            let settings = backend.client().settings.clone();
            glib::idle_add_local_once(move || App::ask_consent(&window, &s, &settings));
        }
        let model = App {
            backend,
            updates,
            versions,
            seeding,
            updates_tab,
            preferences: None,
            history: None,
            hold: None,
            notified: 0,
            pending_open: None,
            opened: None,
            metered: false,
            on_battery: false,
            auto_paused: None,
            toasts: widgets.toasts.clone(),
        };
        watch_conditions(&sender);
        receive_opened(&root, &sender);
        // Look for updates again every hour, window shown or not.
        let s = sender.clone();
        glib::timeout_add_seconds_local(CHECK_EVERY_SECS, move || {
            s.input(Input::Refresh);
            glib::ControlFlow::Continue
        });
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>) {
        match msg {
            Input::Refresh => {
                self.updates.emit(updates::Input::Refresh);
                self.versions.emit(versions::Input::Refresh);
            }
            // A transaction on one page changes what the others show.
            Input::UpdatesChanged => {
                self.versions.emit(versions::Input::Refresh);
                self.refresh_history();
            }
            Input::VersionsChanged => {
                self.updates.emit(updates::Input::Refresh);
                self.refresh_history();
            }
            Input::HistoryChanged => {
                self.updates.emit(updates::Input::Refresh);
                self.versions.emit(versions::Input::Refresh);
            }
            Input::ShowHistory => {
                if let Some(dialog) = &self.history {
                    dialog.emit(history::Input::Refresh);
                } else {
                    let dialog = HistoryDialog::builder()
                        .launch(self.backend.clone())
                        .forward(sender.input_sender(), |history::Output::Changed| {
                            Input::HistoryChanged
                        });
                    if let Some(w) = self.toasts.root().and_downcast::<gtk::Window>() {
                        dialog.widget().set_transient_for(Some(&w));
                    }
                    self.history = Some(dialog);
                }
                if let Some(dialog) = &self.history {
                    dialog.widget().present();
                }
            }
            Input::Quit => {
                // The window goes at once; stopping the engine (peers told, the ledger
                // written) takes seconds and happens after the main loop ends.
                let app = relm4::main_application();
                let main = self.toasts.root().and_downcast::<gtk::Window>();
                for w in app.windows().into_iter().chain(main) {
                    w.set_visible(false);
                }
                self.hold = None;
                app.quit();
            }
            Input::UpdateCount(n) => {
                self.updates_tab.set_badge_number(n as u32);
                self.updates_tab.set_needs_attention(n > 0);
                self.notify_updates(n);
            }
            Input::Consent(sharing) => {
                let mut settings = self.backend.client().settings.clone();
                settings.sharing = Some(sharing);
                if let Err(e) = self.backend.save_settings(&settings) {
                    self.toast(&format!("{e:#}"));
                }
                self.seeding.emit(seeding::Input::Start);
                self.apply_conditions(&sender);
                if let Some(reference) = self.pending_open.take() {
                    sender.input(Input::Open(reference));
                }
            }
            // Nothing is fetched (or announced) before the user says whom to share with.
            Input::Open(reference) if self.backend.client().settings.sharing.is_none() => {
                self.pending_open = Some(reference);
            }
            Input::Open(reference) => {
                let downloads = glib::user_special_dir(glib::UserDirectory::Downloads)
                    .unwrap_or_else(glib::home_dir);
                let dialog = OpenTorrent::builder()
                    .launch((self.backend.clone(), reference, downloads))
                    .detach();
                if let Some(w) = self.toasts.root().and_downcast::<gtk::Window>() {
                    dialog.widget().set_transient_for(Some(&w));
                }
                dialog.widget().present();
                self.opened = Some(dialog);
            }
            Input::ShowPreferences => {
                let prefs = Preferences::builder()
                    .transient_for(
                        self.toasts
                            .root()
                            .and_downcast::<gtk::Window>()
                            .as_ref()
                            .unwrap(),
                    )
                    .launch(self.backend.clone())
                    .forward(sender.input_sender(), |o| match o {
                        preferences::Output::Saved(r) => Input::PreferencesSaved(r),
                    });
                prefs.widget().present();
                self.preferences = Some(prefs);
            }
            Input::PreferencesSaved(Ok(())) => {}
            Input::PreferencesSaved(Err(e)) => self.toast(&e),
            Input::ShowAbout => {
                let about = adw::AboutWindow::builder()
                    .application_name(tr("Swarmdate"))
                    .application_icon(super::APP_ID)
                    .version(env!("CARGO_PKG_VERSION"))
                    .comments(tr("Package updates and installation images, shared among users over BitTorrent"))
                    .license_type(gtk::License::Gpl30)
                    .website("https://swarmdate.org")
                    .build();
                if let Some(w) = self.toasts.root().and_downcast::<gtk::Window>() {
                    about.set_transient_for(Some(&w));
                }
                about.present();
            }
            Input::ShowUpdates => {
                if let Some(w) = self.toasts.root().and_downcast::<gtk::Window>() {
                    w.present();
                }
                sender.input(Input::ShowPage("updates"));
            }
            Input::ShowPage(name) => {
                if let Some(stack) = self
                    .updates
                    .widget()
                    .ancestor(adw::ViewStack::static_type())
                    .and_downcast::<adw::ViewStack>()
                {
                    stack.set_visible_child_name(name);
                }
            }
            Input::Conditions {
                metered,
                on_battery,
            } => {
                (self.metered, self.on_battery) = (metered, on_battery);
                self.apply_conditions(&sender);
            }
            Input::AutoPaused(Ok(jobs)) => {
                if !jobs.is_empty() {
                    self.toast(&tr("Sharing is paused on this connection or on battery."));
                }
                self.auto_paused = Some(jobs);
                // The conditions may have changed meanwhile.
                self.apply_conditions(&sender);
            }
            Input::AutoResumed(Ok(_)) => {}
            Input::AutoPaused(Err(e)) | Input::AutoResumed(Err(e)) => self.toast(&e),
            Input::Hidden => {
                if self.hold.is_none() {
                    let app = relm4::main_application();
                    self.hold = Some(app.hold());
                    let note = gio::Notification::new(&tr("Swarmdate keeps sharing"));
                    note.set_body(Some(&tr(
                        "It goes on helping others in the background. Quit it from its menu to stop.",
                    )));
                    if app.is_registered() {
                        app.send_notification(Some("background"), &note);
                    }
                }
            }
        }
    }
}

/// Shows every link or `.torrent` file the application is asked to open (`swarmdate LINK`, here
/// or in a second process that hands it over) and brings the window up.
fn receive_opened(window: &adw::ApplicationWindow, sender: &ComponentSender<App>) {
    let (window, sender) = (window.clone(), sender.clone());
    relm4::main_application().connect_open(move |_, files, _| {
        for f in files {
            // A path for files, the text as given for links (GIO keeps unknown schemes whole).
            let reference = f
                .path()
                .map_or_else(|| f.uri().to_string(), |p| p.display().to_string());
            sender.input(Input::Open(reference));
        }
        window.present();
    });
}

/// Reports metered connections (GIO's network monitor) and running on battery (UPower on the
/// system bus, when there is one) as [`Input::Conditions`].
fn watch_conditions(sender: &ComponentSender<App>) {
    let monitor = gio::NetworkMonitor::default();
    let upower = gio::DBusProxy::for_bus_sync(
        gio::BusType::System,
        gio::DBusProxyFlags::DO_NOT_AUTO_START,
        None,
        "org.freedesktop.UPower",
        "/org/freedesktop/UPower",
        "org.freedesktop.UPower",
        gio::Cancellable::NONE,
    )
    .ok();
    let report = {
        let (monitor, upower, sender) = (monitor.clone(), upower.clone(), sender.clone());
        move || {
            let on_battery = upower
                .as_ref()
                .and_then(|p| p.cached_property("OnBattery"))
                .and_then(|v| v.get::<bool>())
                .unwrap_or(false);
            sender.input(Input::Conditions {
                metered: monitor.is_network_metered(),
                on_battery,
            });
        }
    };
    let r = report.clone();
    monitor.connect_network_metered_notify(move |_| r());
    if let Some(p) = &upower {
        let r = report.clone();
        p.connect_local("g-properties-changed", false, move |_| {
            r();
            None
        });
    }
    report();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::test_support::{pump_until, runtime};

    #[gtk::test]
    fn quit_takes_the_window_away_before_anything_else() {
        let rt = runtime();
        let home = tempfile::tempdir().unwrap();
        let client = swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
            home: Some(home.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        let backend = Backend::new(rt.handle().clone(), client, home.path().to_owned());
        let app = App::builder().launch(backend).detach();
        let window = app.widget().clone();
        window.present();
        pump_until("the window to show", || window.is_mapped());
        // The Quit action's input: the window goes in the same turn of the main loop, before
        // the engine's shutdown (which runs after the loop ends) could delay it.
        app.emit(Input::Quit);
        pump_until("the window to go", || !window.is_visible());
        assert!(!window.is_mapped());
    }
}
