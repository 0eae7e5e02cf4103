//! Accessible names and descriptions for widgets that show no text (icon buttons, switches,
//! charts), so screen readers and the end-to-end test find them by what they do. GTK 4.8 has no
//! getter for accessible properties: what is set here is also kept, for [`label_of`] and
//! [`description_of`] (the component tests read them).

use std::cell::RefCell;
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

/// `GTK_ACCESSIBLE_PROPERTY_DESCRIPTION` (GTK 4.0).
const PROPERTY_DESCRIPTION: c_int = 1;
/// `GTK_ACCESSIBLE_PROPERTY_LABEL` (GTK 4.0).
const PROPERTY_LABEL: c_int = 4;

thread_local! {
    /// What was set, per widget and property (GTK runs on one thread).
    static SET: RefCell<Vec<(gtk::glib::WeakRef<gtk::Widget>, c_int, String)>> =
        const { RefCell::new(Vec::new()) };
}

/// Sets the accessible label of `widget` (its name for screen readers).
pub fn set_label(widget: &impl IsA<gtk::Widget>, label: &str) {
    set_property(widget.as_ref(), PROPERTY_LABEL, label);
}

/// Sets the accessible description of `widget` (what a screen reader reads after its name).
pub fn set_description(widget: &impl IsA<gtk::Widget>, description: &str) {
    set_property(widget.as_ref(), PROPERTY_DESCRIPTION, description);
}

/// The accessible label last set on `widget` through [`set_label`].
#[cfg_attr(not(test), allow(dead_code))]
pub fn label_of(widget: &impl IsA<gtk::Widget>) -> Option<String> {
    get_property(widget.as_ref(), PROPERTY_LABEL)
}

/// The accessible description last set on `widget` through [`set_description`].
#[cfg_attr(not(test), allow(dead_code))]
pub fn description_of(widget: &impl IsA<gtk::Widget>) -> Option<String> {
    get_property(widget.as_ref(), PROPERTY_DESCRIPTION)
}

fn get_property(widget: &gtk::Widget, property: c_int) -> Option<String> {
    SET.with_borrow(|set| {
        set.iter()
            .find(|(w, p, _)| *p == property && w.upgrade().as_ref() == Some(widget))
            .map(|(_, _, v)| v.clone())
    })
}

fn set_property(widget: &gtk::Widget, property: c_int, text: &str) {
    SET.with_borrow_mut(|set| {
        set.retain(|(w, p, _)| {
            w.upgrade()
                .is_some_and(|w| !(*p == property && w == *widget))
        });
        set.push((widget.downgrade(), property, text.to_owned()));
    });
    let mut property = [property];
    let value = text.to_value();
    let stash = value.to_glib_none();
    // SAFETY: a bitwise copy of the GValue, read by GTK during the call (GTK copies what it
    // keeps); `value` owns the string until after the call and is the only one to free it.
    let mut values = [unsafe { std::ptr::read(stash.0) }];
    let w: *mut gtk::ffi::GtkWidget = widget.to_glib_none().0;
    // SAFETY: a live widget, one property and one value of the type GTK expects for a label
    // or a description (a string).
    unsafe {
        gtk_accessible_update_property_value(
            w.cast(),
            1,
            property.as_mut_ptr(),
            values.as_mut_ptr(),
        );
    }
}
