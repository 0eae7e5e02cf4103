//! Refusals: forged, tampered, expired and replayed feeds, torrents that do not match their pin,
//! unsafe torrents and unsupported URLs. Each stands beside a positive control, exits with the
//! trust code (3), names what is wrong, and leaves the user's folders byte-identical.

use swarmdate_core::feed::KeyPair;

use crate::support::*;

const TRUST: i32 = 3;

fn client_with_image(distro: &Distro) -> UserHome {
    let client = UserHome::new(distro);
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.00"), client.images().join("os-1.00.iso")).unwrap();
    client
}

/// Runs `iso list` and checks it is refused with `needle` in the message, touching nothing.
fn assert_refused(client: &UserHome, needle: &str) {
    let before = tree_state(client.home.path());
    let run = client.run(&["iso", "list"]);
    assert_eq!(
        run.code, TRUST,
        "expected a trust refusal naming {needle:?}: {:?}\n{}",
        run.events, run.stderr
    );
    let msg = run.error();
    assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
    assert_eq!(
        tree_state(client.home.path()),
        before,
        "a refusal changed the user's files"
    );
}

fn assert_accepted(client: &UserHome) {
    let run = client.run(&["iso", "list"]);
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    assert_eq!(run.summary()["versions"].as_array().unwrap().len(), 3);
    let current: Vec<_> = run.summary()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["current"] == true)
        .map(|v| v["version"].clone())
        .collect();
    assert_eq!(current, vec!["1.00"]);
}

#[test]
fn forged_tampered_expired_and_replayed_feeds_are_refused() {
    let distro = Distro::build(3, 64, "http://127.0.0.1:9/announce");
    let client = client_with_image(&distro);
    assert_accepted(&client);

    // Signed by another key: the message names that key.
    let mallory = KeyPair::generate("Mallory <m@example.org>").unwrap();
    distro.resign(&mallory, |f| f.serial += 1);
    assert_refused(&client, &mallory.fingerprint());

    // Tampered after signing.
    distro.resign(&distro.key, |f| f.serial += 1);
    assert_accepted(&client);
    let feed = distro.publish_dir().join("feed.json");
    let text = std::fs::read_to_string(&feed)
        .unwrap()
        .replace("\"Test\"", "\"Tost\"");
    std::fs::write(&feed, text).unwrap();
    assert_refused(&client, "altered");

    // Expired.
    distro.resign(&distro.key, |f| {
        f.serial += 1;
        f.expires = chrono::Utc::now() - chrono::Duration::hours(1);
    });
    assert_refused(&client, "expired");

    // A newer serial is accepted, then the older one is a replay.
    distro.resign(&distro.key, |f| {
        f.serial = 50;
        f.expires = chrono::Utc::now() + chrono::Duration::days(1);
    });
    assert_accepted(&client);
    distro.resign(&distro.key, |f| f.serial = 49);
    assert_refused(&client, "serial 49");
}

#[test]
fn a_torrent_that_differs_from_its_pin_is_refused() {
    let distro = Distro::build(3, 64, "http://127.0.0.1:9/announce");
    let client = client_with_image(&distro);
    assert_accepted(&client);
    // Serve another torrent of the same image (other piece length) under 1.01's name.
    let other =
        swarmdate_core::torrent::TorrentBuilder::single_file("os-1.01.iso", distro.image("1.01"))
            .piece_length(128 << 10)
            .build()
            .unwrap();
    std::fs::write(
        distro.publish_dir().join("os-1.01.iso.torrent"),
        other.bytes(),
    )
    .unwrap();
    assert_refused(&client, &other.info_hash().to_string());
}

#[test]
fn get_refuses_unsafe_torrents_unpinned_ones_and_other_url_schemes() {
    let distro = Distro::build(3, 64, "http://127.0.0.1:9/announce");
    let client = client_with_image(&distro);
    let dest = client.home.path().join("downloads");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("keep.txt"), b"mine").unwrap();
    let dest_arg = dest.to_str().unwrap();
    let refused = |args: &[&str], needle: &str| {
        let before = tree_state(&dest);
        let run = client.run(args);
        assert_eq!(
            run.code, TRUST,
            "{args:?}: {:?}\n{}",
            run.events, run.stderr
        );
        let msg = run.error();
        assert!(
            msg.contains(needle),
            "{args:?}: {msg:?} should name {needle:?}"
        );
        assert_eq!(
            tree_state(&dest),
            before,
            "{args:?} changed the target folder"
        );
    };

    let evil = client.home.path().join("evil.torrent");
    std::fs::write(&evil, multi(&[vec!["..", "..", ".bashrc"]])).unwrap();
    refused(
        &["get", evil.to_str().unwrap(), "--dir", dest_arg, "--yes"],
        "../../.bashrc",
    );
    refused(
        &["torrent", "show", evil.to_str().unwrap()],
        "../../.bashrc",
    );
    refused(
        &[
            "get",
            "bittorrent://ftp://example.org/x.torrent",
            "--dir",
            dest_arg,
            "--yes",
        ],
        "\"ftp\"",
    );

    // Unpinned and not confirmed; the positive control shows the same torrent is readable.
    let other =
        swarmdate_core::torrent::TorrentBuilder::single_file("other.iso", distro.image("1.00"))
            .piece_length(32 << 10)
            .build()
            .unwrap();
    let other_path = client.home.path().join("other.torrent");
    std::fs::write(&other_path, other.bytes()).unwrap();
    refused(
        &["get", other_path.to_str().unwrap(), "--dir", dest_arg],
        "not pinned",
    );
    let show = client.run(&[
        "torrent",
        "show",
        &format!("bittorrent://file://{}", other_path.display()),
    ]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.summary()["info_hash"], other.info_hash().to_string());
}
