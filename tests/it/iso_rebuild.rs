//! A distributor's fresh rebuild moves every file: pre-filling the target's layout from the old
//! image and the package store leaves only the new content (and the pieces around it) to fetch.

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::Path;

use swarmdate_core::hash::PieceHash;
use swarmdate_core::iso::{AtHand, Layout, prefill, read_layout};
use swarmdate_core::publish::respin;
use swarmdate_core::torrent::{PieceIndex, Torrent, TorrentBuilder};

use crate::support::{mkisofs, random_file, sha256};

const PIECE: u32 = 64 << 10;

/// The pieces of `t` whose bytes in `file` are not the torrent's.
fn wrong_pieces(file: &Path, t: &Torrent) -> Vec<PieceIndex> {
    let f = std::fs::File::open(file).unwrap();
    let mut buf = Vec::new();
    (0..t.pieces().len() as u32)
        .filter(|&i| {
            let r = t.piece_range(i);
            buf.resize((r.end - r.start) as usize, 0);
            f.read_exact_at(&mut buf, r.start).unwrap();
            PieceHash::of(&buf) != t.pieces()[i as usize]
        })
        .map(PieceIndex)
        .collect()
}

/// The pieces a byte range touches.
fn pieces_of(start: u64, end: u64) -> std::ops::RangeInclusive<u32> {
    let p = u64::from(PIECE);
    (start / p) as u32..=((end - 1) / p) as u32
}

/// Pieces of `image` holding any byte that is neither a file's nor zero: its descriptors,
/// path tables and directories (computed from the image's bytes, not by the code under test).
fn metadata_pieces(image: &Path, layout: &Layout) -> BTreeSet<u32> {
    let bytes = std::fs::read(image).unwrap();
    let mut in_file = vec![false; bytes.len()];
    for f in &layout.files {
        for e in &f.extents {
            in_file[e.start as usize..e.end as usize].fill(true);
        }
    }
    bytes
        .iter()
        .zip(&in_file)
        .enumerate()
        .filter(|(_, (b, f))| **b != 0 && !**f)
        .map(|(i, _)| (i / PIECE as usize) as u32)
        .collect()
}

/// 40 packages of 0.6 to 2.5 MB under `Packages/` and 12 small files (each smaller than a
/// piece) under `docs/`: about 60 MB.
fn write_tree(tree: &Path) {
    for i in 0..40u64 {
        random_file(
            &tree.join(format!("Packages/pkg{i:02}-1.0-1.x86_64.rpm")),
            600_000 + (i as usize * 48_731) % 1_900_000,
            i,
        );
    }
    for i in 0..12u64 {
        random_file(
            &tree.join(format!("docs/note{i:02}.txt")),
            3_000 + i as usize * 1_700,
            1_000 + i,
        );
    }
}

