//! The Seeding page on the demo distribution: the local image is shared from the start, after a
//! switch the new image is, and the bytes a peer then downloads from this machine (counted by
//! that peer) show on the page; rows, header and ledger agree; rows are named for people, open
//! their transfer view and name their switches for screen readers; the chart has labelled axes.

use adw::prelude::*;
use relm4::prelude::*;
use swarmdate_core::ledger::Ledger;
use swarmdate_engine::{Engine, EngineConfig, JobSpec};

use super::SeedingPage;
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, stop};

/// The ledger's figures, read on their own: all time, and this month.
fn ledger_figures(backend: &Backend) -> (u64, u64) {
    let ledger = Ledger::open(&backend.client().dirs.engine().join("ledger.sqlite")).unwrap();
    let all = ledger.totals().unwrap().iter().map(|t| t.uploaded).sum();
    let month = swarmdate_usecases::seeding::month_start(chrono::Local::now());
    let this_month = ledger
        .uploaded_since(month)
        .unwrap()
        .iter()
        .map(|(_, b)| b)
        .sum();
    (all, this_month)
}

/// The rows' uploads summed (all time, this month), the header's figures, and the ledger's.
fn sums(page: &relm4::Controller<SeedingPage>, backend: &Backend) -> [(u64, u64); 3] {
    let m = page.model();
    let rows = m.rows.iter().fold((0, 0), |(a, b), r| {
        (a + r.item.uploaded, b + r.item.uploaded_month)
    });
    [
        rows,
        (m.view.uploaded, m.view.uploaded_month),
        ledger_figures(backend),
    ]
}

/// Every switch below `widget`.
fn switches(widget: &gtk::Widget) -> Vec<gtk::Switch> {
    let mut out = Vec::new();
    let mut child = widget.first_child();
    while let Some(c) = child {
        match c.clone().downcast::<gtk::Switch>() {
            Ok(s) => out.push(s),
            Err(c) => out.extend(switches(&c)),
        }
        child = c.next_sibling();
    }
    out
}

