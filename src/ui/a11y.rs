//! Accessible names and descriptions for widgets whose text alone does not say it (icon buttons,
//! buttons made of several labels), so screen readers and the end-to-end tests find them by what
//! they do.

use std::ffi::{c_int, c_void};

use gtk::glib::gobject_ffi::GValue;
use gtk::glib::translate::ToGlibPtr;
use gtk::prelude::*;

unsafe extern "C" {
    // Part of GTK since 4.0 (every GtkWidget is a GtkAccessible); gtk4-rs declares it only
    // for 4.10 and later, and Debian 12 has 4.8.
    fn gtk_accessible_update_property_value(
        accessible: *mut c_void,
        n_properties: c_int,
        properties: *mut c_int,
        values: *mut GValue,
    );
}

/// `GTK_ACCESSIBLE_PROPERTY_LABEL` (GTK 4.0).
const PROPERTY_LABEL: c_int = 4;

/// Sets the accessible label of `widget`.
pub fn set_label(widget: &impl IsA<gtk::Widget>, label: &str) {
    set_string(widget, PROPERTY_LABEL, label);
}

/// Sets one string property of `widget`'s accessible.
fn set_string(widget: &impl IsA<gtk::Widget>, property: c_int, text: &str) {
    let mut property = [property];
    let value = text.to_value();
    let stash = value.to_glib_none();
    // SAFETY: a bitwise copy of the GValue, read by GTK during the call (GTK copies what it
    // keeps); `value` owns the string until after the call and is the only one to free it.
    let mut values = [unsafe { std::ptr::read(stash.0) }];
    let w: *mut gtk::ffi::GtkWidget = widget.as_ref().to_glib_none().0;
    // SAFETY: a live widget, one property and one value of the type GTK expects for a label.
    unsafe {
        gtk_accessible_update_property_value(
            w.cast(),
            1,
            property.as_mut_ptr(),
            values.as_mut_ptr(),
        );
    }
}

/// `GTK_ACCESSIBLE_PROPERTY_DESCRIPTION` (GTK 4.0).
const PROPERTY_DESCRIPTION: c_int = 1;

/// Sets the accessible description of `widget` (what a screen reader reads after its name).
pub fn set_description(widget: &impl IsA<gtk::Widget>, description: &str) {
    set_string(widget, PROPERTY_DESCRIPTION, description);
}