#[test]
fn a_rebuilt_image_is_prefilled_from_the_old_image_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let pkg = |name: &str| tree.join("Packages").join(name);
    write_tree(&tree);
    let old = dir.path().join("os-1.01.iso");
    mkisofs(&tree, &old);

    // The rebuild: 4 packages replaced by newer builds, one rebuilt under its old name with new
    // bytes, 2 added (one of them already in the store), one renamed, then a fresh image.
    let mut new_content = 0u64;
    let mut changed = Vec::new();
    for i in 0..4u64 {
        std::fs::remove_file(pkg(&format!("pkg{i:02}-1.0-1.x86_64.rpm"))).unwrap();
        let name = format!("pkg{i:02}-1.1-1.x86_64.rpm");
        random_file(&pkg(&name), 900_000 + i as usize * 10_000, 500 + i);
        changed.push(name);
    }
    let same_name = "pkg10-1.0-1.x86_64.rpm".to_owned();
    random_file(&pkg(&same_name), 1_200_000, 600);
    changed.push(same_name.clone());
    for (n, name) in ["extra-2.0-1.x86_64.rpm", "fresh-1.0-1.noarch.rpm"]
        .iter()
        .enumerate()
    {
        random_file(&pkg(name), 1_500_000 + n * 77_777, 700 + n as u64);
        changed.push(name.to_string());
    }
    std::fs::rename(pkg("pkg20-1.0-1.x86_64.rpm"), pkg("pkg20-1.0-2.x86_64.rpm")).unwrap();
    let store = dir.path().join("store-object");
    std::fs::copy(pkg("fresh-1.0-1.noarch.rpm"), &store).unwrap();
    for name in &changed {
        if name != "fresh-1.0-1.noarch.rpm" {
            new_content += std::fs::metadata(pkg(name)).unwrap().len();
        }
    }
    let target = dir.path().join("os-1.02.iso");
    mkisofs(&tree, &target);
    let target_len = std::fs::metadata(&target).unwrap().len();
    assert!(target_len >= 50_000_000, "{target_len}");
    let torrent = TorrentBuilder::single_file("os-1.02.iso", &target)
        .piece_length(PIECE)
        .build()
        .unwrap();

    // The switch's working copy: the old image at the target's length.
    let working = dir.path().join("working.iso");
    std::fs::copy(&old, &working).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&working)
        .unwrap()
        .set_len(target_len)
        .unwrap();
    let wrong = wrong_pieces(&working, &torrent);
    // A plain hash check would keep next to nothing of a rebuild.
    assert!(
        wrong.len() * 10 > torrent.pieces().len() * 9,
        "{} of {} pieces differ",
        wrong.len(),
        torrent.pieces().len()
    );

    // The target's layout is read from the published image here, standing in for the directory
    // pieces a client fetches from the swarm first.
    let target_layout = read_layout(&target).unwrap();
    let old_layout = read_layout(&old).unwrap();
    let mut at_hand: Vec<AtHand> = old_layout
        .files
        .iter()
        .map(|f| AtHand::in_image(&old, f))
        .collect();
    let store_size = std::fs::metadata(&store).unwrap().len();
    // Named by its digest in the store: only its content can match it.
    at_hand.push(AtHand::in_store(&store, "3f2a9c", store_size));
    // A dry run first (what a plan shows), then the pre-fill itself: the same figures.
    let dry = prefill(None, &torrent, &target_layout, &wrong, &at_hand).unwrap();
    assert_eq!(
        wrong_pieces(&working, &torrent),
        wrong,
        "a dry run writes nothing"
    );
    let done = prefill(Some(&working), &torrent, &target_layout, &wrong, &at_hand).unwrap();
    assert_eq!(dry.still_wrong, done.still_wrong);
    assert_eq!(
        (dry.from_image, dry.from_store),
        (done.from_image, done.from_store)
    );

    // What the pre-fill says is still wrong is exactly what is wrong on disk.
    let still = wrong_pieces(&working, &torrent);
    assert_eq!(done.still_wrong, still);
    assert_eq!(done.pieces, wrong.len() - still.len());
    assert!(
        done.from_store >= store_size - 2 * u64::from(PIECE),
        "{done:?}"
    );
    assert!(done.from_image > target_len / 2, "{done:?}");

    // Bounds computed from the images alone: at least the new content, at most the new content,
    // two pieces per changed or added file, and the pieces holding metadata.
    let still_bytes: u64 = still.iter().map(|p| torrent.piece_len(p.0)).sum();
    assert_eq!(done.still_wrong_bytes, still_bytes);
    let metadata = metadata_pieces(&target, &target_layout);
    let bound = new_content
        + 2 * changed.len() as u64 * u64::from(PIECE)
        + metadata.len() as u64 * u64::from(PIECE);
    assert!(
        still_bytes >= new_content && still_bytes <= bound,
        "{still_bytes} to fetch, new content {new_content}, bound {bound}"
    );

    // Content decides, not names: the renamed package is placed, the one rebuilt under its old
    // name is not (its whole pieces stay to fetch).
    let whole_pieces = |name: &str| -> Vec<u32> {
        let f = target_layout
            .files
            .iter()
            .find(|f| f.path.ends_with(name))
            .unwrap();
        let e = &f.extents[0];
        let p = u64::from(PIECE);
        (e.start.div_ceil(p) as u32..(e.end / p) as u32).collect()
    };
    let still_set: BTreeSet<u32> = still.iter().map(|p| p.0).collect();
    let renamed = whole_pieces("pkg20-1.0-2.x86_64.rpm");
    assert!(!renamed.is_empty());
    assert!(renamed.iter().all(|p| !still_set.contains(p)));
    let rebuilt = whole_pieces(&same_name);
    assert!(rebuilt.iter().all(|p| still_set.contains(p)));
    // Small files share pieces: theirs are rebuilt unless a new file or metadata shares them.
    let near_new: BTreeSet<u32> = target_layout
        .files
        .iter()
        .filter(|f| changed.iter().any(|c| f.path.ends_with(c.as_str())))
        .flat_map(|f| f.extents.iter().flat_map(|e| pieces_of(e.start, e.end)))
        .chain(metadata.iter().copied())
        .collect();
    for f in target_layout
        .files
        .iter()
        .filter(|f| f.path.starts_with("docs/"))
    {
        let e = &f.extents[0];
        assert!(
            pieces_of(e.start, e.end).all(|p| !still_set.contains(&p) || near_new.contains(&p)),
            "{} (a small file that moved) is fetched",
            f.path
        );
    }

    // The swarm's part (copied from the target here) completes the image.
    let src = std::fs::File::open(&target).unwrap();
    let dst = std::fs::File::options().write(true).open(&working).unwrap();
    for p in &still {
        let r = torrent.piece_range(p.0);
        let mut buf = vec![0u8; (r.end - r.start) as usize];
        src.read_exact_at(&mut buf, r.start).unwrap();
        dst.write_all_at(&buf, r.start).unwrap();
    }
    assert_eq!(sha256(&working), sha256(&target));
}

