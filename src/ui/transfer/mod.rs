//! The transfer view of a running job: its piece map (every piece: had before, fetched now, in
//! flight, missing), the speeds over time, and the connected peers.

pub mod piece_map;
mod speed_chart;

use std::sync::Arc;

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::text::escape_controls;
use swarmdate_engine::{JobId, JobSnapshot, PieceMap, PieceState};

use super::backend::Backend;
use speed_chart::History;

/// The keys that close the view.
const CLOSE_KEYS: &str = "Escape|<Control>w";

/// The view's model: the job's latest snapshot and piece map.
pub struct TransferView {
    /// The latest snapshot of the job.
    pub snapshot: Option<JobSnapshot>,
    /// The job's piece map, asked for with each snapshot while the view is open.
    pub pieces: PieceMap,
    history: History,
    /// When the view opened: samples are placed by the seconds since.
    opened: std::time::Instant,
    /// The speed chart's tick labels (top, middle, zero), time labels and description.
    pub axis: ([String; 3], [String; 2], String),
    /// The job is gone (finished and forgotten, or the engine stopped).
    ended: bool,
    /// The speed chart.
    chart: gtk::DrawingArea,
}

/// Results of the view's background work.
#[derive(Debug)]
pub enum Cmd {
    /// A new snapshot of the job and its piece map.
    Snapshot(Box<(JobSnapshot, PieceMap)>),
    /// The job is gone (finished and forgotten, or the engine stopped).
    Gone,
}

impl TransferView {
    /// Opens the view of `job` over `parent` (when there is one) and shows it.
    pub fn show(
        backend: Arc<Backend>,
        job: JobId,
        parent: Option<gtk::Window>,
    ) -> Controller<TransferView> {
        let view = TransferView::builder().launch((backend, job)).detach();
        view.widget().set_transient_for(parent.as_ref());
        view.widget().present();
        view
    }

    fn summary(&self) -> String {
        if self.ended {
            return tr("This transfer has ended: nothing more will change here.");
        }
        let Some(j) = &self.snapshot else {
            return tr("Waiting for the engine…");
        };
        if j.state.is_complete() {
            return trn(
                "Complete: {size} here, shared with {n} connected peer.",
                "Complete: {size} here, shared with {n} connected peers.",
                j.peers.len() as u64,
                &[
                    ("size", &glib::format_size(j.bytes_wanted)),
                    ("n", &j.peers.len()),
                ],
            );
        }
        let pieces = &self.pieces;
        trf(
            "{fetched} fetched of {wanted} · {had} pieces already here, {new} fetched, {missing} missing",
            &[
                ("fetched", &glib::format_size(j.bytes_fetched)),
                (
                    "wanted",
                    &glib::format_size(j.bytes_wanted.saturating_sub(j.bytes_had)),
                ),
                ("had", &pieces.count(PieceState::HadBefore)),
                ("new", &pieces.count(PieceState::Fetched)),
                ("missing", &pieces.count(PieceState::Missing)),
            ],
        )
    }

    /// What the job told (a tracker's refusal, a step that fell back), one sentence a line.
    fn notes(&self) -> String {
        self.snapshot.as_ref().map_or(String::new(), |j| {
            let lines: Vec<String> = j
                .notices
                .iter()
                .map(swarmdate_usecases::notices::text)
                .collect();
            lines.join("\n")
        })
    }

    fn speeds(&self) -> String {
        let (d, u) = self
            .snapshot
            .as_ref()
            .map_or((0, 0), |j| (j.down_speed, j.up_speed));
        trf(
            "Download {down} · upload {up}",
            &[
                ("down", &speed_chart::speed(d)),
                ("up", &speed_chart::speed(u)),
            ],
        )
    }
}

/// One line of the legend: a swatch and what it means.
fn legend(state: PieceState, label: &str) -> gtk::Box {
    let b = gtk::Box::new(gtk::Orientation::Horizontal, 6);
    let [r, g, bl, a] = piece_map::colour(state);
    let swatch = gtk::DrawingArea::builder()
        .content_width(12)
        .content_height(12)
        .valign(gtk::Align::Center)
        .build();
    swatch.set_draw_func(move |_, cr, w, h| {
        cr.set_source_rgba(
            f64::from(r) / 255.0,
            f64::from(g) / 255.0,
            f64::from(bl) / 255.0,
            f64::from(a) / 255.0,
        );
        cr.rectangle(0.0, 0.0, f64::from(w), f64::from(h));
        let _ = cr.fill();
    });
    b.append(&swatch);
    b.append(&gtk::Label::new(Some(label)));
    b
}

