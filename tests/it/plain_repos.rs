//! A root with two kinds of repository: the feed's (a release and an updates snapshot, seeded by a
//! peer) and a plain one configured in the root's `.repo` files (no
//! feed; `rpmbuild` packages signed by `rpmsign` with an RSA key, `createrepo_c` repodata), both
//! behind Debian's lighttpd, whose access log counts what it served. `update --check` says where
//! each package comes from; `update --yes` installs them all (rpm judges), the feed's packages
//! from the peer (its upload count), the plain repository's from the web server (its access log)
//! and nothing else from it, a new dependency only the plain repository has pulled in; its repodata is fetched
//! again only when its repomd.xml changes; one that cannot be reached is left out and said so.

use std::collections::BTreeSet;

use swarmdate_testkit::third_party::Lighttpd;

use crate::distro_tools::{Gpg, Spec, rpmbuild, rpmbuild_requiring, tool};
use crate::support::*;

/// The two kinds of repository and a client root (see the module's text).
struct World {
    dir: tempfile::TempDir,
    web: Lighttpd,
    distro: PackageDistro,
    origin: std::sync::Arc<swarmdate_engine::Engine>,
    client: UserHome,
    root: std::path::PathBuf,
    extras: std::path::PathBuf,
    extras_key: std::path::PathBuf,
    /// The extras repository's signer and its key.
    gpg: Gpg,
    fpr: String,
    _tracker: swarmdate_testkit::tracker::Tracker,
}

