//! `.repo` files as Fedora ships them and as third parties (Copr, RPM Fusion) write them, in a
//! root: what dnf would use, variables expanded.

use std::path::Path;

use swarmdate_repos::{RepoVars, read_repo_files};

const FEDORA: &str = r#"[fedora]
name=Fedora $releasever - $basearch
#baseurl=http://download.example/pub/fedora/linux/releases/$releasever/Everything/$basearch/os/
metalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch
enabled=1
countme=1
metadata_expire=7d
repo_gpgcheck=0
type=rpm
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-$basearch
skip_if_unavailable=False

[fedora-debuginfo]
name=Fedora $releasever - $basearch - Debug
metalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-debug-$releasever&arch=$basearch
enabled=0
gpgcheck=1
"#;

const LOCAL: &str = "# A mirror on the local network, two base URLs over continued lines.
[local-updates]
name=Updates from the office mirror
baseurl=http://10.0.0.5/fedora/updates/${releasever}/$basearch/
  file:///srv/mirror/updates/$releasever/$basearch/#snapshot
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$releasever-primary,
       file:///etc/pki/rpm-gpg/RPM-GPG-KEY-$company
";

fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    root
}

#[test]
fn fedora_and_a_local_mirror_read_as_dnf_reads_them() {
    let root = root_with(&[
        ("etc/os-release", "NAME=\"Fedora Linux\"\nVERSION_ID=41\n"),
        (
            "etc/dnf/dnf.conf",
            "[main]\ngpgcheck=True\ninstallonly_limit=3\n",
        ),
        ("etc/dnf/vars/company", "acme\n"),
        ("etc/yum.repos.d/fedora.repo", FEDORA),
        ("etc/yum.repos.d/local.repo", LOCAL),
        (
            "etc/yum.repos.d/notes.txt",
            "[ignored]\nbaseurl=http://x/\n",
        ),
    ]);
    let vars = RepoVars::of_root(root.path());
    let repos = read_repo_files(root.path(), &vars).unwrap();
    let ids: Vec<&str> = repos.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fedora", "fedora-debuginfo", "local-updates"]);
    let arch = std::env::consts::ARCH;

    let fedora = &repos[0];
    assert_eq!(fedora.name, format!("Fedora 41 - {arch}"));
    assert!(fedora.enabled && fedora.gpgcheck && !fedora.repo_gpgcheck);
    assert!(fedora.baseurls.is_empty(), "{:?}", fedora.baseurls);
    assert_eq!(
        fedora.metalink.as_deref(),
        Some(
            format!("https://mirrors.fedoraproject.org/metalink?repo=fedora-41&arch={arch}")
                .as_str()
        )
    );
    assert_eq!(
        fedora.gpgkeys,
        [format!(
            "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-{arch}"
        )]
    );
    assert!(!repos[1].enabled);

    let local = &repos[2];
    assert_eq!(
        local.baseurls,
        [
            format!("http://10.0.0.5/fedora/updates/41/{arch}/"),
            format!("file:///srv/mirror/updates/41/{arch}/#snapshot"),
        ]
    );
    // No gpgcheck in the section: dnf.conf's [main] says.
    assert!(local.gpgcheck);
    assert_eq!(
        local.gpgkeys,
        [
            "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary",
            "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-acme"
        ]
    );
    assert_eq!(local.file, root.path().join("etc/yum.repos.d/local.repo"));
}

#[test]
fn a_repository_dnf_could_not_use_is_refused_naming_the_file_and_the_section() {
    for (text, says) in [
        (
            "[broken]\nname=No location\nenabled=1\n",
            "[broken] has no baseurl",
        ),
        (
            "[odd]\nbaseurl=http://x/\nenabled=maybe\n",
            "[odd] enabled=\"maybe\" is not a boolean",
        ),
    ] {
        let root = root_with(&[("etc/yum.repos.d/third-party.repo", text)]);
        let e = read_repo_files(root.path(), &RepoVars::new("41", "x86_64")).unwrap_err();
        let said = e.to_string();
        assert!(
            said.contains("third-party.repo") && said.contains(says),
            "{said}"
        );
    }
    // The positive control: the same file, mended, reads.
    let root = root_with(&[(
        "etc/yum.repos.d/third-party.repo",
        "[odd]\nbaseurl=http://x/\nenabled=no\n",
    )]);
    let repos = read_repo_files(root.path(), &RepoVars::new("41", "x86_64")).unwrap();
    assert!(!repos[0].enabled);
}

#[test]
fn the_first_file_to_name_an_id_wins_and_a_root_without_repositories_has_none() {
    let root = root_with(&[
        ("etc/yum.repos.d/a.repo", "[dup]\nbaseurl=http://first/\n"),
        ("etc/yum.repos.d/b.repo", "[dup]\nbaseurl=http://second/\n"),
    ]);
    let repos = read_repo_files(root.path(), &RepoVars::new("41", "x86_64")).unwrap();
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].baseurls, ["http://first/"]);
    let empty = tempfile::tempdir().unwrap();
    assert!(
        read_repo_files(Path::new(empty.path()), &RepoVars::default())
            .unwrap()
            .is_empty()
    );
}
