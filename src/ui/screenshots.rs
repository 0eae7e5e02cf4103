//! Renders every page of the window in light and dark, in English and German, and at the
//! narrowest width (360 px), with the dialogs (the sharing question, the keyboard shortcuts), to
//! PNG files (the folder is printed), on the demo distribution. Each image must show something,
//! and dark must differ from light: a page that ignores the style, or draws nothing, fails.

use std::path::PathBuf;

use adw::prelude::*;
use relm4::prelude::*;

use super::app::App;
use super::backend::Backend;
use super::test_support::{demo, pump_until, runtime, save_png, settle, stop};

const PAGES: [&str; 3] = ["updates", "versions", "seeding"];

/// Mean brightness (0–255) and the number of distinct colours of RGBA bytes.
fn look(rgba: &[u8]) -> (f64, usize) {
    let mut colours = std::collections::HashSet::new();
    let mut sum = 0u64;
    for px in rgba.chunks_exact(4) {
        colours.insert([px[0], px[1], px[2]]);
        sum += u64::from(px[0]) + u64::from(px[1]) + u64::from(px[2]);
    }
    (sum as f64 / (rgba.len() / 4 * 3) as f64, colours.len())
}

/// Switches the messages' language (the catalogues `build.rs` compiled).
fn use_language(lang: &str) {
    // SAFETY: the window's tests run one at a time on the GTK thread; nothing else reads the
    // environment meanwhile.
    unsafe {
        std::env::set_var("LANGUAGE", lang);
        std::env::set_var("LANG", "C.UTF-8");
        gettextrs::setlocale(gettextrs::LocaleCategory::LcAll, "");
    }
    swarmdate_core::i18n::init();
}

#[gtk::test]
fn every_page_renders_in_light_and_dark_in_english_and_german() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    println!("screenshots in {}", out.display());
    let style = adw::StyleManager::default();
    for lang in ["en", "de"] {
        use_language(lang);
        let app = App::builder().launch(backend.clone()).detach();
        let window = app.widget().clone();
        window.set_default_size(800, 600);
        window.present();
        app.emit(super::app::Input::Consent(
            swarmdate_core::config::Sharing::Everyone,
        ));
        pump_until("the pages to load", || app.model().loaded());
        for page in PAGES {
            app.widgets().stack.set_visible_child_name(page);
            let mut shots = Vec::new();
            for (scheme, name) in [
                (adw::ColorScheme::ForceLight, "light"),
                (adw::ColorScheme::ForceDark, "dark"),
            ] {
                style.set_color_scheme(scheme);
                settle();
                let path = out.join(format!("{page}-{name}-{lang}.png"));
                let (brightness, colours) = look(&save_png(&window, &path));
                assert!(
                    colours > 8,
                    "{} is blank ({colours} colours)",
                    path.display()
                );
                shots.push(brightness);
            }
            assert!(
                shots[0] > shots[1] + 40.0,
                "{page} ({lang}): light {:.0} vs dark {:.0}",
                shots[0],
                shots[1]
            );
        }
        // The dialogs, over the window.
        style.set_color_scheme(adw::ColorScheme::ForceLight);
        let settings = backend.client().settings.clone();
        let question = super::consent::ask(&window, &settings, |_| {});
        let shortcuts = super::shortcuts::window();
        shortcuts.set_transient_for(Some(&window));
        shortcuts.present();
        // The most urgent update's details (the demo's updates carry advisories).
        let item = app
            .model()
            .updates()
            .model()
            .first_item()
            .expect("updates listed");
        assert!(!item.advisories.is_empty(), "{item:?}");
        let details = super::updates::details::show(&window, &item);
        for (w, name) in [
            (question.clone().upcast::<gtk::Window>(), "sharing-question"),
            (shortcuts.clone().upcast(), "shortcuts"),
            (details.clone().upcast(), "update-details"),
        ] {
            pump_until("the dialog to be drawn", || w.is_mapped() && w.width() > 0);
            settle();
            let path = out.join(format!("{name}-light-{lang}.png"));
            let (_, colours) = look(&save_png(&w, &path));
            assert!(colours > 8, "{} is blank", path.display());
        }
        shortcuts.close();
        details.close();
        question.destroy();
        window.close();

        // At 360 px the view switcher moves to the bottom and every page still draws.
        let narrow = App::builder().launch(backend.clone()).detach();
        let window = narrow.widget().clone();
        window.set_default_size(360, 640);
        window.present();
        pump_until("the narrow pages to load", || narrow.model().loaded());
        for page in PAGES {
            narrow.widgets().stack.set_visible_child_name(page);
            settle();
            // A page wider than the window at its narrowest widens it: each fits in 360 px.
            let (min, _, _, _) = narrow
                .widgets()
                .stack
                .child_by_name(page)
                .unwrap()
                .measure(gtk::Orientation::Horizontal, -1);
            assert!(min <= 360, "{page} needs {min} px at least");
            let (header, _, _, _) = narrow
                .widgets()
                .header
                .measure(gtk::Orientation::Horizontal, -1);
            // Nothing widened the window past its narrowest (its frame takes a few pixels).
            assert!(
                window.width() <= 360,
                "{page} is {} px wide; the header needs {header} px",
                window.width()
            );
            assert!(
                narrow.widgets().bar.reveals(),
                "the bottom switcher at 360 px"
            );
            let path = out.join(format!("{page}-narrow-{lang}.png"));
            let (_, colours) = look(&save_png(&window, &path));
            assert!(colours > 8, "{} is blank", path.display());
        }
        window.close();
    }
    style.set_color_scheme(adw::ColorScheme::Default);
    use_language("en");
    backend.shutdown();
    stop(&rt, world);
}

