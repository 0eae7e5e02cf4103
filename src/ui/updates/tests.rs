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
    }
    // The action waits in the header bar, whatever the list's length.
    let action = page.model().header_action().clone();
    assert!(action.is_visible() && action.is_sensitive());
    assert_eq!(action.label().unwrap(), "Update");
    for r in &rows {
        if r.kind == swarmdate_core::plan::ChangeKind::Upgrade {
            assert!(installed(&world.package_root).contains(&format!("{} {}", r.name, r.from)));
        }
    }

    page.emit(Input::Update);
    pump_until("the update to start", || {
        page.model().phase != Phase::Available
    });
    // While it fetches, the same place offers Stop.
    assert_eq!(action.label().unwrap(), "Stop");
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

/// The demo's client with its downloads held to `limit` bytes/s, so an update takes seconds.
fn slow_client(client: User, limit: u32) -> User {
    let mut settings = client.settings.clone();
    settings.download_limit = Some(limit);
    settings.save(&client.dirs.config).unwrap();
    client.reload().unwrap()
}

#[gtk::test]
fn stop_before_the_install_installs_nothing_and_keeps_what_arrived() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let client = slow_client(client, 150_000);
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let before = installed(&world.package_root);
    let first_download = page.model().download;
    assert!(first_download > 300_000, "{first_download} bytes to fetch");

    page.emit(Input::Update);
    // Progress moves with the bytes as they come, before the install.
    pump_until("some bytes to arrive", || {
        let p = &page.model().progress;
        p.from_peers + p.from_mirrors > 0
    });
    let fraction = page.widgets().bar.fraction();
    assert!(fraction > 0.0 && fraction < 1.0, "{fraction}");
    assert!(!page.model().progress.installing);
    let action = page.model().header_action().clone();
    assert!(action.is_sensitive());
    // Stop, as the header button does while the update runs.
    action.emit_clicked();
    pump_until("the stopped update's list", || {
        page.model().phase == Phase::Available && page.model().notice.is_some()
    });
    // rpm says nothing changed.
    assert_eq!(installed(&world.package_root), before);
    let notice = page.model().notice.clone().unwrap();
    assert!(notice.starts_with("Stopped before installing"), "{notice}");
    // What arrived is held now: the next plan downloads less, the rest is listed as held.
    let second_download = page.model().download;
    assert!(
        second_download < first_download,
        "{second_download} of {first_download}"
    );
    // The engine let go of what had not arrived: its job wants nothing it lacks.
    let job = page.model().progress.job.expect("the update's job");
    pump_until("the job to seed what it holds, fetching nothing", || {
        backend
            .snapshot()
            .and_then(|s| s.job(job).map(|j| j.state.is_complete()))
            .unwrap_or(false)
    });

    let rest: std::collections::HashSet<_> = page
        .model()
        .rows
        .iter()
        .filter(|r| r.item.download > 0)
        .map(|r| r.item.package.clone())
        .collect();
    assert!(!rest.is_empty());

    // Positive control: Update again installs everything, fetching only the rest: exactly the
    // packages not held arrive, and no peer bytes beyond them.
    page.emit(Input::Update);
    pump_until("the update to end", || page.model().is_finished());
    let phase = page.model().phase.clone();
    assert!(matches!(phase, Phase::Done(_)), "{phase:?}");
    let p = page.model().progress.clone();
    let arrived: std::collections::HashSet<_> = p.arrived.iter().cloned().collect();
    assert_eq!(arrived, rest);
    assert!(
        p.from_peers <= second_download,
        "{} for {second_download}",
        p.from_peers
    );
    assert_ne!(installed(&world.package_root), before);
    backend.shutdown();
    stop(&rt, world);
}