#[gtk::test]
fn the_page_shows_what_is_shared_and_what_a_peer_took() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = SeedingPage::builder().launch(backend.clone()).detach();
    page.emit(super::Input::Start);
    // The local image (1.00, as published) is shared as soon as the engine starts.
    pump_until("the local image to be shared", || {
        page.model()
            .rows
            .iter()
            .any(|r| r.item.name == world.torrents[0].name)
    });

    // Switch to 1.02 through the backend; the new image is then seeded.
    let view = rt.block_on(backend.load_versions(None)).unwrap();
    let to = view
        .items
        .iter()
        .find(|i| i.version == "1.02")
        .unwrap()
        .index;
    let torrent = view.versions.versions[to].torrent.clone();
    rt.block_on(backend.switch(view.versions, to, |_| {}))
        .unwrap();
    pump_until("the image to be shared", || {
        page.model()
            .rows
            .iter()
            .any(|r| r.item.name == torrent.name)
    });

    // Its transfer view draws every piece: reused from 1.00 or fetched by the switch, none missing.
    let job = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.name == torrent.name)
        .unwrap()
        .item
        .job
        .expect("a job shares it");
    let view = crate::ui::transfer::TransferView::builder()
        .launch((backend.clone(), job))
        .detach();
    view.widget().present();
    pump_until("the transfer view's first snapshot", || {
        view.model().snapshot.is_some() && !view.model().pieces.0.is_empty()
    });
    let pieces = view.model().pieces.clone();
    assert_eq!(pieces.0.len(), torrent.pieces().len());
    use swarmdate_engine::PieceState;
    assert_eq!(pieces.count(PieceState::Missing), 0);
    assert!(pieces.count(PieceState::HadBefore) > 0 && pieces.count(PieceState::Fetched) > 0);
    let map = view
        .widgets()
        .map
        .paintable()
        .expect("the piece map is drawn");
    assert!(map.intrinsic_width() > 0 && map.intrinsic_height() > 0);
    let shots = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots"));
    std::fs::create_dir_all(shots).unwrap();
    crate::ui::test_support::settle();
    crate::ui::test_support::save_png(view.widget(), &shots.join("transfer.png"));
    view.widget().close();

    // A peer that knows only this machine downloads the image.
    let port = backend.listen_port().expect("the engine runs here");
    let peer_dir = tempfile::tempdir().unwrap();
    let fetched = rt.block_on(async {
        let peer = Engine::start(EngineConfig {
            trackers: false,
            known_peers: vec![([127, 0, 0, 1], port).into()],
            ..EngineConfig::loopback(peer_dir.path())
        })
        .await
        .unwrap();
        let id = peer
            .add_job(
                &torrent,
                JobSpec::Fetch {
                    dest: peer_dir.path().join("image.iso"),
                    seed_after: false,
                    replace: false,
                },
            )
            .await
            .unwrap();
        let done = peer.wait(id).await.unwrap();
        peer.shutdown().await;
        done.bytes_fetched
    });
    assert!(fetched > 0);
    pump_until("the upload to show", || {
        page.model()
            .rows
            .iter()
            .any(|r| r.item.name == torrent.name && r.item.uploaded >= fetched)
    });
    // The ledger (written every 10 s) shows the upload in this minute's bar of the chart.
    pump_until("the upload in the chart", || {
        page.model().view.chart[0].iter().sum::<u64>() > 0
    });
    let hour: u64 = page.model().view.chart[0].iter().sum();
    let window = gtk::Window::builder()
        .default_width(720)
        .default_height(560)
        .build();
    window.set_child(Some(page.widget()));
    window.present();
    crate::ui::test_support::settle();
    crate::ui::test_support::save_png(&window, &shots.join("seeding-chart.png"));
    window.set_child(None::<&gtk::Widget>);
    window.close();
    assert!(hour <= page.model().view.uploaded, "{hour}");
    assert_eq!(page.model().view.chart[0].len(), 60);
    // The chart's axes and its description carry units and the span.
    let w = page.widgets();
    let (top, mid) = (w.y_top.label(), w.y_mid.label());
    assert!(top.ends_with("kB/min") || top.ends_with("MB/min"), "{top}");
    assert!(mid.ends_with("kB/min") || mid.ends_with("MB/min"), "{mid}");
    assert_eq!(
        (w.x_start.label().as_str(), w.x_end.label().as_str()),
        ("60 minutes ago", "now")
    );
    drop(w);
    let said = crate::ui::a11y::description_of(&page.model().chart).expect("a description");
    assert!(
        said.contains("uploaded in the last hour, most at"),
        "{said}"
    );
    assert!(said.contains("kB") || said.contains("MB"), "{said}");
    // Rows, header and the ledger (read on its own) agree: all time and this month.
    pump_until("rows, header and ledger to agree", || {
        let [rows, header, ledger] = sums(&page, &backend);
        rows == header && header == ledger && ledger.0 >= fetched && ledger.1 >= fetched
    });
    assert_eq!(page.model().view.peers_month, 1);
    assert!(
        page.model().month().contains("to 1 peer."),
        "{}",
        page.model().month()
    );
    page.emit(super::Input::Span(2));
    pump_until("the month's bars", || page.model().span == 2);
    assert_eq!(page.model().bars.borrow().0, page.model().view.chart[2]);
    let subtitle = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.name == torrent.name)
        .unwrap()
        .subtitle();
    assert!(subtitle.contains("uploaded"), "{subtitle}");
    // A metered connection pauses every torrent that shares; the same ones resume after.
    let paused = rt.block_on(backend.pause_sharing(None)).unwrap();
    assert!(paused.contains(&job), "{paused:?}");
    pump_until("the pause to show", || {
        page.model()
            .rows
            .iter()
            .all(|r| r.item.job.is_none_or(|j| !paused.contains(&j)) || r.item.paused)
    });
    rt.block_on(backend.pause_sharing(Some(paused.clone())))
        .unwrap();
    pump_until("the resume to show", || {
        page.model().rows.iter().all(|r| !r.item.paused)
    });

    // The upload limit on the page (kB/s, as every speed shown) reaches the running engine and the
    // settings file.
    page.widgets().upload.set_value(256.0);
    pump_until("the engine's upload limit", || {
        backend.snapshot().unwrap().upload_limit == Some(256_000)
    });
    assert_eq!(backend.client().settings.upload_limit, Some(256_000));

    // "Until uploaded once" pauses the image the peer took in full from this machine; another
    // file, which nobody fetched, keeps sharing.
    let other = peer_dir.path().join("other.bin");
    std::fs::write(&other, vec![7u8; 300_000]).unwrap();
    let other_torrent = swarmdate_core::torrent::TorrentBuilder::single_file("other.bin", &other)
        .build()
        .unwrap();
    backend
        .add_job(
            &other_torrent,
            JobSpec::Seed {
                payload: swarmdate_engine::Payload::Image(other),
            },
        )
        .unwrap();
    pump_until("the other file to be shared", || {
        page.model().rows.iter().any(|r| r.item.name == "other.bin")
    });
    let row = |name: &str| {
        page.model()
            .rows
            .iter()
            .find(|r| r.item.name == name)
            .map(|r| r.item.clone())
            .unwrap_or_else(|| {
                let names: Vec<_> = page.model().rows.iter().map(|r| r.item.clone()).collect();
                panic!("no row {name}: {names:?}")
            })
    };
    page.widgets().goal.set_selected(1);
    pump_until("the goal to be saved", || {
        swarmdate_core::config::Settings::load(&backend.client().dirs.config)
            .unwrap()
            .seed_goal
            == swarmdate_core::config::SeedGoal::Ratio(1.0)
    });
    pump_until("the goal to pause the image", || {
        let r = row(&torrent.name);
        r.paused && r.goal_met
    });
    assert!(row(&torrent.name).uploaded >= row(&torrent.name).size);
    let said = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.name == torrent.name)
        .unwrap()
        .subtitle();
    assert!(said.starts_with("Goal reached"), "{said}");
    let control = row("other.bin");
    assert!(!control.paused && !control.goal_met, "{control:?}");
    // Sharing for as long as the app runs puts it back.
    page.widgets().goal.set_selected(0);
    pump_until("the image to share again", || {
        let r = row(&torrent.name);
        !r.paused && !r.goal_met
    });

    // Back to 1.00: 1.02's image is retired, and what it gave stays on the page, on one row of
    // its own, so the rows still add up to the header and the ledger.
    let view = rt.block_on(backend.load_versions(None)).unwrap();
    let back = view
        .items
        .iter()
        .find(|i| i.version == "1.00")
        .unwrap()
        .index;
    rt.block_on(backend.switch(view.versions, back, |_| {}))
        .unwrap();
    pump_until(
        "1.02 to be no longer shared and the figures to agree",
        || {
            let m = page.model();
            let gone = m
                .rows
                .iter()
                .any(|r| r.item.info_hash == torrent.info_hash() && r.item.job.is_none());
            let [rows, header, ledger] = sums(&page, &backend);
            gone && rows == header && header == ledger
        },
    );
    let m = page.model();
    let mut hashes: Vec<_> = m.rows.iter().map(|r| r.item.info_hash).collect();
    hashes.sort_by_key(|h| h.to_string());
    let n = hashes.len();
    hashes.dedup();
    assert_eq!(hashes.len(), n, "one row per torrent");
    let old = m
        .rows
        .iter()
        .find(|r| r.item.info_hash == torrent.info_hash())
        .unwrap();
    assert_eq!(old.title, "Swarmdate Demo 1.02");
    assert!(
        old.subtitle().starts_with("No longer shared"),
        "{}",
        old.subtitle()
    );
    drop(m);
    backend.shutdown();
    stop(&rt, world);
}

