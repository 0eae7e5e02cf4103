//! The History dialog: the transactions of the system the window updates, newest first,
//! Swarmdate's with an Undo… button and dnf's own beside them. Undo plans the reverse (a spinner
//! meanwhile), asks once naming what will be installed and removed and what is downloaded, then
//! runs it as an update runs (through [`Backend::apply`]), its progress shown here; a refusal
//! says why and changes nothing.

pub(super) mod details;
mod row;

use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::packages::HistoryEntry;
use swarmdate_core::plan::{Change, ChangeKind};
use swarmdate_core::text::escape_controls;
use swarmdate_usecases::history::Listed;
use swarmdate_usecases::updates::Outcome;

use crate::ui::backend::{Backend, Halted, HistoryView, Progress, StopSwitch, UndoPlan};
use crate::ui::dialogs;
use crate::ui::templates::{ActionPage, PageColumn, SpinnerPage};
use crate::ui::updates::{installed, progress_fraction, progress_line, stopped};
use row::{HistoryRow, RowOutput};

#[cfg(test)]
mod tests;

/// Keys that close the dialog, as GNOME's secondary windows close.
const CLOSE_KEYS: &str = "Escape|<Control>w";

/// Where the list is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reading the history for the first time.
    Loading,
    /// Nothing is recorded.
    Empty,
    /// The transactions are listed.
    Listed,
    /// The history could not be read; the text says why.
    Failed(String),
}

/// Where an undo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undoing {
    /// None asked.
    Idle,
    /// Working out what undoing this transaction does.
    Planning(i64),
    /// Asking the user.
    Confirming(i64),
    /// Fetching and installing.
    Running(i64),
}

/// The dialog's model.
pub struct HistoryDialog {
    backend: Arc<Backend>,
    phase: Phase,
    rows: FactoryVecDeque<HistoryRow>,
    dnf_unreadable: Option<String>,
    undoing: Undoing,
    /// The undo planned, until it runs or is cancelled.
    plan: Option<UndoPlan>,
    progress: Progress,
    /// Stops the running undo (before its install).
    stop: Option<StopSwitch>,
    stopping: bool,
    /// How the last undo ended.
    notice: Option<String>,
    /// A refresh asked while an undo was under way (done when it ends).
    stale: bool,
    /// The confirmation, the refusal and the details last shown (kept for the tests).
    confirmation: Option<adw::MessageDialog>,
    refusal: Option<adw::MessageDialog>,
    details: Option<adw::MessageDialog>,
}

/// What the dialog is told.
#[derive(Debug)]
pub enum Input {
    /// Read the history again.
    Refresh,
    /// Plan undoing this transaction, then ask.
    Undo(i64),
    /// The user confirmed the planned undo: run it.
    Confirmed,
    /// The user did not.
    Cancelled,
    /// Stop the running undo before its install.
    Stop,
    /// Show the details of the row at this place.
    Details(DynamicIndex),
}

/// What the dialog tells the window.
#[derive(Debug)]
pub enum Output {
    /// An undo ended (done, stopped or failed): what the pages show may be stale.
    Changed,
}

/// Results of the dialog's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The history was read.
    Loaded(Result<HistoryView, String>),
    /// The undo of a transaction was planned, or refused.
    Planned(i64, Result<Box<UndoPlan>, String>),
    /// The undo moved on.
    Progress(Progress),
    /// The undo ended.
    Finished(i64, Result<Outcome, Halted>),
}

