//! A transaction's details, opened from its row: when, who asked, how it ended, and each
//! package it changed (from which build to which, and where a new build's file came from).

use adw::prelude::*;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::packages::{DnfAction, HistoryItem as Change, HistoryResult, ItemAction};
use swarmdate_core::text::escape_controls;
use swarmdate_usecases::history::{Listed, counts};

use super::row::when;
use crate::ui::backend::HistoryItem;

/// Where a build's file came from, for people (the history keeps a label).
fn source(label: &str) -> String {
    match (label, label.strip_prefix("repository:")) {
        ("swarm", _) => tr("from the swarm"),
        ("store", _) => tr("from the store"),
        (_, Some(id)) => trf("from the repository {id}", &[("id", &id)]),
        _ => trf("from {source}", &[("source", &label)]),
    }
}

/// One package a Swarmdate transaction changed: (its name, what happened to it).
fn change(c: &Change) -> (String, String) {
    let replaced = c
        .replaced
        .iter()
        .map(|r| match r.name == c.package.name {
            true => r.evr.to_string(),
            false => r.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let what = match c.action {
        ItemAction::Install => trf("installed {version}", &[("version", &c.package.evr)]),
        ItemAction::Remove => trf("removed {version}", &[("version", &c.package.evr)]),
        ItemAction::Upgrade => trf(
            "upgraded {from} → {to}",
            &[("from", &replaced), ("to", &c.package.evr)],
        ),
        ItemAction::Downgrade => trf(
            "downgraded {from} → {to}",
            &[("from", &replaced), ("to", &c.package.evr)],
        ),
    };
    let line = match c.file.as_ref().and_then(|f| f.from.as_deref()) {
        Some(from) => format!("{what} · {}", source(from)),
        None => what,
    };
    (c.package.name.clone(), line)
}

/// What dnf did to a package, for people.
fn dnf_action(a: DnfAction) -> String {
    match a {
        DnfAction::Install => tr("installed"),
        DnfAction::Upgrade => tr("came in as an upgrade"),
        DnfAction::Upgraded => tr("left for an upgrade"),
        DnfAction::Downgrade => tr("came in as a downgrade"),
        DnfAction::Downgraded => tr("left for a downgrade"),
        DnfAction::Obsolete => tr("came in, obsoleting another"),
        DnfAction::Obsoleted => tr("left, obsoleted by another"),
        DnfAction::Remove => tr("removed"),
        DnfAction::Reinstall => tr("installed again"),
        DnfAction::Reinstalled => tr("left for its reinstall"),
        DnfAction::ReasonChange => tr("kept; its reason changed"),
        DnfAction::Other(n) => trf("dnf's action {n}", &[("n", &n)]),
    }
}

/// The dialog's heading, body and one (title, subtitle) per package changed.
pub fn text(item: &HistoryItem) -> (String, String, Vec<(String, String)>) {
    let user = item.user.clone().unwrap_or_else(|| tr("an unknown user"));
    match &item.listed {
        Listed::Swarmdate(e) => {
            let heading = trf(
                "Transaction {id}: {command}",
                &[("id", &e.id), ("command", &escape_controls(&e.command))],
            );
            let mut body = vec![trf(
                "Asked by {user} on {when}.",
                &[("user", &user), ("when", &when(e.began))],
            )];
            if let Some(undid) = e.undoes {
                body.push(trf("It undid transaction {id}.", &[("id", &undid)]));
            }
            body.push(match &e.result {
                HistoryResult::Done => trf(
                    "Done: {changes}.",
                    &[("changes", &counts(e.items.iter().map(|i| i.action)))],
                ),
                HistoryResult::Failed(why) => {
                    trf("It failed: {why}", &[("why", &super::lines_of(why))])
                }
                HistoryResult::Unfinished => {
                    tr("It did not finish: it is still running, or its process was stopped.")
                }
            });
            (
                heading,
                body.join("\n"),
                e.items.iter().map(change).collect(),
            )
        }
        Listed::Dnf(t) => {
            let heading = trf(
                "dnf transaction {id}: {command}",
                &[("id", &t.id), ("command", &escape_controls(&t.command))],
            );
            let body = [
                trf(
                    "Made with {dnf} outside Swarmdate by {user} on {when}; it cannot be undone here.",
                    &[("dnf", &t.dnf), ("user", &user), ("when", &when(t.begin))],
                ),
                if t.ok {
                    tr("dnf recorded it as done.")
                } else {
                    tr("dnf did not record it as done.")
                },
            ];
            let items = t
                .items
                .iter()
                .map(|i| {
                    let what = trf(
                        "{version} · {action}",
                        &[("version", &i.nevra.evr), ("action", &dnf_action(i.action))],
                    );
                    (i.nevra.name.clone(), what)
                })
                .collect();
            (heading, body.join("\n"), items)
        }
    }
}

/// The packages of a transaction or an undo, one row each (name, what happens to it), in a
/// list that scrolls past a few rows, for a message dialog's extra child.
pub fn package_list(lines: &[(String, String)]) -> gtk::ScrolledWindow {
    let list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    for (name, what) in lines {
        list.append(
            &adw::ActionRow::builder()
                .title(escape_controls(name).as_ref())
                .subtitle(escape_controls(what).as_ref())
                .use_markup(false)
                .build(),
        );
    }
    gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .propagate_natural_height(true)
        .max_content_height(240)
        .child(&list)
        .visible(!lines.is_empty())
        .build()
}

/// Shows `item`'s details over the window of `over`: the packages in a list that scrolls.
pub fn show(over: &impl IsA<gtk::Widget>, item: &HistoryItem) -> adw::MessageDialog {
    let (heading, body, changes) = text(item);
    let dialog = adw::MessageDialog::new(
        over.root().and_downcast_ref::<gtk::Window>(),
        Some(&heading),
        Some(&body),
    );
    dialog.set_extra_child(Some(&package_list(&changes)));
    dialog.add_response("close", &tr("Close"));
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");
    dialog.present();
    dialog
}
