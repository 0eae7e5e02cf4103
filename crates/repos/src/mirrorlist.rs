//! Mirror lists as dnf takes them (`mirrorlist=` in a `.repo` file): a plain text document of
//! base URLs, one per line, `#` starting a comment; or, when the document is XML, a metalink
//! (Fedora's `mirrorlist=` URLs have long answered with one).

use crate::metalink::{Metalink, MetalinkError, parse_metalink};

/// What a `mirrorlist=` URL answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MirrorList {
    /// Base URLs in the document's order (ending with `/`), http and https only. Nothing
    /// vouches for what they serve beyond the repodata's own checks, as with `baseurl`.
    Bases(Vec<String>),
    /// A metalink, whose digest of `repomd.xml` checks each mirror.
    Metalink(Metalink),
}

/// A mirror list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MirrorListError {
    /// Not text.
    #[error("the mirror list is not text")]
    NotText,
    /// No line is an http or https URL.
    #[error("the mirror list names no http or https mirror")]
    NoMirror,
    /// An XML answer that is not a usable metalink.
    #[error(transparent)]
    Metalink(#[from] MetalinkError),
}

/// Reads what a `mirrorlist=` URL answered.
pub fn parse_mirrorlist(doc: &[u8]) -> Result<MirrorList, MirrorListError> {
    let text = std::str::from_utf8(doc).map_err(|_| MirrorListError::NotText)?;
    if text.trim_start().starts_with('<') {
        return Ok(MirrorList::Metalink(parse_metalink(doc)?));
    }
    let bases: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .filter(|l| !l.chars().any(char::is_whitespace))
        .map(|l| {
            if l.ends_with('/') {
                l.to_owned()
            } else {
                format!("{l}/")
            }
        })
        .collect();
    if bases.is_empty() {
        return Err(MirrorListError::NoMirror);
    }
    Ok(MirrorList::Bases(bases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_list_gives_its_http_mirrors_in_order() {
        let doc = b"# repo = rpmfusion-free-41 arch = x86_64 country = DE\n\
            https://mirror.one.example/rpmfusion/free/fedora/releases/41/Everything/x86_64/os\n\
            \n\
            rsync://mirror.two.example/rpmfusion/\n\
            ftp://mirror.three.example/rpmfusion/\n\
            http://mirror.four.example/rpmfusion/x86_64/os/\n";
        assert_eq!(
            parse_mirrorlist(doc).unwrap(),
            MirrorList::Bases(vec![
                "https://mirror.one.example/rpmfusion/free/fedora/releases/41/Everything/x86_64/os/"
                    .into(),
                "http://mirror.four.example/rpmfusion/x86_64/os/".into(),
            ])
        );
    }

    #[test]
    fn a_list_without_a_usable_mirror_is_refused() {
        for doc in [
            &b"# no mirrors for this repo\n"[..],
            b"rsync://only.example/\n",
            b"\xff\xfe",
            b"",
        ] {
            assert!(parse_mirrorlist(doc).is_err(), "{doc:?}");
        }
    }

    #[test]
    fn an_xml_answer_is_read_as_a_metalink() {
        let doc = br#"<?xml version="1.0"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">
<size>10</size><verification><hash type="sha256">bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb</hash></verification>
<resources><url protocol="http" preference="100">http://m.example/f/repodata/repomd.xml</url></resources>
</file></files></metalink>"#;
        match parse_mirrorlist(doc).unwrap() {
            MirrorList::Metalink(m) => {
                assert_eq!(m.bases, vec!["http://m.example/f/".to_owned()]);
                assert_eq!(m.size, Some(10));
            }
            other => panic!("{other:?}"),
        }
        // An XML answer that is no metalink is not taken as a list of lines.
        assert!(matches!(
            parse_mirrorlist(b"<html><body>http://m.example/</body></html>"),
            Err(MirrorListError::Metalink(_))
        ));
    }
}