/// `text` with its control characters written out, its lines kept (dnf's and the solver's
/// messages have several).
pub(super) fn lines_of(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One build an undo installs, for people: (its name, `from → to` or what happens to it).
fn change_line(c: &Change) -> (String, String) {
    let from: Vec<String> = c
        .replaces
        .iter()
        .filter(|r| r.name == c.package.name)
        .map(|r| r.evr.to_string())
        .collect();
    let mut what = match c.kind {
        ChangeKind::InstallBeside => trf(
            "{version} will be installed again, beside the others",
            &[("version", &c.package.evr)],
        ),
        _ if from.is_empty() => trf(
            "{version} will be installed again",
            &[("version", &c.package.evr)],
        ),
        _ => format!("{} → {}", from.join(", "), c.package.evr),
    };
    let others: Vec<String> = c
        .replaces
        .iter()
        .filter(|r| r.name != c.package.name)
        .map(|r| format!("{} {}", r.name, r.evr))
        .collect();
    if !others.is_empty() {
        what += &trf(", replacing {others}", &[("others", &others.join(", "))]);
    }
    (c.package.name.clone(), what)
}

/// The confirmation's heading, body (what it reverses, how many packages will be installed and
/// removed, the download) and one line per package: what will be removed first (the part that
/// can break something), then each build installed with its versions.
pub fn confirmation(
    plan: &UndoPlan,
    entry: Option<&HistoryEntry>,
) -> (String, String, Vec<(String, String)>) {
    let heading = trf("Undo transaction {id}?", &[("id", &plan.id)]);
    let mut body = Vec::new();
    if let Some(e) = entry {
        body.push(trf(
            "This reverses “{command}” of {when}.",
            &[
                ("command", &escape_controls(&e.command)),
                ("when", &row::when(e.began)),
            ],
        ));
    }
    let (n, m) = (plan.changes.len(), plan.removals.len());
    let mut counts = Vec::new();
    if n > 0 {
        counts.push(trn(
            "{n} package will be installed.",
            "{n} packages will be installed.",
            n as u64,
            &[("n", &n)],
        ));
    }
    if m > 0 {
        counts.push(trn(
            "{n} package will be removed.",
            "{n} packages will be removed.",
            m as u64,
            &[("n", &m)],
        ));
    }
    counts.push(if plan.download == 0 {
        tr("Nothing to download: the store holds every package.")
    } else {
        trf(
            "{size} to download.",
            &[("size", &glib::format_size(plan.download))],
        )
    });
    body.push(counts.join(" "));
    let lines = plan
        .removals
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                trf("{version} will be removed", &[("version", &r.evr)]),
            )
        })
        .chain(plan.changes.iter().map(change_line))
        .collect();
    (heading, body.join("\n\n"), lines)
}

impl HistoryDialog {
    fn page_name(&self) -> &'static str {
        match self.phase {
            Phase::Loading => "loading",
            Phase::Empty => "empty",
            Phase::Listed => "list",
            Phase::Failed(_) => "failed",
        }
    }

    fn failure(&self) -> String {
        match &self.phase {
            Phase::Failed(e) => e.clone(),
            _ => String::new(),
        }
    }

    /// Whether an undo is being planned, asked or run.
    pub fn is_busy(&self) -> bool {
        self.undoing != Undoing::Idle
    }

    /// Whether the dialog shows its first data (or why there is none).
    pub fn is_settled(&self) -> bool {
        self.phase != Phase::Loading
    }

    fn planning(&self) -> String {
        match self.undoing {
            Undoing::Planning(id) => trf(
                "Working out what undoing transaction {id} needs…",
                &[("id", &id)],
            ),
            _ => String::new(),
        }
    }

    fn running(&self) -> Option<i64> {
        match self.undoing {
            Undoing::Running(id) => Some(id),
            _ => None,
        }
    }

    /// What is said above the list: how the last undo ended, and dnf's history if unreadable.
    fn notices(&self) -> String {
        let dnf = self.dnf_unreadable.as_ref().map(|why| {
            trf(
                "dnf's own history could not be read ({why}); only Swarmdate's transactions are listed.",
                &[("why", why)],
            )
        });
        [self.notice.clone(), dnf]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The listed transaction `id` of Swarmdate's history.
    fn entry(&self, id: i64) -> Option<&HistoryEntry> {
        self.rows.iter().find_map(|r| match &r.item.listed {
            Listed::Swarmdate(e) if e.id == id => Some(e),
            _ => None,
        })
    }

    /// Tells the rows whether an undo is under way.
    fn sync_rows(&self) {
        let busy = self.is_busy();
        for (i, row) in self.rows.iter().enumerate() {
            if row.busy != busy {
                self.rows.send(i, busy);
            }
        }
    }

    /// Brings the rows up to date with the undo, and reads the history a refresh asked for
    /// while one was under way.
    fn settle(&mut self, sender: &ComponentSender<Self>) {
        self.sync_rows();
        if self.stale && !self.is_busy() {
            sender.input(Input::Refresh);
        }
    }

    /// The undo confirmation last asked, while it is asked (tests).
    #[cfg(test)]
    pub fn confirmation(&self) -> Option<&adw::MessageDialog> {
        self.confirmation.as_ref()
    }

    /// The rows (tests).
    #[cfg(test)]
    pub fn items(&self) -> Vec<crate::ui::backend::HistoryItem> {
        self.rows.iter().map(|r| r.item.clone()).collect()
    }
}

