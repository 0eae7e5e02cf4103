//! The confirmation the pages ask before they change the system, and the message that says why
//! something did not happen.

use adw::prelude::*;

/// Asks `heading` / `body` over the window of `over`, with Cancel and `verb` (drawn with
/// `appearance`); runs `confirmed` when the user picks `verb`. Returns the dialog, presented.
pub fn confirm(
    over: &impl IsA<gtk::Widget>,
    heading: &str,
    body: &str,
    verb: &str,
    appearance: adw::ResponseAppearance,
    confirmed: impl Fn() + 'static,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        over.root().and_downcast_ref::<gtk::Window>(),
        Some(heading),
        Some(body),
    );
    dialog.add_response("cancel", &swarmdate_core::i18n::tr("Cancel"));
    dialog.add_response("confirm", verb);
    dialog.set_response_appearance("confirm", appearance);
    dialog.set_default_response(Some("confirm"));
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |_, response| {
        if response == "confirm" {
            confirmed();
        }
    });
    dialog.present();
    dialog
}

/// Tells `heading` / `body` over the window of `over`, with one Close button (a refusal, or a
/// failure the user must see before going on). Returns the dialog, presented.
pub fn tell(over: &impl IsA<gtk::Widget>, heading: &str, body: &str) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        over.root().and_downcast_ref::<gtk::Window>(),
        Some(heading),
        Some(body),
    );
    dialog.add_response("close", &swarmdate_core::i18n::tr("Close"));
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");
    dialog.present();
    dialog
}