/// Restart & Update: the header with both actions, the page that waits for the restart, and the
/// page after it, in light and dark, English and German.
#[gtk::test]
fn restart_and_update_renders_in_light_and_dark_in_english_and_german() {
    use super::updates::{Input, Phase};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    let style = adw::StyleManager::default();
    let shoot = |window: &adw::ApplicationWindow, name: &str, lang: &str| {
        let mut shots = Vec::new();
        for (scheme, s) in [
            (adw::ColorScheme::ForceLight, "light"),
            (adw::ColorScheme::ForceDark, "dark"),
        ] {
            style.set_color_scheme(scheme);
            settle();
            shots.push(shot(window, &out, &format!("{name}-{s}-{lang}")));
        }
        assert!(shots[0] > shots[1] + 40.0, "{name} ({lang}): {shots:?}");
    };
    let seen = backend.client().dirs.data.join("offline-seen");
    for (lang, step) in [
        ("en", "prepared"),
        ("de", "prepared"),
        ("en", "restarted"),
        ("de", "restarted"),
    ] {
        use_language(lang);
        // The result is told once: the German page is drawn as for a user not told yet.
        if lang == "de" {
            let _ = std::fs::remove_file(&seen);
        }
        let app = App::builder().launch(backend.clone()).detach();
        let window = app.widget().clone();
        window.set_default_size(800, 600);
        window.present();
        app.emit(super::app::Input::Consent(
            swarmdate_core::config::Sharing::Everyone,
        ));
        pump_until("the pages to load", || app.model().loaded());
        let phase = || app.model().updates().model().phase().clone();
        let page = app.model().updates().sender().clone();
        if step == "prepared" && phase() == Phase::Available {
            page.emit(Input::RestartAndUpdate);
        }
        if step == "restarted" && phase() == Phase::Prepared {
            page.emit(Input::RestartNow);
            pump_until("the restart", || phase() == Phase::Checking);
        }
        pump_until("the page", || {
            matches!(
                phase(),
                Phase::Prepared | Phase::UpToDate | Phase::Failed(_)
            )
        });
        let want = if step == "prepared" {
            Phase::Prepared
        } else {
            Phase::UpToDate
        };
        assert_eq!(phase(), want, "{lang} {step}");
        shoot(&window, &format!("updates-{step}"), lang);
        window.close();
    }
    style.set_color_scheme(adw::ColorScheme::Default);
    use_language("en");
    backend.shutdown();
    stop(&rt, world);
}

/// Saves `window` as `name`.png in `out` and checks it shows something; returns its brightness.
fn shot(window: &impl IsA<gtk::Widget>, out: &std::path::Path, name: &str) -> f64 {
    let path = out.join(format!("{name}.png"));
    let (brightness, colours) = look(&save_png(window, &path));
    assert!(
        colours > 8,
        "{} is blank ({colours} colours)",
        path.display()
    );
    brightness
}