/// The files of an image by content: (path, SHA-256, size).
fn files_by_content(image: &Path) -> Vec<(String, swarmdate_core::hash::Sha256, u64)> {
    let bytes = std::fs::read(image).unwrap();
    read_layout(image)
        .unwrap()
        .files
        .iter()
        .map(|f| {
            let mut content = Vec::with_capacity(f.size as usize);
            for e in &f.extents {
                content.extend_from_slice(&bytes[e.start as usize..e.end as usize]);
            }
            (
                f.path.clone(),
                swarmdate_core::hash::Sha256::of(&content),
                f.size,
            )
        })
        .collect()
}

/// What a switch from `old` to `new` must fetch at least (the bytes of files whose content
/// neither `old` nor the store holds), and at most (that, two pieces per file changed, added or
/// moved to another name, and the pieces holding `new`'s metadata).
pub(crate) fn switch_bounds(
    old: &Path,
    new: &Path,
    store: &[swarmdate_core::hash::Sha256],
) -> (u64, u64) {
    let had = files_by_content(old);
    let contents: BTreeSet<_> = had
        .iter()
        .map(|(_, d, _)| *d)
        .chain(store.iter().copied())
        .collect();
    let placed: BTreeSet<_> = had.iter().map(|(p, d, _)| (p.clone(), *d)).collect();
    let mut new_content = 0;
    let mut changed = 0u64;
    for (path, digest, size) in files_by_content(new) {
        if !contents.contains(&digest) {
            new_content += size;
        }
        if !placed.contains(&(path, digest)) {
            changed += 1;
        }
    }
    let metadata = metadata_pieces(new, &read_layout(new).unwrap()).len() as u64;
    let piece = u64::from(PIECE);
    (new_content, new_content + (2 * changed + metadata) * piece)
}