/// Builds the world; the root trusts the extras repository's key when `trust_extras`; its
/// `.repo` file is what `repo_file` writes, given the web server's URL and the extras folder.
async fn world(trust_extras: bool, repo_file: impl Fn(&str, &std::path::Path) -> String) -> World {
    let dir = tempfile::tempdir().unwrap();
    let web = Lighttpd::start(dir.path()).unwrap();
    let tracker = tracker().await;
    let url = tracker.announce_url();
    // The feed's repositories have no web seed: their packages can come only from the peer, whose
    // own upload count then says they did. (With this web server as their web seed too, a
    // loaded machine sends them to it after the engine's 2-s no-peer grace: the swarm-aware
    // fallback is a later issue's.)
    let distro =
        tokio::task::spawn_blocking(move || PackageDistro::build(30, 20_000..60_000, &url))
            .await
            .unwrap();

    // The plain repository: a new build of a tool the root has, needing a library only it has.
    let extras = dir.path().join("plain/extras");
    let gpg = Gpg::new();
    let uid = "Extras (41) <extras@example.org>";
    let fpr = gpg.generate(uid, "rsa4096", "never", None);
    let spec = |name, version| Spec {
        name,
        version,
        release: "1.fc41",
        setuid: false,
    };
    let old_tool = rpmbuild(&spec("extra-tool", "1.0"), &dir.path().join("old"));
    gpg.rpmsign(uid, &old_tool);
    for (s, requires) in [
        (spec("extra-tool", "1.1"), vec!["extra-lib >= 2.0"]),
        (spec("extra-lib", "2.0"), vec![]),
    ] {
        let rpm = rpmbuild_requiring(&s, &requires, &extras.join("Packages").join(&s.name[..1]));
        gpg.rpmsign(uid, &rpm);
    }
    tool("createrepo_c", &["--quiet"], &extras);

    let origin_state = tempfile::tempdir().unwrap();
    let origin = distro.origin(origin_state.path()).await;
    let client = distro.client();
    let root = distro.root("c");
    // The root trusts the extras key as dnf would (rpm --import), has the old tool, and lists
    // the repository as a .repo file, its base URL with variables.
    let asc = dir.path().join("extras.asc");
    std::fs::write(&asc, gpg.export(&fpr)).unwrap();
    if trust_extras {
        crate::packages::rpm("rpmkeys", &root, &["--import", asc.to_str().unwrap()]);
    }
    crate::packages::rpm("rpm", &root, &["-i", old_tool.to_str().unwrap()]);
    std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
    std::fs::write(root.join("etc/os-release"), "VERSION_ID=41\n").unwrap();
    std::fs::write(
        root.join("etc/yum.repos.d/extras.repo"),
        repo_file(&web.url(), &extras),
    )
    .unwrap();
    World {
        dir,
        web,
        distro,
        origin,
        client,
        root,
        extras,
        extras_key: asc,
        gpg,
        fpr,
        _tracker: tracker,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_come_from_the_swarm_and_from_a_plain_repository_each_where_it_should() {
    // Every part bound, so that none (the tracker above all) is dropped before the end.
    let World {
        dir,
        web,
        distro,
        origin,
        client,
        root,
        extras: _,
        extras_key: _,
        gpg: _,
        fpr: _,
        _tracker,
    } = world(true, |web, _| {
        format!(
            "[extras]\nname=Extras $releasever\nbaseurl={web}plain/extras/\nenabled=1\ngpgcheck=1\n\n[disabled]\nbaseurl=http://127.0.0.1:9/nothing/\nenabled=0\n\n[gone]\nbaseurl=http://127.0.0.1:9/gone/\n"
        )
    })
    .await;
    let root_arg = root.to_str().unwrap();

    let check = client
        .run_async(&["update", "--check", "--root", root_arg])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    // A repository that cannot be reached is left out and said so; a disabled one is not tried.
    let left: Vec<&serde_json::Value> = check
        .events
        .iter()
        .filter(|e| e["event"] == "left_out")
        .collect();
    assert_eq!(left.len(), 1, "{:?}", check.events);
    assert_eq!(left[0]["repository"], "gone");
    assert!(
        left[0]["reason"].as_str().unwrap().contains("127.0.0.1:9"),
        "{left:?}"
    );
    let swarm_bytes: u64 = check.summary()["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["from"] == "swarm")
        .map(|d| d["size"].as_u64().unwrap())
        .sum();
    assert!(swarm_bytes > 0);
    let from: Vec<(String, String)> = check.summary()["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n: swarmdate_core::packages::Nevra =
                serde_json::from_value(d["package"].clone()).unwrap();
            (n.name, d["from"].as_str().unwrap().to_owned())
        })
        .collect();
    for (name, source) in &from {
        let want = if name.starts_with("extra-") {
            "repository:extras"
        } else {
            "swarm"
        };
        assert_eq!(source, want, "{name}: {from:?}");
    }
    assert_eq!(
        from.iter().filter(|(n, _)| n.starts_with("extra-")).count(),
        2,
        "{from:?}"
    );
    // The tool's update brings the changelog entries newer than the installed 1.0 (from
    // other.xml): its own, not the older one.
    let tool = check.summary()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["package"]["name"] == "extra-tool")
        .unwrap()
        .clone();
    let entries = tool["changelog"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{tool}");
    assert!(
        entries[0]["author"]
            .as_str()
            .unwrap()
            .ends_with("- 1.1-1.fc41"),
        "{tool}"
    );
    let primary_fetches = |served: &[swarmdate_testkit::third_party::Served]| {
        served.iter().filter(|s| s.path.contains("primary")).count()
    };
    tokio::task::block_in_place(|| {
        web.wait_served("the repodata fetched", |s| primary_fetches(s) == 1)
    })
    .unwrap();

    let before = installed_in(&root);
    let uploaded_before = uploaded_now(&origin).await;
    let run = client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The peer, not the client, says it sent the feed's packages.
    let uploaded = uploaded_now(&origin).await - uploaded_before;
    assert!(
        uploaded >= swarm_bytes,
        "the peer sent {uploaded} of {swarm_bytes}"
    );
    let after = installed_in(&root);
    let mut want: BTreeSet<String> = distro.expected_after_update();
    want.insert("extra-tool-1.1-1.fc41.noarch".into());
    want.insert("extra-lib-2.0-1.fc41.noarch".into());
    assert_eq!(after, want, "before: {before:?}");

    // The web server's own log: the plain repository's packages, each once and whole, and
    // nothing else; the repodata once (the second plan read the cache).
    let served = web.stop().unwrap();
    let packages: Vec<_> = served.iter().filter(|s| s.path.ends_with(".rpm")).collect();
    let mut names: Vec<&str> = packages
        .iter()
        .map(|s| s.path.rsplit('/').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "extra-lib-2.0-1.fc41.noarch.rpm",
            "extra-tool-1.1-1.fc41.noarch.rpm"
        ],
        "{served:?}"
    );
    for s in &packages {
        let file = dir.path().join(s.path.trim_start_matches('/'));
        assert_eq!(s.status, 200);
        assert_eq!(s.bytes, std::fs::metadata(&file).unwrap().len(), "{s:?}");
    }
    assert!(
        served.iter().all(|s| s.path.starts_with("/plain/extras/")),
        "{served:?}"
    );
    assert_eq!(primary_fetches(&served), 1, "{served:?}");
    origin.shutdown().await;
}

/// A plain repository is held to what it says and to the root's keys: a package altered on the
/// server after createrepo_c is refused as it arrives, naming it; a package signed by a key the
/// root has not imported is refused before the transaction; either way rpm's list is unchanged
/// (the feed's updates too: one transaction). With the file mended and the key imported, the
/// same update goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_repository_that_lies_or_is_not_trusted_changes_nothing() {
    let w = world(false, |web, _| {
        format!("[extras]\nbaseurl={web}plain/extras/\ngpgcheck=1\n")
    })
    .await;
    let root_arg = w.root.to_str().unwrap();
    let lib = w.extras.join("Packages/e/extra-lib-2.0-1.fc41.noarch.rpm");
    let good = std::fs::read(&lib).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(&lib, &bad).unwrap();
    let before = installed_in(&w.root);

    let lied = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_ne!(lied.code, 0);
    let said = lied.error();
    assert!(
        said.contains("extra-lib-2.0-1.fc41.noarch")
            && said.contains("not the package its repository's repodata describes"),
        "{said}"
    );
    assert_eq!(installed_in(&w.root), before);

    // The server's file mended: now the signature decides, and the root does not trust it yet.
    std::fs::write(&lib, &good).unwrap();
    let untrusted = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_ne!(untrusted.code, 0);
    let said = untrusted.error();
    assert!(said.contains("extra-"), "{said}");
    assert_eq!(installed_in(&w.root), before);

    // The positive control: the key imported, the same update installs everything.
    crate::packages::rpm(
        "rpmkeys",
        &w.root,
        &["--import", w.extras_key.to_str().unwrap()],
    );
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&w.root);
    assert!(after.contains("extra-tool-1.1-1.fc41.noarch"), "{after:?}");
    assert!(after.contains("extra-lib-2.0-1.fc41.noarch"), "{after:?}");
    w.origin.shutdown().await;
    drop((w.web, w.distro, w.dir));
}

