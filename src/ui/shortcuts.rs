//! The keyboard-shortcuts window (Ctrl+?). GTK 4.8 builds it only from GtkBuilder XML, so the
//! XML is written here with titles from gettext, like every other string the window shows.

use gtk::glib;

use swarmdate_core::i18n::tr;

/// The shortcuts, in groups: (group title, [(accelerator, what it does)]).
fn groups() -> Vec<(String, Vec<(&'static str, String)>)> {
    vec![
        (
            tr("General"),
            vec![
                ("<Control>r F5", tr("Look for updates")),
                ("<Alt>1", tr("Show the updates")),
                ("<Alt>2", tr("Show the versions")),
                ("<Alt>3", tr("Show what is shared")),
                ("<Control>h", tr("Show the history")),
                ("<Control>comma", tr("Preferences")),
                ("<Control>question", tr("Keyboard shortcuts")),
                ("<Control>w", tr("Close the window (sharing goes on)")),
                ("<Control>q", tr("Quit (sharing stops)")),
            ],
        ),
        (
            tr("History"),
            vec![("Escape <Control>w", tr("Close the history"))],
        ),
        (
            tr("Transfer Details"),
            vec![("Escape <Control>w", tr("Close the transfer details"))],
        ),
    ]
}

/// The builder XML of the window.
fn xml() -> String {
    let escape = |s: &str| glib::markup_escape_text(s).to_string();
    let mut out = String::from(
        r#"<interface><object class="GtkShortcutsWindow" id="shortcuts"><property name="modal">1</property><child><object class="GtkShortcutsSection"><property name="section-name">main</property><property name="visible">1</property>"#,
    );
    for (title, shortcuts) in groups() {
        out += &format!(
            r#"<child><object class="GtkShortcutsGroup"><property name="title">{}</property>"#,
            escape(&title)
        );
        for (accel, what) in shortcuts {
            out += &format!(
                r#"<child><object class="GtkShortcutsShortcut"><property name="accelerator">{}</property><property name="title">{}</property></object></child>"#,
                escape(accel),
                escape(&what)
            );
        }
        out += "</object></child>";
    }
    out + "</object></child></object></interface>"
}

/// A new shortcuts window.
pub fn window() -> gtk::ShortcutsWindow {
    gtk::Builder::from_string(&xml())
        .object("shortcuts")
        .expect("the shortcuts window's XML names it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gtk::prelude::*;

    #[gtk::test]
    fn every_shortcut_is_listed_with_its_title() {
        adw::init().unwrap();
        let w = window();
        // Walk the window's widgets for the shortcuts it shows.
        let mut shown = Vec::new();
        let mut stack = vec![w.clone().upcast::<gtk::Widget>()];
        while let Some(widget) = stack.pop() {
            if let Ok(s) = widget.clone().downcast::<gtk::ShortcutsShortcut>() {
                shown.push((
                    s.property::<Option<String>>("accelerator")
                        .unwrap_or_default(),
                    s.property::<Option<String>>("title").unwrap_or_default(),
                ));
            }
            let mut child = widget.first_child();
            while let Some(c) = child {
                stack.push(c.clone());
                child = c.next_sibling();
            }
        }
        // The window keeps a second copy of each for its search: count each once.
        shown.sort();
        shown.dedup();
        let wanted: Vec<_> = groups().into_iter().flat_map(|(_, s)| s).collect();
        assert_eq!(shown.len(), wanted.len(), "{shown:?}");
        for (accel, what) in wanted {
            assert!(
                shown.iter().any(|(a, t)| a == accel && *t == what),
                "{accel} {what} missing from {shown:?}"
            );
            // Each accelerator is one GTK can parse (a typo would show as nothing).
            for one in accel.split(' ') {
                assert!(gtk::accelerator_parse(one).is_some(), "{one}");
            }
        }
    }
}
