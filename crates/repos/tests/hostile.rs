//! Repodata from a hostile or broken mirror: each fault refused with a reason that names it,
//! beside a well-formed repository that reads.

use std::path::Path;

use sha2::Digest;
use swarmdate_repos::{Limits, RepodataError, read_repodata};

const PKG_SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A primary document of one package at `location`, its checksum of `kind`.
fn primary(location: &str, kind: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>tool</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="2.0" rel="3.fc41"/>
  <checksum type="{kind}" pkgid="YES">{PKG_SHA}</checksum>
  <summary>A tool</summary>
  <description>A tool.</description>
  <packager></packager>
  <url></url>
  <time file="1" build="1"/>
  <size package="1234" installed="4000" archive="4100"/>
  <location href="{location}"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:provides>
      <rpm:entry name="tool" flags="EQ" epoch="1" ver="2.0" rel="3.fc41"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="libc.so.6()(64bit)"/>
      <rpm:entry name="libfoo" flags="GE" epoch="0" ver="1.5"/>
      <rpm:entry name="rpmlib(CompressedFileNames)" flags="LE" epoch="0" ver="3.0.4" rel="1"/>
    </rpm:requires>
  </format>
</package>
</metadata>
"#
    )
}

/// Writes `primary` as the repository's only metadata, with repomd.xml giving `size` and
/// `open_size` (the true ones when `None`) and its true SHA-256.
fn repo(dir: &Path, primary: &str, size: Option<u64>, open_size: Option<u64>) {
    let data = dir.join("repodata");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("primary.xml"), primary).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(primary.as_bytes()));
    let len = primary.len() as u64;
    std::fs::write(
        data.join("repomd.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1764670000</revision>
  <data type="primary">
    <checksum type="sha256">{sha}</checksum>
    <open-checksum type="sha256">{sha}</open-checksum>
    <location href="repodata/primary.xml"/>
    <timestamp>1764670000</timestamp>
    <size>{}</size>
    <open-size>{}</open-size>
  </data>
</repomd>
"#,
            size.unwrap_or(len),
            open_size.unwrap_or(len)
        ),
    )
    .unwrap();
}

#[test]
fn a_well_formed_repository_reads_with_its_relations_and_without_rpmlib() {
    let dir = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        &primary("Packages/t/tool-2.0-3.fc41.x86_64.rpm", "sha256"),
        None,
        None,
    );
    let data = read_repodata(dir.path(), Limits::default()).unwrap();
    assert_eq!(data.revision.as_deref(), Some("1764670000"));
    let [p] = &data.packages[..] else {
        panic!("{:?}", data.packages)
    };
    assert_eq!(p.nevra.to_string(), "tool-1:2.0-3.fc41.x86_64");
    assert_eq!(p.location, "Packages/t/tool-2.0-3.fc41.x86_64.rpm");
    assert_eq!(p.size, 1234);
    assert_eq!(hex::encode(p.sha256.0), PKG_SHA);
    let requires: Vec<String> = p.relations.requires.iter().map(|d| d.to_string()).collect();
    assert_eq!(requires, ["libc.so.6()(64bit)", "libfoo >= 1.5"]);
    assert_eq!(p.relations.provides[0].to_string(), "tool = 1:2.0-3.fc41");
    assert!(data.advisories.is_empty());
}

fn refusal(primary_text: &str, size: Option<u64>, open_size: Option<u64>) -> RepodataError {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), primary_text, size, open_size);
    read_repodata(dir.path(), Limits::default()).unwrap_err()
}

#[test]
fn a_package_located_outside_the_repository_is_refused() {
    for href in [
        "../../etc/shadow",
        "/etc/shadow",
        "Packages/../../x.rpm",
        "",
    ] {
        let e = refusal(&primary(href, "sha256"), None, None);
        let said = e.to_string();
        assert!(
            matches!(e, RepodataError::BadPackage { .. })
                && said.contains("tool-1:2.0-3.fc41.x86_64"),
            "{href:?}: {said}"
        );
    }
}

#[test]
fn a_package_named_by_sha1_is_refused_with_the_way_out() {
    let said = refusal(&primary("Packages/t/t.rpm", "sha1"), None, None).to_string();
    assert!(
        said.contains("sha1") && said.contains("--checksum sha256"),
        "{said}"
    );
}

#[test]
fn a_primary_that_differs_from_repomd_is_refused() {
    let text = primary("Packages/t/t.rpm", "sha256");
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), &text, None, None);
    // Altered after repomd.xml was written, same size.
    let altered = text.replace("A tool", "B tool");
    std::fs::write(dir.path().join("repodata/primary.xml"), altered).unwrap();
    let e = read_repodata(dir.path(), Limits::default()).unwrap_err();
    assert!(
        matches!(&e, RepodataError::Mismatch { what, .. } if what.starts_with("checksum")),
        "{e}"
    );
    // A size that is not the file's.
    let e = refusal(&text, Some(text.len() as u64 + 1), None);
    assert!(
        matches!(&e, RepodataError::Mismatch { what, .. } if what.contains("bytes")),
        "{e}"
    );
}

#[test]
fn metadata_that_opens_larger_than_it_said_is_refused_as_too_large() {
    let text = primary("Packages/t/t.rpm", "sha256");
    // Its open size claimed at half: the reader stops there instead of reading on.
    let e = refusal(&text, None, Some(text.len() as u64 / 2));
    assert!(
        matches!(
            e,
            RepodataError::TooLarge {
                what: " once decompressed",
                ..
            }
        ),
        "{e}"
    );
    // And a repomd.xml over the bound is not read at all.
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), &text, None, None);
    let small = Limits {
        repomd: 64,
        ..Limits::default()
    };
    let e = read_repodata(dir.path(), small).unwrap_err();
    assert!(matches!(e, RepodataError::TooLarge { .. }), "{e}");
}

#[test]
fn a_folder_without_repodata_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let said = read_repodata(dir.path(), Limits::default())
        .unwrap_err()
        .to_string();
    assert!(said.contains("createrepo_c"), "{said}");
}
