//! The Seeding page: what this machine shares, what each torrent and all of them uploaded (the
//! contribution ledger), ratios and peers helped, a switch to pause each, the upload limit and the
//! seeding goal.

mod goal;
mod row;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;

use swarmdate_core::config::SeedGoal;
use swarmdate_core::i18n::{tr, trf, trn};

use crate::ui::backend::{Backend, SeedingView};
use crate::ui::preferences::{kb, limit};
use crate::ui::templates::{PageColumn, SpinnerPage};
use row::{Refresh, RowOutput, SeedRow};

#[cfg(test)]
mod tests;

/// The page's model.
pub struct SeedingPage {
    backend: Arc<Backend>,
    /// Which history the chart shows: 0 hour, 1 day, 2 month.
    span: usize,
    /// The bars the chart draws.
    bars: Rc<RefCell<Vec<u64>>>,
    chart: gtk::DrawingArea,
    rows: FactoryVecDeque<SeedRow>,
    view: SeedingView,
    /// The engine was asked to start.
    started: bool,
    /// Figures have arrived at least once.
    loaded: bool,
    error: Option<String>,
    /// The goals the combo row lists.
    goals: Vec<SeedGoal>,
    /// Why the last change of the limit or the goal was not saved.
    not_saved: Option<String>,
}

/// What the page is told.
#[derive(Debug)]
pub enum Input {
    /// Start the engine and show its figures (once the user agreed whom to share with).
    Start,
    /// Pause (true) or resume (false) a torrent.
    Pause(swarmdate_engine::JobId, bool),
    /// Show the last hour (0), day (1) or month (2) in the chart.
    Span(usize),
    /// The user chose the goal at this place in the list.
    Goal(u32),
    /// The user set the upload limit in kB/s (0: none).
    UploadLimit(f64),
}

/// Results of the page's background work.
#[derive(Debug)]
pub enum Cmd {
    /// New figures, or why there are none.
    Figures(Result<SeedingView, String>),
    /// A pause or resume ended.
    Paused(Result<(), String>),
    /// The figures stopped coming.
    Failed(String),
}

impl SeedingPage {
    fn totals(&self) -> String {
        trn(
            "{up} uploaded in all, to {peers} peer.",
            "{up} uploaded in all, to {peers} peers.",
            self.view.peers_served,
            &[
                ("up", &glib::format_size(self.view.uploaded)),
                ("peers", &self.view.peers_served),
            ],
        )
    }

    /// Whether the page shows its first data (or why there is none).
    pub fn is_settled(&self) -> bool {
        self.loaded || self.error.is_some()
    }

    /// The line beside the chart: the busiest bar.
    fn busiest(&self) -> String {
        let top = self.bars.borrow().iter().copied().max().unwrap_or(0);
        let per = [tr("minute"), tr("hour"), tr("day")];
        trf(
            "Most in one {unit}: {bytes}",
            &[
                ("unit", &per[self.span]),
                ("bytes", &glib::format_size(top)),
            ],
        )
    }

    fn show_span(&mut self, span: usize) {
        self.span = span;
        *self.bars.borrow_mut() = self.view.chart[span].clone();
        self.chart.queue_draw();
    }

    /// The goals as the combo row lists them.
    fn goal_list(&self) -> gtk::StringList {
        let list = gtk::StringList::new(&[]);
        for g in &self.goals {
            list.append(&goal::label(*g));
        }
        list
    }

    /// Saves a change of the settings; the engine follows at once.
    fn change(&mut self, edit: impl FnOnce(&mut swarmdate_core::config::Settings)) {
        let mut settings = self.backend.client().settings.clone();
        edit(&mut settings);
        self.not_saved = self
            .backend
            .save_settings(&settings)
            .err()
            .map(|e| format!("{e:#}"));
    }

    fn page_name(&self) -> &'static str {
        match (&self.error, self.loaded, self.view.items.is_empty()) {
            (Some(_), _, _) => "failed",
            (None, false, _) => "loading",
            (None, true, true) => "empty",
            (None, true, false) => "list",
        }
    }
}

#[relm4::component(pub)]
impl Component for SeedingPage {
    type Init = Arc<Backend>;
    type Input = Input;
    type Output = ();
    type CommandOutput = Cmd;

