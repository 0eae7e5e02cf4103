//! The Versions page on the demo distribution: every published version listed with the local
//! image's marked and the others' planned downloads; a switch through the page leaves the image
//! of the new version on disk, byte for byte the published one.

use gtk::prelude::*;
use relm4::prelude::*;

use super::{Input, Phase, VersionsPage};
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, stop};

/// Whether the page has loaded again and marks `version` as the image's.
fn reloaded_at(page: &relm4::Controller<VersionsPage>, version: &str) -> bool {
    page.model().phase == Phase::Ready
        && page
            .model()
            .rows
            .iter()
            .any(|r| r.item.current && r.item.version == version)
}

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
        swarmdate_core::hash::Sha256::of_file(&images.join(name)).unwrap(),
        swarmdate_core::hash::Sha256::of_file(published_102).unwrap()
    );
    // Reloaded: now 1.02 is marked, and going back to 1.00 is a downgrade.
    pump_until("the reload", || reloaded_at(&page, "1.02"));
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
    rt.block_on(backend.apply(tx, |_| {}, Default::default()))
        .unwrap();
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

/// Stop during a switch: the page says it stopped and that the image is still 1.00 (and the image
/// on disk is, byte for byte), what was fetched stays for the next try, and switching again
/// fetches only what was left.
#[gtk::test]
fn a_stopped_switch_says_the_image_is_still_the_old_version_and_the_next_try_keeps_its_pieces() {
    use swarmdate_core::hash::Sha256;
    use swarmdate_usecases::switching::Ended;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    // Slow enough to be stopped half-way (the engine's floor is 16 KiB/s).
    let mut settings = client.settings.clone();
    settings.download_limit = Some(16 << 10);
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    backend.save_settings(&settings).unwrap();
    let page = VersionsPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the versions", || page.model().phase == Phase::Ready);
    let version_path = |v: &str| &world.versions.iter().find(|(n, _)| n == v).unwrap().1;
    let images = world.client_home.join("data/images");
    let old = images.join(version_path("1.00").file_name().unwrap());
    let new = images.join(version_path("1.02").file_name().unwrap());
    let old_sha = Sha256::of_file(&old).unwrap();

    let to = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.version == "1.02")
        .unwrap()
        .item
        .index;
    page.emit(Input::Switch(to));
    // A piece from the swarm, besides the directory pieces the pre-fill fetched to learn the
    // layout: both must be kept.
    pump_until("a piece from the swarm", || {
        let Some(p) = page.model().progress else {
            return false;
        };
        let snap = backend.snapshot().unwrap_or_default();
        let job = snap.job(p.job);
        job.and_then(|j| j.prefilled.map(|r| j.bytes_fetched > r.layout_fetched))
            .unwrap_or(false)
    });
    page.emit(Input::Stop);
    pump_until("the stop", || page.model().ended.is_some());
    let Some(Ended::Stopped(stopped)) = page.model().ended.clone() else {
        panic!("{:?}", page.model().ended);
    };
    assert!(
        !stopped.rolled_back && stopped.kept_bytes > 0,
        "{stopped:?}"
    );
    assert_eq!(stopped.version.as_deref(), Some("1.00"));
    let said = page.widgets().switch_line.label();
    assert!(
        said.starts_with("Stopped: ") && said.contains("is still 1.00"),
        "{said}"
    );
    // The disk, not the page, says which version the image is.
    assert_eq!(Sha256::of_file(&old).unwrap(), old_sha);
    assert!(!new.exists());
    pump_until("the reload", || reloaded_at(&page, "1.00"));

    // Again, at full speed: the stopped switch resumes with what it kept.
    settings.download_limit = None;
    backend.save_settings(&settings).unwrap();
    page.emit(Input::Switch(to));
    pump_until("the switch to end", || {
        matches!(
            page.model().ended,
            Some(Ended::Switched(_) | Ended::Failed(_))
        )
    });
    let Some(Ended::Switched(done)) = page.model().ended.clone() else {
        panic!("{:?}", page.model().ended);
    };
    // Only what was left came over the wire (a piece of slack for blocks that arrived twice).
    let i = world
        .versions
        .iter()
        .position(|(v, _)| v == "1.02")
        .unwrap();
    let piece = u64::from(world.torrents[i].piece_length);
    assert!(
        done.received_bytes <= stopped.left_bytes + piece,
        "{done:?} after {stopped:?}"
    );
    assert_eq!(
        Sha256::of_file(&new).unwrap(),
        Sha256::of_file(version_path("1.02")).unwrap()
    );
    backend.shutdown();
    stop(&rt, world);
}
