//! Package indexes come from mirrors (pinned by the feed, but parsed to check them): parsing must
//! refuse bad ones with an error, and what it accepts must survive a round trip and make a
//! catalogue.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmdate_core::feed::RepoKind;
use swarmdate_core::packages::PackageIndex;
use swarmdate_core::plan::{Catalogue, Repo};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = PackageIndex::from_json(data) else {
        return;
    };
    let again = PackageIndex::from_json(&index.to_json()).expect("our own output parses");
    assert_eq!(again, index);
    let n = index.packages.len();
    let c = Catalogue::new(vec![Repo {
        kind: RepoKind::Updates,
        index,
    }]);
    assert!(c.builds.len() <= n);
    for (b, (nevra, sources)) in c.builds.iter().enumerate() {
        assert!(!sources.is_empty());
        assert_eq!(&c.build(b).nevra, nevra);
        let _ = nevra.to_string();
    }
});
