//! The README's first command: the headless demo builds its world, switches the image both ways
//! and updates the client's packages, half from a demo peer and the rest from the mirror.

use crate::packages::rpm;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headless_demo_switches_images_and_updates_packages() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmdate"));
    cmd.args(["--json", "demo", "--headless", "--size-mb", "8", "--dir"])
        .arg(dir.path())
        .env("LANG", "C.UTF-8");
    let run = Run::from(cmd.output().await.unwrap());
    assert_eq!(run.code, 0, "{:?}\n{}", run.events, run.stderr);
    let s = run.summary();
    assert_eq!(s["switches"].as_array().unwrap().len(), 2);
    let root = std::path::PathBuf::from(s["package_root"].as_str().unwrap());
    let qa = rpm("rpm", &root, &["-qa"]);
    assert!(qa.contains("modern-tool-2.0-1.fc41.x86_64"), "{qa}");
    assert!(!qa.contains("legacy-tool"), "{qa}");
    assert!(
        qa.contains("kernel-6.11.4-301.fc41.x86_64")
            && qa.contains("kernel-6.11.5-300.fc41.x86_64")
    );
    let update = run
        .events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary" && e["installed"] == true)
        .expect("the update's summary");
    let peers = update["bytes_from_peers"].as_u64().unwrap();
    let mirrors = update["bytes_from_mirrors"].as_u64().unwrap();
    assert!(peers > 0 && mirrors > 0, "peers {peers}, mirrors {mirrors}");
    assert!(s["mirror_bytes_served"].as_u64().unwrap() >= mirrors);
}