/// 1.00 a fresh build, 1.01 appended, 1.02 a fresh rebuild of 1.01's tree (5 packages replaced,
/// 2 added, one renamed), 1.03 appended; all published, about 60 MB each.
pub(crate) fn rebuilt_chain(tracker: &str) -> crate::support::Distro {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let publish = dir.path().join("publish");
    std::fs::create_dir_all(&publish).unwrap();
    let pkg = |name: &str| tree.join("Packages").join(name);
    write_tree(&tree);
    let image = |v: &str| publish.join(format!("os-{v}.iso"));
    mkisofs(&tree, &image("1.00"));
    let replace = |i: u64, version: &str, seed: u64| {
        std::fs::remove_file(pkg(&format!("pkg{i:02}-1.0-1.x86_64.rpm"))).unwrap();
        random_file(
            &pkg(&format!("pkg{i:02}-{version}-1.x86_64.rpm")),
            800_000 + seed as usize * 1_000,
            seed,
        );
    };
    // 1.01: two packages replaced, one added, appended.
    replace(30, "1.1", 31);
    replace(31, "1.1", 32);
    random_file(&pkg("added-1.0-1.x86_64.rpm"), 700_000, 33);
    respin(&image("1.00"), &tree, "/", &image("1.01")).unwrap();
    // 1.02: four replaced by newer builds, one rebuilt under its name, two added, one renamed;
    // a fresh image.
    for i in 0..4 {
        replace(i, "1.2", 40 + i);
    }
    random_file(&pkg("pkg10-1.0-1.x86_64.rpm"), 1_200_000, 50);
    random_file(&pkg("extra-2.0-1.x86_64.rpm"), 1_500_000, 51);
    random_file(&pkg("fresh-1.0-1.noarch.rpm"), 1_577_777, 52);
    std::fs::rename(pkg("pkg20-1.0-1.x86_64.rpm"), pkg("pkg20-1.0-2.x86_64.rpm")).unwrap();
    mkisofs(&tree, &image("1.02"));
    // 1.03: one replaced, one added, appended.
    replace(5, "1.3", 60);
    random_file(&pkg("late-1.0-1.x86_64.rpm"), 650_000, 61);
    respin(&image("1.02"), &tree, "/", &image("1.03")).unwrap();
    let versions = ["1.00", "1.01", "1.02", "1.03"]
        .iter()
        .map(|v| (v.to_string(), image(v)))
        .collect();
    crate::support::Distro::publish(dir, versions, PIECE >> 10, tracker)
}

/// The rebuilt chain (over 50 MB each), a tracker, and a Swarmdate seeder of every version.
async fn seeded_chain() -> (
    swarmdate_testkit::tracker::Tracker,
    crate::support::Distro,
    tempfile::TempDir,
    std::sync::Arc<swarmdate_engine::Engine>,
) {
    let tracker = crate::support::tracker().await;
    let url = tracker.announce_url();
    let distro = tokio::task::spawn_blocking(move || rebuilt_chain(&url))
        .await
        .unwrap();
    assert!(std::fs::metadata(distro.image("1.00")).unwrap().len() > 50_000_000);
    let state = tempfile::tempdir().unwrap();
    let seeder = crate::support::seed_all(&distro, state.path()).await;
    (tracker, distro, state, seeder)
}

/// Switching through appended respins and a fresh rebuild, without a layout manifest: every
/// result is the published image, and the seeder sends at least the new content and at most the
/// new content, two pieces per changed file and the target's metadata pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_across_a_rebuild_fetch_only_the_new_content() {
    switch_through_the_chain("copy").await;
}

/// The same switches in place: the image is its own source, rewritten under its undo journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_switches_across_a_rebuild_fetch_only_the_new_content() {
    switch_through_the_chain("in-place").await;
}