/// A repository configured by a metalink, as Fedora's are: the mirror the metalink prefers serves
/// a stale repomd.xml (not the digest the metalink gives) and is passed over; the next one, whose
/// repomd.xml matches, serves the repodata and the packages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metalink_repository_is_read_from_the_first_mirror_that_serves_its_repomd() {
    let w = world(true, |web, extras| {
        let repomd = std::fs::read(extras.join("repodata/repomd.xml")).unwrap();
        let stale = extras.parent().unwrap().join("stale/repodata");
        std::fs::create_dir_all(&stale).unwrap();
        let old = String::from_utf8(repomd.clone())
            .unwrap()
            .replace("<revision>", "<revision>1");
        std::fs::write(stale.join("repomd.xml"), old).unwrap();
        let digest = swarmdate_core::hash::Sha256::of(&repomd);
        std::fs::write(
            extras.parent().unwrap().join("metalink.xml"),
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files><file name="repomd.xml"><size>{}</size>
  <verification><hash type="sha256">{digest}</hash></verification>
  <resources>
   <url protocol="http" preference="100">{web}plain/stale/repodata/repomd.xml</url>
   <url protocol="http" preference="90">{web}plain/extras/repodata/repomd.xml</url>
  </resources></file></files>
</metalink>
"#,
                repomd.len()
            ),
        )
        .unwrap();
        format!(
            "[extras]\nmetalink={web}plain/metalink.xml?repo=extras-$releasever&arch=$basearch\ngpgcheck=1\n"
        )
    })
    .await;
    let root_arg = w.root.to_str().unwrap();
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&w.root);
    assert!(after.contains("extra-tool-1.1-1.fc41.noarch"), "{after:?}");
    assert!(after.contains("extra-lib-2.0-1.fc41.noarch"), "{after:?}");
    let served = w.web.stop().unwrap();
    let paths: Vec<&str> = served.iter().map(|s| s.path.as_str()).collect();
    // The stale mirror was asked for its repomd.xml only; the matching one served the rest.
    assert!(
        paths.contains(&"/plain/stale/repodata/repomd.xml"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .filter(|p| p.starts_with("/plain/stale/"))
            .all(|p| p.ends_with("repomd.xml")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/plain/extras/Packages/")),
        "{paths:?}"
    );
    w.origin.shutdown().await;
}

/// A repository configured by a mirror list (`mirrorlist=`, as RPM Fusion's are): plain lines of
/// base URLs; the first mirror is down and is passed over, the next serves repodata and packages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrorlist_repository_is_read_from_the_first_mirror_that_answers() {
    let w = world(true, |web, extras| {
        std::fs::write(
            extras.parent().unwrap().join("mirrors.txt"),
            format!(
                "# repo = extras-41 arch = x86_64\nhttp://127.0.0.1:9/extras/\nrsync://mirror.example/extras/\n{web}plain/extras\n"
            ),
        )
        .unwrap();
        format!("[extras]\nmirrorlist={web}plain/mirrors.txt?repo=extras-$releasever\ngpgcheck=1\n")
    })
    .await;
    let root_arg = w.root.to_str().unwrap();
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&w.root);
    assert!(after.contains("extra-tool-1.1-1.fc41.noarch"), "{after:?}");
    assert!(after.contains("extra-lib-2.0-1.fc41.noarch"), "{after:?}");
    let served = w.web.stop().unwrap();
    let paths: Vec<&str> = served.iter().map(|s| s.path.as_str()).collect();
    assert!(paths.contains(&"/plain/mirrors.txt"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/plain/extras/Packages/")),
        "{paths:?}"
    );
    w.origin.shutdown().await;
}

