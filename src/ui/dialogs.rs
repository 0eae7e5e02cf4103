//! The confirmation the pages ask before they change the system.

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
