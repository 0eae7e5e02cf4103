//! The torrent builder, parser and validation, and interop with transmission-show.

use std::path::Path;
use std::process::Command;

use swarmdate_core::torrent::{InfoHash, SourceFile, Torrent, TorrentBuilder, TorrentError};

use crate::support::{V, b, dict, encode, multi, random_file, raw};

#[test]
fn safe_names_parse_and_unsafe_ones_are_refused_with_the_name() {
    // Positive control: a refusing-everything validator fails here.
    let ok = Torrent::from_bytes(multi(&[
        vec!["Packages", "a", "a-1.0.rpm"],
        vec!["repodata", "x.xml"],
    ]))
    .unwrap();
    assert_eq!(ok.files.len(), 2);
    assert_eq!(ok.files[1].offset, 10);

    for (paths, needle) in [
        (vec![vec!["..", "etc", "passwd"]], "../etc/passwd"),
        (vec![vec!["", "etc", "passwd"]], "/etc/passwd"),
        (vec![vec!["C:", "Windows"]], "C:/Windows"),
        (vec![vec!["dir", "CON"]], "dir/CON"),
        (vec![vec!["dir", "lpt1.txt"]], "dir/lpt1.txt"),
        (vec![vec!["bad\u{1b}[31mname"]], "bad"),
        (vec![vec!["a/b"]], "a/b"),
        (vec![vec!["a", "x"], vec!["a", "x"]], "a/x"),
        (vec![vec!["a"], vec!["a", "x"]], "a"),
    ] {
        let err = Torrent::from_bytes(multi(&paths)).unwrap_err();
        assert!(err.is_unsafe(), "{paths:?}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{paths:?}: {err} should name {needle}"
        );
    }
    let long = "x".repeat(300);
    assert!(Torrent::from_bytes(multi(&[vec![long.as_str()]])).is_err());
}

#[test]
fn sizes_that_do_not_add_up_are_refused() {
    let single = |len: i64, pieces: usize, piece_len: i64| {
        encode(&dict(vec![(
            "info",
            dict(vec![
                ("name", b("img.iso")),
                ("piece length", V::Integer(piece_len)),
                ("pieces", raw(vec![1u8; pieces])),
                ("length", V::Integer(len)),
            ]),
        )]))
    };
    assert!(Torrent::from_bytes(single(40_000, 60, 16384)).is_ok());
    for (bytes, what) in [
        (single(40_000, 40, 16384), "too few piece hashes"),
        (single(40_000, 80, 16384), "too many piece hashes"),
        (
            single(40_000, 61, 16384),
            "hash string not a multiple of 20",
        ),
        (single(40_000, 60, 10000), "piece length not a power of two"),
        (single(0, 0, 16384), "empty payload"),
        (single(1 << 50, 20, 16384), "absurd size"),
    ] {
        let err = Torrent::from_bytes(bytes).unwrap_err();
        assert!(matches!(err, TorrentError::BadSizes(_)), "{what}: {err}");
    }
    assert!(matches!(
        Torrent::from_bytes(&b"not bencode"[..]),
        Err(TorrentError::Malformed(_))
    ));
}

fn package_tree(dir: &Path) -> Vec<SourceFile> {
    let sizes = [100_000usize, 65_536, 1, 300_000, 70_000];
    sizes
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let rel = vec![
                "Packages".to_string(),
                format!("p{i}"),
                format!("p{i}-1.0-1.x86_64.rpm"),
            ];
            let src = dir.join(rel.join("/"));
            random_file(&src, *len, i as u64);
            SourceFile {
                path: rel,
                source: src,
            }
        })
        .collect()
}

#[test]
fn aligned_builder_is_deterministic_and_pads_to_piece_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let files = package_tree(dir.path());
    let mut reversed = files.clone();
    reversed.reverse();
    let similar: InfoHash = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
    let build = |f: Vec<SourceFile>| {
        TorrentBuilder::multi_file("fedora", f)
            .piece_length(64 << 10)
            .align(true)
            .tracker("http://127.0.0.1:6969/announce")
            .web_seed("https://mirror.example.org/pub/")
            .similar(similar)
            .comment("test")
            .creation_date(1_700_000_000)
            .build()
            .unwrap()
    };
    let a = build(files);
    let b = build(reversed);
    assert_eq!(
        a.bytes(),
        b.bytes(),
        "file order and bytes do not depend on input order"
    );

    let t = Torrent::from_bytes(a.bytes().clone()).unwrap();
    assert_eq!(t.info_hash(), a.info_hash());
    assert_eq!(t.similar, vec![similar]);
    assert_eq!(t.web_seeds, vec!["https://mirror.example.org/pub/"]);
    assert_eq!(
        t.trackers,
        vec![vec!["http://127.0.0.1:6969/announce".to_string()]]
    );
    assert_eq!(t.creation_date, Some(1_700_000_000));
    let data: Vec<_> = t.files.iter().filter(|f| !f.pad).collect();
    assert_eq!(data.len(), 5);
    for f in &data {
        assert_eq!(
            f.offset % (64 << 10),
            0,
            "{} starts on a piece boundary",
            f.display_path()
        );
    }
    for f in t.files.iter().filter(|f| f.pad) {
        assert_eq!(f.path, vec![".pad".to_string(), f.length.to_string()]);
    }
    assert_eq!(t.data_length(), 100_000 + 65_536 + 1 + 300_000 + 70_000);
    // The last file gets no padding after it.
    assert!(!t.files.last().unwrap().pad);
    assert_eq!(t.total_length(), t.files.last().unwrap().offset + 70_000);
}