/// `repo_gpgcheck=1`: repomd.xml must be signed (repomd.xml.asc) by a key its `gpgkey` file on
/// the root's disk holds. Unsigned, or signed by another key, the repository is left out and said
/// so, and nothing of it is offered; signed by its key, its update is listed and installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_gpgcheck_takes_only_repodata_signed_by_the_repositorys_key() {
    let w = world(true, |web, _| {
        format!(
            "[extras]\nbaseurl={web}plain/extras/\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-extras\n"
        )
    })
    .await;
    let keys = w.root.join("etc/pki/rpm-gpg");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("RPM-GPG-KEY-extras"), w.gpg.export(&w.fpr)).unwrap();
    let root_arg = w.root.to_str().unwrap();
    let repomd = w.extras.join("repodata/repomd.xml");
    let asc = w.extras.join("repodata/repomd.xml.asc");
    let check = || async {
        let run = w
            .client
            .run_async(&["update", "--check", "--root", root_arg])
            .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        let left: Vec<String> = run
            .events
            .iter()
            .filter(|e| e["event"] == "left_out" && e["repository"] == "extras")
            .map(|e| e["reason"].as_str().unwrap().to_owned())
            .collect();
        let offered = run.summary()["downloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["from"] == "repository:extras");
        (left, offered)
    };

    // Unsigned.
    let (left, offered) = check().await;
    assert!(!offered);
    assert!(
        left.len() == 1 && left[0].contains("repomd.xml.asc"),
        "{left:?}"
    );

    // Signed by a key the repository does not name.
    let other = w
        .gpg
        .generate("Mallory <m@example.org>", "rsa3072", "never", None);
    std::fs::write(&asc, w.gpg.sign_detached(&other, &repomd, None)).unwrap();
    let (left, offered) = check().await;
    assert!(!offered);
    assert!(
        left.len() == 1 && left[0].contains("not among the trusted keys"),
        "{left:?}"
    );

    // Signed by its own key: listed, then installed.
    std::fs::write(&asc, w.gpg.sign_detached(&w.fpr, &repomd, None)).unwrap();
    let (left, offered) = check().await;
    assert!(left.is_empty() && offered, "{left:?}");
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&w.root);
    assert!(after.contains("extra-tool-1.1-1.fc41.noarch"), "{after:?}");
    w.origin.shutdown().await;
}