    view! {
        gtk::Stack {
            #[template]
            add_named[Some("loading")] = &SpinnerPage {
                set_title: &tr("Starting to share…"),
            },
            add_named[Some("empty")] = &adw::StatusPage {
                set_icon_name: Some("network-transmit-receive-symbolic"),
                set_title: &tr("Nothing shared yet"),
                set_description: Some(&tr("Packages and images you fetch are shared with other peers from here.")),
            },
            #[name = "failed_page"]
            add_named[Some("failed")] = &adw::StatusPage {
                set_icon_name: Some("dialog-error-symbolic"),
                set_title: &tr("Sharing is stopped"),
                #[watch]
                set_description: model.error.as_deref(),
            },
            #[template]
            add_named[Some("list")] = &PageColumn {
                #[template_child]
                column {
                    #[name = "totals"]
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        add_css_class: "title-4",
                        #[watch]
                        set_label: &model.totals(),
                    },
                    gtk::Box {
                        set_spacing: 12,
                        gtk::Label {
                            set_hexpand: true,
                            set_xalign: 0.0,
                            add_css_class: "dim-label",
                            #[watch]
                            set_label: &model.busiest(),
                        },
                        gtk::Box {
                            add_css_class: "linked",
                            #[name = "hour"]
                            gtk::ToggleButton {
                                set_label: &tr("Hour"),
                                set_active: true,
                                connect_toggled[sender] => move |b| {
                                    if b.is_active() { sender.input(Input::Span(0)) }
                                },
                            },
                            gtk::ToggleButton {
                                set_label: &tr("Day"),
                                set_group: Some(&hour),
                                connect_toggled[sender] => move |b| {
                                    if b.is_active() { sender.input(Input::Span(1)) }
                                },
                            },
                            gtk::ToggleButton {
                                set_label: &tr("Month"),
                                set_group: Some(&hour),
                                connect_toggled[sender] => move |b| {
                                    if b.is_active() { sender.input(Input::Span(2)) }
                                },
                            },
                        },
                    },
                    #[local_ref]
                    chart -> gtk::DrawingArea {
                        set_content_height: 96,
                        set_hexpand: true,
                    },
                    #[local_ref]
                    rows_box -> gtk::ListBox {
                        add_css_class: "boxed-list",
                        set_selection_mode: gtk::SelectionMode::None,
                    },
                    adw::PreferencesGroup {
                        set_title: &tr("Limits"),
                        set_description: Some(&tr("Packages are always shared: they reach you the same way.")),
                        #[name = "goal"]
                        adw::ComboRow {
                            set_title: &tr("Share images and downloads"),
                            set_model: Some(&model.goal_list()),
                            set_selected: model
                                .goals
                                .iter()
                                .position(|g| *g == model.backend.client().settings.seed_goal)
                                .unwrap_or(0) as u32,
                            connect_selected_notify[sender] => move |r| {
                                sender.input(Input::Goal(r.selected()));
                            },
                        },
                        adw::ActionRow {
                            set_title: &tr("Upload limit"),
                            set_subtitle: &tr("kB/s; 0 for no limit"),
                            #[name = "upload"]
                            add_suffix = &gtk::SpinButton::with_range(0.0, 1_000_000.0, 64.0) {
                                set_valign: gtk::Align::Center,
                                set_value: kb(model.backend.client().settings.upload_limit),
                                connect_value_changed[sender] => move |s| {
                                    sender.input(Input::UploadLimit(s.value()));
                                },
                            },
                        },
                    },
                    gtk::Label {
                        add_css_class: "error",
                        set_wrap: true,
                        set_xalign: 0.0,
                        #[watch]
                        set_visible: model.not_saved.is_some(),
                        #[watch]
                        set_label: model.not_saved.as_deref().unwrap_or_default(),
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
                RowOutput::Pause(job, paused) => Input::Pause(job, paused),
            });
        let bars: Rc<RefCell<Vec<u64>>> = Default::default();
        let chart = gtk::DrawingArea::new();
        let drawn = bars.clone();
        chart.set_draw_func(move |_, cr, w, h| draw_bars(cr, &drawn.borrow(), w, h));
        let goals = goal::choices(backend.client().settings.seed_goal);
        let model = SeedingPage {
            goals,
            not_saved: None,
            backend,
            span: 0,
            bars,
            chart: chart.clone(),
            rows,
            view: SeedingView::default(),
            started: false,
            loaded: false,
            error: None,
        };
        let rows_box = model.rows.widget();
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Input, sender: ComponentSender<Self>, _: &Self::Root) {
        match msg {
            Input::Start if self.started => {}
            Input::Start => {
                self.started = true;
                let figures = sender.command_sender().clone();
                let watch = self
                    .backend
                    .watch_seeding(move |v| figures.send(Cmd::Figures(v)).is_ok());
                sender.oneshot_command(async move {
                    watch.await;
                    Cmd::Failed(tr("The engine stopped."))
                });
            }
            Input::Span(span) => self.show_span(span),
            Input::Goal(n) => {
                let goal = self.goals.get(n as usize).copied().unwrap_or_default();
                self.change(|s| s.seed_goal = goal);
            }
            Input::UploadLimit(kb) => self.change(|s| s.upload_limit = limit(kb)),
            Input::Pause(job, paused) => {
                let set = self.backend.set_paused(job, paused);
                sender.oneshot_command(async move { Cmd::Paused(set.await) });
            }
        }
    }

    fn update_cmd(&mut self, cmd: Cmd, _: ComponentSender<Self>, _: &Self::Root) {
        match cmd {
            Cmd::Figures(Ok(view)) => {
                let mut rows = self.rows.guard();
                // Rows stay (and keep their switches) while the same torrents are seeded.
                let same = rows.len() == view.items.len()
                    && rows
                        .iter()
                        .zip(&view.items)
                        .all(|(r, i)| r.item.job == i.job);
                if same {
                    for (n, item) in view.items.iter().enumerate() {
                        rows.send(n, Refresh(item.clone()));
                    }
                } else {
                    rows.clear();
                    for item in &view.items {
                        rows.push_back(item.clone());
                    }
                }
                drop(rows);
                self.view = view;
                self.show_span(self.span);
                self.loaded = true;
                self.error = None;
            }
            // A pause went through: the next figures show it.
            Cmd::Paused(Ok(())) => {}
            Cmd::Figures(Err(e)) | Cmd::Paused(Err(e)) | Cmd::Failed(e) => self.error = Some(e),
        }
    }
}

/// Upload bars, oldest on the left, scaled to the busiest; the theme's accent blue.
fn draw_bars(cr: &gtk::cairo::Context, bars: &[u64], w: i32, h: i32) {
    let top = bars.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h) = (f64::from(w), f64::from(h));
    let step = w / bars.len().max(1) as f64;
    cr.set_source_rgb(0.21, 0.52, 0.89);
    for (i, b) in bars.iter().enumerate() {
        let bar = h * (*b as f64 / top);
        cr.rectangle(i as f64 * step + 1.0, h - bar, (step - 2.0).max(1.0), bar);
    }
    let _ = cr.fill();
}
