//! The Versions page on the demo distribution: every published version listed with the local
//! image's marked and the others' planned downloads; a switch through the page leaves the image
//! of the new version on disk, byte for byte the published one.

use gtk::prelude::*;
use relm4::prelude::*;

use super::{Input, Phase, VersionsPage};
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, stop};

#[gtk::test]
fn the_page_lists_versions_with_their_downloads_and_switches_the_image() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = VersionsPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the versions", || page.model().phase == Phase::Ready);

    let items: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
    let names: Vec<&str> = items.iter().map(|i| i.version.as_str()).collect();
    let published: Vec<&str> = world.versions.iter().map(|(v, _)| v.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, published);
    let current: Vec<_> = items.iter().filter(|i| i.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].version, "1.00");
    for i in items.iter().filter(|i| !i.current) {
        let d = i.download.expect("a planned download");
        assert!(d > 0 && d <= i.size, "{}: {d} of {}", i.version, i.size);
        assert!(i.newer, "{} is newer than 1.00", i.version);
    }
    assert!(page.widgets().heading.label().contains("1.00"));

    let to = items.iter().find(|i| i.version == "1.02").unwrap().index;
    page.emit(Input::Switch(to));
    pump_until("the switch to start", || page.model().phase != Phase::Ready);
    pump_until("the switch to end", || {
        page.model().last.is_some() || matches!(page.model().phase, Phase::Failed(_))
    });
    let phase = page.model().phase.clone();
    assert!(!matches!(phase, Phase::Failed(_)), "{phase:?}");
    // The image on disk, not the page, says which version it is.
    let published_102 = &world.versions.iter().find(|(v, _)| v == "1.02").unwrap().1;
    let images = world.client_home.join("data/images");
    let name = published_102.file_name().unwrap();
    assert_eq!(
        swarmdate::hash::Sha256::of_file(&images.join(name)).unwrap(),
        swarmdate::hash::Sha256::of_file(published_102).unwrap()
    );
    // Reloaded: now 1.02 is marked, and going back to 1.00 is a downgrade.
    pump_until("the reload", || {
        page.model().phase == Phase::Ready
            && page
                .model()
                .rows
                .iter()
                .any(|r| r.item.current && r.item.version == "1.02")
    });
    let back = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.version == "1.00")
        .map(|r| r.item.clone())
        .unwrap();
    assert!(!back.newer && back.download.unwrap() > 0);
    backend.shutdown();
    stop(&rt, world);
}

#[gtk::test]
fn an_updated_package_goes_back_to_its_older_build_and_an_unknown_one_is_refused() {
    use super::downgrade::{DowngradePanel, Input, Phase};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    // Update first, so app000 1.1 is installed and 1.0 is older.
    let available = rt.block_on(backend.check_updates()).unwrap();
    let tx = available.transaction.expect("updates");
    rt.block_on(backend.apply(tx, |_| {})).unwrap();
    let installed = |root: &std::path::Path| {
        let out = std::process::Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args(["--dbpath", "/var/lib/rpm", "-q", "app000"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(installed(&world.package_root), "app000-1.1-1.fc41.x86_64");

    let panel = DowngradePanel::builder().launch(backend.clone()).detach();
    // Refused: a package this system does not have.
    panel.emit(Input::Look("no-such-package".into()));
    pump_until("the refusal", || {
        matches!(panel.model().phase(), Phase::Ended(_))
    });
    let said = panel.model().status();
    assert!(said.contains("no-such-package is not installed"), "{said}");

    panel.emit(Input::Look("app000".into()));
    pump_until("the older builds", || {
        *panel.model().phase() == Phase::Listed
    });
    let builds: Vec<String> = panel
        .model()
        .builds()
        .iter()
        .map(|b| b.nevra.to_string())
        .collect();
    assert_eq!(builds, ["app000-1.0-1.fc41.x86_64"]);
    assert_eq!(panel.widgets().list.observe_children().n_items(), 1);
    panel.emit(Input::Downgrade(0));
    pump_until("the downgrade", || {
        matches!(panel.model().phase(), Phase::Ended(_))
    });
    let said = panel.model().status();
    assert!(said.starts_with("1 package installed"), "{said}");
    // rpm, not the panel, says which build is installed.
    assert_eq!(installed(&world.package_root), "app000-1.0-1.fc41.x86_64");
    backend.shutdown();
    stop(&rt, world);
}