#[relm4::component(pub)]
impl Component for HistoryDialog {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = Output;
    type CommandOutput = Cmd;

    view! {
        adw::Window {
            set_title: Some(&tr("History")),
            set_default_size: (640, 600),
            set_modal: true,
            // Kept when closed: an undo under way goes on, and says how it ended.
            set_hide_on_close: true,

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::HeaderBar {},
                gtk::Stack {
                    set_vexpand: true,
                    set_transition_type: gtk::StackTransitionType::Crossfade,

                    #[template]
                    add_named[Some("loading")] = &SpinnerPage {
                        set_title: &tr("Reading the history…"),
                    },
                    #[name = "empty_page"]
                    add_named[Some("empty")] = &adw::StatusPage {
                        set_icon_name: Some("document-open-recent-symbolic"),
                        set_title: &tr("No transactions yet"),
                        set_description: Some(&tr("Updates, downgrades and undos made here are listed, with what they changed, beside the transactions made with dnf.")),
                    },
                    #[template]
                    add_named[Some("failed")] = &ActionPage {
                        set_icon_name: Some("dialog-error-symbolic"),
                        set_title: &tr("The history cannot be read"),
                        #[watch]
                        set_description: Some(glib::markup_escape_text(&model.failure()).as_str()),
                        #[template_child]
                        button {
                            set_label: &tr("Try Again"),
                            connect_clicked => Input::Refresh,
                        },
                    },
                    add_named[Some("list")] = &gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,
                        adw::Clamp {
                            set_maximum_size: 720,
                            #[watch]
                            set_visible: model.is_busy() || !model.notices().is_empty(),
                            gtk::Box {
                                set_orientation: gtk::Orientation::Vertical,
                                set_spacing: 6,
                                set_margin_top: 18,
                                set_margin_start: 12,
                                set_margin_end: 12,
                                // Planning: a spinner and what for.
                                gtk::Box {
                                    set_spacing: 12,
                                    #[watch]
                                    set_visible: matches!(model.undoing, Undoing::Planning(_)),
                                    gtk::Spinner {
                                        #[watch]
                                        set_spinning: matches!(model.undoing, Undoing::Planning(_)),
                                    },
                                    #[name = "planning"]
                                    gtk::Label {
                                        set_hexpand: true,
                                        set_xalign: 0.0,
                                        set_wrap: true,
                                        #[watch]
                                        set_label: &model.planning(),
                                    },
                                },
                                // Running: the same progress as an update's.
                                gtk::Box {
                                    set_orientation: gtk::Orientation::Vertical,
                                    set_spacing: 6,
                                    #[watch]
                                    set_visible: model.running().is_some(),
                                    gtk::Label {
                                        set_xalign: 0.0,
                                        set_wrap: true,
                                        add_css_class: "heading",
                                        #[watch]
                                        set_label: &model.running().map_or_else(String::new, |id| {
                                            trf("Undoing transaction {id}…", &[("id", &id)])
                                        }),
                                    },
                                    #[name = "bar"]
                                    gtk::ProgressBar {
                                        #[watch]
                                        set_fraction: progress_fraction(&model.progress),
                                    },
                                    gtk::Box {
                                        set_spacing: 12,
                                        gtk::Label {
                                            set_hexpand: true,
                                            set_xalign: 0.0,
                                            set_wrap: true,
                                            add_css_class: "transfer-origin",
                                            #[watch]
                                            set_label: &progress_line(&model.progress, model.stopping),
                                        },
                                        gtk::Button {
                                            set_label: &tr("Stop"),
                                            set_valign: gtk::Align::Center,
                                            set_tooltip_text: Some(&tr("Stop before installing; what has arrived stays in the store")),
                                            #[watch]
                                            set_sensitive: !model.progress.installing && !model.stopping,
                                            connect_clicked => Input::Stop,
                                        },
                                    },
                                },
                                #[name = "notice"]
                                gtk::Label {
                                    set_xalign: 0.0,
                                    set_wrap: true,
                                    set_wrap_mode: gtk::pango::WrapMode::WordChar,
                                    #[watch]
                                    set_visible: !model.notices().is_empty(),
                                    #[watch]
                                    set_label: &model.notices(),
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
                },
            },
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
                RowOutput::Undo(id) => Input::Undo(id),
                RowOutput::Details(i) => Input::Details(i),
            });
        let model = HistoryDialog {
            backend,
            phase: Phase::Loading,
            rows,
            dnf_unreadable: None,
            undoing: Undoing::Idle,
            plan: None,
            progress: Progress::default(),
            stop: None,
            stopping: false,
            notice: None,
            stale: false,
            confirmation: None,
            refusal: None,
            details: None,
        };
        let rows_box = model.rows.widget();
        let widgets = view_output!();
        let keys = gtk::ShortcutController::new();
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string(CLOSE_KEYS),
            Some(gtk::NamedAction::new("window.close")),
        ));
        root.add_controller(keys);
        sender.input(Input::Refresh);
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            // The rows stay as they are while an undo is under way; it reads them again after.
            Input::Refresh if self.is_busy() => self.stale = true,
            Input::Refresh => {
                self.stale = false;
                let load = self.backend.load_history();
                sender.oneshot_command(async move { Cmd::Loaded(load.await) });
            }
            Input::Undo(_) if self.is_busy() => {}
            Input::Undo(id) => {
                self.undoing = Undoing::Planning(id);
                self.notice = None;
                (self.confirmation, self.refusal) = (None, None);
                let plan = self.backend.plan_undo(id);
                sender.oneshot_command(async move { Cmd::Planned(id, plan.await.map(Box::new)) });
            }
            Input::Cancelled => {
                if let Undoing::Confirming(_) = self.undoing {
                    self.undoing = Undoing::Idle;
                    self.plan = None;
                    self.confirmation = None;
                }
            }
            Input::Confirmed => {
                let Undoing::Confirming(id) = self.undoing else {
                    return;
                };
                let Some(tx) = self.plan.take().and_then(|p| p.transaction) else {
                    return;
                };
                self.undoing = Undoing::Running(id);
                self.progress = Progress {
                    total: tx.plan().download_bytes,
                    held: tx.plan().held_bytes,
                    ..Progress::default()
                };
                self.stopping = false;
                let stop = StopSwitch::default();
                self.stop = Some(stop.clone());
                let progress = sender.command_sender().clone();
                let apply = self
                    .backend
                    .apply(tx, move |p| progress.emit(Cmd::Progress(p)), stop);
                sender.oneshot_command(async move { Cmd::Finished(id, apply.await) });
            }
            Input::Stop => {
                if let (Some(stop), Undoing::Running(_)) = (&self.stop, self.undoing)
                    && !self.progress.installing
                {
                    stop.stop();
                    self.stopping = true;
                }
            }
            Input::Details(i) => {
                if let Some(row) = self.rows.get(i.current_index()) {
                    self.details = Some(details::show(root, &row.item));
                }
            }
        }
        self.settle(&sender);
    }

    fn update_cmd(&mut self, cmd: Cmd, sender: ComponentSender<Self>, root: &Self::Root) {
        match cmd {
            Cmd::Loaded(Ok(view)) => {
                let mut rows = self.rows.guard();
                rows.clear();
                for item in view.items {
                    rows.push_back(item);
                }
                drop(rows);
                self.dnf_unreadable = view.dnf_unreadable;
                // Nothing listed because dnf's history could not be read is said, not "empty".
                self.phase = if self.rows.is_empty() && self.dnf_unreadable.is_none() {
                    Phase::Empty
                } else {
                    Phase::Listed
                };
            }
            Cmd::Loaded(Err(e)) => self.phase = Phase::Failed(e),
            // Only the undo still asked for (nothing else starts while it is planned).
            Cmd::Planned(id, _) if self.undoing != Undoing::Planning(id) => {}
            Cmd::Planned(id, Ok(plan)) => {
                let (heading, body, lines) = confirmation(&plan, self.entry(id));
                self.plan = Some(*plan);
                self.undoing = Undoing::Confirming(id);
                let (yes, no) = (sender.clone(), sender.clone());
                let dialog = dialogs::confirm(
                    root,
                    &heading,
                    &body,
                    &tr("Undo"),
                    adw::ResponseAppearance::Destructive,
                    move || yes.input(Input::Confirmed),
                );
                // The packages in a list that scrolls: an undo of a large update names hundreds.
                dialog.set_extra_child(Some(&details::package_list(&lines)));
                // Enter answers at once, as in the other confirmations: the list's rows would
                // otherwise take the first focus.
                if let Some(button) = dialog.default_widget() {
                    button.grab_focus();
                }
                dialog.connect_response(None, move |_, response| {
                    if response != "confirm" {
                        no.input(Input::Cancelled);
                    }
                });
                self.confirmation = Some(dialog);
            }
            Cmd::Planned(id, Err(why)) => {
                self.undoing = Undoing::Idle;
                self.refusal = Some(dialogs::tell(
                    root,
                    &trf("Transaction {id} cannot be undone", &[("id", &id)]),
                    &lines_of(&why),
                ));
            }
            Cmd::Progress(p) => {
                if self.running().is_some() {
                    self.progress = p;
                }
            }
            Cmd::Finished(id, result) => {
                self.undoing = Undoing::Idle;
                self.stop = None;
                self.stopping = false;
                self.confirmation = None;
                self.notice = Some(match result {
                    Ok(o) => {
                        let mut said = format!(
                            "{} {}",
                            trf("Transaction {id} is undone.", &[("id", &id)]),
                            installed(&o)
                        );
                        if o.installed.removed > 0 {
                            said += " ";
                            said += &trn(
                                "{n} package removed.",
                                "{n} packages removed.",
                                o.installed.removed as u64,
                                &[("n", &o.installed.removed)],
                            );
                        }
                        said
                    }
                    Err(Halted::Stopped(s)) => stopped(s.kept, s.planned),
                    Err(Halted::Failed(why)) => {
                        let heading = trf("Transaction {id} was not undone", &[("id", &id)]);
                        self.refusal = Some(dialogs::tell(root, &heading, &lines_of(&why)));
                        format!("{heading}: {why}")
                    }
                });
                // The history has the undo (or its failure) now; the pages read the system again.
                self.stale = true;
                let _ = sender.output(Output::Changed);
            }
        }
        self.settle(&sender);
    }
}
