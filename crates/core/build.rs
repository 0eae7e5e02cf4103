//! Compiles the translations (`po/*.po` at the top of the workspace →
//! `$OUT_DIR/locale/<lang>/LC_MESSAGES/swarmdate.mo`), which `i18n::init` binds when run from a build.

use std::path::Path;
use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let po = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../po");
    println!("cargo:rerun-if-changed={}", po.display());
    for entry in std::fs::read_dir(&po).expect("the po folder") {
        let path = entry.expect("a po entry").path();
        if path.extension().is_none_or(|e| e != "po") {
            continue;
        }
        let lang = path.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = Path::new(&out)
            .join("locale")
            .join(&lang)
            .join("LC_MESSAGES");
        std::fs::create_dir_all(&dir).expect("the locale folder");
        let status = Command::new("msgfmt")
            .arg("--check")
            .arg("-o")
            .arg(dir.join("swarmdate.mo"))
            .arg(&path)
            .status()
            .expect("msgfmt (Debian package gettext) is needed to build the translations");
        assert!(status.success(), "msgfmt refused {}", path.display());
    }
}
