//! The History dialog on real data: the demo distribution and its rpm root, updated as the
//! Updates page updates it; rpm's list, not the dialog, judges what an undo did.

use adw::prelude::*;
use relm4::prelude::*;
use std::collections::BTreeSet;

use swarmdate_core::packages::{HistoryResult, ItemAction, Nevra};
use swarmdate_usecases::history::{Listed, counts};
use swarmdate_usecases::{Overrides, User};

use super::{HistoryDialog, Phase, Undoing};
use crate::ui::backend::{Backend, StopSwitch};
use crate::ui::test_support::{demo, dnf_in, installed_in, pump_until, runtime, stop};

/// Every widget of type `T` below `w`, in order.
fn descendants<T: IsA<gtk::Widget>>(w: &gtk::Widget) -> Vec<T> {
    let mut found = Vec::new();
    let mut child = w.first_child();
    while let Some(c) = child {
        if let Ok(t) = c.clone().downcast::<T>() {
            found.push(t);
        }
        found.extend(descendants::<T>(&c));
        child = c.next_sibling();
    }
    found
}

/// The dialog's rows, top first.
fn rows(dialog: &Controller<HistoryDialog>) -> Vec<adw::ActionRow> {
    descendants(dialog.model().rows.widget().upcast_ref())
}

/// The button of `row` whose accessible name is `name`.
fn button_named(row: &adw::ActionRow, name: &str) -> Option<gtk::Button> {
    descendants::<gtk::Button>(row.upcast_ref())
        .into_iter()
        .find(|b| crate::ui::a11y::label_of(b).as_deref() == Some(name))
}

