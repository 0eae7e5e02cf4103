//! Package downgrade, on the Versions page: the installed packages that have an older build in
//! the feed's repositories, in a list a search filters. Activating one shows the builds it can go
//! to; for the build chosen, the planned transaction says what comes down with it. One
//! confirmation, then that transaction runs.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::packages::Nevra;
use swarmdate_core::plan::{Change, ChangeKind};
use swarmdate_usecases::updates::{Downgradable, Fetched, Outcome};

use crate::ui::backend::{Backend, DowngradePlan, Progress};
use crate::ui::dialogs;

/// Where the panel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reading which packages have older builds.
    Loading,
    /// The packages are listed.
    Ready,
    /// Downgrading; the text says to what.
    Running(String),
    /// The list could not be read; the text says why.
    Failed(String),
}

/// The plan of the build chosen.
#[derive(Debug)]
pub enum Planning {
    /// No build chosen.
    Nothing,
    /// Being planned.
    Busy(Nevra),
    /// Planned: what it changes, and the transaction.
    Done(Box<DowngradePlan>),
    /// It cannot be done; the text says why.
    Failed(Nevra, String),
}

/// What the list's filter reads: the rows' package names and the search.
#[derive(Debug, Default)]
struct Filter {
    names: Vec<String>,
    query: String,
}

impl Filter {
    fn shows(&self, i: usize) -> bool {
        self.names
            .get(i)
            .is_some_and(|n| n.to_lowercase().contains(&self.query))
    }
}

/// The panel's model.
pub struct DowngradePanel {
    backend: Arc<Backend>,
    phase: Phase,
    packages: Vec<Downgradable>,
    filter: Rc<RefCell<Filter>>,
    /// The package activated, by its place in `packages`.
    selected: Option<usize>,
    /// The build chosen, by its place in the package's older builds.
    chosen: usize,
    planning: Planning,
    progress: Progress,
    /// How the last downgrade ended.
    last: Option<String>,
    /// What the last downgrade fetched.
    last_fetched: Option<Fetched>,
    /// The confirmation last asked, and how many were asked.
    dialog: Option<adw::MessageDialog>,
    asked: usize,
    /// The list's rows, or the version choice, are to be made again.
    rows_stale: bool,
    builds_stale: bool,
    /// Set while the version choice is set from the model (its signal is not the user's).
    quiet: Rc<std::cell::Cell<bool>>,
}

/// What the panel is told.
#[derive(Debug)]
pub enum Input {
    /// Read the packages again.
    Reload,
    /// Show only the packages whose name contains this.
    Search(String),
    /// Show the builds of the package at this place in the list.
    Select(usize),
    /// Activate the first package the search shows.
    SelectFirst,
    /// Choose the build at this place in the selected package's builds, and plan it.
    Choose(usize),
    /// Ask before running the planned downgrade.
    Confirm,
    /// Run it (confirmed).
    Downgrade,
}

/// What the panel tells the page.
#[derive(Debug)]
pub enum Output {
    /// A downgrade ended (done or failed): what is installed may have changed.
    Changed,
}

/// Results of the panel's background work.
#[derive(Debug)]
pub enum Cmd {
    /// The packages with older builds, or why there are none.
    Listed(Result<Vec<Downgradable>, String>),
    /// The downgrade to a build was planned.
    Planned(Nevra, Result<Box<DowngradePlan>, String>),
    /// The downgrade moved on.
    Progress(Progress),
    /// The downgrade ended.
    Finished(Result<Outcome, String>),
}

/// One change of a plan, for people: `name from → to`.
fn change_line(c: &Change) -> String {
    let from = c.replaces.iter().find(|r| r.name == c.package.name);
    match (c.kind, from) {
        (ChangeKind::Install | ChangeKind::InstallBeside, _) | (_, None) => {
            format!("{} {}", c.package.name, c.package.evr)
        }
        (_, Some(f)) => format!("{} {} → {}", c.package.name, f.evr, c.package.evr),
    }
}

impl DowngradePanel {
    /// The line under the list.
    pub fn status(&self) -> String {
        match &self.phase {
            // After a downgrade its result stays while the list is read again.
            Phase::Loading => self
                .last
                .clone()
                .unwrap_or_else(|| tr("Looking for packages with older builds…")),
            Phase::Failed(e) => e.clone(),
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
            Phase::Ready if self.packages.is_empty() => self.last.clone().unwrap_or_else(|| {
                tr("No installed package has an older build in the feed's repositories.")
            }),
            Phase::Ready if self.shown().is_empty() => trf(
                "No package with older builds matches “{query}”.",
                &[("query", &self.filter.borrow().query)],
            ),
            Phase::Ready => self.last.clone().unwrap_or_default(),
        }
    }

