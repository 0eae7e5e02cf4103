//! One row of the Seeding page: a thing shared, named for people, what it uploaded, its ratio
//! and peers, and a pause switch. Activating it opens its transfer view.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::feed::RepoKind;
use swarmdate_core::i18n::{decimal, tr, trf, trn};
use swarmdate_core::text::escape_controls;
use swarmdate_engine::JobId;

use crate::ui::backend::{SeedItem, Shared};

/// The row's model: the torrent it shows and its name.
#[derive(Debug)]
pub struct SeedRow {
    /// What it shows.
    pub item: SeedItem,
    /// Its name for people (unique on the page).
    pub title: String,
}

/// What a row asks of the page.
#[derive(Debug)]
pub enum RowOutput {
    /// Pause (true) or resume (false) this job.
    Pause(JobId, bool),
    /// Open this job's transfer view.
    Open(JobId),
}

/// New figures for the row, and its name.
#[derive(Debug)]
pub struct Refresh(pub SeedItem, pub String);

/// What a torrent is, for people: "Fedora 41 updates, snapshot of 2 Dec", "Fedora 1.02".
pub fn name(shared: &Shared) -> String {
    match shared {
        Shared::Image {
            distribution,
            version,
        } => trf(
            "{distribution} {version}",
            &[("distribution", distribution), ("version", version)],
        ),
        Shared::Repository {
            distribution,
            release,
            kind: RepoKind::Release,
            ..
        } => trf(
            "{distribution} {release} packages as released",
            &[("distribution", distribution), ("release", release)],
        ),
        Shared::Repository {
            distribution,
            release,
            kind: RepoKind::Updates,
            date,
        } => trf(
            "{distribution} {release} updates, snapshot of {date}",
            &[
                ("distribution", distribution),
                ("release", release),
                ("date", &day(date.timestamp())),
            ],
        ),
        Shared::Packages { name } => trf(
            "Packages from {folder} (no longer in the feed)",
            &[("folder", name)],
        ),
        Shared::Other { name } => name.clone(),
    }
}

/// A day as the locale writes it briefly ("2 Dec").
fn day(unix: i64) -> String {
    glib::DateTime::from_unix_local(unix)
        .ok()
        // Translators: a day in a row's name, as glib's g_date_time_format writes it ("2 Dec").
        .and_then(|d| d.format(&tr("%-d %b")).ok())
        .map_or_else(|| unix.to_string(), |s| s.to_string())
}

/// Every item's name, made unique: a name two items share gets its torrent's short hash.
pub fn names(items: &[SeedItem]) -> Vec<String> {
    let plain: Vec<String> = items
        .iter()
        .map(|i| escape_controls(&name(&i.shared)).into_owned())
        .collect();
    plain
        .iter()
        .zip(items)
        .map(|(n, i)| match plain.iter().filter(|m| *m == n).count() {
            1 => n.clone(),
            _ => format!("{n} ({})", &i.info_hash.to_string()[..8]),
        })
        .collect()
}

impl SeedRow {
    /// "1.2 MB uploaded · ratio 0.40 · 3 peers helped · 2 connected · 10 kB/s"
    pub fn subtitle(&self) -> String {
        let i = &self.item;
        if i.job.is_none() {
            return trn(
                "No longer shared · {up} uploaded · {served} peer helped",
                "No longer shared · {up} uploaded · {served} peers helped",
                i.peers_served,
                &[
                    ("up", &glib::format_size(i.uploaded)),
                    ("served", &i.peers_served),
                ],
            );
        }
        let ratio = if i.size == 0 {
            0.0
        } else {
            i.uploaded as f64 / i.size as f64
        };
        let figures = trn(
            "{up} uploaded · ratio {ratio} · {served} peer helped · {peers} connected · {speed} kB/s",
            "{up} uploaded · ratio {ratio} · {served} peers helped · {peers} connected · {speed} kB/s",
            i.peers_served,
            &[
                ("up", &glib::format_size(i.uploaded)),
                ("ratio", &decimal(ratio, 2)),
                ("served", &i.peers_served),
                ("peers", &i.peers),
                ("speed", &(i.up_speed / 1000)),
            ],
        );
        let figures = if i.packages_in_images > 0 {
            let from = trn(
                "{n} package from your images",
                "{n} packages from your images",
                i.packages_in_images,
                &[("n", &i.packages_in_images)],
            );
            format!("{figures} · {from}")
        } else {
            figures
        };
        if i.goal_met {
            trf("Goal reached · {figures}", &[("figures", &figures)])
        } else {
            figures
        }
    }
}

#[relm4::factory(pub)]
impl FactoryComponent for SeedRow {
    type Init = (SeedItem, String);
    type Input = Refresh;
    type Output = RowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            #[watch]
            set_title: &self.title,
            set_use_markup: false,
            #[watch]
            set_subtitle: &self.subtitle(),
            // Opens the transfer view (Enter or a click); a torrent no longer shared has none.
            set_activatable: self.item.job.is_some(),
            connect_activated[sender, job = self.item.job] => move |_| {
                if let Some(job) = job {
                    let _ = sender.output(RowOutput::Open(job));
                }
            },
            // Its accessible name names the torrent (`share_label`).
            #[name = "switch"]
            add_suffix = &gtk::Switch {
                set_valign: gtk::Align::Center,
                set_visible: self.item.job.is_some(),
                set_tooltip_text: Some(&tr("Share this with other peers")),
                #[watch]
                #[block_signal(toggled)]
                set_active: !self.item.paused,
                connect_active_notify[sender, job = self.item.job] => move |s| {
                    if let Some(job) = job {
                        let _ = sender.output(RowOutput::Pause(job, !s.is_active()));
                    }
                } @toggled,
            },
        }
    }

    fn init_model((item, title): Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        SeedRow { item, title }
    }

    fn init_widgets(
        &mut self,
        _: &DynamicIndex,
        root: Self::Root,
        _: &gtk::ListBoxRow,
        sender: FactorySender<Self>,
    ) -> Self::Widgets {
        let widgets = view_output!();
        crate::ui::a11y::set_label(&widgets.switch, &share_label(&self.title));
        widgets
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        Refresh(item, title): Refresh,
        sender: FactorySender<Self>,
    ) {
        if title != self.title {
            crate::ui::a11y::set_label(&widgets.switch, &share_label(&title));
        }
        self.item = item;
        self.title = title;
        self.update_view(widgets, sender);
    }
}

/// The switch's accessible name: "Share Fedora 1.02".
fn share_label(title: &str) -> String {
    trf("Share {name}", &[("name", &title)])
}