#[relm4::component(pub)]
impl Component for TransferView {
    type Init = (Arc<Backend>, JobId);
    type Input = ();
    type Output = ();
    type CommandOutput = Cmd;

    view! {
        adw::Window {
            set_default_size: (640, 560),
            #[watch]
            set_title: Some(&model.snapshot.as_ref().map_or(String::new(), |j| escape_controls(&j.name).into_owned())),

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::HeaderBar {},
                gtk::ScrolledWindow {
                    set_vexpand: true,
                    set_hscrollbar_policy: gtk::PolicyType::Never,
                    adw::Clamp {
                        set_maximum_size: 800,
                        gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 12,
                            set_margin_all: 18,

                            gtk::Label {
                                set_xalign: 0.0,
                                set_wrap: true,
                                #[watch]
                                set_label: &model.summary(),
                            },
                            gtk::Label {
                                set_xalign: 0.0,
                                set_wrap: true,
                                add_css_class: "warning",
                                #[watch]
                                set_visible: !model.notes().is_empty(),
                                #[watch]
                                set_label: &model.notes(),
                            },
                            #[name = "map"]
                            gtk::Picture {
                                set_can_shrink: true,
                                set_content_fit: gtk::ContentFit::Fill,
                                set_height_request: 160,
                                set_alternative_text: Some(&tr("Piece map")),
                            },
                            gtk::FlowBox {
                                set_selection_mode: gtk::SelectionMode::None,
                                set_max_children_per_line: 4,
                                append = &legend(PieceState::HadBefore, &tr("Already here")),
                                append = &legend(PieceState::Fetched, &tr("Fetched now")),
                                append = &legend(PieceState::InFlight, &tr("In flight")),
                                append = &legend(PieceState::Missing, &tr("Missing")),
                            },
                            gtk::Label {
                                set_xalign: 0.0,
                                add_css_class: "heading",
                                #[watch]
                                set_label: &model.speeds(),
                            },
                            gtk::Grid {
                                set_column_spacing: 6,
                                attach[0, 0, 1, 1] = &gtk::Box {
                                    set_orientation: gtk::Orientation::Vertical,
                                    #[local_ref]
                                    y_top -> gtk::Label {
                                        set_xalign: 1.0,
                                        set_valign: gtk::Align::Start,
                                        add_css_class: "caption",
                                        add_css_class: "dim-label",
                                        #[watch]
                                        set_label: &model.axis.0[0],
                                    },
                                    gtk::Label {
                                        set_xalign: 1.0,
                                        set_vexpand: true,
                                        set_valign: gtk::Align::Center,
                                        add_css_class: "caption",
                                        add_css_class: "dim-label",
                                        #[watch]
                                        set_label: &model.axis.0[1],
                                    },
                                    gtk::Label {
                                        set_xalign: 1.0,
                                        set_valign: gtk::Align::End,
                                        add_css_class: "caption",
                                        add_css_class: "dim-label",
                                        #[watch]
                                        set_label: &model.axis.0[2],
                                    },
                                },
                                attach: (&chart, 1, 0, 1, 1),
                                attach[1, 1, 1, 1] = &gtk::Box {
                                    set_homogeneous: true,
                                    gtk::Label {
                                        set_xalign: 0.0,
                                        add_css_class: "caption",
                                        add_css_class: "dim-label",
                                        #[watch]
                                        set_label: &model.axis.1[0],
                                    },
                                    gtk::Label {
                                        set_xalign: 1.0,
                                        add_css_class: "caption",
                                        add_css_class: "dim-label",
                                        #[watch]
                                        set_label: &model.axis.1[1],
                                    },
                                },
                            },
                            gtk::Label {
                                set_xalign: 0.0,
                                add_css_class: "heading",
                                set_label: &tr("Peers"),
                            },
                            #[name = "peers"]
                            gtk::ListBox {
                                add_css_class: "boxed-list",
                                set_selection_mode: gtk::SelectionMode::None,
                            },
                        },
                    },
                },
            },
        }
    }

    fn init(
        (backend, job): Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let history: History = Default::default();
        let y_top = gtk::Label::new(None);
        let model = TransferView {
            chart: speed_chart::chart(history.clone(), y_top.clone()),
            history,
            snapshot: None,
            pieces: PieceMap::default(),
            opened: std::time::Instant::now(),
            axis: speed_chart::text(&[]),
            ended: false,
        };
        let chart = model.chart.clone();
        crate::ui::a11y::set_description(&chart, &model.axis.2);
        let widgets = view_output!();
        // Escape and Ctrl+W close the view, as GNOME's secondary windows do.
        let keys = gtk::ShortcutController::new();
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string(CLOSE_KEYS),
            Some(gtk::NamedAction::new("window.close")),
        ));
        root.add_controller(keys);
        let out = sender.command_sender().clone();
        let watch = backend.watch_job(job, move |j, map| {
            out.send(Cmd::Snapshot(Box::new((j, map)))).is_ok()
        });
        sender.oneshot_command(async move {
            watch.await;
            Cmd::Gone
        });
        ComponentParts { model, widgets }
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        cmd: Cmd,
        sender: ComponentSender<Self>,
        _: &Self::Root,
    ) {
        match cmd {
            Cmd::Snapshot(update) => {
                let (j, map) = *update;
                let at = self.opened.elapsed().as_secs_f64();
                speed_chart::push(&self.history, at, j.down_speed, j.up_speed);
                self.axis = speed_chart::text(self.history.borrow_mut().make_contiguous());
                crate::ui::a11y::set_description(&self.chart, &self.axis.2);
                self.chart.queue_draw();
                if !map.0.is_empty() {
                    widgets.map.set_paintable(Some(&piece_map::texture(&map)));
                }
                self.pieces = map;
                while let Some(row) = widgets.peers.first_child() {
                    widgets.peers.remove(&row);
                }
                for p in &j.peers {
                    let row = adw::ActionRow::builder()
                        .title(&p.address)
                        .subtitle(trf(
                            "{client} · ↓ {down}/s ↑ {up}/s · {fetched} received, {uploaded} sent",
                            &[
                                (
                                    "client",
                                    &p.client.as_deref().map_or_else(
                                        || tr("unknown client"),
                                        |c| escape_controls(c).into_owned(),
                                    ),
                                ),
                                ("down", &glib::format_size(p.down_speed)),
                                ("up", &glib::format_size(p.up_speed)),
                                ("fetched", &glib::format_size(p.fetched)),
                                ("uploaded", &glib::format_size(p.uploaded)),
                            ],
                        ))
                        .use_markup(false)
                        .build();
                    widgets.peers.append(&row);
                }
                self.snapshot = Some(j);
            }
            Cmd::Gone => self.ended = true,
        }
        self.update_view(widgets, sender);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::test_support::{pump_until, runtime};
    use swarmdate_usecases::{Overrides, User};

    #[gtk::test]
    fn escape_and_ctrl_w_close_the_view_and_a_gone_job_says_it_ended() {
        let rt = runtime();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("config")).unwrap();
        std::fs::write(
            home.path().join("config/settings.json"),
            r#"{"loopback_only": true, "listen_port": 0, "sharing": "nobody"}"#,
        )
        .unwrap();
        let user = User::new(Overrides {
            home: Some(home.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        let backend = Backend::new(rt.handle().clone(), user, home.path().join("root"));
        // A job the engine does not have: the view learns it is gone.
        let view = TransferView::builder()
            .launch((backend.clone(), JobId(999)))
            .detach();
        let window = view.widget().clone();
        window.present();
        pump_until("the view to learn the job is gone", || view.model().ended);
        assert_eq!(
            view.model().summary(),
            "This transfer has ended: nothing more will change here."
        );

        let shortcuts: Vec<gtk::Shortcut> = window
            .observe_controllers()
            .iter::<glib::Object>()
            .filter_map(|c| c.ok()?.downcast::<gtk::ShortcutController>().ok())
            .flat_map(|c| {
                c.iter::<glib::Object>()
                    .filter_map(|s| s.ok()?.downcast::<gtk::Shortcut>().ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        let close = shortcuts
            .iter()
            .find(|s| s.trigger().is_some_and(|t| t.to_str() == CLOSE_KEYS))
            .expect("a shortcut on Escape and Ctrl+W");
        let action = close.action().expect("the shortcut has an action");
        assert_eq!(action.to_str(), "action(window.close)");
        assert!(window.is_visible());
        action.activate(gtk::ShortcutActionFlags::empty(), &window, None);
        pump_until("the view to close", || !window.is_visible());
        backend.shutdown();
    }
}
