//! The Versions page on the demo distribution: every published version listed with the local
//! image's marked and the others' planned downloads; a switch through the page leaves the image
//! of the new version on disk, byte for byte the published one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use adw::prelude::*;
use relm4::prelude::*;

use swarmdate_core::packages::Evr;
use swarmdate_testkit::demo::DemoWorld;

use super::downgrade::{self, DowngradePanel, Planning};
use super::{Input, Phase, VersionsPage};
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, settle, stop};

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

/// Runs `rpm` on the demo's packages (`--root` or `-p` files): one `name epoch version release
/// arch` line per package.
fn rpm_query(args: &[&std::ffi::OsStr]) -> Vec<(String, Evr, String)> {
    let out = std::process::Command::new("rpm")
        .args(["--dbpath", "/var/lib/rpm", "--nosignature", "--nodigest"])
        .args([
            "--qf",
            "%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let evr = Evr::new(f[1].parse().unwrap(), f[2], f[3]);
            (f[0].to_owned(), evr, f[4].to_owned())
        })
        .filter(|(n, _, _)| n != "gpg-pubkey")
        .collect()
}

/// What rpm says is installed of `name` in the demo's root.
fn installed(root: &Path, name: &str) -> String {
    let out = std::process::Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm", "-q", name])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Every package installed in the demo's root with an older build in the feed's repositories,
/// and those builds, newest first: from `rpm -qa` and the packages on the demo's mirror (the
/// release and the updates, the repositories the feed lists), not from Swarmdate's reading.
fn downgradable_by_rpm(world: &DemoWorld) -> BTreeMap<String, Vec<String>> {
    let installed = rpm_query(&[
        "--root".as_ref(),
        world.package_root.as_os_str(),
        "-qa".as_ref(),
    ]);
    let mut files = Vec::new();
    let mut dirs = vec![world.root.join("mirror")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            match p.is_dir() {
                true => dirs.push(p),
                false if p.extension().is_some_and(|x| x == "rpm") => files.push(p),
                false => {}
            }
        }
    }
    let mut args: Vec<&std::ffi::OsStr> = vec!["-qp".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let offered = rpm_query(&args);
    let mut expected = BTreeMap::new();
    for (name, _, _) in &installed {
        let (_, top, arch) = installed
            .iter()
            .filter(|(n, _, _)| n == name)
            .max_by(|a, b| a.1.rpm_cmp(&b.1))
            .unwrap();
        let mut older: Vec<&(String, Evr, String)> = offered
            .iter()
            .filter(|o| &o.0 == name && &o.2 == arch && o.1.rpm_cmp(top).is_lt())
            .filter(|o| !installed.contains(o))
            .collect();
        older.sort_by(|a, b| b.1.rpm_cmp(&a.1));
        older.dedup();
        if !older.is_empty() {
            let builds = older
                .iter()
                .map(|(n, e, a)| format!("{n}-{e}.{a}"))
                .collect();
            expected.insert(name.clone(), builds);
        }
    }
    expected
}

/// Installs every update the feed offers, so the release's builds are older ones.
fn update_everything(rt: &tokio::runtime::Runtime, backend: &Arc<Backend>) {
    let available = rt.block_on(backend.check_updates()).unwrap();
    let tx = available.transaction.expect("updates");
    rt.block_on(backend.apply(tx, |_| {}, Default::default()))
        .unwrap();
}

/// The panel in a window (the confirmation needs one), its list read.
/// Also returns how many times the panel said what is installed changed.
fn panel_in_window(
    backend: &Arc<Backend>,
) -> (Controller<DowngradePanel>, gtk::Window, Rc<Cell<usize>>) {
    let changed = Rc::new(Cell::new(0));
    let count = changed.clone();
    let panel = DowngradePanel::builder()
        .launch(backend.clone())
        .connect_receiver(move |_, downgrade::Output::Changed| count.set(count.get() + 1));
    let window = gtk::Window::builder()
        .default_width(480)
        .default_height(600)
        .child(panel.widget())
        .build();
    window.present();
    panel.emit(downgrade::Input::Reload);
    pump_until("the list", || {
        *panel.model().phase() == downgrade::Phase::Ready
    });
    (panel, window, changed)
}

/// Types `text` into the panel's search and waits until the list follows it.
fn search(panel: &Controller<DowngradePanel>, text: &str) {
    panel.widgets().search.set_text(text);
    pump_until("the search", || {
        let m = panel.model();
        m.shown()
            .iter()
            .all(|&i| m.packages()[i].name().contains(text))
            && m.shown().len()
                == m.packages()
                    .iter()
                    .filter(|p| p.name().contains(text))
                    .count()
    });
}

/// Line breaks of a label as laid out that fall between two letters or digits of a word.
fn breaks_inside_words(label: &gtk::Label) -> Vec<String> {
    let layout = label.layout();
    let text = layout.text().to_string();
    let mut lines = layout.iter();
    let mut starts = Vec::new();
    while lines.next_line() {
        starts.push(lines.index() as usize);
    }
    starts
        .into_iter()
        .filter(|&k| {
            let before = text[..k].chars().next_back();
            let after = text[k..].chars().next();
            let wordy = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            wordy(before) && wordy(after)
        })
        .map(|k| format!("{} / {}", &text[..k], &text[k..]))
        .collect()
}

/// Every label below `w`.
fn labels(w: &gtk::Widget) -> Vec<gtk::Label> {
    let mut out = Vec::new();
    let mut child = w.first_child();
    while let Some(c) = child {
        if let Some(l) = c.downcast_ref::<gtk::Label>() {
            out.push(l.clone());
        }
        out.extend(labels(&c));
        child = c.next_sibling();
    }
    out
}

/// The downgrade list: exactly the installed packages with an older build somewhere in the
/// feed's repositories (as rpm reads the root and the repositories' packages), a search that
/// filters it, Enter in the search choosing the first one shown; its confirmation names the
/// package in a heading no line breaks inside a word, and the whole build in the body.
#[gtk::test]
fn the_downgrade_list_is_every_installed_package_with_an_older_build_and_the_search_filters_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    update_everything(&rt, &backend);
    let (panel, _window, _) = panel_in_window(&backend);

    let listed: BTreeMap<String, Vec<String>> = panel
        .model()
        .packages()
        .iter()
        .map(|p| {
            let builds = p.older.iter().map(|b| b.nevra.to_string()).collect();
            (p.name().to_owned(), builds)
        })
        .collect();
    let expected = downgradable_by_rpm(&world);
    assert!(expected.len() > 2, "{expected:?}");
    assert_eq!(listed, expected);
    let rows = panel.widgets().list.observe_children().n_items() as usize;
    assert_eq!(rows, expected.len());

    // The search filters the rows themselves.
    let shown_rows = |panel: &Controller<DowngradePanel>| -> Vec<String> {
        let list = &panel.widgets().list;
        (0..rows as i32)
            .filter_map(|i| list.row_at_index(i))
            .filter(|r| r.is_child_visible())
            .map(|r| r.downcast::<adw::ActionRow>().unwrap().title().to_string())
            .collect()
    };
    search(&panel, "app0");
    let matching: Vec<String> = expected
        .keys()
        .filter(|n| n.contains("app0"))
        .cloned()
        .collect();
    assert!(!matching.is_empty() && matching.len() < expected.len());
    assert_eq!(shown_rows(&panel), matching);
    search(&panel, "no-such-package");
    assert!(shown_rows(&panel).is_empty());
    let said = panel.model().status();
    assert!(said.contains("no-such-package"), "{said}");

    // Keyboard: Enter in the search chooses the first package shown, and plans its newest
    // older build.
    search(&panel, &matching[0]);
    panel.widgets().search.emit_activate();
    pump_until("the plan", || {
        matches!(
            panel.model().planning(),
            Planning::Done(_) | Planning::Failed(..)
        )
    });
    let build = match panel.model().planning() {
        Planning::Done(plan) => plan.build.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(build, expected[&matching[0]][0]);

    panel.widgets().downgrade_button.emit_clicked();
    pump_until("the confirmation", || panel.model().confirmations().1 == 1);
    let dialog = panel.model().confirmations().0.cloned().unwrap();
    settle();
    let heading = dialog.heading().unwrap().to_string();
    let body = dialog.body().to_string();
    assert!(body.contains(&build), "{body}");
    let label = labels(dialog.upcast_ref::<gtk::Widget>())
        .into_iter()
        .find(|l| l.label() == heading)
        .expect("the heading's label");
    assert!(label.width() > 0);
    let broken = breaks_inside_words(&label);
    assert!(
        broken.is_empty(),
        "{heading:?} breaks inside a word: {broken:?}"
    );
    dialog.response("cancel");

    backend.shutdown();
    stop(&rt, world);
}

/// Two downgrades chosen from the list, each confirmed once: rpm says the older builds are
/// installed, and each result counts only the bytes its own transaction fetched (the engine's
/// counters of the repository jobs moved by exactly that much), not the earlier one's too.
#[gtk::test]
fn downgrades_from_the_list_install_the_older_build_and_each_counts_its_own_bytes() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    update_everything(&rt, &backend);
    let (panel, _window, changed) = panel_in_window(&backend);
    let apps: Vec<(String, String)> = panel
        .model()
        .packages()
        .iter()
        .filter(|p| p.name().starts_with("app"))
        .map(|p| (p.name().to_owned(), p.older[0].nevra.to_string()))
        .take(2)
        .collect();
    assert_eq!(apps.len(), 2);
    // Bytes every repository job counts, fetched from peers and mirrors.
    let counted = || -> u64 {
        let snap = backend.snapshot().unwrap_or_default();
        snap.jobs
            .iter()
            .filter(|j| j.kind == swarmdate_engine::JobKind::Packages)
            .map(|j| j.bytes_fetched + j.bytes_from_mirrors)
            .sum()
    };

    let mut results = Vec::new();
    for (n, (name, older)) in apps.iter().enumerate() {
        let before = counted();
        search(&panel, name);
        panel.widgets().search.emit_activate();
        pump_until("the plan", || {
            matches!(
                panel.model().planning(),
                Planning::Done(_) | Planning::Failed(..)
            )
        });
        match panel.model().planning() {
            Planning::Done(plan) => {
                assert_eq!(plan.build.to_string(), *older);
                assert!(plan.download > 0, "{plan:?}");
            }
            other => panic!("{other:?}"),
        }
        panel.widgets().downgrade_button.emit_clicked();
        pump_until("the confirmation", || {
            panel.model().confirmations().1 == n + 1
        });
        let dialog = panel.model().confirmations().0.cloned().unwrap();
        dialog.response("confirm");
        // Done, and the list read again: the package has no older build any more.
        pump_until("the downgrade", || {
            let m = panel.model();
            *m.phase() == downgrade::Phase::Ready
                && m.last_fetched().is_some()
                && !m.packages().iter().any(|p| p.name() == name)
        });
        let fetched = panel.model().last_fetched().expect("a downgrade that ran");
        // Confirmed once: no second question before it ran.
        assert_eq!(panel.model().confirmations().1, n + 1);
        // The page hears of it (and the window refreshes the Updates page).
        pump_until("the panel's output", || changed.get() == n + 1);
        // rpm, not the panel, says which build is installed.
        assert_eq!(installed(&world.package_root, name), *older);
        results.push((before, fetched, counted()));
    }
    let (before_first, first, _) = results[0];
    let (before_second, second, after_second) = results[1];
    assert!(first.total() > 0 && second.total() > 0, "{results:?}");
    assert!(before_second > before_first, "{results:?}");
    // Exactly what the counters moved during the second transaction: the first's bytes are not
    // in it.
    assert_eq!(second.total(), after_second - before_second, "{results:?}");
    assert_eq!(panel.model().confirmations().1, 2);
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
    let changed = Rc::new(Cell::new(0));
    let count = changed.clone();
    let page = VersionsPage::builder()
        .launch(backend.clone())
        .connect_receiver(move |_, super::Output::Changed| count.set(count.get() + 1));
    page.emit(Input::Refresh);
    pump_until("the versions", || page.model().phase == Phase::Ready);
    let version_path = |v: &str| &world.versions.iter().find(|(n, _)| n == v).unwrap().1;
    let images = world.client_home.join("data/images");
    let old = images.join(version_path("1.00").file_name().unwrap());
    let new = images.join(version_path("1.02").file_name().unwrap());
    let old_sha = Sha256::of_file(&old).unwrap();

    let row_102 = |page: &relm4::Controller<VersionsPage>| {
        page.model()
            .rows
            .iter()
            .find(|r| r.item.version == "1.02")
            .unwrap()
            .item
            .clone()
    };
    let to = row_102(&page).index;
    let first_plan = row_102(&page).download.expect("a planned download");
    page.emit(Input::Switch(to));
    // A piece from the swarm, besides the directory pieces the pre-fill fetched to learn the
    // layout: both must be kept.
    pump_until("a piece from the swarm", || {
        let Some(job) = page.model().progress.as_ref().map(|p| p.job) else {
            return false;
        };
        let snap = backend.snapshot().unwrap_or_default();
        let job = snap.job(job);
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
    // The window hears that the switch ended.
    pump_until("the page's output", || changed.get() == 1);
    // The disk, not the page, says which version the image is.
    assert_eq!(Sha256::of_file(&old).unwrap(), old_sha);
    assert!(!new.exists());
    pump_until("the reload", || reloaded_at(&page, "1.00"));
    // The next switch's plan takes up the working copy: what was fetched (and placed) is not
    // planned again.
    let second_plan = row_102(&page).download.expect("a planned download");
    assert!(
        second_plan + stopped.kept_bytes <= first_plan,
        "planned {second_plan} after {stopped:?}, {first_plan} at first"
    );

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
    pump_until("the page's output", || changed.get() == 2);
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
    // And the second plan said so.
    assert!(
        done.received_bytes <= second_plan + piece,
        "{done:?}, planned {second_plan}"
    );
    assert_eq!(
        Sha256::of_file(&new).unwrap(),
        Sha256::of_file(version_path("1.02")).unwrap()
    );
    backend.shutdown();
    stop(&rt, world);
}
