//! Translations: gettext set-up and formatted messages.

/// The gettext domain.
pub const DOMAIN: &str = "swarmdate";

/// Sets up the locale and text domain; call first in `main`.
pub fn init() {
    // SAFETY: called first in main, before any other thread exists.
    unsafe { gettextrs::setlocale(gettextrs::LocaleCategory::LcAll, "") };
    // The catalogues built beside the binary, else the system's (an installed Swarmdate).
    let built = std::path::Path::new(concat!(env!("OUT_DIR"), "/locale"));
    let dir = std::env::var_os("SWARMDATE_LOCALEDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            if built.is_dir() {
                built.to_owned()
            } else {
                "/usr/share/locale".into()
            }
        });
    let _ = gettextrs::bindtextdomain(DOMAIN, dir);
    let _ = gettextrs::bind_textdomain_codeset(DOMAIN, "UTF-8");
    let _ = gettextrs::textdomain(DOMAIN);
}

/// Translates a message.
pub fn tr(msgid: &str) -> String {
    gettextrs::gettext(msgid)
}

/// Translates a message with `{name}` placeholders and fills them in.
pub fn trf(msgid: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    fill(gettextrs::gettext(msgid), args)
}

/// Translates a message whose grammar follows the count `n` (gettext plural forms) and fills
/// in its `{name}` placeholders.
pub fn trn(
    singular: &str,
    plural: &str,
    n: u64,
    args: &[(&str, &dyn std::fmt::Display)],
) -> String {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    fill(gettextrs::ngettext(singular, plural, n), args)
}

fn fill(mut s: String, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), &v.to_string());
    }
    s
}
