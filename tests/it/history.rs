//! The history of a root and undoing its transactions, end to end through `swarmdate` on a
//! generated distribution seeded by a peer, judged by rpm: an undone update gives back exactly
//! the earlier `rpm -qa` (the new dependency it pulled in removed, the obsoleted package back); an
//! undone downgrade brings the newer builds back; a transaction made with dnf outside Swarmdate is
//! listed beside them. A transaction whose older builds nothing has is refused before anything
//! changes (in `plain_repos`: its older build came from a file no repository has).

use std::collections::BTreeSet;

use crate::support::*;

/// The transactions `swarmdate history --json` lists.
async fn listed(client: &UserHome, root: &str) -> Vec<serde_json::Value> {
    let run = client.run_async(&["history", "--root", root]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.summary()["transactions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undone_update_or_downgrade_gives_back_exactly_what_rpm_had() {
    let world = SeededDistro::start().await;
    let d = &world.distro;
    let client = d.client();
    let root = d.root("c");
    let root_arg = root.to_str().unwrap();
    assert!(listed(&client, root_arg).await.is_empty());

    // 1: the update.
    let before: BTreeSet<String> = installed_in(&root);
    let run = client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary()["history"], 1);
    let updated = installed_in(&root);
    assert_eq!(updated, d.expected_after_update());
    let added: Vec<&String> = updated.difference(&before).collect();
    assert!(added.iter().any(|p| p.starts_with("libnew-")), "{added:?}");

    let history = listed(&client, root_arg).await;
    assert_eq!(history.len(), 1, "{history:?}");
    let e = &history[0];
    assert_eq!(
        (&e["by"], &e["id"], &e["command"], &e["result"]["state"]),
        (
            &serde_json::json!("swarmdate"),
            &serde_json::json!(1),
            &serde_json::json!("update"),
            &serde_json::json!("done")
        )
    );
    // What went in and out, as rpm says: every new build came from the swarm.
    let items = e["items"].as_array().unwrap();
    let came: BTreeSet<String> = items
        .iter()
        .filter(|i| i["action"] != "remove")
        .map(|i| nevra_text(&i["package"]))
        .collect();
    assert_eq!(came, added.iter().map(|s| s.to_string()).collect());
    assert!(
        items
            .iter()
            .filter(|i| i["action"] != "remove")
            .all(|i| i["file"]["from"] == "swarm"),
        "{items:?}"
    );

    // 2: undo it. Exactly the earlier list, the pulled-in library gone.
    let check = client
        .run_async(&["history", "undo", "1", "--check", "--root", root_arg])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        !check.summary()["removals"].as_array().unwrap().is_empty(),
        "{}",
        check.summary()
    );
    assert_eq!(installed_in(&root), updated, "--check changes nothing");
    let run = client
        .run_async(&["history", "undo", "1", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(installed_in(&root), before);
    let history = listed(&client, root_arg).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["command"], "history undo 1");
    assert_eq!(history[1]["undoes"], 1);
    // Undone once, it cannot be undone again: its builds are gone.
    let again = client
        .run_async(&["history", "undo", "1", "--yes", "--root", root_arg])
        .await;
    assert_ne!(again.code, 0);
    assert!(
        again.error().contains("no longer installed"),
        "{}",
        again.error()
    );
    assert_eq!(installed_in(&root), before);

    // 3: update again (the store holds it all), then downgrade one package and undo that.
    let run = client
        .run_async(&["update", "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary()["download_bytes"], 0);
    assert_eq!(installed_in(&root), updated);
    let name = d
        .repos
        .update_packages
        .iter()
        .find(|n| {
            before
                .iter()
                .any(|b| b.starts_with(&format!("{}-", n.name)))
        })
        .unwrap()
        .name
        .clone();
    let run = client
        .run_async(&["downgrade", &name, "--yes", "--root", root_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let downgraded = installed_in(&root);
    assert_ne!(downgraded, updated);
    let id = run.summary()["history"].as_i64().unwrap();
    assert_eq!(id, 4);
    let run = client
        .run_async(&[
            "history",
            "undo",
            &id.to_string(),
            "--yes",
            "--root",
            root_arg,
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(installed_in(&root), updated);

    // 4: a transaction made with dnf itself is listed beside Swarmdate's, as dnf's.
    crate::packages::dnf_in(&root, &["remove", &name]);
    let history = listed(&client, root_arg).await;
    let dnf: Vec<&serde_json::Value> = history.iter().filter(|t| t["by"] == "dnf").collect();
    assert_eq!(dnf.len(), 1, "{history:?}");
    assert!(
        dnf[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["action"] == "remove" && i["nevra"]["name"] == name.as_str()),
        "{dnf:?}"
    );
    assert_eq!(
        history.iter().filter(|t| t["by"] == "swarmdate").count(),
        5,
        "Swarmdate's own dnf runs are not listed twice: {history:?}"
    );
    world.origin.shutdown().await;
}

/// A NEVRA as JSON gives it (an object of its parts) as rpm prints it.
fn nevra_text(v: &serde_json::Value) -> String {
    let n: swarmdate_core::packages::Nevra = serde_json::from_value(v.clone()).unwrap();
    n.to_string()
}
