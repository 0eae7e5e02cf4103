//! `other.xml`: each package's changelog, newest entries first, as `dnf changelog` shows them.

use std::collections::HashMap;
use std::io::BufRead;

use rpmrepo_metadata::utils::create_xml_reader;
use rpmrepo_metadata::visitor::{ChangelogData, OtherVisitor, parse_other};
use serde::{Deserialize, Serialize};
use swarmdate_packages::Evr;

use crate::error::ReadError;

/// The most entries kept per package: what a user reads before an update, not the history.
pub const CHANGELOG_LIMIT: usize = 10;

/// One changelog entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangelogEntry {
    /// Who, and for which build: `Jane Doe <jane@example.org> - 1.2-3`.
    pub author: String,
    /// When (seconds since 1970, UTC; rpm keeps the day).
    pub timestamp: u64,
    /// What changed.
    pub text: String,
}

impl ChangelogEntry {
    /// The build the entry names at the end of its author line (Fedora's convention), if any.
    pub fn build(&self) -> Option<Evr> {
        let last = self.author.rsplit(' ').next()?;
        let evr: Evr = last.parse().ok()?;
        // A bare name or address is no version.
        evr.version
            .starts_with(|c: char| c.is_ascii_digit())
            .then_some(evr)
    }
}

/// The visitor: entries by package id (its SHA-256 in hex).
#[derive(Default)]
struct Collector {
    now: Option<String>,
    entries: Vec<ChangelogEntry>,
    done: HashMap<String, Vec<ChangelogEntry>>,
}

impl OtherVisitor for Collector {
    fn begin_package(&mut self, pkgid: &str, _name: &str, _arch: &str) {
        self.now = Some(pkgid.to_ascii_lowercase());
        self.entries.clear();
    }

    fn add_changelog(&mut self, c: ChangelogData<'_>) {
        self.entries.push(ChangelogEntry {
            author: c.author.to_owned(),
            timestamp: c.timestamp,
            text: c.description.to_owned(),
        });
    }

    fn end_package(&mut self) {
        let Some(id) = self.now.take() else { return };
        let mut entries = std::mem::take(&mut self.entries);
        // other.xml lists them oldest first; rpm's header, newest first (entries of one day
        // keep that order).
        entries.reverse();
        entries.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
        entries.truncate(CHANGELOG_LIMIT);
        self.done.insert(id, entries);
    }
}

/// Reads every package's changelog, by package id.
pub(crate) fn read(
    reader: impl BufRead,
) -> Result<HashMap<String, Vec<ChangelogEntry>>, ReadError> {
    let mut xml = create_xml_reader(reader);
    let mut v = Collector::default();
    parse_other(&mut xml, &mut v).map_err(ReadError::Parse)?;
    Ok(v.done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_an_entry_names_is_the_last_word_of_its_author_line() {
        let e = |author: &str| ChangelogEntry {
            author: author.into(),
            timestamp: 0,
            text: String::new(),
        };
        assert_eq!(
            e("Jane Doe <jane@example.org> - 1.2-3.fc41").build(),
            Some("1.2-3.fc41".parse().unwrap())
        );
        assert_eq!(
            e("Jane <j@x> - 2:5.0-1").build(),
            Some("2:5.0-1".parse().unwrap())
        );
        assert_eq!(e("Jane Doe <jane@example.org>").build(), None);
    }
}
