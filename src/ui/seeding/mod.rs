//! The Seeding page: what this machine shares, what each torrent and all of them uploaded this
//! month and in all (every figure from the contribution ledger, so the rows add up to the
//! header), ratios and peers helped, a switch to pause each, a row opens its transfer view, the
//! upload history with labelled axes, the upload limit and the seeding goal.

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
use crate::ui::transfer::TransferView;
use row::{Refresh, RowOutput, SeedRow};

#[cfg(test)]
mod tests;

/// The page's model.
pub struct SeedingPage {
    backend: Arc<Backend>,
    /// Which history the chart shows: 0 hour, 1 day, 2 month.
    span: usize,
    /// The bars the chart draws and the top of its scale.
    bars: Rc<RefCell<(Vec<u64>, u64)>>,
    chart: gtk::DrawingArea,
    /// The chart's axis labels and its description, for the span shown.
    axis: ChartText,
    /// The open transfer view.
    transfer: Option<Controller<TransferView>>,
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
    /// Open a job's transfer view.
    Open(swarmdate_engine::JobId),
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
    /// The header: what was given this month.
    fn month(&self) -> String {
        trn(
            "This month: {up} uploaded, to {peers} peer.",
            "This month: {up} uploaded, to {peers} peers.",
            self.view.peers_month,
            &[
                ("up", &glib::format_size(self.view.uploaded_month)),
                ("peers", &self.view.peers_month),
            ],
        )
    }

