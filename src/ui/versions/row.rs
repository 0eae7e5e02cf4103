//! One row of the Versions page: a version, its date and size, and for every version but the
//! local image's the exact download and an Upgrade or Downgrade button.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::text::escape_controls;

use crate::ui::backend::VersionItem;

/// The row's model: the version it shows.
#[derive(Debug)]
pub struct VersionRow {
    /// What it shows.
    pub item: VersionItem,
}

/// What a row asks of the page.
#[derive(Debug)]
pub enum RowOutput {
    /// Switch to the version at this place in the feed.
    Switch(usize),
}

impl VersionRow {
    fn subtitle(&self) -> String {
        let i = &self.item;
        let size = glib::format_size(i.size);
        match i.download {
            None => trf(
                "{date} · {size} · your image",
                &[("date", &i.date), ("size", &size)],
            ),
            Some(d) => trf(
                "{date} · {size} · {download} to download",
                &[
                    ("date", &i.date),
                    ("size", &size),
                    ("download", &glib::format_size(d)),
                ],
            ),
        }
    }

    fn action(&self) -> String {
        if self.item.newer {
            tr("Upgrade")
        } else {
            tr("Downgrade")
        }
    }
}

#[relm4::factory(pub)]
impl FactoryComponent for VersionRow {
    type Init = VersionItem;
    type Input = ();
    type Output = RowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            set_title: &escape_controls(&self.item.version),
            set_subtitle: &self.subtitle(),
            set_use_markup: false,
            add_prefix = &gtk::Image {
                set_icon_name: Some("emblem-ok-symbolic"),
                set_visible: self.item.current,
                set_tooltip_text: Some(&tr("Your image is this version")),
            },
            add_suffix = &gtk::Button {
                set_label: &self.action(),
                set_valign: gtk::Align::Center,
                set_visible: !self.item.current,
                set_tooltip_text: Some(&trf("Switch the image to {version}", &[("version", &self.item.version)])),
                connect_clicked[sender, index = self.item.index] => move |_| {
                    let _ = sender.output(RowOutput::Switch(index));
                },
            },
        }
    }

    fn init_model(item: Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        VersionRow { item }
    }
}
