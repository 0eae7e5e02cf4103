//! The Versions page: the ISO versions the feed offers, the local image's marked; for every
//! other one the exact download and Upgrade or Downgrade, a confirmation, then progress with a
//! Stop button. Without a local image it offers to choose one.

mod downgrade;
mod row;

use std::path::PathBuf;
use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_usecases::notices;
use swarmdate_usecases::switching::Ended;
use swarmdate_usecases::versions::Versions;

use crate::ui::backend::{Backend, SwitchProgress, VersionsView};
use crate::ui::dialogs;
use crate::ui::templates::{ActionPage, PageColumn, SpinnerPage};
use crate::ui::transfer::TransferView;
use downgrade::DowngradePanel;
use row::{RowOutput, VersionRow};

#[cfg(test)]
mod tests;

/// Where the page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reading the feed and the image.
    Loading,
    /// The versions are listed.
    Ready,
    /// No image found; the message says why.
    NoImage(String),
    /// Switching to the named version.
    Switching(String),
    /// Something failed; the message says what and what to do.
    Failed(String),
}

/// The page's model.
pub struct VersionsPage {
    backend: Arc<Backend>,
    phase: Phase,
    rows: FactoryVecDeque<VersionRow>,
    versions: Option<Versions>,
    /// The image the user chose, if not the one in the images folder.
    chosen: Option<PathBuf>,
    progress: Option<SwitchProgress>,
    /// What the last switch did, for the line above the list.
    last: Option<String>,
    /// What the running or last switch told (a tracker's refusal, a pre-fill skipped).
    notes: Vec<String>,
    /// How the last switch ended.
    ended: Option<Ended>,
    /// The user asked the running switch to stop.
    stopping: bool,
    /// The open file chooser, kept until it answers.
    chooser: Option<gtk::FileChooserNative>,
    /// The open transfer view.
    transfer: Option<Controller<TransferView>>,
    /// Package downgrades.
    downgrade: Controller<DowngradePanel>,
}

/// What the page is told.
#[derive(Debug)]
pub enum Input {
    /// Read the feed and the image again.
    Refresh,
    /// Ask before switching to the version at this place.
    Confirm(usize),
    /// Switch to it (confirmed).
    Switch(usize),
    /// Stop the running switch; the image stays the old version, what was fetched is kept.
    Stop,
    /// Show the running switch's transfer (piece map, peers, speeds).
    ShowTransfer,
    /// Ask for an image file.
    Choose,
    /// Use this image.
    Chosen(PathBuf),
}

/// What the page tells the window.
#[derive(Debug)]
pub enum Output {
    /// A switch or a package downgrade ended (done, stopped or failed): the image or the
    /// installed packages may have changed.
    Changed,
}

/// Results of the page's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The versions were read.
    Loaded(Result<VersionsView, String>),
    /// The switch moved on.
    Progress(SwitchProgress),
    /// The switch ended: the version, and how (switched, stopped, failed) or why it could not run.
    Switched(String, Result<Ended, String>),
    /// The stop was handed to the engine (the switch's own end follows), or refused.
    Stopping(Result<(), String>),
}

impl VersionsPage {
    /// The newest version the image is not, if any.
    pub fn newest_other(&self) -> Option<usize> {
        self.rows
            .iter()
            .filter(|r| !r.item.current)
            .max_by(|a, b| a.item.date.cmp(&b.item.date))
            .map(|r| r.item.index)
    }

    /// Whether the last switch ended (done, stopped or failed).
    pub fn switched(&self) -> bool {
        self.last.is_some() || matches!(self.phase, Phase::Failed(_))
    }

    /// Whether the page shows its first data (or why there is none).
    pub fn is_settled(&self) -> bool {
        self.phase != Phase::Loading
    }

