//! The Updates page: the updates the feed offers for the installed packages, an Update button,
//! then the progress (where the bytes come from) and the result.

mod row;

use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_usecases::updates::{Outcome, Transaction};

use crate::ui::backend::{Available, Backend, Progress};
use crate::ui::templates::{ActionPage, PageColumn, SpinnerPage};
use crate::ui::transfer::TransferView;
use row::UpdateRow;

#[cfg(test)]
mod tests;

/// Where the page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Asking the feed.
    Checking,
    /// Nothing to update.
    UpToDate,
    /// Updates listed, waiting for the user.
    Available,
    /// Fetching and installing.
    Running,
    /// Installed; the sentence says what happened.
    Done(String),
    /// Failed; the message says what and what to do.
    Failed(String),
}

/// The page's model.
pub struct UpdatesPage {
    backend: Arc<Backend>,
    phase: Phase,
    rows: FactoryVecDeque<UpdateRow>,
    download: u64,
    held: u64,
    transaction: Option<Transaction>,
    progress: Progress,
    /// The open transfer view.
    transfer: Option<Controller<TransferView>>,
}

/// What the page is told.
#[derive(Debug)]
pub enum Input {
    /// Check the feed again.
    Refresh,
    /// Fetch and install the listed updates.
    Update,
    /// Show the fetch's transfer (piece map, peers, speeds).
    ShowTransfer,
}

/// What the page tells the window.
#[derive(Debug)]
pub enum Output {
    /// How many updates are on offer (for the page's badge).
    Count(usize),
}

/// Results of the page's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The check ended.
    Checked(Result<Available, String>),
    /// The update moved on.
    Progress(Progress),
    /// The update ended.
    Finished(Result<Outcome, String>),
}

impl UpdatesPage {
    /// The line under the list: how much there is to download.
    fn totals(&self) -> String {
        trn(
            "{n} update: {download} to download, {held} already in the store",
            "{n} updates: {download} to download, {held} already in the store",
            self.rows.len() as u64,
            &[
                ("n", &self.rows.len()),
                ("download", &glib::format_size(self.download)),
                ("held", &glib::format_size(self.held)),
            ],
        )
    }

    /// The line under the progress bar: where the bytes come from.
    fn origins(&self) -> String {
        let p = &self.progress;
        if p.waiting_for_lock {
            return tr("Another package manager is working; waiting for it to finish…");
        }
        if p.installing {
            return tr("Checking signatures and installing…");
        }
        trf(
            "{peers} from peers · {mirrors} from mirrors · {held} already held · {speed}/s",
            &[
                ("peers", &glib::format_size(p.from_peers)),
                ("mirrors", &glib::format_size(p.from_mirrors)),
                ("held", &glib::format_size(p.held)),
                ("speed", &glib::format_size(p.speed)),
            ],
        )
    }

    fn fraction(&self) -> f64 {
        let p = &self.progress;
        if p.installing || p.total == 0 {
            return 1.0;
        }
        ((p.from_peers + p.from_mirrors) as f64 / p.total as f64).min(1.0)
    }

    /// Whether the last update ended (installed or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done(_) | Phase::Failed(_))
    }

    /// Whether the page shows its first data (or why there is none).
    pub fn is_settled(&self) -> bool {
        self.phase != Phase::Checking
    }

    fn page_name(&self) -> &'static str {
        match self.phase {
            Phase::Checking => "checking",
            Phase::UpToDate => "up-to-date",
            Phase::Available | Phase::Running => "list",
            Phase::Done(_) => "done",
            Phase::Failed(_) => "failed",
        }
    }

    fn message(&self) -> String {
        match &self.phase {
            Phase::Done(m) | Phase::Failed(m) => m.clone(),
            _ => String::new(),
        }
    }
}

/// What a transaction did, in one sentence: how many packages, where their bytes came from.
pub fn installed(o: &Outcome) -> String {
    trn(
        "{n} package installed: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        "{n} packages installed: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        o.installed as u64,
        &[
            ("n", &o.installed),
            ("peers", &glib::format_size(o.fetched.from_peers)),
            ("mirrors", &glib::format_size(o.fetched.from_mirrors)),
            ("held", &glib::format_size(o.plan.held_bytes)),
        ],
    )
}

#[relm4::component(pub)]
impl Component for UpdatesPage {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = Output;
    type CommandOutput = Cmd;