    /// Below it: what was given ever.
    fn totals(&self) -> String {
        trn(
            "In all: {up} uploaded, to {peers} peer.",
            "In all: {up} uploaded, to {peers} peers.",
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

    /// The line above the chart: what a bar is, and the busiest.
    fn busiest(&self) -> String {
        let top = self.bars.borrow().0.iter().copied().max().unwrap_or(0);
        let per = [tr("minute"), tr("hour"), tr("day")];
        trf(
            "Uploaded per {unit} · most in one {unit}: {bytes}",
            &[
                ("unit", &per[self.span]),
                ("bytes", &glib::format_size(top)),
            ],
        )
    }

    fn show_span(&mut self, span: usize) {
        self.span = span;
        let bars = self.view.chart[span].clone();
        self.axis = chart_text(
            span,
            &bars,
            glib::DateTime::now_utc().map_or(0, |d| d.to_unix()),
        );
        *self.bars.borrow_mut() = (bars, self.axis.top);
        crate::ui::a11y::set_description(&self.chart, &self.axis.description);
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
                    #[name = "month"]
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        add_css_class: "title-4",
                        #[watch]
                        set_label: &model.month(),
                    },
                    #[name = "totals"]
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        #[watch]
                        set_label: &model.totals(),
                    },
                    gtk::Box {
                        set_spacing: 12,
                        // Wraps, so the page fits a 360 px window beside the span buttons.
                        gtk::Label {
                            set_hexpand: true,
                            set_xalign: 0.0,
                            set_wrap: true,
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
                    gtk::Grid {
                        set_column_spacing: 6,
                        attach[0, 0, 1, 1] = &gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            #[name = "y_top"]
                            gtk::Label {
                                set_xalign: 1.0,
                                set_valign: gtk::Align::Start,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.y[0],
                            },
                            #[name = "y_mid"]
                            gtk::Label {
                                set_xalign: 1.0,
                                set_vexpand: true,
                                set_valign: gtk::Align::Center,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.y[1],
                            },
                            #[name = "y_zero"]
                            gtk::Label {
                                set_xalign: 1.0,
                                set_valign: gtk::Align::End,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.y[2],
                            },
                        },
                        attach: (&chart, 1, 0, 1, 1),
                        attach[1, 1, 1, 1] = &gtk::Box {
                            set_homogeneous: true,
                            #[name = "x_start"]
                            gtk::Label {
                                // Wraps, so the chart fits a 360 px window.
                                set_wrap: true,
                                set_justify: gtk::Justification::Left,
                                set_xalign: 0.0,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.x[0],
                            },
                            #[name = "x_mid"]
                            gtk::Label {
                                // Wraps, so the chart fits a 360 px window.
                                set_wrap: true,
                                set_justify: gtk::Justification::Center,
                                set_xalign: 0.5,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.x[1],
                            },
                            #[name = "x_end"]
                            gtk::Label {
                                // Wraps, so the chart fits a 360 px window.
                                set_wrap: true,
                                set_justify: gtk::Justification::Right,
                                set_xalign: 1.0,
                                add_css_class: "caption",
                                add_css_class: "dim-label",
                                #[watch]
                                set_label: &model.axis.x[2],
                            },
                        },
                    },
                    #[local_ref]
                    rows_box -> gtk::ListBox {
                        add_css_class: "boxed-list",
                        set_selection_mode: gtk::SelectionMode::None,
                        set_activate_on_single_click: true,
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
                RowOutput::Open(job) => Input::Open(job),
            });
        let bars: Rc<RefCell<(Vec<u64>, u64)>> = Default::default();
        let chart = gtk::DrawingArea::builder()
            .accessible_role(gtk::AccessibleRole::Img)
            .content_height(120)
            .hexpand(true)
            .build();
        crate::ui::a11y::set_label(&chart, &tr("Upload history"));
        let goals = goal::choices(backend.client().settings.seed_goal);
        let model = SeedingPage {
            axis: chart_text(0, &[], 0),
            transfer: None,
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
        // A control beside a row's title is named by it for screen readers.
        crate::ui::a11y::set_label(&widgets.upload, &tr("Upload limit in kB/s"));
        // The bars between the middles of the top and bottom tick labels, so ticks meet lines.
        let (drawn, top_label) = (model.bars.clone(), widgets.y_top.clone());
        model.chart.set_draw_func(move |area, cr, w, h| {
            let (bars, top) = &*drawn.borrow();
            let pad = f64::from(top_label.height()) / 2.0;
            draw_bars(area, cr, bars, *top, w, h, pad);
        });
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
            Input::Open(job) => {
                let parent = self.chart.root().and_downcast::<gtk::Window>();
                self.transfer = Some(TransferView::show(self.backend.clone(), job, parent));
            }
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
                let names = row::names(&view.items);
                // Rows stay (and keep their switches) while the same torrents are seeded.
                let same = rows.len() == view.items.len()
                    && rows
                        .iter()
                        .zip(&view.items)
                        .all(|(r, i)| r.item.job == i.job && r.item.info_hash == i.info_hash);
                if same {
                    for (n, (item, name)) in view.items.iter().zip(names).enumerate() {
                        rows.send(n, Refresh(item.clone(), name));
                    }
                } else {
                    rows.clear();
                    for (item, name) in view.items.iter().zip(names) {
                        rows.push_back((item.clone(), name));
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

/// The chart's words: tick labels up its side (top, middle, zero), labels along its foot
/// (oldest, middle, now), the top of its scale, and what it shows told in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartText {
    /// Tick labels, top first: "2.0 MB/min", "1.0 MB/min", "0".
    pub y: [String; 3],
    /// Time labels, oldest first: "60 minutes ago", "30 minutes ago", "now".
    pub x: [String; 3],
    /// Bytes at the top of the scale.
    pub top: u64,
    /// For screen readers: "12 MB uploaded in the last day, most at 14:00: 3.1 MB."
    pub description: String,
}

/// The words of the chart of `span` (0 hour, 1 day, 2 month) showing `bars`, the last of
/// which holds `now` (seconds since the epoch).
pub fn chart_text(span: usize, bars: &[u64], now: i64) -> ChartText {
    let peak = bars.iter().copied().max().unwrap_or(0);
    let top = crate::ui::axis::nice_top(peak, 1000);
    // Each tick says what a bar is: bytes per minute, hour or day.
    let per_bar = |bytes: u64| {
        let size = glib::format_size(bytes);
        match span {
            0 => trf("{size}/min", &[("size", &size)]),
            1 => trf("{size}/h", &[("size", &size)]),
            _ => trf("{size}/day", &[("size", &size)]),
        }
    };
    let y = [per_bar(top), per_bar(top / 2), "0".to_owned()];
    let x = match span {
        0 => [
            trn("{n} minute ago", "{n} minutes ago", 60, &[("n", &60)]),
            trn("{n} minute ago", "{n} minutes ago", 30, &[("n", &30)]),
            tr("now"),
        ],
        1 => [
            trn("{n} hour ago", "{n} hours ago", 24, &[("n", &24)]),
            trn("{n} hour ago", "{n} hours ago", 12, &[("n", &12)]),
            tr("now"),
        ],
        _ => [
            trn("{n} day ago", "{n} days ago", 30, &[("n", &30)]),
            trn("{n} day ago", "{n} days ago", 15, &[("n", &15)]),
            tr("today"),
        ],
    };
    let total: u64 = bars.iter().sum();
    let description = match bars.iter().enumerate().max_by_key(|(i, b)| (**b, *i)) {
        Some((i, most)) if total > 0 => {
            let width = [60, 3600, 86_400][span.min(2)];
            let start = (now.div_euclid(width) - (bars.len() - 1 - i) as i64) * width;
            let (total, most) = (glib::format_size(total), glib::format_size(*most));
            match span {
                0 | 1 => {
                    let at = glib::DateTime::from_unix_local(start)
                        .ok()
                        .and_then(|d| d.format("%H:%M").ok())
                        .map_or_else(String::new, |s| s.to_string());
                    let args: &[(&str, &dyn std::fmt::Display)] =
                        &[("total", &total), ("time", &at), ("most", &most)];
                    // Each sentence whole in its own call, where xgettext finds it.
                    match span {
                        0 => trf(
                            "{total} uploaded in the last hour, most at {time}: {most}.",
                            args,
                        ),
                        _ => trf(
                            "{total} uploaded in the last day, most at {time}: {most}.",
                            args,
                        ),
                    }
                }
                _ => {
                    // Day bars are days of UTC, as the ledger keeps them.
                    let day = glib::DateTime::from_unix_utc(start)
                        .ok()
                        .and_then(|d| d.format(&tr("%-d %b")).ok())
                        .map_or_else(String::new, |s| s.to_string());
                    trf(
                        "{total} uploaded in the last 30 days, most on {day}: {most}.",
                        &[("total", &total), ("day", &day), ("most", &most)],
                    )
                }
            }
        }
        _ => match span {
            0 => tr("Nothing uploaded in the last hour."),
            1 => tr("Nothing uploaded in the last day."),
            _ => tr("Nothing uploaded in the last 30 days."),
        },
    };
    ChartText {
        y,
        x,
        top,
        description,
    }
}

/// Upload bars, oldest on the left, scaled to `top`, between a line at the top (`pad` from the
/// edge, beside the top tick label), one at the middle and the base line (`pad` from the foot);
/// the theme's accent blue.
fn draw_bars(
    area: &gtk::DrawingArea,
    cr: &gtk::cairo::Context,
    bars: &[u64],
    top: u64,
    w: i32,
    h: i32,
    pad: f64,
) {
    let (w, h) = (f64::from(w), f64::from(h));
    let (y0, y1) = crate::ui::axis::draw_grid(area, cr, w, h, pad);
    let top = top.max(1) as f64;
    let step = w / bars.len().max(1) as f64;
    cr.set_source_rgb(0.21, 0.52, 0.89);
    for (i, b) in bars.iter().enumerate() {
        let bar = (y1 - y0) * (*b as f64 / top).min(1.0);
        cr.rectangle(i as f64 * step + 1.0, y1 - bar, (step - 2.0).max(1.0), bar);
    }
    let _ = cr.fill();
}
