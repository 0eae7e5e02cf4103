//! Compiles the translations (`po/*.po` → `$OUT_DIR/locale/<lang>/LC_MESSAGES/swarmdate.mo`) and,
//! for the window, the GResource bundle of `resources/`.

use std::path::Path;
use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=po");
    for entry in std::fs::read_dir("po").expect("the po folder") {
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
    #[cfg(feature = "gui")]
    {
        println!("cargo:rerun-if-changed=resources");
        println!("cargo:rerun-if-changed=data/icons");
        glib_build_tools::compile_resources(
            &["resources", "data"],
            "resources/resources.gresource.xml",
            "swarmdate.gresource",
        );
    }
}