async fn switch_through_the_chain(mode: &str) {
    let (_tracker, distro, _seeder_state, seeder) = seeded_chain().await;
    let client = crate::support::UserHome::new(&distro);
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.00"), client.images().join("os-1.00.iso")).unwrap();

    // A package new in 1.02 is already in the client's store (from a package update).
    let stored = distro
        .dir
        .path()
        .join("tree/Packages/fresh-1.0-1.noarch.rpm");
    let stored_sha = sha256(&stored);
    swarmdate_core::store::PackageStore::open(&client.home.path().join("data/store"))
        .unwrap()
        .import(&stored, &stored_sha)
        .unwrap();
    let stored_len = std::fs::metadata(&stored).unwrap().len();

    let mut current = "1.00";
    for target in ["1.01", "1.02", "1.03", "1.00"] {
        let (old, new) = (
            distro.image(current).to_owned(),
            distro.image(target).to_owned(),
        );
        let (least, most) =
            tokio::task::spawn_blocking(move || switch_bounds(&old, &new, &[stored_sha]))
                .await
                .unwrap();
        // The plan, refined by the target's directories, says what the switch will fetch; the
        // seeder's bytes are counted over both (the switch reuses the plan's directory pieces).
        let before = crate::support::uploaded(&seeder);
        let plan = client.run_async(&["iso", "plan", target]).await;
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        let refined = &plan.summary()["refined"];
        let expected = refined["layout_fetched"].as_u64().unwrap()
            + refined["still_to_fetch"].as_u64().unwrap();
        let run = client
            .run_async(&["iso", "switch", target, "--mode", mode])
            .await;
        assert_eq!(
            run.code, 0,
            "switch to {target}: {:?}\n{}",
            run.events, run.stderr
        );
        // The client has exited: everything it got has left the seeder.
        let sent = crate::support::uploaded_now(&seeder).await - before;
        eprintln!(
            "{mode} {current} → {target}: seeder sent {sent}, new content {least}, bound {most}"
        );
        assert!(
            sent >= least && sent <= most,
            "{current} → {target}: seeder sent {sent}, new content {least}, bound {most}; {}",
            run.summary()
        );
        assert_eq!(
            run.summary()["fetched_bytes"].as_u64().unwrap(),
            expected,
            "{current} → {target}: the refined plan {} and the switch {}",
            plan.summary(),
            run.summary()
        );
        if target == "1.02" {
            // Unrefined, the plan would fetch nearly the whole image.
            let unrefined = plan.summary()["fetch_bytes"].as_u64().unwrap();
            assert!(unrefined > 5 * expected, "{}", plan.summary());
            // The rebuild moved every file: most of it came from the old image, and says so.
            let placed = run.summary()["rebuilt"]["from_image"].as_u64().unwrap();
            assert!(placed > 40_000_000, "{}", run.summary());
            // The plan refined after the directories is exact: what was left is what came.
            let r = &run.summary()["rebuilt"];
            assert_eq!(
                r["layout_fetched"].as_u64().unwrap() + r["still_to_fetch"].as_u64().unwrap(),
                run.summary()["fetched_bytes"].as_u64().unwrap(),
                "{}",
                run.summary()
            );
            let from_store = run.summary()["rebuilt"]["from_store"].as_u64().unwrap();
            assert!(
                from_store + 2 * u64::from(PIECE) >= stored_len && from_store <= stored_len,
                "{}",
                run.summary()
            );
        }
        assert_eq!(
            sha256(&client.images().join(format!("os-{target}.iso"))),
            sha256(distro.image(target)),
            "image after switching to {target}"
        );
        current = target;
    }
    seeder.shutdown().await;
}