/// The demo's updates carry a distribution's advisories (createrepo_c and modifyrepo_c) and
/// changelogs: the security updates lead the list with a shield and their severity, and a row
/// opens the update's details (advisory, changelog entries, size).
#[gtk::test]
fn security_updates_lead_the_list_and_a_row_opens_the_update_details() {
    use adw::prelude::*;
    use swarmdate_core::repos::AdvisoryKind;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let rows: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
    let security = |i: &crate::ui::backend::UpdateItem| {
        i.advisories
            .iter()
            .any(|a| a.kind == AdvisoryKind::Security)
    };
    let leading = rows.iter().take_while(|r| security(r)).count();
    assert!(leading >= 2, "{rows:#?}");
    assert!(rows[leading..].iter().all(|r| !security(r)), "{rows:#?}");
    assert_eq!(rows[0].advisories[0].severity.as_deref(), Some("Critical"));
    let plain = rows
        .iter()
        .position(|r| r.advisories.is_empty())
        .expect("an update without an advisory");

    let row_at = |i: usize| {
        let mut child = page.model().rows.widget().first_child();
        for _ in 0..i {
            child = child.and_then(|c| c.next_sibling());
        }
        child.unwrap().downcast::<adw::ActionRow>().unwrap()
    };
    let first = row_at(0);
    let subtitle = first.subtitle().unwrap_or_default().to_string();
    assert!(
        subtitle.contains("Security update, Critical · CVE-2026-31337"),
        "{subtitle}"
    );
    // Every row opens its details: the demo's builds all carry a changelog entry.
    assert!(!rows[plain].changelog.is_empty(), "{:?}", rows[plain]);
    assert!(first.is_activatable() && row_at(plain).is_activatable());
    ActionRowExt::activate(&first);
    pump_until("the details", || page.model().details.is_some());
    let dialog = page.model().details.clone().unwrap();
    let body = dialog.body().to_string();
    assert_eq!(
        dialog.heading().unwrap().to_string(),
        format!("{} {}", rows[0].name, rows[0].to)
    );
    for part in [
        "Security update DEMO-2026-0001, severity Critical",
        "CVE-2026-31337",
        "to download",
    ] {
        assert!(body.contains(part), "{part:?} in {body}");
    }
    dialog.close();
    backend.shutdown();
    stop(&rt, world);
}

/// A repository of the system's own that cannot be read is said above the list; the feed's
/// updates are listed all the same.
#[gtk::test]
fn a_configured_repository_that_cannot_be_read_is_said_and_the_rest_listed() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let repos = world.package_root.join("etc/yum.repos.d");
    std::fs::create_dir_all(&repos).unwrap();
    std::fs::write(
        repos.join("gone.repo"),
        "[gone]\nname=Gone\nbaseurl=http://127.0.0.1:9/gone/\n",
    )
    .unwrap();
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    assert!(page.model().rows.len() > 10);
    let said = page.widgets().notice.label().to_string();
    assert!(
        said.starts_with("The repository gone is left out: ") && said.contains("127.0.0.1:9"),
        "{said}"
    );
    assert!(page.widgets().notice.is_visible());
    backend.shutdown();
    stop(&rt, world);
}

/// An update that only a repository of the system's own offers (a `.repo` file, `file://` base
/// URL, createrepo_c repodata) says so in its row: its size and that repository's id.
#[gtk::test]
fn a_row_says_when_its_package_comes_from_the_systems_own_repository() {
    use swarmdate_testkit::synth::{PackageFactory, PackageSpec};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    // A newer app000 than the feed's 1.1, in a plain repository.
    let extras = dir.path().join("extras");
    let key = swarmdate_core::feed::KeyPair::generate("Extras <extras@localhost>").unwrap();
    let spec = PackageSpec::new("app000-1.2-1.fc41.x86_64".parse().unwrap(), 20_000);
    let packages = extras.join("Packages/a");
    std::fs::create_dir_all(&packages).unwrap();
    let rpm = PackageFactory::new(&key)
        .unwrap()
        .build(&spec, 7, &packages)
        .unwrap();
    let made = std::process::Command::new("createrepo_c")
        .arg("--quiet")
        .arg(&extras)
        .status()
        .unwrap();
    assert!(made.success());
    let repos = world.package_root.join("etc/yum.repos.d");
    std::fs::create_dir_all(&repos).unwrap();
    std::fs::write(
        repos.join("extras.repo"),
        format!("[extras]\nbaseurl=file://{}/\n", extras.display()),
    )
    .unwrap();
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let rows: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
    let app = rows.iter().position(|r| r.name == "app000").unwrap();
    assert_eq!(rows[app].to, "1.2-1.fc41", "{}", page.model().notices());
    assert_eq!(rows[app].repository.as_deref(), Some("extras"));
    let size = gtk::glib::format_size(std::fs::metadata(&rpm).unwrap().len());
    assert_eq!(
        page.model().rows.get(app).unwrap().status(),
        format!("{size} from extras")
    );
    // The feed's updates say nothing of a repository.
    assert!(
        rows.iter()
            .filter(|r| r.name != "app000")
            .all(|r| r.repository.is_none())
    );
    backend.shutdown();
    stop(&rt, world);
}