#[gtk::test]
fn rows_are_named_for_people_open_their_transfer_and_name_their_switches() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (world, client) = demo(&rt, dir.path());
    // Both of the feed's repositories are shared (their torrents are both named "x86_64").
    let repos = rt.block_on(async {
        let feed = client.feed().await.unwrap();
        swarmdate_core::plan::load_repositories(&feed, client.fetcher())
            .await
            .unwrap()
    });
    assert_eq!(repos.len(), 2);
    assert!(repos.iter().all(|r| r.torrent.name == "x86_64"));
    let backend = Backend::new(rt.handle().clone(), client, world.package_root.clone());
    let page = SeedingPage::builder().launch(backend.clone()).detach();
    let window = gtk::Window::builder().default_width(720).build();
    window.set_child(Some(page.widget()));
    window.present();
    page.emit(super::Input::Start);
    pump_until("the local image to be shared", || {
        page.model()
            .rows
            .iter()
            .any(|r| r.item.name == world.torrents[0].name)
    });
    for (i, r) in repos.iter().enumerate() {
        let index = dir.path().join(format!("index-{i}.json"));
        std::fs::write(&index, &r.index_bytes).unwrap();
        let spec = swarmdate_engine::RepoSpec {
            index,
            wanted: [r.repo.index.packages[0].file_index].into(),
            mirrors: Vec::new(),
            images: Vec::new(),
        };
        backend
            .add_job(&r.torrent, JobSpec::Repository(spec))
            .unwrap();
    }
    pump_until("the repositories to be shared", || {
        page.model().rows.len() == 3
    });

    let m = page.model();
    let titles: Vec<String> = m.rows.iter().map(|r| r.title.clone()).collect();
    let mut unique = titles.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), titles.len(), "{titles:?}");
    assert!(
        titles.contains(&"Swarmdate Demo 1.00".to_owned()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"Swarmdate Demo 41 packages as released".to_owned()),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("Swarmdate Demo 41 updates, snapshot of ")),
        "{titles:?}"
    );
    let mut hashes: Vec<String> = m
        .rows
        .iter()
        .map(|r| r.item.info_hash.to_string())
        .collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 3, "each torrent once");

    // Every switch has an accessible name that names its row.
    let list = m.rows.widget().clone().upcast::<gtk::Widget>();
    let found = switches(&list);
    assert_eq!(found.len(), 3);
    let labels: Vec<String> = found
        .iter()
        .map(|s| crate::ui::a11y::label_of(s).expect("an accessible name"))
        .collect();
    for t in &titles {
        assert!(labels.contains(&format!("Share {t}")), "{t}: {labels:?}");
    }

    // A row is reachable by keyboard and activating it opens that job's transfer view.
    let image = m
        .rows
        .iter()
        .position(|r| r.item.name == world.torrents[0].name)
        .unwrap();
    let job = m.rows.get(image).unwrap().item.job.unwrap();
    drop(m);
    let row = page
        .model()
        .rows
        .widget()
        .row_at_index(image as i32)
        .expect("the image's row");
    assert!(row.is_activatable() && row.is_focusable());
    assert!(page.model().transfer.is_none());
    row.activate();
    pump_until("the transfer view of the image", || {
        page.model()
            .transfer
            .as_ref()
            .is_some_and(|v| v.model().snapshot.as_ref().is_some_and(|s| s.id == job))
    });
    if let Some(v) = &page.model().transfer {
        v.widget().close();
    }
    window.set_child(None::<&gtk::Widget>);
    window.close();
    backend.shutdown();
    stop(&rt, world);
}

