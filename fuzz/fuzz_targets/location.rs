//! Feed, torrent and index locations come from the command line and from inside feeds (relative
//! URLs): parsing and joining must never panic. No network or disk I/O happens here.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swarmdate_core::feed::Location;

fn http_base() -> &'static Location {
    static BASE: OnceLock<Location> = OnceLock::new();
    BASE.get_or_init(|| Location::parse("https://example.org/feeds/feed.json").unwrap())
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    // The first line is the base document, the rest a reference found inside it.
    let (base, rel) = s.split_once('\n').unwrap_or((&s, ""));

    let _ = Location::parse(&s).map(|l| l.display());
    let _ = Location::parse_torrent_ref(&s).map(|l| l.display());

    for parsed in [Location::parse(base), Location::parse_torrent_ref(base)] {
        if let Ok(loc) = parsed {
            let _ = loc.display();
            let _ = loc.join(rel).map(|l| l.display());
        }
    }
    // Both kinds of base, whatever the first line was.
    let _ = Location::File(base.into()).join(rel);
    let _ = http_base().join(rel).map(|l| l.display());
});
