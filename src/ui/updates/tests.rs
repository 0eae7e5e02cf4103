//! The Updates page on real data: the demo distribution (signed RPMs, a seeder, a peer and a
//! mirror on 127.0.0.1) and an rpm root, which `rpm -qa` judges after the Update button.

use gtk::prelude::*;
use relm4::prelude::*;
use swarmdate_usecases::{Overrides, User};

use super::{Input, Phase, UpdatesPage};
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, stop};

fn installed(root: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME} %{VERSION}-%{RELEASE}\\n",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[gtk::test]
fn the_page_lists_the_updates_and_the_update_button_installs_them() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    assert_eq!(page.model().phase, Phase::Checking);

    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let rows: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
    assert!(rows.len() > 10, "{} rows", rows.len());
    // Every row is a widget in the list, the totals say how many, the button is ready.
    let mut shown = 0;
    let mut child = page.model().rows.widget().first_child();
    while let Some(c) = child {
        shown += 1;
        child = c.next_sibling();
    }
    assert_eq!(shown, rows.len());
    {
        // Never held across the main loop: the page borrows its widgets to update them.
        let widgets = page.widgets();
        let totals = widgets.totals.label();
        assert!(
            totals.starts_with(&format!("{} updates", rows.len())),
            "{totals}"
        );
        assert!(widgets.update_button.is_sensitive());
    }
    for r in &rows {
        if r.kind == swarmdate_core::plan::ChangeKind::Upgrade {
            assert!(installed(&world.package_root).contains(&format!("{} {}", r.name, r.from)));
        }
    }

    page.emit(Input::Update);
    pump_until("the update to start", || {
        page.model().phase != Phase::Available
    });
    assert!(!page.widgets().update_button.is_sensitive());
    pump_until("the update to end", || {
        matches!(page.model().phase, Phase::Done(_) | Phase::Failed(_))
    });
    let phase = page.model().phase.clone();
    let Phase::Done(sentence) = phase else {
        panic!("the update failed: {phase:?}");
    };
    assert!(
        sentence.starts_with(&format!("{} packages installed", rows.len())),
        "{sentence}"
    );
    // rpm, not the page, says what is installed now.
    let now = installed(&world.package_root);
    for r in &rows {
        assert!(
            now.contains(&format!("{} {}", r.name, r.to)),
            "{} {} missing",
            r.name,
            r.to
        );
    }
    backend.shutdown();
    stop(&rt, world);
}

#[gtk::test]
fn without_a_feed_the_page_says_what_to_do() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let client = User::new(Overrides {
        home: Some(home.path().to_owned()),
        ..Default::default()
    })
    .unwrap();
    let backend = Backend::new(rt.handle().clone(), client, home.path().to_owned());
    let page = UpdatesPage::builder().launch(backend).detach();
    page.emit(Input::Refresh);
    pump_until("the check to fail", || {
        matches!(page.model().phase, Phase::Failed(_))
    });
    let said = page.widgets().failed_page.description().unwrap_or_default();
    assert!(said.contains("no feed configured"), "{said}");
    assert!(said.contains("feed_url"), "{said}");
}
