//! An update's details, opened from its row: the advisories it brings (kind, severity, id, title,
//! date, what it says, CVEs and bugs, a suggested restart), its changelog entries and its size.

use adw::prelude::*;
use gtk::glib;

use swarmdate_core::i18n::{tr, trf};
use swarmdate_core::repos::{Advisory, AdvisoryKind, ReferenceKind};

use crate::ui::backend::UpdateItem;

/// What an advisory is, for people ("Security update").
pub fn kind_label(kind: AdvisoryKind) -> String {
    match kind {
        AdvisoryKind::Security => tr("Security update"),
        AdvisoryKind::Bugfix => tr("Bug fix"),
        AdvisoryKind::Enhancement => tr("Enhancement"),
        AdvisoryKind::Newpackage => tr("New package"),
        AdvisoryKind::Other => tr("Update"),
    }
}

/// The severity as the distribution states it, unless it states none.
fn severity(a: &Advisory) -> Option<&str> {
    a.severity
        .as_deref()
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
}

/// One line for a row: "Security update, Critical · CVE-2026-20001"; none without advisories.
pub fn row_line(item: &UpdateItem) -> Option<String> {
    let a = item.advisories.first()?;
    let mut line = match severity(a) {
        Some(s) => trf(
            "{kind}, {severity}",
            &[("kind", &kind_label(a.kind)), ("severity", &s)],
        ),
        None => kind_label(a.kind),
    };
    let cves: Vec<&str> = item.advisories.iter().flat_map(Advisory::cves).collect();
    if !cves.is_empty() {
        line = format!("{line} · {}", cves.join(", "));
    }
    Some(line)
}

/// The dialog's heading and body.
pub fn text(item: &UpdateItem) -> (String, String) {
    let heading = trf(
        "{name} {version}",
        &[("name", &item.name), ("version", &item.to)],
    );
    let mut body = Vec::new();
    for a in &item.advisories {
        let mut part = vec![match severity(a) {
            Some(s) => trf(
                "{kind} {id}, severity {severity}",
                &[
                    ("kind", &kind_label(a.kind)),
                    ("id", &a.id),
                    ("severity", &s),
                ],
            ),
            None => trf(
                "{kind} {id}",
                &[("kind", &kind_label(a.kind)), ("id", &a.id)],
            ),
        }];
        part.push(a.title.clone());
        if let Some(issued) = &a.issued {
            part.push(trf("Issued {date}", &[("date", issued)]));
        }
        if !a.description.is_empty() {
            part.push(a.description.clone());
        }
        for r in &a.references {
            let what = match r.kind {
                ReferenceKind::Cve | ReferenceKind::Itself | ReferenceKind::Other => r.id.clone(),
                ReferenceKind::Bugzilla => trf("Bug {id}", &[("id", &r.id)]),
            };
            let line = match (r.title.is_empty() || r.title == r.id, r.href.is_empty()) {
                (true, true) => what,
                (true, false) => format!("{what}: {}", r.href),
                (false, true) => format!("{what}: {}", r.title),
                (false, false) => format!("{what}: {} ({})", r.title, r.href),
            };
            part.push(line);
        }
        if a.reboot_suggested {
            part.push(tr("A restart is suggested after this update."));
        }
        body.push(part.join("\n"));
    }
    if !item.changelog.is_empty() {
        let mut part = vec![tr("Changes")];
        for e in &item.changelog {
            let day = glib::DateTime::from_unix_utc(e.timestamp as i64)
                .and_then(|d| d.format("%x"))
                .map(|d| d.to_string())
                .unwrap_or_default();
            part.push(format!("{day} {}\n{}", e.author, e.text));
        }
        body.push(part.join("\n"));
    }
    let size = if item.download == 0 {
        tr("Already in the store.")
    } else {
        trf(
            "{size} to download.",
            &[("size", &glib::format_size(item.download))],
        )
    };
    body.push(size);
    (heading, body.join("\n\n"))
}

/// Shows `item`'s details over the window of `over`.
pub fn show(over: &impl IsA<gtk::Widget>, item: &UpdateItem) -> adw::MessageDialog {
    let (heading, body) = text(item);
    let dialog = adw::MessageDialog::new(
        over.root().and_downcast_ref::<gtk::Window>(),
        Some(&heading),
        Some(&body),
    );
    dialog.add_response("close", &tr("Close"));
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");
    dialog.present();
    dialog
}
