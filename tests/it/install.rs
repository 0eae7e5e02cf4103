//! One transaction per run through dnf into a temporary root: a package with right piece hashes
//! but another key's signature refuses the whole transaction, and the same set without it then
//! installs; another package manager's lock is waited for.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use swarmdate_core::feed::KeyPair;
use swarmdate_core::hash::Sha256;
use swarmdate_core::packages::{
    History, HistoryResult, InstallError, ItemAction, TransactionNote, install, rpm_lock_held,
    rpm_lock_path, wait_for_rpm_lock,
};
use swarmdate_testkit::synth::{PackageFactory, PackageSpec};

use crate::packages::rpm;
use crate::plan::{BASE, World};

fn rpm_qa(root: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = rpm("rpm", root, &["-qa"])
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn a_package_signed_by_another_key_refuses_the_whole_transaction() {
    let w = World::build();
    let root = w.root("base", BASE);
    let p = w.update_plan(&root);
    let mut files: Vec<PathBuf> = p
        .changes
        .iter()
        .map(|c| w.file(&c.package.to_string()))
        .collect();

    // The same kernel build, signed by someone else: its bytes would pass a torrent's piece
    // hashes if the torrent were made from it; its signature does not pass.
    let other = KeyPair::generate("Mallory <m@example.org>").unwrap();
    let bad_dir = w.dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad = PackageFactory::new(&other)
        .unwrap()
        .build(
            &PackageSpec::new("kernel-6.2.0-1.fc41.x86_64".parse().unwrap(), 3_000),
            7,
            &bad_dir,
        )
        .unwrap();
    let k = files
        .iter()
        .position(|f| f.to_string_lossy().contains("kernel-6.2.0"))
        .unwrap();
    files[k] = bad.clone();

    let before = rpm_qa(&root);
    let note = TransactionNote {
        command: "update".into(),
        asked_by: 1000,
        undoes: None,
    };
    let err = install(&root, &w.keyed(&root, &files), &[], &note).unwrap_err();
    assert!(err.is_trust(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("kernel-6.2.0-1.fc41.x86_64 is signed by key")
            && msg.contains("does not trust")
            && msg.contains("nothing was installed"),
        "{msg}"
    );
    assert_eq!(
        rpm_qa(&root),
        before,
        "nothing of the transaction was installed"
    );

    // Positive control: the same set without the bad package installs.
    files.remove(k);
    let report = install(&root, &w.keyed(&root, &files), &[], &note).unwrap();
    assert_eq!(report.packages.len(), 4);
    // The root's history has this transaction and nothing of the refused one (it never ran),
    // what it changed as rpm says, with each new build's file.
    let history = History::open_read(&root)
        .unwrap()
        .unwrap()
        .list(10)
        .unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    let e = &history[0];
    assert_eq!(
        (e.id, e.command.as_str(), e.asked_by, &e.result),
        (report.history, "update", 1000, &HistoryResult::Done)
    );
    assert_eq!(e.items, report.items);
    let upgrade = e
        .items
        .iter()
        .find(|i| i.package.to_string() == "app-2.0-1.fc41.x86_64")
        .unwrap();
    assert_eq!(upgrade.action, ItemAction::Upgrade);
    assert_eq!(upgrade.replaced[0].to_string(), "app-1.0-1.fc41.x86_64");
    assert_eq!(
        upgrade.file.as_ref().unwrap().sha256,
        Sha256::of_file(&w.file("app-2.0-1.fc41.x86_64")).unwrap()
    );
    // The obsoleted tool went, as rpm says.
    assert!(
        e.items.iter().any(|i| i.action == ItemAction::Remove
            && i.package.to_string() == "oldtool-1.0-1.fc41.x86_64"),
        "{:?}",
        e.items
    );
    let after = rpm_qa(&root);
    assert!(
        after.contains(&"app-2.0-1.fc41.x86_64".to_owned()),
        "{after:?}"
    );
    assert!(after.contains(&"newtool-2.0-1.fc41.x86_64".to_owned()));
    assert!(!after.contains(&"oldtool-1.0-1.fc41.x86_64".to_owned()));
    assert!(!after.iter().any(|p| p.starts_with("kernel-6.2.0")));

    // A set dnf's own check refuses (app 2.0 without the library it needs) changes nothing.
    let root2 = w.root("base2", BASE);
    let before = rpm_qa(&root2);
    let err = install(
        &root2,
        &w.keyed(&root2, &[w.file("app-2.0-1.fc41.x86_64")]),
        &[],
        &note,
    )
    .unwrap_err();
    assert!(matches!(err, InstallError::Transaction(_)), "{err}");
    assert!(err.to_string().contains("libnew.so.1"), "{err}");
    assert_eq!(rpm_qa(&root2), before);
    // Recorded as failed, with dnf's reason and no change.
    let failed = History::open_read(&root2)
        .unwrap()
        .unwrap()
        .list(10)
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        matches!(&failed[0].result, HistoryResult::Failed(m) if m.contains("libnew.so.1")),
        "{:?}",
        failed[0].result
    );
    assert!(failed[0].items.is_empty());
}

#[test]
fn another_package_managers_lock_is_waited_for() {
    let w = World::build();
    let root = w.root("base", BASE);
    assert!(!rpm_lock_held(&root), "free after rpm itself has finished");

    // Another process takes rpm's lock the way rpm does (an fcntl write lock).
    let script = format!(
        "import fcntl,sys,time\nf=open({:?},'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\nsys.stdin.read()\n",
        rpm_lock_path(&root)
    );
    let mut holder = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    assert!(rpm_lock_held(&root));
    let mut told = 0;
    let err = wait_for_rpm_lock(&root, Duration::from_millis(600), || told += 1).unwrap_err();
    assert!(matches!(err, InstallError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another package manager"), "{err}");
    assert_eq!(told, 1, "the user is told once that we wait");

    // It lets go while we wait (once we say so): we go on.
    let (waiting, told_waiting) = std::sync::mpsc::channel();
    let release = std::thread::spawn(move || {
        told_waiting.recv().unwrap();
        drop(holder.stdin.take());
        holder.wait().unwrap();
    });
    wait_for_rpm_lock(&root, Duration::from_secs(20), || waiting.send(()).unwrap()).unwrap();
    release.join().unwrap();
    assert!(!rpm_lock_held(&root));
}
