//! The Seeding page on the demo distribution: the local image is shared from the start, after a
//! switch the new image is, and the bytes a peer then downloads from this machine (counted by
//! that peer) show on the page.

use adw::prelude::*;
use relm4::prelude::*;
use swarmdate_engine::{Engine, EngineConfig, JobSpec};

use super::SeedingPage;
use crate::ui::backend::Backend;
use crate::ui::test_support::{demo, pump_until, runtime, stop};

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
        .job;
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
    page.emit(super::Input::Span(2));
    pump_until("the month's bars", || page.model().span == 2);
    assert_eq!(*page.model().bars.borrow(), page.model().view.chart[2]);
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
            .all(|r| !paused.contains(&r.item.job) || r.item.paused)
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
    backend.shutdown();
    stop(&rt, world);
}
