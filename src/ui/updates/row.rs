//! One row of the Updates page: the package, installed → new version, its summary and size.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::plan::ChangeKind;
use swarmdate_core::text::escape_controls;

use crate::ui::backend::UpdateItem;

/// The row's model: the update it shows.
#[derive(Debug)]
pub struct UpdateRow {
    /// What it shows.
    pub item: UpdateItem,
}

impl UpdateRow {
    /// "1.0-1 → 1.1-1", or how a package without an installed build comes in.
    fn versions(&self) -> String {
        let i = &self.item;
        match i.kind {
            ChangeKind::Install if i.from.is_empty() => {
                trf("new: {version}", &[("version", &i.to)])
            }
            ChangeKind::InstallBeside => {
                trf("{version}, beside the installed", &[("version", &i.to)])
            }
            _ => format!("{} → {}", i.from, i.to),
        }
    }

    fn size(&self) -> String {
        if self.item.download == 0 {
            tr("in the store")
        } else {
            glib::format_size(self.item.download).to_string()
        }
    }
}

#[relm4::factory(pub)]
impl FactoryComponent for UpdateRow {
    type Init = UpdateItem;
    type Input = ();
    type Output = ();
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            set_title: &escape_controls(&self.item.name),
            set_subtitle: &escape_controls(&subtitle),
            set_activatable: false,
            set_use_markup: false,
            add_suffix = &gtk::Label {
                add_css_class: "dim-label",
                add_css_class: "update-size",
                set_label: &self.size(),
            },
        }
    }

    fn init_model(item: Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        UpdateRow { item }
    }

    fn init_widgets(
        &mut self,
        _index: &DynamicIndex,
        root: Self::Root,
        _returned_widget: &gtk::ListBoxRow,
        _sender: FactorySender<Self>,
    ) -> Self::Widgets {
        let subtitle = if self.item.summary.is_empty() {
            self.versions()
        } else {
            format!("{} · {}", self.versions(), self.item.summary)
        };
        let widgets = view_output!();
        widgets
    }
}