/// Restart & Update on the demo's root: the updates are fetched and checked but nothing is
/// installed; the page says they wait for the restart; Restart Now (for the demo's root, what
/// its boot would run) installs them, judged by rpm; the page then says so once. With a package
/// changed in the store before the restart, nothing is installed and the page says why.
#[gtk::test]
fn restart_and_update_installs_at_the_restart_and_says_how_it_went() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let root = world.package_root.clone();
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let rows: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
    let restart = page.model().header_restart_action().clone();
    assert!(restart.is_visible() && restart.is_sensitive());
    // Live updates are the default: Update is labelled and suggested, Restart & Update an icon
    // beside it.
    let update = page.model().header_action().clone();
    assert!(update.has_css_class("suggested-action"));
    assert_eq!(update.label().unwrap(), "Update");
    assert!(!restart.has_css_class("suggested-action"));
    assert_eq!(restart.icon_name().unwrap(), "system-reboot-symbolic");
    assert!(
        restart
            .tooltip_text()
            .unwrap()
            .contains("when the computer restarts")
    );
    let before = installed(&root);

    page.emit(Input::RestartAndUpdate);
    pump_until("the update to be prepared", || {
        matches!(page.model().phase, Phase::Prepared | Phase::Failed(_))
    });
    assert_eq!(
        page.model().phase,
        Phase::Prepared,
        "{:?}",
        page.model().phase
    );
    assert!(
        page.model()
            .prepared_text()
            .starts_with(&format!("{} updates are downloaded", rows.len())),
        "{}",
        page.model().prepared_text()
    );
    assert_eq!(
        installed(&root),
        before,
        "nothing is installed before the restart"
    );
    assert!(root.join("system-update").symlink_metadata().is_ok());
    assert!(!restart.is_visible());
    // A new start of the window finds it armed.
    let again = UpdatesPage::builder().launch(backend.clone()).detach();
    again.emit(Input::Refresh);
    pump_until("the armed update", || {
        again.model().phase != Phase::Checking
    });
    assert_eq!(again.model().phase, Phase::Prepared);

    page.emit(Input::RestartNow);
    pump_until("the restart's result", || page.model().restarted.is_some());
    let now = installed(&root);
    for r in &rows {
        assert!(
            now.contains(&format!("{} {}", r.name, r.to)),
            "{} {}",
            r.name,
            r.to
        );
    }
    let said = page.model().restarted.clone().unwrap();
    assert_eq!(
        said,
        format!("At the last restart {} updates were installed.", rows.len())
    );
    assert_eq!(page.model().phase, Phase::UpToDate);
    assert!(page.model().up_to_date_text().starts_with(&said));
    // Told once.
    page.emit(Input::Refresh);
    pump_until("the check to start", || {
        page.model().phase == Phase::Checking
    });
    pump_until("the check", || page.model().phase == Phase::UpToDate);
    assert!(page.model().restarted.is_none());
    backend.shutdown();
    stop(&rt, world);

    // A second demo: a package changes in the store between Restart & Update and the restart.
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let store = client.dirs.store();
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let root = world.package_root.clone();
    let page = UpdatesPage::builder().launch(backend.clone()).detach();
    page.emit(Input::Refresh);
    pump_until("the updates", || page.model().phase == Phase::Available);
    let before = installed(&root);
    page.emit(Input::RestartAndUpdate);
    pump_until("the update to be prepared", || {
        matches!(page.model().phase, Phase::Prepared | Phase::Failed(_))
    });
    let object = walk(&store.join("objects"))
        .into_iter()
        .find(|p| p.metadata().unwrap().len() > 1000)
        .unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[700] ^= 0xff;
    // The store keeps its objects read-only.
    std::fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&object, bytes).unwrap();
    page.emit(Input::RestartNow);
    pump_until("the restart's result", || page.model().restarted.is_some());
    assert_eq!(installed(&root), before, "nothing was installed");
    let said = page.model().restarted.clone().unwrap();
    assert!(
        said.starts_with("The updates prepared for the last restart were not installed"),
        "{said}"
    );
    assert!(said.contains("SHA-256"), "{said}");
    assert!(page.model().notices().contains(&said));
    backend.shutdown();
    stop(&rt, world);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What the package jobs told stays under the line of where the bytes come from, one sentence a
/// line; without notices the line is only that.
#[test]
fn the_progress_line_carries_the_jobs_notices() {
    use crate::ui::backend::Progress;
    use swarmdate_engine::Notice;
    let refused = swarmdate_usecases::notices::text(&Notice::TrackerRefused {
        tracker: "http://127.0.0.1:6969".into(),
        reason: "not authorized".into(),
    });
    let mirrors = swarmdate_usecases::notices::text(&Notice::MirrorUsed);
    let quiet = Progress::default();
    let told = Progress {
        notes: vec![refused.clone(), mirrors.clone()],
        ..Progress::default()
    };
    let plain = super::progress_line(&quiet, false);
    assert!(!plain.contains('\n'), "{plain}");
    let lines: Vec<String> = super::progress_line(&told, false)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, [plain, refused, mirrors]);
    assert!(lines[1].contains("not authorized"), "{}", lines[1]);
}
