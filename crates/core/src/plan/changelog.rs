//! What each change brings, in its packager's words: the changelog entries of the new build newer
//! than the build it replaces (by the build each entry names, Fedora's convention), as `dnf
//! changelog --upgrades` shows them.

use super::{Catalogue, Plan};
use crate::packages::Evr;
use crate::repos::ChangelogEntry;

/// The entries of `log` (newest first) newer than `from`: up to the first that names `from` or
/// an older build. Without `from` (a new package), the newest entry alone.
fn newer(log: &[ChangelogEntry], from: Option<&Evr>) -> Vec<ChangelogEntry> {
    let Some(from) = from else {
        return log.iter().take(1).cloned().collect();
    };
    log.iter()
        .take_while(|e| e.build().is_none_or(|b| b.rpm_cmp(from).is_gt()))
        .cloned()
        .collect()
}

/// Gives each change the changelog entries its build brings.
pub(super) fn attach_changelogs(plan: &mut Plan, cat: &Catalogue) {
    for c in &mut plan.changes {
        let from = c
            .replaces
            .iter()
            .filter(|r| r.name == c.package.name)
            .map(|r| &r.evr)
            .max_by(|a, b| a.rpm_cmp(b));
        c.changelog = newer(&cat.build(c.build).changelog, from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(build: &str, t: u64) -> ChangelogEntry {
        ChangelogEntry {
            author: format!("Packager <p@example.org> - {build}"),
            timestamp: t,
            text: format!("- {build}"),
        }
    }

    #[test]
    fn only_the_entries_newer_than_the_installed_build_come() {
        let log = [entry("1.3-1", 30), entry("1.2-1", 20), entry("1.1-1", 10)];
        let from: Evr = "1.1-1".parse().unwrap();
        let got = newer(&log, Some(&from));
        assert_eq!(got, log[..2]);
        assert_eq!(newer(&log, None), log[..1]);
        let newest: Evr = "1.3-1".parse().unwrap();
        assert!(newer(&log, Some(&newest)).is_empty());
    }
}
