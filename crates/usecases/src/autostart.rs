//! Sharing after login: an XDG autostart entry that runs `swarmdate seed` (headless, following
//! the feed) when the user's session starts.

use std::path::{Path, PathBuf};

use swarmdate_core::paths::Dirs;

/// The entry's file name (the app id, as the desktop file).
const ENTRY: &str = "org.swarmdate.Swarmdate.desktop";

/// Where the autostart entry of `dirs` lives: `$XDG_CONFIG_HOME/autostart/`.
pub fn entry_path(dirs: &Dirs) -> PathBuf {
    dirs.config
        .parent()
        .unwrap_or(&dirs.config)
        .join("autostart")
        .join(ENTRY)
}

/// Whether sharing starts after login.
pub fn is_enabled(dirs: &Dirs) -> bool {
    entry_path(dirs).is_file()
}

/// Writes (with `exe`, the binary to start) or removes the autostart entry.
pub fn set_enabled(dirs: &Dirs, exe: Option<&Path>) -> std::io::Result<()> {
    let path = entry_path(dirs);
    let Some(exe) = exe else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    std::fs::create_dir_all(swarmdate_core::fsutil::parent_dir(&path))?;
    // The Exec key's quoting: a path with spaces or quotes goes in double quotes, escaped.
    let exe = exe.to_string_lossy();
    let exec = if exe.contains([' ', '"', '\\', '$', '`']) {
        let escaped: String = exe
            .chars()
            .flat_map(|c| match c {
                '"' | '`' | '$' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    } else {
        exe.into_owned()
    };
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Swarmdate\nComment=Share packages and images with other peers\nExec={exec} seed\nIcon=org.swarmdate.Swarmdate\nTerminal=false\nNoDisplay=true\nX-GNOME-Autostart-enabled=true\n"
    );
    swarmdate_core::fsutil::write_atomic(&path, entry.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_starts_the_seeder_and_goes_away_when_turned_off() {
        let home = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(home.path());
        assert!(!is_enabled(&dirs));
        set_enabled(&dirs, Some(Path::new("/opt/my apps/swarmdate"))).unwrap();
        assert!(is_enabled(&dirs));
        let text = std::fs::read_to_string(entry_path(&dirs)).unwrap();
        assert!(
            text.contains("Exec=\"/opt/my apps/swarmdate\" seed\n"),
            "{text}"
        );
        // The desktop-file validator distributions use accepts it.
        let out = std::process::Command::new("desktop-file-validate")
            .arg(entry_path(&dirs))
            .output()
            .expect("desktop-file-validate (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        set_enabled(&dirs, None).unwrap();
        assert!(!is_enabled(&dirs));
        // Turning off twice is fine.
        set_enabled(&dirs, None).unwrap();
    }
}