    view! {
        gtk::Stack {
            set_transition_type: gtk::StackTransitionType::Crossfade,

            #[template]
            add_named[Some("checking")] = &SpinnerPage {
                set_title: &tr("Looking for updates…"),
            },
            #[template]
            add_named[Some("up-to-date")] = &ActionPage {
                set_icon_name: Some("emblem-ok-symbolic"),
                set_title: &tr("Up to date"),
                set_description: Some(&tr("Every installed package is at its newest version.")),
                #[template_child]
                button {
                    set_label: &tr("Check Again"),
                    connect_clicked => Input::Refresh,
                },
            },
            #[template]
            add_named[Some("done")] = &ActionPage {
                set_icon_name: Some("emblem-ok-symbolic"),
                set_title: &tr("Updates installed"),
                #[watch]
                set_description: Some(&model.message()),
                #[template_child]
                button {
                    set_label: &tr("Check Again"),
                    connect_clicked => Input::Refresh,
                },
            },
            #[template]
            #[name = "failed_page"]
            add_named[Some("failed")] = &ActionPage {
                set_icon_name: Some("dialog-error-symbolic"),
                set_title: &tr("The update did not happen"),
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
                        #[name = "totals"]
                        gtk::Label {
                            set_hexpand: true,
                            set_halign: gtk::Align::Start,
                            set_xalign: 0.0,
                            set_wrap: true,
                            add_css_class: "dim-label",
                            #[watch]
                            set_label: &model.totals(),
                        },
                        #[name = "update_button"]
                        gtk::Button {
                            set_label: &tr("Update"),
                            set_valign: gtk::Align::Center,
                            add_css_class: "suggested-action",
                            add_css_class: "pill",
                            #[watch]
                            set_sensitive: model.phase == Phase::Available && model.transaction.is_some(),
                            connect_clicked => Input::Update,
                        },
                    },
                    gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,
                        set_spacing: 6,
                        #[watch]
                        set_visible: model.phase == Phase::Running,
                        gtk::ProgressBar {
                            set_show_text: true,
                            #[watch]
                            set_fraction: model.fraction(),
                        },
                        gtk::Box {
                            set_spacing: 12,
                            #[name = "origins"]
                            gtk::Label {
                                set_hexpand: true,
                                set_xalign: 0.0,
                                set_wrap: true,
                                add_css_class: "transfer-origin",
                                #[watch]
                                set_label: &model.origins(),
                            },
                            gtk::Button {
                                set_label: &tr("Details"),
                                set_tooltip_text: Some(&tr("Pieces, peers and speeds of the download")),
                                #[watch]
                                set_sensitive: model.progress.job.is_some() && !model.progress.installing,
                                connect_clicked => Input::ShowTransfer,
                            },
                        },
                    },
                    #[local_ref]
                    rows_box -> gtk::ListBox {
                        add_css_class: "boxed-list",
                        set_selection_mode: gtk::SelectionMode::None,
                        #[watch]
                        set_sensitive: model.phase == Phase::Available,
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
            .detach();
        let model = UpdatesPage {
            backend,
            phase: Phase::Checking,
            rows,
            download: 0,
            held: 0,
            transaction: None,
            progress: Progress::default(),
            transfer: None,
        };
        let rows_box = model.rows.widget();
        let widgets = view_output!();
        let _ = sender;
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            Input::ShowTransfer => {
                let Some(job) = self.progress.job else {
                    return;
                };
                let view = TransferView::builder()
                    .launch((self.backend.clone(), job))
                    .detach();
                if let Some(w) = root.root().and_downcast::<gtk::Window>() {
                    view.widget().set_transient_for(Some(&w));
                }
                view.widget().present();
                self.transfer = Some(view);
            }
            Input::Refresh => {
                if self.phase == Phase::Running {
                    return;
                }
                self.phase = Phase::Checking;
                sender.oneshot_command({
                    let check = self.backend.check_updates();
                    async move { Cmd::Checked(check.await) }
                });
            }
            Input::Update => {
                let Some(tx) = self.transaction.take() else {
                    return;
                };
                self.phase = Phase::Running;
                self.progress = Progress {
                    total: self.download,
                    held: self.held,
                    ..Progress::default()
                };
                let progress = sender.command_sender().clone();
                let apply = self
                    .backend
                    .apply(tx, move |p| progress.emit(Cmd::Progress(p)));
                sender.oneshot_command(async move { Cmd::Finished(apply.await) });
            }
        }
    }

    fn update_cmd(&mut self, cmd: Cmd, sender: ComponentSender<Self>, _: &Self::Root) {
        match cmd {
            Cmd::Checked(Ok(available)) => {
                let mut rows = self.rows.guard();
                rows.clear();
                for item in available.items {
                    rows.push_back(item);
                }
                drop(rows);
                self.download = available.download;
                self.held = available.held;
                self.transaction = available.transaction;
                self.phase = if self.rows.is_empty() {
                    Phase::UpToDate
                } else {
                    Phase::Available
                };
                let _ = sender.output(Output::Count(self.rows.len()));
            }
            Cmd::Checked(Err(e)) => self.phase = Phase::Failed(e),
            Cmd::Progress(p) => {
                if self.phase == Phase::Running {
                    self.progress = p;
                }
            }
            Cmd::Finished(Ok(o)) => {
                self.rows.guard().clear();
                self.phase = Phase::Done(installed(&o));
                let _ = sender.output(Output::Count(0));
            }
            Cmd::Finished(Err(e)) => self.phase = Phase::Failed(e),
        }
    }
}
