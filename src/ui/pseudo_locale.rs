//! Every string of the window goes through gettext: in a pseudo-locale whose catalogue (made
//! from the messages of the sources `po/POTFILES.in` lists) brackets every message, every
//! label, title and tooltip the window and its History dialog show is bracketed, except data
//! (the core's English errors, numbers) and GTK's own window controls.

use std::path::Path;

use adw::prelude::*;
use relm4::prelude::*;

use super::app::App;
use super::backend::Backend;
use super::test_support::{pump_until, runtime};

/// The POT's messages, each translation the message in brackets (both forms of a plural), as a
/// .po file.
fn bracketed_po(pot: &str) -> String {
    let mut out = String::from(
        "msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Plural-Forms: nplurals=2; plural=(n != 1);\\n\"\n\n",
    );
    // (msgid, msgid_plural) of each entry, continuation lines joined.
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    let mut current: Option<&mut String> = None;
    for line in pot.lines() {
        if let Some(rest) = line.strip_prefix("msgid_plural ") {
            let e = entries.last_mut().expect("a msgid first");
            e.1 = Some(rest.trim_matches('"').to_owned());
            current = e.1.as_mut();
        } else if let Some(rest) = line.strip_prefix("msgid ") {
            entries.push((rest.trim_matches('"').to_owned(), None));
            current = entries.last_mut().map(|e| &mut e.0);
        } else if line.starts_with("msgstr") {
            current = None;
        } else if line.starts_with('"')
            && let Some(c) = current.as_mut()
        {
            c.push_str(line.trim_matches('"'));
        }
    }
    for (id, plural) in entries.into_iter().filter(|(id, _)| !id.is_empty()) {
        match plural {
            None => out.push_str(&format!("msgid \"{id}\"\nmsgstr \"[{id}]\"\n\n")),
            Some(p) => out.push_str(&format!(
                "msgid \"{id}\"\nmsgid_plural \"{p}\"\nmsgstr[0] \"[{id}]\"\nmsgstr[1] \"[{p}]\"\n\n"
            )),
        }
    }
    out
}

/// The messages of the sources `po/POTFILES.in` lists, as `scripts/update-pot.sh` extracts them,
/// written to `dir`: the sources' own, so a string added since the catalogues were last
/// refreshed counts as marked, and one in a source the list lacks does not.
fn extracted_pot(dir: &Path) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let list = std::fs::read_to_string(format!("{root}/po/POTFILES.in")).unwrap();
    let sources: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let pot = dir.join("swarmdate.pot");
    let ok = std::process::Command::new("xgettext")
        .current_dir(root)
        .args([
            "-L",
            "C",
            "--from-code=UTF-8",
            "--keyword=tr",
            "--keyword=trf",
            "--keyword=trn:1,2",
            "-o",
        ])
        .arg(&pot)
        .args(&sources)
        .status()
        .unwrap()
        .success();
    assert!(ok, "xgettext could not read the sources");
    std::fs::read_to_string(pot).unwrap()
}

/// Compiles the pseudo-locale `xx` into `dir` and makes it the messages' language.
fn use_pseudo_locale(dir: &Path) {
    let pot = extracted_pot(dir);
    let po = dir.join("xx.po");
    std::fs::write(&po, bracketed_po(&pot)).unwrap();
    let mo_dir = dir.join("xx/LC_MESSAGES");
    std::fs::create_dir_all(&mo_dir).unwrap();
    let ok = std::process::Command::new("msgfmt")
        .arg("-o")
        .arg(mo_dir.join("swarmdate.mo"))
        .arg(&po)
        .status()
        .unwrap()
        .success();
    assert!(ok, "msgfmt refused the pseudo-locale");
    // SAFETY: the window's tests run one at a time on the GTK thread; nothing else reads the
    // environment meanwhile.
    unsafe {
        std::env::set_var("SWARMDATE_LOCALEDIR", dir);
        std::env::set_var("LANGUAGE", "xx");
        std::env::set_var("LANG", "C.UTF-8");
    }
    swarmdate_core::i18n::init();
}

