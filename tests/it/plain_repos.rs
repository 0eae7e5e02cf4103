//! A root with two kinds of repository: the feed's (a release and an updates snapshot, seeded by a
//! peer, their mirror a web seed) and a plain one configured in the root's `.repo` files (no
//! feed; `rpmbuild` packages signed by `rpmsign` with an RSA key, `createrepo_c` repodata), both
//! behind Debian's lighttpd, whose access log counts what it served. `update --check` says where
//! each package comes from; `update --yes` installs them all (rpm judges), the feed's packages
//! over the swarm (the web server served none of them), the plain repository's from the web
//! server, a new dependency only the plain repository has pulled in; its repodata is fetched
//! again only when its repomd.xml changes; one that cannot be reached is left out and said so.

use std::collections::BTreeSet;

use swarmdate_testkit::third_party::Lighttpd;

use crate::distro_tools::{Gpg, Spec, rpmbuild, rpmbuild_requiring, tool};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_come_from_the_swarm_and_from_a_plain_repository_each_where_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let web = Lighttpd::start(dir.path()).unwrap();
    let mirror_url = format!("{}mirror/", web.url());
    let tracker = tracker().await;
    let url = tracker.announce_url();
    let (d, m) = (dir.path().join("distro"), mirror_url.clone());
    std::fs::create_dir_all(&d).unwrap();
    let distro = tokio::task::spawn_blocking(move || {
        // The distro's mirror folder is `dir/distro/mirror`: served as `/mirror/` through a link.
        let tmp = tempfile::TempDir::new_in(&d).unwrap();
        PackageDistro::build_in(tmp, 30, 20_000..60_000, &url, Some(&m))
    })
    .await
    .unwrap();
    std::os::unix::fs::symlink(distro.dir.path().join("mirror"), dir.path().join("mirror"))
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
    crate::packages::rpm("rpmkeys", &root, &["--import", asc.to_str().unwrap()]);
    crate::packages::rpm("rpm", &root, &["-i", old_tool.to_str().unwrap()]);
    std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
    std::fs::write(root.join("etc/os-release"), "VERSION_ID=41\n").unwrap();
    std::fs::write(
        root.join("etc/yum.repos.d/extras.repo"),
        format!(
            "[extras]\nname=Extras $releasever\nbaseurl={}plain/extras/\nenabled=1\ngpgcheck=1\n\n[disabled]\nbaseurl=http://127.0.0.1:9/nothing/\nenabled=0\n\n[gone]\nbaseurl=http://127.0.0.1:9/gone/\n",
            web.url()
        ),
    )
    .unwrap();
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
    let primary_fetches = |served: &[swarmdate_testkit::third_party::Served]| {
        served.iter().filter(|s| s.path.contains("primary")).count()
    };
    tokio::task::block_in_place(|| {
        web.wait_served("the repodata fetched", |s| primary_fetches(s) == 1)
    })
    .unwrap();

    let before = installed_in(&root);
    let run = client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = installed_in(&root);
    let mut want: BTreeSet<String> = distro.expected_after_update();
    want.insert("extra-tool-1.1-1.fc41.noarch".into());
    want.insert("extra-lib-2.0-1.fc41.noarch".into());
    assert_eq!(after, want, "before: {before:?}");

    // The web server's own log: the plain repository's packages, each once and whole; none of
    // the feed's (they came over the swarm); the repodata once (the second plan read the cache).
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
        !served
            .iter()
            .any(|s| s.path.starts_with("/mirror/") && s.path.ends_with(".rpm"))
    );
    assert_eq!(primary_fetches(&served), 1, "{served:?}");
    origin.shutdown().await;
}
