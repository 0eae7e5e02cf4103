//! Metalinks as Fedora's MirrorManager serves them (`metalink=` in a `.repo` file): the mirrors
//! that carry a repository's current `repomd.xml`, best first, and that file's size and digest,
//! so that a mirror serving a stale or altered one is passed over.

use quick_xml::Reader;
use quick_xml::events::Event;
use swarmdate_packages::hash::Sha256;

/// What a metalink says of `repomd.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metalink {
    /// Its SHA-256.
    pub sha256: Sha256,
    /// Its size, when given.
    pub size: Option<u64>,
    /// The mirrors' base URLs (ending with `/`, `repodata/repomd.xml` taken off), most
    /// preferred first; http and https only.
    pub bases: Vec<String>,
}

/// A metalink that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetalinkError {
    /// Not the XML of a metalink.
    #[error("the metalink is malformed: {0}")]
    Malformed(String),
    /// No SHA-256 of repomd.xml: its mirrors could not be checked.
    #[error("the metalink gives no sha256 of repomd.xml, so its mirrors cannot be checked")]
    NoDigest,
    /// No mirror over http or https.
    #[error("the metalink lists no http or https mirror of repomd.xml")]
    NoMirror,
}

/// Reads a metalink document.
pub fn parse_metalink(xml: &[u8]) -> Result<Metalink, MetalinkError> {
    let bad = |e: &dyn std::fmt::Display| MetalinkError::Malformed(e.to_string());
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    // Where we are: inside `<file name="repomd.xml">`, and the element whose text comes next.
    let mut in_repomd = false;
    let mut element = String::new();
    let mut hash_type = String::new();
    let mut preference = 0i64;
    let mut sha256 = None;
    let mut size = None;
    let mut urls: Vec<(i64, String)> = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| bad(&e))? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                let attr = |key: &str| {
                    e.attributes().flatten().find_map(|a| {
                        (a.key.local_name().as_ref() == key).then(|| a.value.to_string())
                    })
                };
                if name == "file" {
                    in_repomd = attr("name").as_deref() == Some("repomd.xml");
                }
                if name == "hash" {
                    hash_type = attr("type").unwrap_or_default();
                }
                if name == "url" {
                    preference = attr("preference").and_then(|p| p.parse().ok()).unwrap_or(0);
                }
                element = name;
            }
            Event::Text(t) if in_repomd => {
                let text = quick_xml::escape::unescape(&t)
                    .map_err(|e| bad(&e))?
                    .into_owned();
                match element.as_str() {
                    "hash" if hash_type == "sha256" => {
                        sha256 = Some(Sha256(
                            swarmdate_packages::hash::decode_hex(text.trim())
                                .map_err(|e| bad(&e))?,
                        ));
                    }
                    "size" => size = text.trim().parse().ok(),
                    "url" => urls.push((preference, text.trim().to_owned())),
                    _ => {}
                }
            }
            Event::End(e) if e.local_name().as_ref() == "file" => in_repomd = false,
            Event::End(_) => element.clear(),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let sha256 = sha256.ok_or(MetalinkError::NoDigest)?;
    // Most preferred first; the document's order among equals.
    urls.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
    let bases: Vec<String> = urls
        .into_iter()
        .filter(|(_, u)| u.starts_with("https://") || u.starts_with("http://"))
        .filter_map(|(_, u)| u.strip_suffix("repodata/repomd.xml").map(str::to_owned))
        .collect();
    if bases.is_empty() {
        return Err(MetalinkError::NoMirror);
    }
    Ok(Metalink {
        sha256,
        size,
        bases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Mon, 07 Dec 2026 10:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1796630000</mm0:timestamp>
   <size>7112</size>
   <verification>
    <hash type="md5">0123456789abcdef0123456789abcdef</hash>
    <hash type="sha256">aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</hash>
   </verification>
   <resources maxconnections="1">
    <url protocol="rsync" type="rsync" location="DE" preference="100">rsync://mirror.example.de/fedora/updates/41/Everything/x86_64/repodata/repomd.xml</url>
    <url protocol="https" type="https" location="DE" preference="99">https://mirror.example.de/fedora/updates/41/Everything/x86_64/repodata/repomd.xml</url>
    <url protocol="http" type="http" location="US" preference="100">http://mirror.example.com/pub/fedora/updates/41/Everything/x86_64/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#;

    #[test]
    fn a_mirrormanager_metalink_gives_the_digest_and_the_http_mirrors_best_first() {
        let m = parse_metalink(FEDORA.as_bytes()).unwrap();
        assert_eq!(m.sha256, Sha256([0xaa; 32]));
        assert_eq!(m.size, Some(7112));
        assert_eq!(
            m.bases,
            [
                "http://mirror.example.com/pub/fedora/updates/41/Everything/x86_64/",
                "https://mirror.example.de/fedora/updates/41/Everything/x86_64/",
            ]
        );
    }

    #[test]
    fn a_metalink_without_a_sha256_or_an_http_mirror_is_refused() {
        let no_digest = FEDORA.replace(r#"<hash type="sha256">"#, r#"<hash type="sha1">"#);
        assert!(matches!(
            parse_metalink(no_digest.as_bytes()),
            Err(MetalinkError::NoDigest)
        ));
        let rsync_only = FEDORA
            .replace("https://mirror.example.de", "rsync://a")
            .replace("http://mirror.example.com", "rsync://b");
        assert!(matches!(
            parse_metalink(rsync_only.as_bytes()),
            Err(MetalinkError::NoMirror)
        ));
        assert!(matches!(
            parse_metalink(b"<metalink><files"),
            Err(MetalinkError::Malformed(_) | MetalinkError::NoDigest)
        ));
    }
}