#[test]
fn transmission_reads_our_padded_torrent_with_the_same_info_hash() {
    let dir = tempfile::tempdir().unwrap();
    let t = TorrentBuilder::multi_file("fedora", package_tree(dir.path()))
        .piece_length(16 << 10)
        .align(true)
        .build()
        .unwrap();
    let path = dir.path().join("x.torrent");
    std::fs::write(&path, t.bytes()).unwrap();
    let out = Command::new("transmission-show")
        .arg(&path)
        .output()
        .expect("transmission-show is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.to_lowercase()
            .contains(&format!("hash: {}", t.info_hash())),
        "transmission-show says:\n{text}\nwe say {}",
        t.info_hash()
    );
}

/// `swarmdate torrent show` of `bytes` as people see it: stdout's bytes.
fn show_text(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.torrent");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarmdate"))
        .arg("--home")
        .arg(dir.path().join("home"))
        .args(["torrent", "show"])
        .arg(&file)
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A single-file torrent of 40,000 bytes with `extra` keys beside its info.
fn with_extras(extra: Vec<(&str, V)>) -> Vec<u8> {
    let mut entries = vec![(
        "info",
        dict(vec![
            ("name", b("img.iso")),
            ("piece length", V::Integer(16384)),
            ("pieces", raw(vec![1u8; 60])),
            ("length", V::Integer(40_000)),
        ]),
    )];
    entries.extend(extra);
    encode(&dict(entries))
}

#[test]
fn strings_from_a_torrent_cannot_drive_the_terminal() {
    // Positive control: an ordinary torrent's text is exactly what it was.
    let plain = show_text(&with_extras(vec![
        ("announce", b("http://127.0.0.1:9/announce")),
        ("comment", b("Fedora 41 — “Workstation”")),
        ("url-list", V::List(vec![b("http://127.0.0.1:9/mirror/")])),
    ]));
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.contains("Tracker:    http://127.0.0.1:9/announce\n"),
        "{plain}"
    );
    assert!(
        plain.contains("Comment:    Fedora 41 — “Workstation”\n"),
        "{plain}"
    );
    assert!(
        plain.contains("Web seed:   http://127.0.0.1:9/mirror/\n"),
        "{plain}"
    );
    assert!(!plain.contains("\\u{"), "{plain}");

    // The attack: a comment that retitles the terminal and forges a line, a tracker that clears
    // the screen, a web seed with a C1 CSI and a bidi override.
    let hostile = show_text(&with_extras(vec![
        ("announce", b("http://127.0.0.1:9/announce\x1b[2J")),
        ("comment", b("\n\x1b]0;pwned\x07signature OK")),
        (
            "url-list",
            V::List(vec![b("http://127.0.0.1:9/\u{9b}31m\u{202e}lmth.x")]),
        ),
        ("created by", b("x\ry")),
    ]));
    for (i, &c) in hostile.iter().enumerate() {
        assert!(
            c >= 0x20 && c != 0x7f || c == b'\n',
            "byte {c:#x} at {i} in {:?}",
            String::from_utf8_lossy(&hostile)
        );
    }
    let text = String::from_utf8(hostile).unwrap();
    assert!(
        !text.contains('\u{9b}') && !text.contains('\u{202e}'),
        "{text}"
    );
    assert!(
        text.contains("Comment:    \\u{a}\\u{1b}]0;pwned\\u{7}signature OK\n"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("signature OK")),
        "no forged line: {text}"
    );
    assert!(
        text.contains("Tracker:    http://127.0.0.1:9/announce\\u{1b}[2J\n"),
        "{text}"
    );
    assert!(
        text.contains("Web seed:   http://127.0.0.1:9/\\u{9b}31m\\u{202e}lmth.x\n"),
        "{text}"
    );
}
