//! `.torrent` files arrive from feeds, mirrors and the command line: parsing must refuse bad ones
//! with an error, and whatever it accepts must be consistent enough for the accessors not to panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmdate_core::torrent::Torrent;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = Torrent::from_bytes(data.to_vec()) else {
        return;
    };

    // The original bytes are kept, so a second parse names the same swarm.
    assert_eq!(t.bytes().as_ref(), data);
    let again = Torrent::from_bytes(t.bytes().clone()).expect("accepted bytes parse again");
    assert_eq!(again.info_hash(), t.info_hash());
    let _ = t.info_hash().to_string();

    // Files tile the payload without gaps.
    let total = t.total_length();
    let mut offset = 0;
    for f in &t.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.display_path().is_empty());
    }
    assert_eq!(offset, total);
    assert!(t.data_length() <= total);

    // Pieces tile the payload too: every piece is non-empty, only the last may be short.
    let n = u32::try_from(t.pieces().len()).expect("piece count fits u32");
    assert!(n > 0);
    let mut end = 0;
    for p in 0..n {
        let r = t.piece_range(p);
        assert_eq!(r.start, end);
        assert!(r.end > r.start);
        assert!(r.end - r.start <= u64::from(t.piece_length));
        assert!(p + 1 == n || r.end - r.start == u64::from(t.piece_length));
        end = r.end;
    }
    assert_eq!(end, total);
});
