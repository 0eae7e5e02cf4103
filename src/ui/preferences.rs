//! The preferences window: whom to share with and how fast, sharing after login, when updates
//! install (live or at the next restart), the network
//! (port, UPnP, DHT, local discovery), the feed, the images folder and the store's size. Saved
//! when the window closes; network changes apply at the engine's next start.

use std::sync::Arc;

use adw::prelude::*;
use relm4::prelude::*;

use swarmdate_core::config::{DEFAULT_STORE_SIZE, Settings, Sharing};
use swarmdate_core::i18n::tr;
use swarmdate_usecases::autostart;

use super::backend::Backend;

/// The window's model: the settings being edited.
pub struct Preferences {
    backend: Arc<Backend>,
    settings: Settings,
}

/// The sharing choices in the order the combo row lists them.
const SHARING: [Sharing; 3] = [Sharing::Everyone, Sharing::LocalNetwork, Sharing::Nobody];

/// What the window is told.
#[derive(Debug)]
pub enum Input {
    /// Save and close.
    Close,
}

/// What the window tells its owner.
#[derive(Debug)]
pub enum Output {
    /// The settings were saved (or why not).
    Saved(Result<(), String>),
}

/// A limit in bytes/s as the spin buttons show it (kB/s, 0 for none): the same decimal unit as
/// every speed the window shows (`glib::format_size`).
pub(crate) fn kb(limit: Option<u32>) -> f64 {
    f64::from(limit.unwrap_or(0) / 1000)
}

/// A spin button's kB/s as a limit in bytes/s.
pub(crate) fn limit(kb: f64) -> Option<u32> {
    (kb >= 1.0).then(|| (kb as u32).saturating_mul(1000))
}

#[relm4::component(pub)]
impl Component for Preferences {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = Output;
    type CommandOutput = ();