    /// What the chosen build's transaction changes besides the package, and downloads.
    pub fn changes(&self) -> String {
        match &self.planning {
            Planning::Nothing => String::new(),
            Planning::Busy(b) => trf("Working out what {build} needs…", &[("build", b)]),
            Planning::Failed(_, e) => e.clone(),
            Planning::Done(p) => {
                let download = trf(
                    "{download} to download.",
                    &[("download", &glib::format_size(p.download))],
                );
                if p.others.is_empty() {
                    return format!("{} {download}", tr("Nothing else changes."));
                }
                let others: Vec<String> = p.others.iter().map(change_line).collect();
                let with = trn(
                    "{n} other package changes with it: {others}.",
                    "{n} other packages change with it: {others}.",
                    others.len() as u64,
                    &[("n", &others.len()), ("others", &others.join(", "))],
                );
                format!("{with} {download}")
            }
        }
    }

    /// The packages listed.
    #[cfg(test)]
    pub fn packages(&self) -> &[Downgradable] {
        &self.packages
    }

    /// The places in the list of the packages the search shows.
    pub fn shown(&self) -> Vec<usize> {
        let f = self.filter.borrow();
        (0..self.packages.len()).filter(|&i| f.shows(i)).collect()
    }

    /// Where the panel is.
    #[cfg(test)]
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The chosen build's plan.
    #[cfg(test)]
    pub fn planning(&self) -> &Planning {
        &self.planning
    }

    /// What the last downgrade fetched (this transaction's bytes only).
    #[cfg(test)]
    pub fn last_fetched(&self) -> Option<Fetched> {
        self.last_fetched
    }

    /// The confirmation last asked, and how many were asked.
    #[cfg(test)]
    pub fn confirmations(&self) -> (Option<&adw::MessageDialog>, usize) {
        (self.dialog.as_ref(), self.asked)
    }

    fn busy(&self) -> bool {
        matches!(self.phase, Phase::Loading | Phase::Running(_))
    }

    fn selected_package(&self) -> Option<&Downgradable> {
        self.selected.and_then(|i| self.packages.get(i))
    }

    fn can_downgrade(&self) -> bool {
        !self.busy() && matches!(&self.planning, Planning::Done(p) if p.transaction.is_some())
    }

    /// Plans the downgrade to build `b` of the selected package.
    fn plan(&mut self, b: usize, sender: &ComponentSender<Self>) {
        let Some(build) = self
            .selected_package()
            .and_then(|p| p.older.get(b))
            .map(|b| b.nevra.clone())
        else {
            return;
        };
        self.chosen = b;
        self.planning = Planning::Busy(build.clone());
        let plan = self.backend.plan_downgrade(build.clone());
        sender.oneshot_command(async move { Cmd::Planned(build, plan.await.map(Box::new)) });
    }

    /// Makes the rows and the version choice again where the model changed.
    fn sync(&mut self, widgets: &mut DowngradePanelWidgets, sender: &ComponentSender<Self>) {
        if self.rows_stale {
            self.rows_stale = false;
            while let Some(row) = widgets.list.first_child() {
                widgets.list.remove(&row);
            }
            for p in &self.packages {
                let n = p.older.len();
                let row = adw::ActionRow::builder()
                    .title(p.name())
                    .subtitle(trn(
                        "{version} installed · {n} older build",
                        "{version} installed · {n} older builds",
                        n as u64,
                        &[("version", &p.installed.evr), ("n", &n)],
                    ))
                    .use_markup(false)
                    .activatable(true)
                    .build();
                widgets.list.append(&row);
            }
            widgets.list.invalidate_filter();
        }
        if self.builds_stale {
            self.builds_stale = false;
            let labels: Vec<String> = self.selected_package().map_or_else(Vec::new, |p| {
                p.older
                    .iter()
                    .map(|b| {
                        trf(
                            "{version} · {size}",
                            &[
                                ("version", &b.nevra.evr),
                                ("size", &glib::format_size(b.size)),
                            ],
                        )
                    })
                    .collect()
            });
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            // The choice this sets is the one the model has: not the user's, no second plan.
            self.quiet.set(true);
            widgets.builds.set_model(Some(&gtk::StringList::new(&refs)));
            widgets.builds.set_selected(self.chosen as u32);
            self.quiet.set(false);
            if let Some(p) = self.selected_package() {
                widgets
                    .builds
                    .set_title(&trf("Version of {name}", &[("name", &p.installed.name)]));
            }
        }
        self.update_view(widgets, sender.clone());
    }
}

#[relm4::component(pub)]
impl Component for DowngradePanel {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = Output;
    type CommandOutput = Cmd;

