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

/// `value` with `places` decimals and the locale's decimal separator (`LC_NUMERIC`, which C's
/// printf and so `glib::format_size` follow): a ratio reads "0,40" in German beside "48,7 kB".
/// Rust's `format!` knows no locale, so the separator is swapped in after.
pub fn decimal(value: f64, places: usize) -> String {
    with_separator(&format!("{value:.places$}"), &decimal_separator())
}

/// The locale's decimal separator (`nl_langinfo(RADIXCHAR)`), "." when it has none.
fn decimal_separator() -> String {
    // SAFETY: nl_langinfo returns a string owned by the C library, valid until the next
    // setlocale; it is copied at once.
    let p = unsafe { nix::libc::nl_langinfo(nix::libc::RADIXCHAR) };
    if p.is_null() {
        return ".".into();
    }
    // SAFETY: non-null, a NUL-terminated string (above).
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    match s.to_str() {
        Ok(s) if !s.is_empty() => s.to_owned(),
        _ => ".".into(),
    }
}

/// A number formatted by Rust with `separator` in place of its ".".
fn with_separator(formatted: &str, separator: &str) -> String {
    formatted.replacen('.', separator, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_take_the_locales_separator() {
        assert_eq!(with_separator("0.40", ","), "0,40");
        assert_eq!(with_separator("12", ","), "12");
        // The tests run in the C locale.
        assert_eq!(decimal(0.4, 2), "0.40");
    }
}