/// What rpm's lists before and after say a transaction did, as the history counts it: by name,
/// a build that replaced another is an upgrade or a downgrade, a new name an install (a kernel
/// beside the others too), a name that went a removal.
fn actions(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<(ItemAction, Nevra)> {
    let parse = |s: &String| s.parse::<Nevra>().unwrap();
    let came: Vec<Nevra> = after.difference(before).map(parse).collect();
    let gone: Vec<Nevra> = before.difference(after).map(parse).collect();
    let mut out = Vec::new();
    for c in &came {
        out.push(match gone.iter().find(|g| g.name == c.name) {
            Some(g) if c.evr.rpm_cmp(&g.evr).is_gt() => (ItemAction::Upgrade, c.clone()),
            Some(_) => (ItemAction::Downgrade, c.clone()),
            None => (ItemAction::Install, c.clone()),
        });
    }
    for g in gone
        .iter()
        .filter(|g| !came.iter().any(|c| c.name == g.name))
    {
        out.push((ItemAction::Remove, g.clone()));
    }
    out
}

/// The (title, subtitle) of every row in a message dialog's extra child: its packages.
fn listed(dialog: &adw::MessageDialog) -> Vec<(String, String)> {
    descendants::<adw::ActionRow>(dialog.extra_child().unwrap().upcast_ref())
        .iter()
        .map(|r| {
            (
                r.title().to_string(),
                r.subtitle().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[gtk::test]
fn with_nothing_recorded_the_dialog_says_so() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let client = User::new(Overrides {
        home: Some(home.path().to_owned()),
        ..Default::default()
    })
    .unwrap();
    let backend = Backend::new(rt.handle().clone(), client, home.path().to_owned());
    let dialog = HistoryDialog::builder().launch(backend).detach();
    dialog.widget().present();
    pump_until("the history", || dialog.model().is_settled());
    assert_eq!(dialog.model().phase, Phase::Empty);
    let page = dialog.widgets().empty_page.clone();
    assert!(page.is_mapped());
    assert_eq!(page.title(), "No transactions yet");
    dialog.widget().close();
}

/// An update listed with the counts rpm's lists give and an Undo; Undo names what comes back
/// and what goes, and once confirmed rpm has exactly what it had before the update. Undoing
/// the same transaction again is refused and changes nothing; the undo itself can be undone
/// (asked, then cancelled). A transaction made with dnf is listed as dnf's, without Undo.
#[gtk::test]
fn an_update_is_listed_and_its_undo_gives_back_exactly_what_rpm_had() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let root = world.package_root.clone();
    let backend = Backend::new(rt.handle().clone(), client, root.clone());
    let before = installed_in(&root);

    // The update, as the Updates page runs it.
    let available = rt.block_on(backend.check_updates()).unwrap();
    let tx = available.transaction.expect("updates on offer");
    rt.block_on(backend.apply(tx, |_| {}, StopSwitch::default()))
        .unwrap();
    let updated = installed_in(&root);
    let did = actions(&before, &updated);
    assert!(did.iter().any(|(a, _)| *a == ItemAction::Remove), "{did:?}");
    assert!(
        did.iter().any(|(a, _)| *a == ItemAction::Install),
        "{did:?}"
    );

    let dialog = HistoryDialog::builder().launch(backend.clone()).detach();
    dialog.widget().present();
    pump_until("the history", || dialog.model().is_settled());
    assert_eq!(dialog.model().phase, Phase::Listed);
    let items = dialog.model().items();
    assert_eq!(items.len(), 1, "{items:?}");
    let shown = rows(&dialog);
    assert_eq!(shown.len(), 1);
    let row = &shown[0];
    assert_eq!(row.title(), "update");
    let subtitle = row.subtitle().unwrap_or_default().to_string();
    let expected = counts(did.iter().map(|(a, _)| *a));
    assert!(
        subtitle.contains(&format!("done: {expected} · by ")),
        "{subtitle} vs {expected}"
    );
    let undo = button_named(row, "Undo transaction 1: update").expect("an Undo… button");
    assert!(undo.is_visible() && undo.is_sensitive());
    assert_eq!(undo.label().unwrap(), "Undo…");

    // The row opens its details: one line per package, as rpm's lists have them.
    ActionRowExt::activate(row);
    pump_until("the details", || dialog.model().details.is_some());
    let details = dialog.model().details.clone().unwrap();
    assert_eq!(details.heading().unwrap(), "Transaction 1: update");
    assert!(
        details.body().contains(&format!("Done: {expected}.")),
        "{}",
        details.body()
    );
    let lines: BTreeSet<String> =
        descendants::<adw::ActionRow>(details.extra_child().unwrap().upcast_ref())
            .iter()
            .map(|r| r.title().to_string())
            .collect();
    let names: BTreeSet<String> = did.iter().map(|(_, n)| n.name.clone()).collect();
    assert_eq!(lines, names);
    details.close();

    // Undo: a spinner while it is planned, then one question.
    undo.emit_clicked();
    pump_until("the undo to be planned", || {
        dialog.model().undoing != Undoing::Idle
    });
    if dialog.model().undoing == Undoing::Planning(1) {
        assert!(dialog.widgets().planning.is_mapped());
    }
    // No second undo while one is planned or asked (the rows hear of it on the main loop).
    pump_until("the Undo buttons to wait", || !undo.is_sensitive());
    pump_until("the confirmation", || dialog.model().confirmation.is_some());
    let asked = dialog.model().confirmation.clone().unwrap();
    assert_eq!(asked.heading().unwrap(), "Undo transaction 1?");
    let body = asked.body().to_string();
    let lines = listed(&asked);
    let old = |n: &Nevra| {
        before
            .iter()
            .map(|s| s.parse::<Nevra>().unwrap())
            .find(|o| o.name == n.name)
            .unwrap()
    };
    let mut expected: Vec<(String, String)> = did
        .iter()
        .map(|(action, n)| {
            let what = match action {
                // The build it replaced comes back in its place.
                ItemAction::Upgrade | ItemAction::Downgrade => {
                    format!("{} → {}", n.evr, old(n).evr)
                }
                // What it added goes.
                ItemAction::Install => format!("{} will be removed", n.evr),
                // What it removed comes back.
                ItemAction::Remove => format!("{} will be installed again", n.evr),
            };
            (n.name.clone(), what)
        })
        .collect();
    let mut got = lines.clone();
    // A restored build that replaces what the update brought in under another name says so.
    for (_, what) in &mut got {
        if let Some(cut) = what.find(", replacing ") {
            what.truncate(cut);
        }
    }
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "{body}");
    // Removals lead the list: they are what could break something.
    let removed = did
        .iter()
        .filter(|(a, _)| *a == ItemAction::Install)
        .count();
    assert!(
        lines[..removed]
            .iter()
            .all(|(_, w)| w.ends_with("will be removed")),
        "{lines:?}"
    );
    let (back, going) = (did.len() - removed, removed);
    for sentence in [
        format!("{back} packages will be installed."),
        format!(
            "{going} package{} will be removed.",
            if going == 1 { "" } else { "s" }
        ),
    ] {
        assert!(body.contains(&sentence), "{sentence:?} in {body}");
    }
    assert!(body.contains("This reverses “update” of "), "{body}");
    assert!(
        body.contains("to download.") || body.contains("Nothing to download"),
        "{body}"
    );
    // Enter confirms: the focus is on the Undo response, not in the list.
    let default = asked
        .default_widget()
        .and_downcast::<gtk::Button>()
        .unwrap();
    assert_eq!(default.label().unwrap(), "Undo");
    assert_eq!(
        gtk::prelude::GtkWindowExt::focus(&asked),
        Some(default.upcast())
    );
    asked.response("confirm");
    pump_until("the undo to run", || {
        matches!(dialog.model().undoing, Undoing::Running(1))
    });
    pump_until("the undo to end", || {
        dialog.model().undoing == Undoing::Idle
    });
    let notice = dialog.model().notice.clone().unwrap_or_default();
    assert!(notice.starts_with("Transaction 1 is undone."), "{notice}");
    // rpm says: exactly what it had before the update.
    assert_eq!(installed_in(&root), before);

    // The list reads the history again: the undo on top.
    pump_until("the undo listed", || dialog.model().items().len() == 2);
    let items = dialog.model().items();
    let Listed::Swarmdate(top) = &items[0].listed else {
        panic!("{items:?}");
    };
    assert_eq!(
        (top.command.as_str(), top.undoes, &top.result),
        ("history undo 1", Some(1), &HistoryResult::Done)
    );
    let shown = rows(&dialog);
    assert_eq!(shown[0].title(), "history undo 1");
    let undo_undo = button_named(&shown[0], "Undo transaction 2: history undo 1").unwrap();
    let undo_again = button_named(&shown[1], "Undo transaction 1: update").unwrap();

    // Undoing the update a second time is refused, and nothing changes.
    assert!(undo_again.is_sensitive());
    undo_again.emit_clicked();
    pump_until("the refusal", || dialog.model().refusal.is_some());
    let refusal = dialog.model().refusal.clone().unwrap();
    assert_eq!(refusal.heading().unwrap(), "Transaction 1 cannot be undone");
    let why = refusal.body().to_string();
    assert!(
        why.contains("is no longer installed") && why.contains("undo the later transactions first"),
        "{why}"
    );
    assert!(dialog.model().confirmation.is_none(), "nothing was asked");
    assert_eq!(dialog.model().undoing, Undoing::Idle);
    refusal.close();
    assert_eq!(installed_in(&root), before);

    // Positive control beside it: the undo itself can be undone (asked, then cancelled).
    undo_undo.emit_clicked();
    pump_until("the second confirmation", || {
        dialog.model().confirmation.is_some()
    });
    let asked = dialog.model().confirmation.clone().unwrap();
    assert_eq!(asked.heading().unwrap(), "Undo transaction 2?");
    let app = did
        .iter()
        .find(|(a, n)| *a == ItemAction::Upgrade && n.name == "app000")
        .map(|(_, n)| n.clone())
        .expect("app000 was upgraded");
    let lines = listed(&asked);
    assert!(
        lines.contains(&("app000".into(), format!("1.0-1.fc41 → {}", app.evr))),
        "{lines:?}"
    );
    asked.response("cancel");
    pump_until("the question to go", || {
        dialog.model().undoing == Undoing::Idle
    });
    assert_eq!(installed_in(&root), before);

    // A transaction made with dnf outside Swarmdate is listed as dnf's, with no Undo.
    let leaf = before
        .iter()
        .map(|s| s.parse::<Nevra>().unwrap())
        .find(|n| n.name.starts_with("app"))
        .unwrap();
    dnf_in(&root, &["remove", &leaf.name]);
    dialog.emit(super::Input::Refresh);
    pump_until("dnf's transaction listed", || {
        dialog.model().items().len() == 3
    });
    assert!(matches!(dialog.model().items()[0].listed, Listed::Dnf(_)));
    let shown = rows(&dialog);
    let subtitle = shown[0].subtitle().unwrap_or_default().to_string();
    assert!(
        subtitle.contains("1 package · made with dnf outside Swarmdate"),
        "{subtitle}"
    );
    assert!(
        descendants::<gtk::Button>(shown[0].upcast_ref())
            .iter()
            .all(|b| !b.is_visible()),
        "no Undo on dnf's row"
    );
    dialog.widget().close();
    backend.shutdown();
    stop(&rt, world);
}
