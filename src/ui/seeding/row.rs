//! One row of the Seeding page: a torrent, what it uploaded, its ratio and peers, and a pause
//! switch.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::text::escape_controls;
use swarmdate_engine::JobId;

use crate::ui::backend::SeedItem;

/// The row's model: the torrent it shows.
#[derive(Debug)]
pub struct SeedRow {
    /// What it shows.
    pub item: SeedItem,
}

/// What a row asks of the page.
#[derive(Debug)]
pub enum RowOutput {
    /// Pause (true) or resume (false) this job.
    Pause(JobId, bool),
}

/// New figures for the row.
#[derive(Debug)]
pub struct Refresh(pub SeedItem);

impl SeedRow {
    /// "1.2 MB uploaded · ratio 0.40 · 3 peers helped · 2 connected · 10 kB/s"
    pub fn subtitle(&self) -> String {
        let i = &self.item;
        let ratio = if i.size == 0 {
            0.0
        } else {
            i.uploaded as f64 / i.size as f64
        };
        let figures = trn(
            "{up} uploaded · ratio {ratio} · {served} peer helped · {peers} connected · {speed}/s",
            "{up} uploaded · ratio {ratio} · {served} peers helped · {peers} connected · {speed}/s",
            i.peers_served,
            &[
                ("up", &glib::format_size(i.uploaded)),
                ("ratio", &format!("{ratio:.2}")),
                ("served", &i.peers_served),
                ("peers", &i.peers),
                ("speed", &glib::format_size(i.up_speed)),
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
    type Init = SeedItem;
    type Input = Refresh;
    type Output = RowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            set_title: &escape_controls(&self.item.name),
            set_use_markup: false,
            #[watch]
            set_subtitle: &self.subtitle(),
            add_suffix = &gtk::Switch {
                set_valign: gtk::Align::Center,
                set_tooltip_text: Some(&tr("Share this with other peers")),
                #[watch]
                #[block_signal(toggled)]
                set_active: !self.item.paused,
                connect_active_notify[sender, job = self.item.job] => move |s| {
                    let _ = sender.output(RowOutput::Pause(job, !s.is_active()));
                } @toggled,
            },
        }
    }

    fn init_model(item: Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        SeedRow { item }
    }

    fn update(&mut self, Refresh(item): Refresh, _: FactorySender<Self>) {
        self.item = item;
    }
}
