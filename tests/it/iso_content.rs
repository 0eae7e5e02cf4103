//! Reading what images hold: Rock Ridge and Joliet names, appended sessions, extraction.

use std::path::Path;
use std::process::Command;

use swarmdate_core::iso::{ImageFile, extract, list_files};
use swarmdate_core::publish::{build_image, respin};

use crate::support::random_file;

fn tree_files(root: &Path) -> Vec<ImageFile> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push(ImageFile {
                    path: rel,
                    size: std::fs::metadata(&p).unwrap().len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[test]
fn rock_ridge_listing_follows_appended_sessions_and_extracts_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let long = "Packages/k/kernel-modules-extra-6.11.4-301.fc41.x86_64-with-a-rather-long-name.rpm";
    random_file(&tree.join(long), 300_000, 1);
    random_file(
        &tree.join("Packages/b/bash-5.2.26-3.fc41.x86_64.rpm"),
        200_000,
        2,
    );
    random_file(&tree.join("repodata/repomd.xml"), 1_000, 3);
    let v1 = dir.path().join("v1.iso");
    build_image(&tree, "TEST", &v1).unwrap();
    assert_eq!(list_files(&v1).unwrap(), tree_files(&tree));

    std::fs::remove_file(tree.join("Packages/b/bash-5.2.26-3.fc41.x86_64.rpm")).unwrap();
    random_file(
        &tree.join("Packages/b/bash-5.2.32-1.fc41.x86_64.rpm"),
        210_000,
        4,
    );
    let v2 = dir.path().join("v2.iso");
    respin(&v1, &tree, "/", &v2).unwrap();
    let listed = list_files(&v2).unwrap();
    assert_eq!(
        listed,
        tree_files(&tree),
        "the appended session's tree is what is listed"
    );
    assert!(listed.iter().filter(|f| f.is_package()).count() == 2);

    let out = dir.path().join("bash.rpm");
    let n = extract(&v2, "Packages/b/bash-5.2.32-1.fc41.x86_64.rpm", &out).unwrap();
    assert_eq!(n, 210_000);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(tree.join("Packages/b/bash-5.2.32-1.fc41.x86_64.rpm")).unwrap()
    );
}

#[test]
fn joliet_only_images_list_their_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    random_file(
        &tree.join("Packages/NetworkManager-1.48.10-1.fc41.x86_64.rpm"),
        50_000,
        5,
    );
    let img = dir.path().join("joliet.iso");
    let st = Command::new("xorriso")
        .args(["-as", "mkisofs", "-J", "-V", "J", "-o"])
        .arg(&img)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert_eq!(list_files(&img).unwrap(), tree_files(&tree));
}

#[test]
fn a_file_that_is_not_an_image_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.iso");
    random_file(&bogus, 200_000, 9);
    let err = list_files(&bogus).unwrap_err();
    assert!(err.to_string().contains("bogus.iso"), "{err}");
}

/// Found by fuzzing: an image whose directory tree loops back on itself made the listing walk
/// forever. Now it ends, each directory listed once (the positive controls above still list
/// every file of real images).
#[test]
fn an_image_whose_directories_loop_is_listed_once_and_ends() {
    let image = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz-regressions/iso/directory-cycle"
    ))
    .to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(list_files(&image).map(|f| f.len()));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the listing ends");
    if let Ok(n) = result {
        assert!(n < 10_000, "{n} files listed");
    }
}
