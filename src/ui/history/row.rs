//! One row of the History dialog: what was asked, when, how it ended, what it changed and who
//! asked; Swarmdate's transactions have an Undo… button, dnf's say where they were made. A row
//! opens the transaction's details.

use adw::prelude::*;
use gtk::glib;
use relm4::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};
use swarmdate_core::packages::HistoryResult;
use swarmdate_core::text::escape_controls;
use swarmdate_usecases::history::{Listed, counts, result_word};

use crate::ui::backend::HistoryItem;

/// The row's model: the transaction it shows.
#[derive(Debug)]
pub struct HistoryRow {
    /// What it shows.
    pub item: HistoryItem,
    /// An undo is being planned or run: no other can start.
    pub busy: bool,
}

/// What a row asks of the dialog.
#[derive(Debug)]
pub enum RowOutput {
    /// Undo the transaction with this number.
    Undo(i64),
    /// Show the details of the row at this place.
    Details(DynamicIndex),
}

/// A time from the history, in the local zone, as the locale writes dates and times.
pub fn when(t: i64) -> String {
    glib::DateTime::from_unix_local(t)
        .and_then(|d| d.format("%x %X"))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// The row's title: what was asked.
pub fn title(item: &HistoryItem) -> String {
    let command = match &item.listed {
        Listed::Swarmdate(e) => e.command.clone(),
        // Its options (config files, the root) in a title hide what it did.
        Listed::Dnf(t) => swarmdate_usecases::history::dnf_what(&t.command),
    };
    escape_controls(&command).into_owned()
}

/// The row's subtitle: when, the result and the counts, who asked; for dnf's, that it was made
/// with dnf outside Swarmdate.
pub fn subtitle(item: &HistoryItem) -> String {
    let user = item.user.clone().unwrap_or_else(|| tr("an unknown user"));
    let line = match &item.listed {
        Listed::Swarmdate(e) => trf(
            "{when} · {result}: {changes} · by {user}",
            &[
                ("when", &when(e.began)),
                ("result", &result_word(&e.result)),
                ("changes", &counts(e.items.iter().map(|i| i.action))),
                ("user", &user),
            ],
        ),
        Listed::Dnf(t) => trn(
            "{when} · {result}: {n} package · made with dnf outside Swarmdate, by {user}",
            "{when} · {result}: {n} packages · made with dnf outside Swarmdate, by {user}",
            t.items.len() as u64,
            &[
                ("when", &when(t.begin)),
                ("result", &if t.ok { tr("done") } else { tr("failed") }),
                ("n", &t.items.len()),
                ("user", &user),
            ],
        ),
    };
    escape_controls(&line).into_owned()
}

/// The number of the transaction the row's Undo… undoes: Swarmdate's that changed something.
pub fn undoable(item: &HistoryItem) -> Option<i64> {
    match &item.listed {
        Listed::Swarmdate(e) if !e.items.is_empty() => Some(e.id),
        _ => None,
    }
}

/// The accessible name of a row's Undo… button: which transaction it undoes.
pub fn undo_label(id: i64, command: &str) -> String {
    trf(
        "Undo transaction {id}: {command}",
        &[("id", &id), ("command", &escape_controls(command))],
    )
}

/// The icon beside the title, and what it means: how the transaction ended.
fn result_icon(item: &HistoryItem) -> (&'static str, &'static str, String) {
    let ok = match &item.listed {
        Listed::Swarmdate(e) => match e.result {
            HistoryResult::Done => true,
            HistoryResult::Failed(_) => false,
            HistoryResult::Unfinished => {
                return (
                    "dialog-warning-symbolic",
                    "warning",
                    tr("It did not finish"),
                );
            }
        },
        Listed::Dnf(t) => t.ok,
    };
    if ok {
        ("emblem-ok-symbolic", "success", tr("Done"))
    } else {
        ("dialog-error-symbolic", "error", tr("Failed"))
    }
}

#[relm4::factory(pub)]
impl FactoryComponent for HistoryRow {
    type Init = HistoryItem;
    /// Whether an undo is under way.
    type Input = bool;
    type Output = RowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        adw::ActionRow {
            set_title: &title(&self.item),
            set_subtitle: &subtitle(&self.item),
            set_use_markup: false,
            set_activatable: true,
            add_prefix = &gtk::Image {
                set_icon_name: Some(icon),
                set_pixel_size: 16,
                add_css_class: class,
                set_tooltip_text: Some(&meaning),
            },
            #[name = "undo"]
            add_suffix = &gtk::Button {
                set_label: &tr("Undo…"),
                set_valign: gtk::Align::Center,
                set_visible: undoable(&self.item).is_some(),
                set_tooltip_text: Some(&tr("Reverse this transaction: what it replaced or removed comes back, what it added goes")),
                #[watch]
                set_sensitive: !self.busy,
                connect_clicked[sender, id = undoable(&self.item)] => move |_| {
                    if let Some(id) = id {
                        let _ = sender.output(RowOutput::Undo(id));
                    }
                },
            },
            add_suffix = &gtk::Image {
                set_icon_name: Some("go-next-symbolic"),
                set_pixel_size: 16,
            },
            connect_activated[sender, index = index.clone()] => move |_| {
                let _ = sender.output(RowOutput::Details(index.clone()));
            },
        }
    }

    fn init_model(item: Self::Init, _: &DynamicIndex, _: FactorySender<Self>) -> Self {
        HistoryRow { item, busy: false }
    }

    fn update(&mut self, busy: bool, _: FactorySender<Self>) {
        self.busy = busy;
    }

    fn init_widgets(
        &mut self,
        index: &DynamicIndex,
        root: Self::Root,
        _returned_widget: &gtk::ListBoxRow,
        sender: FactorySender<Self>,
    ) -> Self::Widgets {
        let (icon, class, meaning) = result_icon(&self.item);
        crate::ui::a11y::set_description(&root, &tr("Opens the transaction's details"));
        let widgets = view_output!();
        if let Listed::Swarmdate(e) = &self.item.listed {
            // "Undo…" alone does not say which of the rows' buttons this is.
            crate::ui::a11y::set_label(&widgets.undo, &undo_label(e.id, &e.command));
        }
        widgets
    }
}