/// The user-visible texts of `w` and its descendants, with where they are.
fn texts(w: &gtk::Widget, out: &mut Vec<(String, String)>) {
    // GTK draws the window controls with its own catalogue.
    if w.is::<gtk::WindowControls>() {
        return;
    }
    // So does a search entry's clear icon ("Clear entry"); its placeholder is ours.
    if w.is::<gtk::Image>() && w.parent().is_some_and(|p| p.is::<gtk::SearchEntry>()) {
        return;
    }
    let kind = w.type_().name().to_owned();
    let mut add = |what: &str, t: Option<glib::GString>| {
        if let Some(t) = t.filter(|t| !t.is_empty()) {
            out.push((format!("{kind}.{what}"), t.to_string()));
        }
    };
    add("tooltip", w.tooltip_text());
    if let Some(l) = w.downcast_ref::<gtk::Label>() {
        add("label", Some(l.label()));
    }
    if let Some(b) = w.downcast_ref::<gtk::Button>() {
        add("label", b.label());
    }
    if let Some(p) = w.downcast_ref::<adw::StatusPage>() {
        add("title", Some(p.title()));
        add("description", p.description());
    }
    if let Some(r) = w.downcast_ref::<adw::PreferencesRow>() {
        add("title", Some(r.title()));
    }
    if let Some(win) = w.downcast_ref::<gtk::Window>() {
        add("title", win.title());
    }
    // An entry row's own buttons ("Apply") speak libadwaita's catalogue: only its title is ours.
    if w.is::<adw::EntryRow>() {
        return;
    }
    if let Some(s) = w.downcast_ref::<adw::ViewStack>() {
        for page in s.pages().iter::<adw::ViewStackPage>().flatten() {
            add("page", page.title());
        }
    }
    let mut child = w.first_child();
    while let Some(c) = child {
        texts(&c, out);
        child = c.next_sibling();
    }
}

use gtk::glib;

#[gtk::test]
fn every_string_of_the_window_is_translatable() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let locale = tempfile::tempdir().unwrap();
    use_pseudo_locale(locale.path());
    // No feed: every page has its first state quickly, with the core's English error as data.
    let client = swarmdate_usecases::User::new(swarmdate_usecases::Overrides {
        home: Some(home.path().to_owned()),
        ..Default::default()
    })
    .unwrap();
    let backend = Backend::new(rt.handle().clone(), client, home.path().to_owned());
    let app = App::builder().launch(backend.clone()).detach();
    let window = app.widget().clone();
    window.present();
    app.emit(super::app::Input::Consent(
        swarmdate_core::config::Sharing::Nobody,
    ));
    pump_until("the pages to settle", || app.model().loaded());

    // The History dialog too (empty here: no transaction in this root).
    app.emit(super::app::Input::ShowHistory);
    pump_until("the history", || {
        app.model()
            .history()
            .is_some_and(|h| h.model().is_settled())
    });
    let history = app.model().history().unwrap().widget().clone();

    let mut found = Vec::new();
    texts(window.upcast_ref(), &mut found);
    texts(history.upcast_ref(), &mut found);
    let data = |t: &str| t.contains("no feed configured") || !t.chars().any(char::is_alphabetic);
    let plain: Vec<_> = found
        .iter()
        .filter(|(_, t)| !(data(t) || t.starts_with('[') && t.ends_with(']')))
        .collect();
    // A positive control: the walk sees bracketed strings from every page.
    for expected in [
        "[Updates]",
        "[Versions]",
        "[Seeding]",
        "[Check Again]",
        "[Choose an Image…]",
        "[No transactions yet]",
    ] {
        assert!(
            found.iter().any(|(_, t)| t == expected),
            "{expected} not seen: {found:?}"
        );
    }
    assert!(
        plain.is_empty(),
        "strings not marked for translation: {plain:#?}"
    );
    history.destroy();
    window.close();
    // SAFETY: as above.
    unsafe {
        std::env::remove_var("SWARMDATE_LOCALEDIR");
        std::env::set_var("LANGUAGE", "en");
    }
    swarmdate_core::i18n::init();
    backend.shutdown();
}
