//! Strings from outside (torrents, feeds, peers) made safe to show: control characters and bidi
//! overrides become visible `\u{..}` text, so a comment cannot move the cursor, retitle the
//! terminal, forge a line of output or reorder what surrounds it.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or label as itself: C0, DEL and C1 controls (C1 holds
/// CSI, U+009B), and the bidi marks, embeddings, overrides and isolates.
fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character and bidi control written as `\u{..}`; borrowed when there
/// is none (the common case).
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hazard) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_hazard(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "",
            "os-1.02.iso",
            "Fedora 41 — “Workstation” ☃",
            "a\\u{1b}b",
            "x y\u{00a0}z",
        ] {
            assert!(
                matches!(escape_controls(s), Cow::Borrowed(b) if b == s),
                "{s}"
            );
        }
    }

    #[test]
    fn every_control_becomes_visible_text() {
        assert_eq!(
            escape_controls("\n\x1b]0;pwned\x07signature OK"),
            "\\u{a}\\u{1b}]0;pwned\\u{7}signature OK"
        );
        assert_eq!(escape_controls("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape_controls("\r\t\0\x7f"), "\\u{d}\\u{9}\\u{0}\\u{7f}");
        assert_eq!(escape_controls("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(escape_controls("\u{85}"), "\\u{85}");
        assert_eq!(
            escape_controls("abc\u{202e}fdp.exe\u{2066}\u{2069}\u{200f}"),
            "abc\\u{202e}fdp.exe\\u{2066}\\u{2069}\\u{200f}"
        );
    }

    #[test]
    fn nothing_below_space_or_in_c1_survives() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let shown = escape_controls(&all);
        for c in shown.chars() {
            assert!(!is_hazard(c), "{:?} survived", c);
        }
        assert!(shown.contains('A') && shown.contains('é'));
    }
}