    view! {
        adw::PreferencesWindow {
            set_title: Some(&tr("Preferences")),
            set_modal: true,
            set_hide_on_close: true,
            set_search_enabled: false,
            connect_close_request[sender] => move |_| {
                sender.input(Input::Close);
                gtk::glib::Propagation::Proceed
            },

            add = &adw::PreferencesPage {
                add = &adw::PreferencesGroup {
                    set_title: &tr("Sharing"),
                    set_description: Some(&tr("Seeding tells other peers which packages and versions this machine holds.")),
                    #[name = "sharing"]
                    adw::ComboRow {
                        set_title: &tr("Share with"),
                        set_model: Some(&gtk::StringList::new(&[
                            &tr("Everyone"),
                            &tr("Local network only"),
                            &tr("Nobody"),
                        ])),
                        set_selected: SHARING
                            .iter()
                            .position(|s| Some(*s) == model.settings.sharing)
                            .unwrap_or(0) as u32,
                    },
                    adw::ActionRow {
                        set_title: &tr("Upload limit"),
                        set_subtitle: &tr("kB/s; 0 for no limit"),
                        #[name = "upload"]
                        add_suffix = &gtk::SpinButton::with_range(0.0, 1_000_000.0, 64.0) {
                            set_valign: gtk::Align::Center,
                            set_value: kb(model.settings.upload_limit),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Download limit"),
                        set_subtitle: &tr("kB/s; 0 for no limit"),
                        #[name = "download"]
                        add_suffix = &gtk::SpinButton::with_range(0.0, 1_000_000.0, 64.0) {
                            set_valign: gtk::Align::Center,
                            set_value: kb(model.settings.download_limit),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Pause on metered connections"),
                        #[name = "metered"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: model.settings.pause_on_metered.unwrap_or(true),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Pause on battery"),
                        #[name = "battery"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: model.settings.pause_on_battery.unwrap_or(false),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Share after login"),
                        set_subtitle: &tr("Start sharing in the background when you log in"),
                        #[name = "after_login"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: autostart::is_enabled(&model.backend.client().dirs),
                        },
                    },
                },
                add = &adw::PreferencesGroup {
                    set_title: &tr("Updates"),
                    #[name = "install_when"]
                    adw::ComboRow {
                        set_title: &tr("Install updates"),
                        set_subtitle: &tr("At a restart, nothing running is replaced under it"),
                        set_model: Some(&gtk::StringList::new(&[
                            &tr("While the system runs"),
                            &tr("At the next restart"),
                        ])),
                        set_selected: u32::from(model.settings.install_at_restart),
                    },
                },
                add = &adw::PreferencesGroup {
                    set_title: &tr("Network"),
                    set_description: Some(&tr("Changes apply the next time Swarmdate starts.")),
                    adw::ActionRow {
                        set_title: &tr("Listening port"),
                        #[name = "port"]
                        add_suffix = &gtk::SpinButton::with_range(0.0, 65535.0, 1.0) {
                            set_valign: gtk::Align::Center,
                            set_value: f64::from(model.settings.listen_port.unwrap_or(6881)),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Open the port on the router (UPnP)"),
                        #[name = "upnp"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: model.settings.upnp,
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Find peers through the DHT"),
                        #[name = "dht"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: model.settings.dht.unwrap_or(true),
                        },
                    },
                    adw::ActionRow {
                        set_title: &tr("Find peers on the local network"),
                        #[name = "lsd"]
                        add_suffix = &gtk::Switch {
                            set_valign: gtk::Align::Center,
                            set_active: model.settings.local_discovery.unwrap_or(true),
                        },
                    },
                },
                add = &adw::PreferencesGroup {
                    set_title: &tr("Sources and storage"),
                    #[name = "feed"]
                    adw::EntryRow {
                        set_title: &tr("Feed address"),
                        set_text: model.settings.feed_url.as_deref().unwrap_or_default(),
                    },
                    #[name = "images"]
                    adw::EntryRow {
                        set_title: &tr("Images folder"),
                        set_text: &model.backend.client().images_dir().to_string_lossy(),
                    },
                    adw::ActionRow {
                        set_title: &tr("Package store size"),
                        set_subtitle: &tr("GiB; older builds kept for others leave first"),
                        #[name = "store"]
                        add_suffix = &gtk::SpinButton::with_range(1.0, 10_000.0, 1.0) {
                            set_valign: gtk::Align::Center,
                            set_value: (model.settings.store_size.unwrap_or(DEFAULT_STORE_SIZE) >> 30) as f64,
                        },
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
        let model = Preferences {
            settings: backend.client().settings.clone(),
            backend,
        };
        let widgets = view_output!();
        // A control beside a row's title is named by it for screen readers.
        for (control, name) in [
            (&widgets.upload, tr("Upload limit in kB/s")),
            (&widgets.download, tr("Download limit in kB/s")),
            (&widgets.port, tr("Listening port")),
            (&widgets.store, tr("Package store size in GiB")),
        ] {
            crate::ui::a11y::set_label(control, &name);
        }
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        msg: Input,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match msg {
            Input::Close => {
                let s = &mut self.settings;
                s.sharing = SHARING.get(widgets.sharing.selected() as usize).copied();
                s.upload_limit = limit(widgets.upload.value());
                s.download_limit = limit(widgets.download.value());
                s.listen_port = Some(widgets.port.value() as u16);
                s.upnp = widgets.upnp.is_active();
                s.pause_on_metered = Some(widgets.metered.is_active());
                s.pause_on_battery = Some(widgets.battery.is_active());
                s.dht = Some(widgets.dht.is_active());
                s.local_discovery = Some(widgets.lsd.is_active());
                let feed = widgets.feed.text().trim().to_owned();
                s.feed_url = (!feed.is_empty()).then_some(feed);
                let images = widgets.images.text().trim().to_owned();
                s.images_dir = (!images.is_empty()).then(|| images.into());
                s.store_size = Some((widgets.store.value() as u64) << 30);
                s.install_at_restart = widgets.install_when.selected() == 1;
                let dirs = self.backend.client().dirs.clone();
                let exe = std::env::current_exe().ok();
                let saved = self
                    .backend
                    .save_settings(s)
                    .and_then(|()| {
                        let on = widgets.after_login.is_active();
                        let exe = if on { exe.as_deref() } else { None };
                        Ok(autostart::set_enabled(&dirs, exe)?)
                    })
                    .map_err(|e| format!("{e:#}"));
                let _ = sender.output(Output::Saved(saved));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::test_support::{pump_until, runtime};
    use swarmdate_usecases::{Overrides, User};

    #[gtk::test]
    fn the_choices_are_saved_and_sharing_after_login_writes_the_autostart_entry() {
        let rt = runtime();
        let home = tempfile::tempdir().unwrap();
        let client = User::new(Overrides {
            home: Some(home.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        let dirs = client.dirs.clone();
        let backend = Backend::new(rt.handle().clone(), client, home.path().to_owned());
        let prefs = Preferences::builder().launch(backend.clone()).detach();
        {
            // Defaults shown: sharing with everyone, no limits, the default store size.
            let w = prefs.widgets();
            assert_eq!(w.sharing.selected(), 0);
            assert_eq!(w.upload.value(), 0.0);
            assert_eq!(w.store.value(), (DEFAULT_STORE_SIZE >> 30) as f64);
            assert!(!w.after_login.is_active());
            w.sharing.set_selected(1);
            w.upload.set_value(512.0);
            w.port.set_value(51413.0);
            w.dht.set_active(false);
            w.feed.set_text("https://example.org/feed.json");
            w.store.set_value(2.0);
            w.after_login.set_active(true);
            w.battery.set_active(true);
            assert_eq!(w.install_when.selected(), 0, "live updates by default");
            w.install_when.set_selected(1);
        }
        prefs.emit(Input::Close);
        pump_until("the settings to be saved", || {
            Settings::load(&dirs.config).unwrap().sharing.is_some()
        });
        let saved = Settings::load(&dirs.config).unwrap();
        assert_eq!(saved.sharing, Some(Sharing::LocalNetwork));
        assert_eq!(saved.upload_limit, Some(512 * 1000));
        assert_eq!(saved.download_limit, None);
        assert_eq!(saved.listen_port, Some(51413));
        assert_eq!(saved.dht, Some(false));
        assert_eq!(
            saved.feed_url.as_deref(),
            Some("https://example.org/feed.json")
        );
        assert_eq!(saved.store_size, Some(2 << 30));
        assert_eq!(saved.pause_on_metered, Some(true));
        assert_eq!(saved.pause_on_battery, Some(true));
        assert!(saved.install_at_restart);
        assert!(autostart::is_enabled(&dirs));
        // The backend's client follows: the engine's next start uses the new choice.
        assert!(!backend.client().engine_config().trackers);

        // Off again: the entry goes.
        let prefs = Preferences::builder().launch(backend.clone()).detach();
        assert!(prefs.widgets().after_login.is_active());
        prefs.widgets().after_login.set_active(false);
        prefs.emit(Input::Close);
        pump_until("the entry to go", || !autostart::is_enabled(&dirs));
    }
}
