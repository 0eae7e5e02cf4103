//! Package downgrade, on the Versions page: name an installed package, see the older builds the
//! feed's repositories offer, choose one, confirm; it is fetched and installed in one
//! transaction with whatever must come down with it.

use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_usecases::updates::{OlderBuild, Outcome};

use crate::ui::backend::{Backend, Progress};
use crate::ui::dialogs;

/// Where the panel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a package name.
    Idle,
    /// Reading the feed for older builds.
    Looking,
    /// The older builds are listed.
    Listed,
    /// Downgrading; the text says to what.
    Running(String),
    /// Done or failed; the text says how.
    Ended(String),
}

/// The panel's model.
pub struct DowngradePanel {
    backend: Arc<Backend>,
    phase: Phase,
    name: String,
    builds: Vec<OlderBuild>,
    progress: Progress,
}

/// What the panel is told.
#[derive(Debug)]
pub enum Input {
    /// List the older builds of this package.
    Look(String),
    /// Ask before downgrading to the build at this place in the list.
    Confirm(usize),
    /// Downgrade to it (confirmed).
    Downgrade(usize),
}

/// Results of the panel's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The older builds, or why there are none.
    Builds(Result<Vec<OlderBuild>, String>),
    /// The downgrade moved on.
    Progress(Progress),
    /// The downgrade ended.
    Finished(Result<Outcome, String>),
}

impl DowngradePanel {
    /// The line under the list.
    pub fn status(&self) -> String {
        match &self.phase {
            Phase::Idle => String::new(),
            Phase::Looking => tr("Looking for older builds…"),
            Phase::Listed if self.builds.is_empty() => trf(
                "The repositories offer no build of {name} older than the installed one.",
                &[("name", &self.name)],
            ),
            Phase::Listed => String::new(),
            Phase::Running(what) => trf(
                "Downgrading to {what}: {fetched} of {total}…",
                &[
                    ("what", what),
                    (
                        "fetched",
                        &glib::format_size(self.progress.from_peers + self.progress.from_mirrors),
                    ),
                    ("total", &glib::format_size(self.progress.total)),
                ],
            ),
            Phase::Ended(text) => text.clone(),
        }
    }

    /// The builds listed.
    #[cfg(test)]
    pub fn builds(&self) -> &[OlderBuild] {
        &self.builds
    }

    /// Where the panel is.
    #[cfg(test)]
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    fn busy(&self) -> bool {
        matches!(self.phase, Phase::Looking | Phase::Running(_))
    }
}

#[relm4::component(pub)]
impl Component for DowngradePanel {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = ();
    type CommandOutput = Cmd;

    view! {
        adw::PreferencesGroup {
            set_title: &tr("Package downgrade"),
            set_description: Some(&tr("Go back to an older build of an installed package.")),

            adw::EntryRow {
                set_title: &tr("Package name"),
                set_show_apply_button: true,
                #[watch]
                set_sensitive: !model.busy(),
                connect_apply[sender] => move |e| {
                    sender.input(Input::Look(e.text().trim().to_owned()));
                },
            },
            #[name = "list"]
            gtk::ListBox {
                add_css_class: "boxed-list",
                set_margin_top: 12,
                set_selection_mode: gtk::SelectionMode::None,
                #[watch]
                set_visible: !model.builds.is_empty(),
                #[watch]
                set_sensitive: !model.busy(),
            },
            #[name = "status"]
            gtk::Label {
                set_xalign: 0.0,
                set_wrap: true,
                set_margin_top: 6,
                add_css_class: "dim-label",
                #[watch]
                set_label: &model.status(),
            },
        }
    }

    fn init(
        backend: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let model = DowngradePanel {
            backend,
            phase: Phase::Idle,
            name: String::new(),
            builds: Vec::new(),
            progress: Progress::default(),
        };
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            Input::Look(name) if name.is_empty() || self.busy() => {}
            Input::Look(name) => {
                self.name = name.clone();
                self.builds.clear();
                self.phase = Phase::Looking;
                let look = self.backend.older_builds(name);
                sender.oneshot_command(async move { Cmd::Builds(look.await) });
            }
            Input::Confirm(i) => {
                let Some(b) = self.builds.get(i) else {
                    return;
                };
                let s = sender.clone();
                dialogs::confirm(
                    root,
                    &trf("Downgrade to {build}?", &[("build", &b.nevra)]),
                    &trf(
                        "Up to {size} will be downloaded. Installed packages that need the newer build are downgraded too.",
                        &[("size", &glib::format_size(b.size))],
                    ),
                    &tr("Downgrade"),
                    adw::ResponseAppearance::Destructive,
                    move || s.input(Input::Downgrade(i)),
                );
            }
            Input::Downgrade(i) => {
                let Some(b) = self.builds.get(i).cloned() else {
                    return;
                };
                self.phase = Phase::Running(b.nevra.to_string());
                self.progress = Progress::default();
                let version = format!("{}-{}", b.nevra.evr.version, b.nevra.evr.release);
                let progress = sender.command_sender().clone();
                let run = self
                    .backend
                    .downgrade(self.name.clone(), version, move |p| {
                        progress.emit(Cmd::Progress(p))
                    });
                sender.oneshot_command(async move { Cmd::Finished(run.await) });
            }
        }
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        cmd: Cmd,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match cmd {
            Cmd::Builds(Ok(builds)) => {
                self.builds = builds;
                self.phase = Phase::Listed;
            }
            Cmd::Builds(Err(e)) => self.phase = Phase::Ended(e),
            Cmd::Progress(p) => self.progress = p,
            Cmd::Finished(Ok(o)) => {
                self.builds.clear();
                self.phase = Phase::Ended(crate::ui::updates::installed(&o));
            }
            Cmd::Finished(Err(e)) => self.phase = Phase::Ended(e),
        }
        while let Some(row) = widgets.list.first_child() {
            widgets.list.remove(&row);
        }
        for (i, b) in self.builds.iter().enumerate() {
            let row = adw::ActionRow::builder()
                .title(b.nevra.to_string())
                .subtitle(glib::format_size(b.size).to_string())
                .use_markup(false)
                .build();
            let button = gtk::Button::builder()
                .label(tr("Downgrade"))
                .valign(gtk::Align::Center)
                .build();
            let s = sender.clone();
            button.connect_clicked(move |_| s.input(Input::Confirm(i)));
            row.add_suffix(&button);
            widgets.list.append(&row);
        }
        self.update_view(widgets, sender);
    }
}