/// The History dialog with its three kinds of rows (an update, its undo, a removal made with
/// dnf) and the confirmation of an undo (what comes back, what goes), in light and dark, in
/// English and German, at the window's sizes (800×600 and its narrowest, 360×640).
#[gtk::test]
fn the_history_and_an_undo_confirmation_render_in_light_and_dark_in_english_and_german() {
    use super::history::{HistoryDialog, Input as HistoryInput};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let root = world.package_root.clone();
    let backend = Backend::new(rt.handle().clone(), client, root.clone());
    // The transactions to list: the update, its undo, and one made with dnf.
    let update = rt.block_on(backend.check_updates()).unwrap();
    rt.block_on(backend.apply(update.transaction.unwrap(), |_| {}, Default::default()))
        .unwrap();
    let undo = rt.block_on(backend.plan_undo(1)).unwrap();
    rt.block_on(backend.apply(undo.transaction.unwrap(), |_| {}, Default::default()))
        .unwrap();
    super::test_support::dnf_in(&root, &["remove", "app001"]);
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    println!("screenshots in {}", out.display());
    let style = adw::StyleManager::default();
    for lang in ["en", "de"] {
        use_language(lang);
        for (width, height, size) in [(800, 600, None), (360, 640, Some("narrow"))] {
            let dialog = HistoryDialog::builder().launch(backend.clone()).detach();
            let window = dialog.widget().clone();
            window.set_default_size(width, height);
            window.present();
            pump_until("the history", || dialog.model().is_settled());
            assert_eq!(dialog.model().items().len(), 3);
            let schemes: &[_] = match size {
                None => &[
                    (adw::ColorScheme::ForceLight, "light"),
                    (adw::ColorScheme::ForceDark, "dark"),
                ],
                Some(_) => &[(adw::ColorScheme::ForceLight, "light")],
            };
            let mut lists = Vec::new();
            for (scheme, name) in schemes {
                style.set_color_scheme(*scheme);
                settle();
                let variant = size.unwrap_or(name);
                lists.push(shot(&window, &out, &format!("history-{variant}-{lang}")));
            }
            // The update's details: each package it changed, and where its file came from.
            if size.is_none() {
                style.set_color_scheme(adw::ColorScheme::ForceLight);
                let update = dialog.model().items().pop().unwrap();
                let details = super::history::details::show(&window, &update);
                pump_until("the details to be drawn", || {
                    details.is_mapped() && details.width() > 0
                });
                settle();
                shot(&details, &out, &format!("history-details-light-{lang}"));
                details.close();
            }
            // Undoing the undo: the update's builds come back, what it removed goes again.
            dialog.emit(HistoryInput::Undo(2));
            pump_until("the confirmation", || {
                dialog.model().confirmation().is_some()
            });
            let asked = dialog.model().confirmation().unwrap().clone();
            pump_until("the confirmation to be drawn", || {
                asked.is_mapped() && asked.width() > 0
            });
            let mut questions = Vec::new();
            for (scheme, name) in schemes {
                style.set_color_scheme(*scheme);
                settle();
                let variant = size.unwrap_or(name);
                questions.push(shot(
                    &asked,
                    &out,
                    &format!("undo-confirmation-{variant}-{lang}"),
                ));
            }
            if size.is_none() {
                assert!(lists[0] > lists[1] + 40.0, "history ({lang}): {lists:?}");
                assert!(
                    questions[0] > questions[1] + 40.0,
                    "confirmation ({lang}): {questions:?}"
                );
            } else {
                // The question fits on the window's narrowest screen.
                assert!(asked.height() <= 640, "{} px high", asked.height());
            }
            if size.is_some() {
                // Nothing in the dialog widens it past the window's narrowest.
                let (min, _, _, _) = window.measure(gtk::Orientation::Horizontal, -1);
                assert!(min <= 360, "the history needs {min} px at least");
                assert!(window.width() <= 360, "{} px wide", window.width());
            }
            asked.response("cancel");
            pump_until("the question to go", || !dialog.model().is_busy());
            window.destroy();
        }
    }
    style.set_color_scheme(adw::ColorScheme::Default);
    use_language("en");
    backend.shutdown();
    stop(&rt, world);
}
