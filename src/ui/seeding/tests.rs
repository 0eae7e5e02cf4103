//! The Seeding page on the demo distribution: after a switch the new image is shared, and the
//! bytes a peer then downloads from this machine (counted by that peer) show on the page.

use relm4::prelude::*;
use swarmdate::engine::{Engine, EngineConfig, JobSpec};

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
    pump_until("the first figures", || page.model().loaded);
    assert!(page.model().view.items.is_empty());

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
                },
            )
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
    let subtitle = page
        .model()
        .rows
        .iter()
        .find(|r| r.item.name == torrent.name)
        .unwrap()
        .subtitle();
    assert!(subtitle.contains("uploaded"), "{subtitle}");
    backend.shutdown();
    stop(&rt, world);
}