    fn page_name(&self) -> &'static str {
        match self.phase {
            Phase::Loading => "loading",
            Phase::Ready | Phase::Switching(_) => "list",
            Phase::NoImage(_) => "no-image",
            Phase::Failed(_) => "failed",
        }
    }

    fn message(&self) -> String {
        match &self.phase {
            Phase::NoImage(m) | Phase::Failed(m) => m.clone(),
            _ => String::new(),
        }
    }

    fn heading(&self) -> String {
        let image = self.versions.as_ref().map(|v| {
            v.image
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        });
        let version = self.versions.as_ref().and_then(|v| v.current_version());
        match (image, version) {
            (Some(i), Some(v)) => trf(
                "{image} is version {version}.",
                &[("image", &i), ("version", &v)],
            ),
            (Some(i), None) => trf("{image} is not a version the feed knows.", &[("image", &i)]),
            _ => String::new(),
        }
    }

    fn switch_line(&self) -> String {
        let Phase::Switching(v) = &self.phase else {
            return self.last.clone().unwrap_or_default();
        };
        let p = self.progress.as_ref();
        let peers = p.map_or(0, |p| p.peers);
        trn(
            "Switching to {version}: {fetched} of {total} · {peers} peer · {speed}/s",
            "Switching to {version}: {fetched} of {total} · {peers} peers · {speed}/s",
            peers as u64,
            &[
                ("version", v),
                ("fetched", &glib::format_size(p.map_or(0, |p| p.fetched))),
                ("total", &glib::format_size(p.map_or(0, |p| p.total))),
                ("peers", &peers),
                ("speed", &glib::format_size(p.map_or(0, |p| p.speed))),
            ],
        )
    }

    fn fraction(&self) -> f64 {
        match &self.progress {
            Some(p) if p.total > 0 => (p.fetched as f64 / p.total as f64).min(1.0),
            _ => 0.0,
        }
    }

    fn is_switching(&self) -> bool {
        matches!(self.phase, Phase::Switching(_))
    }
}

#[relm4::component(pub)]
impl Component for VersionsPage {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = Output;
    type CommandOutput = Cmd;