/// An older build only a plain repository keeps (as Fedora's release repository keeps a
/// package's first build) is offered for downgrade beside the feed's, and the downgrade fetches it
/// from that repository's web server; rpm then has it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_repositorys_older_build_is_offered_and_downgraded_to() {
    let w = world(true, |web, _| {
        format!("[extras]\nbaseurl={web}plain/extras/\ngpgcheck=1\n")
    })
    .await;
    let old: Vec<_> = files_under(&w.dir.path().join("old"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    assert_eq!(old.len(), 1, "{old:?}");
    let keep = w
        .extras
        .join("Packages/e")
        .join(old[0].file_name().unwrap());
    std::fs::copy(&old[0], &keep).unwrap();
    tool("createrepo_c", &["--quiet"], &w.extras);
    let root_arg = w.root.to_str().unwrap();
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(installed_in(&w.root).contains("extra-tool-1.1-1.fc41.noarch"));

    let list = swarmdate_usecases::updates::downgradable(&w.client.user(), &w.root)
        .await
        .unwrap();
    let tool_row = list
        .iter()
        .find(|d| d.name() == "extra-tool")
        .unwrap_or_else(|| panic!("{list:?}"));
    let older: Vec<String> = tool_row.older.iter().map(|o| o.nevra.to_string()).collect();
    assert_eq!(older, ["extra-tool-1.0-1.fc41.noarch"]);

    let run = w
        .client
        .run_async(&["downgrade", "extra-tool", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&w.root);
    assert!(after.contains("extra-tool-1.0-1.fc41.noarch"), "{after:?}");
    assert!(!after.contains("extra-tool-1.1-1.fc41.noarch"), "{after:?}");
    let served = w.web.stop().unwrap();
    let old_path = format!(
        "/plain/extras/Packages/e/{}",
        keep.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(
        served
            .iter()
            .filter(|s| s.path == old_path && s.status == 200)
            .count(),
        1,
        "{served:?}"
    );
    w.origin.shutdown().await;
}

/// An update whose older build came from a file no repository, snapshot or store has (the root
/// got extra-tool 1.0 from a loose RPM): its undo says which build is missing before anything
/// changes, and rpm's list stays as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_whose_older_build_nothing_has_changes_nothing() {
    let w = world(true, |web, _| {
        format!("[extras]\nbaseurl={web}plain/extras/\ngpgcheck=1\n")
    })
    .await;
    let root_arg = w.root.to_str().unwrap();
    let run = w
        .client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.summary()["history"].as_i64().unwrap();
    let updated = installed_in(&w.root);
    assert!(updated.contains("extra-tool-1.1-1.fc41.noarch"));
    let run = w
        .client
        .run_async(&[
            "history",
            "undo",
            &id.to_string(),
            "--yes",
            "--root",
            root_arg,
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.error().contains("extra-tool-1.0-1.fc41.noarch")
            && run.error().contains("nothing was changed"),
        "{}",
        run.error()
    );
    assert_eq!(installed_in(&w.root), updated);
    w.origin.shutdown().await;
}
