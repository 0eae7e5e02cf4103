//! One row of the Updates page: the package, installed → new version, its advisory (a shield for
//! security updates), its summary and size; a row with an advisory or a changelog opens the update's details.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::plan::ChangeKind;
use swarmdate_core::text::escape_controls;

use swarmdate_core::repos::AdvisoryKind;

use super::details;
use crate::ui::backend::UpdateItem;

/// Where a row's package is while the update runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Listed, nothing running.
    Listed,
    /// The update runs; its bytes have not all arrived.
    Waiting,
    /// In the store (held before, or arrived), waiting for the install.
    InStore,
    /// Being checked and installed with the others.
    Installing,
}

/// The row's model: the update it shows.
#[derive(Debug)]
pub struct UpdateRow {
    /// What it shows.
    pub item: UpdateItem,
    /// Where its package is.
    pub state: RowState,
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

    /// Its size, or where it is while the update runs.
    pub(super) fn status(&self) -> String {
        match self.state {
            RowState::Listed if self.item.download == 0 => tr("in the store"),
            RowState::Listed => match &self.item.repository {
                Some(id) => trf(
                    "{size} from {repository}",
                    &[
                        ("size", &glib::format_size(self.item.download)),
                        ("repository", id),
                    ],
                ),
                None => glib::format_size(self.item.download).to_string(),
            },
            RowState::Waiting => trf(
                "waiting for {size}",
                &[("size", &glib::format_size(self.item.download))],
            ),
            RowState::InStore => tr("downloaded"),
            RowState::Installing => tr("installing…"),
        }
    }
}

#[relm4::factory(pub)]
impl FactoryComponent for UpdateRow {
    type Init = UpdateItem;
    type Input = RowState;
    /// The row asks for its details.
    type Output = DynamicIndex;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            set_title: &escape_controls(&self.item.name),
            set_subtitle: &escape_controls(&subtitle),
            set_activatable: has_details,
            set_use_markup: false,
            // Every row keeps the room, so that the names line up.
            add_prefix = &gtk::Image {
                set_icon_name: security.then_some("dialog-warning-symbolic"),
                set_pixel_size: 16,
                add_css_class: "warning",
                set_tooltip_text: security.then(|| tr("Security update")).as_deref(),
            },
            add_suffix = &gtk::Label {
                add_css_class: "dim-label",
                add_css_class: "update-size",
                #[watch]
                set_label: &self.status(),
            },
            add_suffix = &gtk::Image {
                set_icon_name: has_details.then_some("go-next-symbolic"),
                set_pixel_size: 16,
            },
            connect_activated[sender, index = index.clone()] => move |_| {
                let _ = sender.output(index.clone());
            },
        }
    }

    fn init_model(item: Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        UpdateRow {
            item,
            state: RowState::Listed,
        }
    }

    fn update(&mut self, state: RowState, _: FactorySender<Self>) {
        self.state = state;
    }

    fn init_widgets(
        &mut self,
        index: &DynamicIndex,
        root: Self::Root,
        _returned_widget: &gtk::ListBoxRow,
        sender: FactorySender<Self>,
    ) -> Self::Widgets {
        let subtitle = [
            Some(self.versions()),
            details::row_line(&self.item),
            Some(self.item.summary.clone()).filter(|s| !s.is_empty()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
        let has_details = !self.item.advisories.is_empty() || !self.item.changelog.is_empty();
        let security = self
            .item
            .advisories
            .iter()
            .any(|a| a.kind == AdvisoryKind::Security);
        if has_details {
            crate::ui::a11y::set_description(&root, &tr("Opens the update's details"));
        }
        let widgets = view_output!();
        widgets
    }
}
