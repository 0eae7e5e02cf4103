//! Compiles the window's GResource bundle of `resources/` (feature `gui`); the translations are
//! compiled by `swarmdate-core`, which binds them.

fn main() {
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
