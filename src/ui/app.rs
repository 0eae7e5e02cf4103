//! The main window: a header with the view switcher, the pages in a view stack, and the switcher
//! at the bottom when the window is narrow.

use std::sync::Arc;

use adw::prelude::*;
use relm4::prelude::*;

use swarmdate::i18n::tr;

use super::backend::Backend;
use super::seeding::SeedingPage;
use super::updates::{self, UpdatesPage};
use super::versions::{self, VersionsPage};

/// The window's model: its pages.
pub struct App {
    updates: Controller<UpdatesPage>,
    versions: Controller<VersionsPage>,
    /// Kept alive: it shows the engine's figures while the window is open.
    _seeding: Controller<SeedingPage>,
    /// The Updates tab, whose badge counts the updates.
    updates_tab: adw::ViewStackPage,
}

/// What the window is told.
#[derive(Debug)]
pub enum Input {
    /// The Updates page counted its updates.
    UpdateCount(usize),
    /// Look for updates again (Ctrl+R).
    Refresh,
}

impl App {
    /// Whether every page has shown its first data (or why it has none).
    #[cfg(test)]
    pub fn loaded(&self) -> bool {
        self.updates.model().is_settled()
            && self.versions.model().is_settled()
            && self._seeding.model().is_settled()
    }
}

#[relm4::component(pub)]
impl SimpleComponent for App {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = ();

    view! {
        adw::ApplicationWindow {
            set_title: Some(&tr("Swarmdate")),
            set_default_size: (720, 640),
            set_width_request: 360,
            set_height_request: 294,

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,

                adw::HeaderBar {
                    #[wrap(Some)]
                    #[name = "title"]
                    set_title_widget = &adw::ViewSwitcherTitle {
                        set_stack: Some(&stack),
                        set_title: &tr("Swarmdate"),
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
                });
        updates.emit(updates::Input::Refresh);
        let versions = VersionsPage::builder().launch(backend.clone()).detach();
        let seeding = SeedingPage::builder().launch(backend.clone()).detach();
        versions.emit(versions::Input::Refresh);
        let widgets = view_output!();
        let updates_tab =
            widgets
                .stack
                .add_titled(updates.widget(), Some("updates"), &tr("Updates"));
        updates_tab.set_icon_name(Some("software-update-available-symbolic"));
        widgets
            .stack
            .add_titled(versions.widget(), Some("versions"), &tr("Versions"))
            .set_icon_name(Some("media-optical-symbolic"));
        widgets
            .stack
            .add_titled(seeding.widget(), Some("seeding"), &tr("Seeding"))
            .set_icon_name(Some("network-transmit-receive-symbolic"));
        let model = App {
            updates,
            versions,
            _seeding: seeding,
            updates_tab,
        };
        let keys = gtk::ShortcutController::new();
        keys.set_scope(gtk::ShortcutScope::Managed);
        let s = sender.clone();
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string("<Control>r"),
            Some(gtk::CallbackAction::new(move |_, _| {
                s.input(Input::Refresh);
                gtk::glib::Propagation::Stop
            })),
        ));
        root.add_controller(keys);
        // The bottom switcher shows when the header has no room for the top one.
        widgets
            .title
            .bind_property("title-visible", &widgets.bar, "reveal")
            .sync_create()
            .build();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, _: ComponentSender<Self>) {
        match msg {
            Input::Refresh => {
                self.updates.emit(updates::Input::Refresh);
                self.versions.emit(versions::Input::Refresh);
            }
            Input::UpdateCount(n) => {
                self.updates_tab.set_badge_number(n as u32);
                self.updates_tab.set_needs_attention(n > 0);
            }
        }
    }
}