#[test]
fn the_chart_says_its_units_span_and_busiest_bar() {
    // 12:30:30 UTC on a day: the last of the day's 24 bars is 12:00.
    let now = 1_000 * 86_400 + 12 * 3600 + 30 * 60 + 30;
    let mut day = vec![0u64; 24];
    day[23] = 2_000_000;
    day[21] = 10_000_000;
    let mut t = super::chart_text(1, &day, now);
    // glib puts a no-break space between number and unit.
    for s in t.y.iter_mut().chain([&mut t.description]) {
        *s = s.replace('\u{a0}', " ");
    }
    assert_eq!(t.top, 10_000_000);
    assert_eq!(t.y, ["10.0 MB/h", "5.0 MB/h", "0"]);
    assert_eq!(t.x, ["24 hours ago", "12 hours ago", "now"]);
    let at = gtk::glib::DateTime::from_unix_local(now - now % 3600 - 2 * 3600)
        .unwrap()
        .format("%H:%M")
        .unwrap();
    assert_eq!(
        t.description,
        format!("12.0 MB uploaded in the last day, most at {at}: 10.0 MB.")
    );
    let empty = super::chart_text(0, &[0; 60], now);
    assert_eq!(empty.y[0], "1.0\u{a0}kB/min");
    assert_eq!(empty.description, "Nothing uploaded in the last hour.");
    assert_eq!(super::chart_text(2, &[0; 30], now).x[2], "today");
}