    view! {
        gtk::Stack {
            set_transition_type: gtk::StackTransitionType::Crossfade,

            #[template]
            add_named[Some("loading")] = &SpinnerPage {
                set_title: &tr("Reading the versions…"),
            },
            #[template]
            #[name = "no_image_page"]
            add_named[Some("no-image")] = &ActionPage {
                set_icon_name: Some("media-optical-symbolic"),
                set_title: &tr("No installation image"),
                #[watch]
                set_description: Some(&model.message()),
                #[template_child]
                button {
                    set_label: &tr("Choose an Image…"),
                    add_css_class: "suggested-action",
                    connect_clicked => Input::Choose,
                },
            },
            #[template]
            #[name = "failed_page"]
            add_named[Some("failed")] = &ActionPage {
                set_icon_name: Some("dialog-error-symbolic"),
                set_title: &tr("The versions are not available"),
                #[watch]
                set_description: Some(&model.message()),
                #[template_child]
                button {
                    set_label: &tr("Try Again"),
                    connect_clicked => Input::Refresh,
                },
            },
            #[template]
            add_named[Some("list")] = &PageColumn {
                #[template_child]
                column {
                    gtk::Box {
                        set_spacing: 12,
                        #[name = "heading"]
                        gtk::Label {
                            set_hexpand: true,
                            set_xalign: 0.0,
                            set_wrap: true,
                            #[watch]
                            set_label: &model.heading(),
                        },
                        gtk::Button {
                            set_label: &tr("Choose an Image…"),
                            set_valign: gtk::Align::Center,
                            #[watch]
                            set_sensitive: !model.is_switching(),
                            connect_clicked => Input::Choose,
                        },
                    },
                    gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,
                        set_spacing: 6,
                        #[watch]
                        set_visible: model.is_switching() || model.last.is_some(),
                        gtk::ProgressBar {
                            set_show_text: true,
                            #[watch]
                            set_visible: model.is_switching(),
                            #[watch]
                            set_fraction: model.fraction(),
                        },
                        gtk::Box {
                            set_spacing: 12,
                            #[name = "switch_line"]
                            gtk::Label {
                                set_hexpand: true,
                                set_xalign: 0.0,
                                set_wrap: true,
                                add_css_class: "transfer-origin",
                                #[watch]
                                set_label: &model.switch_line(),
                            },
                            gtk::Button {
                                set_label: &tr("Details"),
                                set_tooltip_text: Some(&tr("Pieces, peers and speeds of the switch")),
                                #[watch]
                                set_visible: model.is_switching(),
                                #[watch]
                                set_sensitive: model.progress.is_some(),
                                connect_clicked => Input::ShowTransfer,
                            },
                            #[name = "stop_button"]
                            gtk::Button {
                                set_label: &tr("Stop"),
                                set_tooltip_text: Some(&tr("Stop the switch and keep the old version")),
                                add_css_class: "destructive-action",
                                #[watch]
                                set_visible: model.is_switching(),
                                #[watch]
                                set_sensitive: model.progress.is_some() && !model.stopping,
                                connect_clicked => Input::Stop,
                            },
                        },
                        #[name = "switch_notes"]
                        gtk::Label {
                            set_xalign: 0.0,
                            set_wrap: true,
                            add_css_class: "warning",
                            #[watch]
                            set_visible: !model.notes.is_empty(),
                            #[watch]
                            set_label: &model.notes.join("\n"),
                        },
                    },
                    #[local_ref]
                    rows_box -> gtk::ListBox {
                        add_css_class: "boxed-list",
                        set_selection_mode: gtk::SelectionMode::None,
                        #[watch]
                        set_sensitive: !model.is_switching(),
                    },
                    #[local_ref]
                    downgrade_panel -> adw::PreferencesGroup {
                        set_margin_top: 12,
                    },
                },
            },

            // After the children: the name must exist when it is set.
            #[watch]
            set_visible_child_name: model.page_name(),
        }
    }

    fn init(
        backend: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let rows = FactoryVecDeque::builder()
            .launch(gtk::ListBox::default())
            .forward(sender.input_sender(), |o| match o {
                RowOutput::Switch(i) => Input::Confirm(i),
            });
        let model = VersionsPage {
            backend: backend.clone(),
            phase: Phase::Loading,
            rows,
            versions: None,
            chosen: None,
            progress: None,
            last: None,
            notes: Vec::new(),
            ended: None,
            stopping: false,
            chooser: None,
            transfer: None,
            downgrade: DowngradePanel::builder()
                .launch(backend.clone())
                .forward(sender.output_sender(), |downgrade::Output::Changed| {
                    Output::Changed
                }),
        };
        let rows_box = model.rows.widget();
        let downgrade_panel = model.downgrade.widget();
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            Input::Refresh | Input::Chosen(_) if self.is_switching() => {}
            Input::Refresh => {
                self.downgrade.emit(downgrade::Input::Reload);
                self.phase = Phase::Loading;
                let load = self.backend.load_versions(self.chosen.clone());
                sender.oneshot_command(async move { Cmd::Loaded(load.await) });
            }
            Input::Chosen(path) => {
                self.chosen = Some(path);
                sender.input(Input::Refresh);
            }
            Input::Confirm(i) => {
                let Some(item) = self.rows.iter().find(|r| r.item.index == i) else {
                    return;
                };
                let item = item.item.clone();
                let verb = if item.newer {
                    tr("Upgrade")
                } else {
                    tr("Downgrade")
                };
                let s = sender.clone();
                dialogs::confirm(
                    root,
                    &trf("Switch to {version}?", &[("version", &item.version)]),
                    &trf(
                        "{download} will be downloaded. The image stays as it is until the new version is complete.",
                        &[("download", &glib::format_size(item.download.unwrap_or(0)))],
                    ),
                    &verb,
                    adw::ResponseAppearance::Suggested,
                    move || s.input(Input::Switch(i)),
                );
            }
            Input::Switch(i) => {
                let Some(versions) = self.versions.clone() else {
                    return;
                };
                let version = versions.versions[i].version().to_owned();
                self.phase = Phase::Switching(version.clone());
                self.progress = None;
                self.notes.clear();
                self.stopping = false;
                let progress = sender.command_sender().clone();
                let switch = self
                    .backend
                    .switch(versions, i, move |p| progress.emit(Cmd::Progress(p)));
                sender.oneshot_command(async move { Cmd::Switched(version, switch.await) });
            }
            Input::Stop => {
                if let Some(p) = &self.progress {
                    self.stopping = true;
                    let stop = self.backend.stop_switch(p.job);
                    sender.oneshot_command(async move { Cmd::Stopping(stop.await) });
                }
            }
            Input::ShowTransfer => {
                let (Some(p), Phase::Switching(_)) = (&self.progress, &self.phase) else {
                    return;
                };
                let parent = root.root().and_downcast::<gtk::Window>();
                self.transfer = Some(TransferView::show(self.backend.clone(), p.job, parent));
            }
            Input::Choose => {
                let chooser = gtk::FileChooserNative::new(
                    Some(&tr("Choose an Installation Image")),
                    root.root().and_downcast_ref::<gtk::Window>(),
                    gtk::FileChooserAction::Open,
                    Some(&tr("Choose")),
                    Some(&tr("Cancel")),
                );
                let filter = gtk::FileFilter::new();
                filter.set_name(Some(&tr("Disc images")));
                filter.add_suffix("iso");
                filter.add_mime_type("application/x-cd-image");
                chooser.add_filter(&filter);
                let s = sender.clone();
                chooser.connect_response(move |c, response| {
                    c.hide();
                    if response == gtk::ResponseType::Accept
                        && let Some(path) = c.file().and_then(|f| f.path())
                    {
                        s.input(Input::Chosen(path));
                    }
                });
                chooser.show();
                self.chooser = Some(chooser);
            }
        }
    }

    fn update_cmd(&mut self, cmd: Cmd, sender: ComponentSender<Self>, _: &Self::Root) {
        if let Cmd::Switched(_, r) = &cmd {
            if let Ok(ended) = r {
                self.ended = Some(ended.clone());
            }
            let _ = sender.output(Output::Changed);
        }
        match cmd {
            Cmd::Loaded(Ok(view)) => {
                let mut rows = self.rows.guard();
                rows.clear();
                for item in view.items {
                    rows.push_back(item);
                }
                drop(rows);
                self.versions = Some(view.versions);
                self.phase = Phase::Ready;
            }
            Cmd::Loaded(Err(e)) if e.contains("no image of this distribution") => {
                self.phase = Phase::NoImage(e);
            }
            Cmd::Loaded(Err(e)) => self.phase = Phase::Failed(e),
            Cmd::Progress(p) => {
                if self.is_switching() {
                    self.notes = p.notes.clone();
                    self.progress = Some(p);
                }
            }
            Cmd::Switched(version, Ok(Ended::Switched(done))) => {
                self.last = Some(trf(
                    "Switched to {version}: {fetched} downloaded.",
                    &[
                        ("version", &version),
                        ("fetched", &glib::format_size(done.fetched_bytes)),
                    ],
                ));
                self.notes = done.notices.iter().map(notices::text).collect();
                self.phase = Phase::Ready;
                self.progress = None;
                sender.input(Input::Refresh);
            }
            Cmd::Switched(_, Ok(Ended::Stopped(stopped))) => {
                self.last = Some(stopped.message(|n| glib::format_size(n).to_string()));
                self.phase = Phase::Ready;
                self.progress = None;
                sender.input(Input::Refresh);
            }
            Cmd::Switched(_, Ok(Ended::Failed(e))) => {
                self.phase = Phase::Failed(e.to_string());
                self.progress = None;
            }
            Cmd::Switched(_, Err(e)) => {
                self.phase = Phase::Failed(e);
                self.progress = None;
            }
            Cmd::Stopping(Ok(())) => {}
            // Too late to stop (the new version is in place): the switch's end says so.
            Cmd::Stopping(Err(e)) => {
                tracing::info!("the switch did not stop: {e}");
                self.stopping = false;
            }
        }
    }
}