/// The same switches with a Transmission seeder as the only peer (and opentracker): the
/// directories come over our own link to it, and its own counters stay within the bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_across_a_rebuild_with_a_transmission_seeder_alone() {
    use std::net::Ipv4Addr;
    use std::time::Duration;
    use swarmdate_testkit::third_party::{OpenTracker, Transmission, free_port, wait_until};

    let port = free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = OpenTracker::url_on(port);
    let distro = tokio::task::spawn_blocking(move || rebuilt_chain(&url))
        .await
        .unwrap();
    let versions = ["1.00", "1.01", "1.02", "1.03"];
    let hashes: Vec<_> = versions
        .iter()
        .map(|v| distro.torrent(v).info_hash())
        .collect();
    let tracker = OpenTracker::start(port, &hashes).unwrap();
    let transmission = Transmission::start(Ipv4Addr::new(127, 0, 0, 2)).unwrap();
    for v in versions {
        transmission
            .add(
                &distro.publish_dir().join(format!("os-{v}.iso.torrent")),
                &distro.publish_dir(),
            )
            .unwrap();
    }
    let (transmission, _tracker) = tokio::task::spawn_blocking({
        let hashes = hashes.clone();
        move || {
            for h in &hashes {
                wait_until(
                    "transmission's check",
                    Duration::from_secs(120),
                    || transmission.counters(h),
                    |c| c.done >= 1.0,
                )
                .unwrap();
                tracker.wait_for_peers(h, 1).unwrap();
            }
            (transmission, tracker)
        }
    })
    .await
    .unwrap();
    let transmission = std::sync::Arc::new(transmission);
    let sent_so_far = {
        let (t, hashes) = (transmission.clone(), hashes.clone());
        move || -> anyhow::Result<u64> { hashes.iter().map(|h| Ok(t.counters(h)?.uploaded)).sum() }
    };

    let client = crate::support::UserHome::new(&distro);
    std::fs::create_dir_all(client.images()).unwrap();
    std::fs::copy(distro.image("1.00"), client.images().join("os-1.00.iso")).unwrap();
    let mut current = "1.00";
    let mut before = 0;
    for target in ["1.01", "1.02", "1.03", "1.00"] {
        let (old, new) = (
            distro.image(current).to_owned(),
            distro.image(target).to_owned(),
        );
        let (least, most) = tokio::task::spawn_blocking(move || switch_bounds(&old, &new, &[]))
            .await
            .unwrap();
        let run = client.run_async(&["iso", "switch", target]).await;
        assert_eq!(
            run.code, 0,
            "switch to {target}: {:?}\n{}",
            run.events, run.stderr
        );
        assert_eq!(
            sha256(&client.images().join(format!("os-{target}.iso"))),
            sha256(distro.image(target)),
            "image after switching to {target}"
        );
        // Its counters lag: wait until they cover what the client counted from it, its only peer
        // (the directory pieces included), and at least the new content.
        let got = run.summary()["fetched_bytes"].as_u64().unwrap().max(least);
        let read = sent_so_far.clone();
        let total = tokio::task::spawn_blocking(move || {
            wait_until(
                "transmission's upload count",
                Duration::from_secs(30),
                &read,
                |&n| n >= before + got,
            )
            .unwrap()
        })
        .await
        .unwrap();
        let sent = total - before;
        eprintln!(
            "{current} → {target}: transmission sent {sent}, new content {least}, bound {most}"
        );
        // Transmission counts a little protocol data with the payload (about 16 KiB per 20 MiB).
        assert!(
            sent <= most + 2 * u64::from(PIECE),
            "{current} → {target}: transmission sent {sent}, bound {most}; {}",
            run.summary()
        );
        before = total;
        current = target;
    }
}

/// An in-place switch across a rebuild rewrites most of the image from itself: killed in the
/// middle of those writes, an abort puts the old image back byte for byte, and a resumed switch
/// ends with the published image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_in_place_rebuild_rolls_back_or_resumes() {
    let (_tracker, distro, _seeder_state, seeder) = seeded_chain().await;
    // Early, in the middle, and late among the ~950 pieces' 16 KiB blocks the pre-fill writes.
    for (n, kill_at) in [5, 1500, 3500].into_iter().enumerate() {
        let images = tempfile::tempdir().unwrap();
        let client = crate::support::client_in(&distro, images.path(), "1.01");
        let mut cmd = client.command(&["iso", "switch", "1.02", "--mode", "in-place"]);
        cmd.env("SWARMDATE_KILL_AT", format!("write:{kill_at}"));
        let out = tokio::process::Command::from(cmd).output().await.unwrap();
        assert_eq!(out.status.code(), None, "killed at write:{kill_at}");
        let (args, expected): (&[&str], &str) = if n % 2 == 0 {
            (&["iso", "switch", "--abort"], "1.01")
        } else {
            (&["iso", "switch", "1.02", "--mode", "in-place"], "1.02")
        };
        let run = client.run_async(args).await;
        assert_eq!(
            run.code, 0,
            "after write:{kill_at}: {:?}\n{}",
            run.events, run.stderr
        );
        assert_eq!(
            sha256(&images.path().join(format!("os-{expected}.iso"))),
            sha256(distro.image(expected)),
            "after a kill at write:{kill_at}, the image is {expected}"
        );
    }
    seeder.shutdown().await;
}
