//! The Updates page: the updates the feed offers for the installed packages, an Update button,
//! then the progress (where the bytes come from) and the result.

pub(super) mod details;
mod row;

use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::text::escape_controls;
use swarmdate_usecases::updates::{Outcome, Transaction};

use crate::ui::backend::{Available, Backend, Halted, Progress, StopSwitch, UpdateItem};
use crate::ui::templates::{ActionPage, PageColumn, SpinnerPage};
use crate::ui::transfer::TransferView;
use row::{RowState, UpdateRow};

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
    /// Fetched, checked and armed for the next restart.
    Prepared,
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
    /// Stops the running update (before its install).
    stop: Option<StopSwitch>,
    /// The user asked the running update to stop.
    stopping: bool,
    /// What the last stopped update left (shown above the list until the next update).
    notice: Option<String>,
    /// The system's own repositories that could not be read, said above the list.
    left_out: Option<String>,
    /// The page's action in the window's header bar: Update, or Stop while one runs.
    action: gtk::Button,
    /// Beside it: Restart & Update (the packages installed at the next boot).
    restart_action: gtk::Button,
    /// The main action is Restart & Update (the user's preference).
    at_restart: bool,
    /// What is armed for the next restart.
    prepared: Option<swarmdate_core::packages::Prepared>,
    /// How the last restart's update went (said above the list, once).
    restarted: Option<String>,
    /// The window is narrow: the action shows an icon instead of its label.
    narrow: bool,
    /// The open transfer view.
    transfer: Option<Controller<TransferView>>,
    /// The details dialog last opened (kept for the tests).
    details: Option<adw::MessageDialog>,
}

/// What the page is told.
#[derive(Debug)]
pub enum Input {
    /// Check the feed again.
    Refresh,
    /// Fetch and install the listed updates.
    Update,
    /// Fetch and check the listed updates now, install them at the next restart.
    RestartAndUpdate,
    /// Restart into the prepared update.
    RestartNow,
    /// Disarm the prepared update (its packages stay in the store).
    CancelPrepared,
    /// Stop the running update before its install; what arrived stays in the store.
    Stop,
    /// Show the fetch's transfer (piece map, peers, speeds).
    ShowTransfer,
    /// The window became narrow (true) or wide again: the header action's room.
    Narrow(bool),
    /// Show the details of the update in this row.
    Details(DynamicIndex),
}

/// What the page tells the window.
#[derive(Debug)]
pub enum Output {
    /// How many updates are on offer (for the page's badge).
    Count(usize),
    /// A transaction ended (installed, stopped or failed): what other pages show may be stale.
    Changed,
}

/// Results of the page's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The check ended (boxed: a plan is large beside the other messages).
    Checked(Box<Result<Available, String>>),
    /// The update moved on.
    Progress(Progress),
    /// The update ended.
    Finished(Result<Outcome, Halted>),
    /// The update was prepared for the next restart (or why not).
    Prepared(Result<swarmdate_core::packages::Prepared, Halted>),
    /// The restart was asked for (or why not).
    Restarted(Result<(), String>),
    /// The prepared update was disarmed (or why not).
    Cancelled(Result<bool, String>),
}

