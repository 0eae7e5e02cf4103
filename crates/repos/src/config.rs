//! `.repo` files as dnf reads them (`/etc/yum.repos.d`, and dnf5's `/etc/distro.repos.d`): one
//! section per repository, `$releasever`, `$basearch` and the root's `/etc/dnf/vars` expanded,
//! `baseurl` and `gpgkey` as lists (split on white space and commas, over continued lines).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use configparser::ini::{Ini, IniDefault};

/// The largest `.repo` or variable file read (real ones are a few kB).
const FILE_LIMIT: u64 = 1 << 20;

/// A `.repo` file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, and where.
    pub reason: String,
}

/// The variables a `.repo` file's values may name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoVars(BTreeMap<String, String>);

impl RepoVars {
    /// `releasever` and `basearch` as given.
    pub fn new(releasever: &str, basearch: &str) -> Self {
        let mut v = BTreeMap::new();
        v.insert("releasever".to_owned(), releasever.to_owned());
        v.insert("basearch".to_owned(), basearch.to_owned());
        v.insert("arch".to_owned(), basearch.to_owned());
        RepoVars(v)
    }

    /// The root's: `releasever` from its `/etc/os-release` (`VERSION_ID`), `basearch` from this
    /// machine, and each file of its `/etc/dnf/vars` (the file's name is the variable's).
    pub fn of_root(root: &Path) -> Self {
        let os = read_limited(&root.join("etc/os-release")).unwrap_or_default();
        let releasever = os
            .lines()
            .find_map(|l| l.strip_prefix("VERSION_ID="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default();
        let mut vars = RepoVars::new(&releasever, std::env::consts::ARCH);
        if let Ok(dir) = std::fs::read_dir(root.join("etc/dnf/vars")) {
            for e in dir.flatten() {
                let (Ok(name), Ok(text)) = (e.file_name().into_string(), read_limited(&e.path()))
                else {
                    continue;
                };
                let value = text.lines().next().unwrap_or_default().trim().to_owned();
                vars.0.insert(name, value);
            }
        }
        vars
    }

    /// `text` with `$name` and `${name}` replaced; unknown names stay as written.
    pub fn expand(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest names first, so that `$basearch` is not taken for `$base` + "arch".
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in names {
            let value = &self.0[name];
            out = out
                .replace(&format!("${{{name}}}"), value)
                .replace(&format!("${name}"), value);
        }
        out
    }
}

/// One repository of a `.repo` file, its variables expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoConfig {
    /// The section's name (`fedora`, `updates`, `copr:…`).
    pub id: String,
    /// Its name for people (the id when it has none).
    pub name: String,
    /// dnf uses it.
    pub enabled: bool,
    /// Where its repodata and packages are (`https://…/`, `file:///…/`).
    pub baseurls: Vec<String>,
    /// A metalink, when it has one.
    pub metalink: Option<String>,
    /// A mirror list, when it has one.
    pub mirrorlist: Option<String>,
    /// dnf checks its packages' signatures.
    pub gpgcheck: bool,
    /// dnf checks the signature of its repodata.
    pub repo_gpgcheck: bool,
    /// Its keys' locations (`file:///etc/pki/rpm-gpg/…`).
    pub gpgkeys: Vec<String>,
    /// The file it is in.
    pub file: PathBuf,
}

/// A list value: split on white space and commas, as dnf does.
fn list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A boolean as dnf reads one.
fn boolean(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// The file's text, refused past [`FILE_LIMIT`].
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(FILE_LIMIT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > FILE_LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {FILE_LIMIT} bytes"),
        ));
    }
    Ok(text)
}

/// The repositories of one `.repo` file's text; `gpgcheck` is `default_gpgcheck` where a
/// section does not say.
pub fn parse_repo_file(
    text: &str,
    file: &Path,
    vars: &RepoVars,
    default_gpgcheck: bool,
) -> Result<Vec<RepoConfig>, ConfigError> {
    let error = |reason: String| ConfigError {
        file: file.to_owned(),
        reason,
    };
    let mut defaults = IniDefault::default();
    // dnf splits on '=' only (a URL may hold ':'), and has no inline comments (a URL may hold
    // '#').
    defaults.delimiters = vec!['='];
    defaults.inline_comment_symbols = Some(Vec::new());
    defaults.case_sensitive = true;
    defaults.multiline = true;
    let mut ini = Ini::new_from_defaults(defaults);
    let map = ini.read(text.to_owned()).map_err(error)?;
    let mut out = Vec::new();
    for (id, keys) in map {
        if id == "default" && keys.is_empty() {
            continue;
        }
        let get = |k: &str| keys.get(k).cloned().flatten().map(|v| vars.expand(&v));
        let flag = |k: &str, default: bool| match get(k) {
            None => Ok(default),
            Some(v) => boolean(&v).ok_or_else(|| {
                error(format!(
                    "[{id}] {k}={v:?} is not a boolean (1, 0, yes, no, true, false)"
                ))
            }),
        };
        let baseurls = get("baseurl").map(|v| list(&v)).unwrap_or_default();
        let metalink = get("metalink");
        let mirrorlist = get("mirrorlist");
        if baseurls.is_empty() && metalink.is_none() && mirrorlist.is_none() {
            return Err(error(format!(
                "[{id}] has no baseurl, metalink or mirrorlist: dnf could not use it either"
            )));
        }
        out.push(RepoConfig {
            name: get("name").unwrap_or_else(|| id.clone()),
            enabled: flag("enabled", true)?,
            gpgcheck: flag("gpgcheck", default_gpgcheck)?,
            repo_gpgcheck: flag("repo_gpgcheck", false)?,
            gpgkeys: get("gpgkey").map(|v| list(&v)).unwrap_or_default(),
            baseurls,
            metalink,
            mirrorlist,
            file: file.to_owned(),
            id,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every repository configured in `root` (`/` for the running system): the `.repo` files of
/// `/etc/yum.repos.d` and `/etc/distro.repos.d`, in name order; an id already seen is skipped, as
/// dnf does. `gpgcheck` defaults to `/etc/dnf/dnf.conf`'s `[main]`.
pub fn read_repo_files(root: &Path, vars: &RepoVars) -> Result<Vec<RepoConfig>, ConfigError> {
    let main = root.join("etc/dnf/dnf.conf");
    let default_gpgcheck = read_limited(&main)
        .ok()
        .and_then(|text| {
            let mut ini = Ini::new();
            ini.read(text).ok()?;
            ini.get("main", "gpgcheck").and_then(|v| boolean(&v))
        })
        .unwrap_or(false);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for dir in ["etc/yum.repos.d", "etc/distro.repos.d"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "repo") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            let text = read_limited(&file).map_err(|e| ConfigError {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            for repo in parse_repo_file(&text, &file, vars, default_gpgcheck)? {
                if seen.insert(repo.id.clone()) {
                    out.push(repo);
                }
            }
        }
    }
    Ok(out)
}