    view! {
        adw::PreferencesGroup {
            set_title: &tr("Package downgrade"),
            set_description: Some(&tr("Go back to an older build of an installed package.")),

            #[name = "search"]
            gtk::SearchEntry {
                set_placeholder_text: Some(&tr("Search installed packages")),
                #[watch]
                set_sensitive: !model.busy() && !model.packages.is_empty(),
                connect_search_changed[sender] => move |e| {
                    sender.input(Input::Search(e.text().to_string()));
                },
                connect_activate => Input::SelectFirst,
            },
            gtk::ScrolledWindow {
                set_margin_top: 12,
                set_hscrollbar_policy: gtk::PolicyType::Never,
                set_propagate_natural_height: true,
                set_max_content_height: 320,
                #[watch]
                set_visible: !model.packages.is_empty(),
                #[name = "list"]
                gtk::ListBox {
                    add_css_class: "boxed-list",
                    set_selection_mode: gtk::SelectionMode::Single,
                    #[watch]
                    set_sensitive: !model.busy(),
                    connect_row_activated[sender] => move |_, row| {
                        sender.input(Input::Select(row.index() as usize));
                    },
                    // Selected by the keyboard's arrows or a screen reader: the same choice.
                    connect_row_selected[sender] => move |_, row| {
                        if let Some(row) = row {
                            sender.input(Input::Select(row.index() as usize));
                        }
                    },
                },
            },
            #[name = "status"]
            gtk::Label {
                set_xalign: 0.0,
                set_wrap: true,
                set_margin_top: 6,
                add_css_class: "dim-label",
                #[watch]
                set_label: &model.status(),
                #[watch]
                set_visible: !model.status().is_empty(),
            },
            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                set_spacing: 6,
                set_margin_top: 12,
                #[watch]
                set_visible: model.selected.is_some(),
                gtk::ListBox {
                    add_css_class: "boxed-list",
                    set_selection_mode: gtk::SelectionMode::None,
                    #[watch]
                    set_sensitive: !model.busy(),
                    #[name = "builds"]
                    adw::ComboRow {
                        set_use_subtitle: false,
                        connect_selected_notify[sender, quiet = model.quiet.clone()] => move |c| {
                            if !quiet.get() {
                                sender.input(Input::Choose(c.selected() as usize));
                            }
                        },
                    },
                },
                #[name = "changes"]
                gtk::Label {
                    set_xalign: 0.0,
                    set_wrap: true,
                    set_wrap_mode: gtk::pango::WrapMode::WordChar,
                    #[watch]
                    set_label: &model.changes(),
                },
                #[name = "downgrade_button"]
                gtk::Button {
                    set_label: &tr("Downgrade…"),
                    set_halign: gtk::Align::End,
                    add_css_class: "destructive-action",
                    #[watch]
                    set_sensitive: model.can_downgrade(),
                    connect_clicked => Input::Confirm,
                },
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
            // Until the first list arrives (the page asks for it when it loads).
            phase: Phase::Loading,
            packages: Vec::new(),
            filter: Rc::default(),
            selected: None,
            chosen: 0,
            planning: Planning::Nothing,
            progress: Progress::default(),
            last: None,
            last_fetched: None,
            dialog: None,
            asked: 0,
            rows_stale: false,
            builds_stale: false,
            quiet: Rc::default(),
        };
        let widgets = view_output!();
        // The placeholder is no name: screen readers get one.
        crate::ui::a11y::set_label(&widgets.search, &tr("Search installed packages"));
        let filter = model.filter.clone();
        widgets
            .list
            .set_filter_func(move |row| filter.borrow().shows(row.index() as usize));
        // Down from the search goes to the first package shown.
        let keys = gtk::EventControllerKey::new();
        let list = widgets.list.clone();
        keys.connect_key_pressed(move |_, key, _, _| {
            if key != gtk::gdk::Key::Down {
                return glib::Propagation::Proceed;
            }
            let mut i = 0;
            while let Some(row) = list.row_at_index(i) {
                if row.is_child_visible() {
                    row.grab_focus();
                    return glib::Propagation::Stop;
                }
                i += 1;
            }
            glib::Propagation::Proceed
        });
        widgets.search.add_controller(keys);
        widgets.search.connect_stop_search(|e| e.set_text(""));
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        msg: Input,
        sender: ComponentSender<Self>,
        root: &Self::Root,
    ) {
        match msg {
            Input::Reload if matches!(self.phase, Phase::Running(_)) => {}
            Input::Reload => {
                self.phase = Phase::Loading;
                let list = self.backend.downgradable();
                sender.oneshot_command(async move { Cmd::Listed(list.await) });
            }
            Input::Search(q) => {
                self.filter.borrow_mut().query = q.trim().to_lowercase();
                widgets.list.invalidate_filter();
            }
            Input::SelectFirst => {
                if let Some(&i) = self.shown().first() {
                    if let Some(row) = widgets.list.row_at_index(i as i32) {
                        widgets.list.select_row(Some(&row));
                    }
                    sender.input(Input::Select(i));
                }
            }
            Input::Select(i) if self.busy() || i >= self.packages.len() => {}
            Input::Select(i) => {
                if self.selected != Some(i) {
                    self.selected = Some(i);
                    self.chosen = 0;
                    self.builds_stale = true;
                    self.plan(0, &sender);
                } else if matches!(self.planning, Planning::Failed(..) | Planning::Nothing) {
                    // Activated again after its plan failed: try again.
                    self.plan(self.chosen, &sender);
                }
            }
            Input::Choose(b) => {
                let same = match &self.planning {
                    Planning::Busy(n) | Planning::Failed(n, _) => Some(n),
                    Planning::Done(p) => Some(&p.build),
                    Planning::Nothing => None,
                };
                let wanted = self.selected_package().and_then(|p| p.older.get(b));
                if wanted.is_some() && wanted.map(|w| &w.nevra) != same && !self.busy() {
                    self.plan(b, &sender);
                }
            }
            Input::Confirm if !self.can_downgrade() => {}
            Input::Confirm => {
                let (Some(p), Planning::Done(plan)) = (self.selected_package(), &self.planning)
                else {
                    return;
                };
                // The heading names the package only: a whole NEVRA is one long word, which a
                // narrow dialog would break inside. The body names the builds.
                let heading = trf("Downgrade {name}?", &[("name", &p.installed.name)]);
                let body = format!(
                    "{} {}",
                    trf(
                        "{build} replaces {installed}.",
                        &[("build", &plan.build), ("installed", &p.installed)],
                    ),
                    self.changes()
                );
                let s = sender.clone();
                self.dialog = Some(dialogs::confirm(
                    root,
                    &heading,
                    &body,
                    &tr("Downgrade"),
                    adw::ResponseAppearance::Destructive,
                    move || s.input(Input::Downgrade),
                ));
                self.asked += 1;
            }
            Input::Downgrade => {
                let Planning::Done(plan) = &mut self.planning else {
                    return;
                };
                let Some(tx) = plan.transaction.take() else {
                    return;
                };
                self.dialog = None;
                self.phase = Phase::Running(plan.build.to_string());
                self.progress = Progress::default();
                let progress = sender.command_sender().clone();
                // No Stop here: a downgrade fetches a few packages at most.
                let run = self.backend.apply(
                    tx,
                    move |p| progress.emit(Cmd::Progress(p)),
                    Default::default(),
                );
                sender.oneshot_command(async move {
                    Cmd::Finished(run.await.map_err(|h| match h {
                        crate::ui::backend::Halted::Failed(e) => e,
                        crate::ui::backend::Halted::Stopped(s) => s.to_string(),
                    }))
                });
            }
        }
        self.sync(widgets, &sender);
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        cmd: Cmd,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match cmd {
            Cmd::Listed(Ok(packages)) => {
                // The package shown stays chosen if it is still listed, with the same builds.
                let was = self.selected_package().cloned();
                self.filter.borrow_mut().names =
                    packages.iter().map(|p| p.name().to_owned()).collect();
                self.packages = packages;
                self.selected = was
                    .as_ref()
                    .and_then(|w| self.packages.iter().position(|p| p == w));
                if self.selected.is_none() {
                    self.planning = Planning::Nothing;
                    self.chosen = 0;
                }
                self.builds_stale = true;
                self.rows_stale = true;
                self.phase = Phase::Ready;
            }
            Cmd::Listed(Err(e)) => self.phase = Phase::Failed(e),
            Cmd::Planned(build, r) => {
                let current = self
                    .selected_package()
                    .and_then(|p| p.older.get(self.chosen))
                    .is_some_and(|b| b.nevra == build);
                if current {
                    self.planning = match r {
                        Ok(plan) => Planning::Done(plan),
                        Err(e) => Planning::Failed(build, e),
                    };
                }
            }
            Cmd::Progress(p) => self.progress = p,
            Cmd::Finished(r) => {
                match r {
                    Ok(o) => {
                        self.last = Some(crate::ui::updates::installed(&o));
                        self.last_fetched = Some(o.fetched);
                        // The package has left the list (or moved down it): a search that
                        // matched only it would hide the result under "no package matches".
                        widgets.search.set_text("");
                    }
                    Err(e) => {
                        self.last = Some(e);
                        self.last_fetched = None;
                    }
                }
                self.phase = Phase::Ready;
                self.selected = None;
                self.planning = Planning::Nothing;
                widgets.list.unselect_all();
                sender.input(Input::Reload);
                let _ = sender.output(Output::Changed);
            }
        }
        self.sync(widgets, &sender);
    }
}