impl UpdatesPage {
    /// What is said above the list: how the last update ended, and repositories left out.
    fn notices(&self) -> String {
        [
            self.restarted.as_deref(),
            self.notice.as_deref(),
            self.left_out.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// The update listed first (the most urgent), if any.
    #[cfg(test)]
    pub fn first_item(&self) -> Option<UpdateItem> {
        self.rows.get(0).map(|r| r.item.clone())
    }
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
        progress_line(&self.progress, self.stopping)
    }

    fn fraction(&self) -> f64 {
        progress_fraction(&self.progress)
    }

    /// The action in the window's header bar: Update, or Stop while an update fetches.
    pub fn header_action(&self) -> &gtk::Button {
        &self.action
    }

    /// The second action in the window's header bar: Restart & Update.
    pub fn header_restart_action(&self) -> &gtk::Button {
        &self.restart_action
    }

    /// Sets the header actions for the page's phase: Update and Restart & Update side by side,
    /// the preferred one labelled and suggested, the other an icon (both labels, in German
    /// above all, would crowd the view switcher out of the header); Stop while an update
    /// fetches.
    fn sync_action(&self) {
        let running = self.phase == Phase::Running;
        let (label, icon) = if running {
            (tr("Stop"), "process-stop-symbolic")
        } else {
            (tr("Update"), "software-update-available-symbolic")
        };
        let show = |button: &gtk::Button, label: &str, icon: &str, labelled: bool| {
            // Narrow, a word as long as "Aktualisieren" would widen the header past 360 px.
            if labelled && !self.narrow {
                button.set_label(label);
            } else {
                button.set_icon_name(icon);
            }
            crate::ui::a11y::set_label(button, label);
        };
        show(&self.action, &label, icon, running || !self.at_restart);
        show(
            &self.restart_action,
            &tr("Restart & Update"),
            "system-reboot-symbolic",
            self.at_restart,
        );
        for class in ["suggested-action", "destructive-action"] {
            self.action.remove_css_class(class);
            self.restart_action.remove_css_class(class);
        }
        if running {
            self.action.add_css_class("destructive-action");
        } else if self.at_restart {
            self.restart_action.add_css_class("suggested-action");
        } else {
            self.action.add_css_class("suggested-action");
        }
        self.action.set_tooltip_text(Some(&if running {
            tr("Stop before installing; what has arrived stays in the store")
        } else {
            tr("Download and install every update listed")
        }));
        self.restart_action.set_tooltip_text(Some(&tr(
            "Download and check every update listed now; install them when the computer restarts, before anything else runs",
        )));
        self.action
            .set_visible(running || self.phase == Phase::Available);
        self.restart_action
            .set_visible(self.phase == Phase::Available);
        self.action.set_sensitive(if running {
            !self.progress.installing && !self.stopping
        } else {
            self.transaction.is_some()
        });
        self.restart_action
            .set_sensitive(self.transaction.is_some());
    }

    /// What the up-to-date page says: how the last restart's update went, if that is news.
    fn up_to_date_text(&self) -> String {
        match &self.restarted {
            Some(r) => format!(
                "{r}\n{}",
                tr("Every installed package is at its newest version.")
            ),
            None => tr("Every installed package is at its newest version."),
        }
    }

    /// What the prepared-update page says.
    fn prepared_text(&self) -> String {
        let n = self.prepared.as_ref().map_or(0, |p| p.packages.len());
        trn(
            "{n} update is downloaded and checked. It is installed when the computer restarts, before anything else runs.",
            "{n} updates are downloaded and checked. They are installed when the computer restarts, before anything else runs.",
            n as u64,
            &[("n", &n)],
        )
    }

    /// Tells every row where its package is.
    fn sync_rows(&self) {
        let state = |item: &UpdateItem| {
            if self.phase != Phase::Running {
                RowState::Listed
            } else if self.progress.installing {
                RowState::Installing
            } else if item.download == 0 || self.progress.arrived.contains(&item.package) {
                RowState::InStore
            } else {
                RowState::Waiting
            }
        };
        for (i, row) in self.rows.iter().enumerate() {
            let s = state(&row.item);
            if s != row.state {
                self.rows.send(i, s);
            }
        }
    }

    /// Where the page is.
    pub fn phase(&self) -> &Phase {
        &self.phase
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
            Phase::Prepared => "prepared",
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

/// The line under a running transaction's progress bar (this page's, and an undo's in the
/// History dialog): where the bytes come from, or what it waits for.
pub fn progress_line(p: &Progress, stopping: bool) -> String {
    if p.waiting_for_lock {
        return tr("Another package manager is working; waiting for it to finish…");
    }
    if p.installing {
        return tr("Checking signatures and installing…");
    }
    if stopping {
        return tr("Stopping; what has arrived stays in the store…");
    }
    if let Some(e) = &p.mirror_error {
        return trf(
            "A mirror failed ({error}); trying again while peers may still deliver.",
            &[("error", &escape_controls(e))],
        );
    }
    let origins = trf(
        "{peers} from peers · {mirrors} from mirrors · {held} already held · {speed}/s",
        &[
            ("peers", &glib::format_size(p.from_peers)),
            ("mirrors", &glib::format_size(p.from_mirrors)),
            ("held", &glib::format_size(p.held)),
            ("speed", &glib::format_size(p.speed)),
        ],
    );
    // What the jobs told (a tracker's refusal, mirrors used) stays under it while they run.
    std::iter::once(origins)
        .chain(p.notes.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// How far a running transaction's fetch is, 0 to 1 (full once it installs).
pub fn progress_fraction(p: &Progress) -> f64 {
    if p.installing || p.total == 0 {
        return 1.0;
    }
    ((p.from_peers + p.from_mirrors) as f64 / p.total as f64).min(1.0)
}

/// What a transaction did, in one sentence: how many packages, where their bytes came from.
pub fn installed(o: &Outcome) -> String {
    trn(
        "{n} package installed: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        "{n} packages installed: {peers} from peers, {mirrors} from mirrors, {held} already held.",
        o.installed.packages as u64,
        &[
            ("n", &o.installed.packages),
            ("peers", &glib::format_size(o.fetched.from_peers)),
            ("mirrors", &glib::format_size(o.fetched.from_mirrors)),
            ("held", &glib::format_size(o.plan.held_bytes)),
        ],
    )
}

/// How the update prepared for the last restart went, in one sentence.
pub fn restarted(r: &swarmdate_core::packages::OfflineResult) -> String {
    match &r.outcome {
        swarmdate_core::packages::OfflineOutcome::Installed { packages, .. } => trn(
            "At the last restart {n} update was installed.",
            "At the last restart {n} updates were installed.",
            *packages as u64,
            &[("n", packages)],
        ),
        swarmdate_core::packages::OfflineOutcome::Failed { message } => trf(
            "The updates prepared for the last restart were not installed: {why}",
            &[("why", &escape_controls(message))],
        ),
    }
}

/// What a stopped update left, in one sentence.
pub fn stopped(kept: usize, planned: usize) -> String {
    trn(
        "Stopped before installing: nothing was installed. {kept} of the {n} package is in the store and stays there for the next update.",
        "Stopped before installing: nothing was installed. {kept} of the {n} packages are in the store and stay there for the next update.",
        planned as u64,
        &[("kept", &kept), ("n", &planned)],
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
                #[watch]
                set_description: Some(&model.up_to_date_text()),
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
            add_named[Some("prepared")] = &adw::StatusPage {
                set_icon_name: Some("system-reboot-symbolic"),
                set_title: &tr("Ready to install at restart"),
                #[watch]
                set_description: Some(&model.prepared_text()),
                #[wrap(Some)]
                set_child = &gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_halign: gtk::Align::Center,
                    set_spacing: 12,
                    #[name = "restart_now"]
                    gtk::Button {
                        set_label: &tr("Restart Now"),
                        add_css_class: "pill",
                        add_css_class: "suggested-action",
                        connect_clicked => Input::RestartNow,
                    },
                    #[name = "cancel_prepared"]
                    gtk::Button {
                        set_label: &tr("Cancel the Update"),
                        set_tooltip_text: Some(&tr("Nothing is installed at the restart; the downloaded updates stay for later")),
                        add_css_class: "pill",
                        connect_clicked => Input::CancelPrepared,
                    },
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
            // The figures and the progress stay in view; only the list scrolls.
            add_named[Some("list")] = &gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::Clamp {
                    set_maximum_size: 720,
                    gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,
                        set_spacing: 6,
                        set_margin_top: 18,
                        set_margin_start: 12,
                        set_margin_end: 12,
                        #[name = "notice"]
                        gtk::Label {
                            set_xalign: 0.0,
                            set_wrap: true,
                            #[watch]
                            set_visible: !model.notices().is_empty(),
                            #[watch]
                            set_label: &model.notices(),
                        },
                        #[name = "totals"]
                        gtk::Label {
                            set_xalign: 0.0,
                            set_wrap: true,
                            add_css_class: "dim-label",
                            #[watch]
                            set_visible: model.phase != Phase::Running,
                            #[watch]
                            set_label: &model.totals(),
                        },
                        gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 6,
                            #[watch]
                            set_visible: model.phase == Phase::Running,
                            #[name = "bar"]
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
                                    set_valign: gtk::Align::Center,
                                    set_tooltip_text: Some(&tr("Pieces, peers and speeds of the download")),
                                    #[watch]
                                    set_sensitive: model.progress.job.is_some() && !model.progress.installing,
                                    connect_clicked => Input::ShowTransfer,
                                },
                            },
                        },
                    },
                },
                #[template]
                PageColumn {
                    set_vexpand: true,
                    #[template_child]
                    column {
                        set_margin_top: 12,
                        #[local_ref]
                        rows_box -> gtk::ListBox {
                            add_css_class: "boxed-list",
                            set_selection_mode: gtk::SelectionMode::None,
                        },
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
            .forward(sender.input_sender(), Input::Details);
        let model = UpdatesPage {
            backend: backend.clone(),
            phase: Phase::Checking,
            rows,
            download: 0,
            held: 0,
            transaction: None,
            progress: Progress::default(),
            stop: None,
            stopping: false,
            notice: None,
            left_out: None,
            action: gtk::Button::builder()
                .valign(gtk::Align::Center)
                .visible(false)
                .build(),
            restart_action: gtk::Button::builder()
                .valign(gtk::Align::Center)
                .visible(false)
                .build(),
            at_restart: backend.client().settings.install_at_restart,
            prepared: None,
            restarted: None,
            narrow: false,
            transfer: None,
            details: None,
        };
        let rows_box = model.rows.widget();
        let widgets = view_output!();
        let s = sender.clone();
        model
            .action
            .connect_clicked(move |_| s.input(Input::Update));
        let s = sender.clone();
        model
            .restart_action
            .connect_clicked(move |_| s.input(Input::RestartAndUpdate));
        model.sync_action();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            Input::ShowTransfer => {
                let Some(job) = self.progress.job else {
                    return;
                };
                let parent = root.root().and_downcast::<gtk::Window>();
                self.transfer = Some(TransferView::show(self.backend.clone(), job, parent));
            }
            Input::Refresh => {
                if self.phase == Phase::Running {
                    return;
                }
                self.phase = Phase::Checking;
                // The preference may have changed since.
                self.at_restart = self.backend.client().settings.install_at_restart;
                sender.oneshot_command({
                    let check = self.backend.check_updates();
                    async move { Cmd::Checked(Box::new(check.await)) }
                });
            }
            // The header button says Stop while an update runs.
            Input::Update if self.phase == Phase::Running => sender.input(Input::Stop),
            Input::Update | Input::RestartAndUpdate => {
                let at_restart = matches!(msg, Input::RestartAndUpdate);
                let Some(tx) = self.transaction.take() else {
                    return;
                };
                self.phase = Phase::Running;
                self.notice = None;
                self.stopping = false;
                self.progress = Progress {
                    total: self.download,
                    held: self.held,
                    ..Progress::default()
                };
                let stop = StopSwitch::default();
                self.stop = Some(stop.clone());
                let progress = sender.command_sender().clone();
                let report = move |p| progress.emit(Cmd::Progress(p));
                if at_restart {
                    let prepare = self.backend.prepare_offline(tx, report, stop);
                    sender.oneshot_command(async move { Cmd::Prepared(prepare.await) });
                } else {
                    let apply = self.backend.apply(tx, report, stop);
                    sender.oneshot_command(async move { Cmd::Finished(apply.await) });
                }
            }
            Input::RestartNow => {
                let restart = self.backend.restart();
                sender.oneshot_command(async move { Cmd::Restarted(restart.await) });
            }
            Input::CancelPrepared => {
                let cancel = self.backend.cancel_offline();
                sender.oneshot_command(async move { Cmd::Cancelled(cancel.await) });
            }
            Input::Narrow(narrow) => self.narrow = narrow,
            Input::Details(i) => {
                if let Some(row) = self.rows.get(i.current_index()) {
                    self.details = Some(details::show(root, &row.item));
                }
            }
            Input::Stop => {
                if let Some(stop) = &self.stop
                    && self.phase == Phase::Running
                    && !self.progress.installing
                {
                    stop.stop();
                    self.stopping = true;
                }
            }
        }
        self.sync_rows();
        self.sync_action();
    }

    fn update_cmd(&mut self, cmd: Cmd, sender: ComponentSender<Self>, _: &Self::Root) {
        match cmd {
            Cmd::Checked(checked) => match *checked {
                Ok(available) => {
                    let mut rows = self.rows.guard();
                    rows.clear();
                    for item in available.items {
                        rows.push_back(item);
                    }
                    drop(rows);
                    self.download = available.download;
                    self.held = available.held;
                    self.transaction = available.transaction;
                    // A repository of the system's own that could not be read is said above the list.
                    let left_out: Vec<String> = available
                        .left_out
                        .iter()
                        .map(|l| {
                            trf(
                                "The repository {id} is left out: {reason}",
                                &[("id", &l.id), ("reason", &l.reason)],
                            )
                        })
                        .collect();
                    self.left_out = (!left_out.is_empty()).then(|| left_out.join("\n"));
                    // Told once: the next check no longer has it.
                    self.restarted = available.restarted.as_ref().map(restarted);
                    self.prepared = available.prepared;
                    self.phase = if self.prepared.is_some() {
                        Phase::Prepared
                    } else if self.rows.is_empty() {
                        Phase::UpToDate
                    } else {
                        Phase::Available
                    };
                    let _ = sender.output(Output::Count(self.rows.len()));
                }
                Err(e) => self.phase = Phase::Failed(e),
            },
            Cmd::Progress(p) => {
                if self.phase == Phase::Running {
                    self.progress = p;
                }
            }
            Cmd::Finished(result) => {
                self.stop = None;
                self.stopping = false;
                match result {
                    Ok(o) => {
                        self.rows.guard().clear();
                        (self.download, self.held) = (0, 0);
                        self.phase = Phase::Done(installed(&o));
                        let _ = sender.output(Output::Count(0));
                    }
                    Err(Halted::Stopped(s)) => {
                        self.notice = Some(stopped(s.kept, s.planned));
                        // The list again, with what arrived now counted as held.
                        self.phase = Phase::Available;
                        sender.input(Input::Refresh);
                    }
                    Err(Halted::Failed(e)) => self.phase = Phase::Failed(e),
                }
                let _ = sender.output(Output::Changed);
            }
            Cmd::Prepared(result) => {
                self.stop = None;
                self.stopping = false;
                match result {
                    Ok(p) => {
                        self.prepared = Some(p);
                        self.phase = Phase::Prepared;
                    }
                    Err(Halted::Stopped(s)) => {
                        self.notice = Some(stopped(s.kept, s.planned));
                        self.phase = Phase::Available;
                        sender.input(Input::Refresh);
                    }
                    Err(Halted::Failed(e)) => self.phase = Phase::Failed(e),
                }
            }
            // A restart of the system does not come back here; the demo's root does, as from
            // its next start: read it again.
            Cmd::Restarted(Ok(())) | Cmd::Cancelled(Ok(_)) => {
                self.prepared = None;
                sender.input(Input::Refresh);
                let _ = sender.output(Output::Changed);
            }
            Cmd::Restarted(Err(e)) | Cmd::Cancelled(Err(e)) => self.phase = Phase::Failed(e),
        }
        self.sync_rows();
        self.sync_action();
    }
}
