//! The first-run question: whom to share with. Each answer says what it costs (upload) and what
//! it gives; each is one button whose accessible name is its title alone.

use adw::prelude::*;
use gtk::glib;

use swarmdate_core::config::{Settings, Sharing};
use swarmdate_core::i18n::{tr, trf};

/// The answers, each with what it costs and gives, for the upload limit in `settings`.
pub fn choices(settings: &Settings) -> Vec<(Sharing, String, String)> {
    let upload = match settings.upload_limit {
        Some(l) => trf(
            "up to {speed}/s",
            &[("speed", &glib::format_size(u64::from(l)))],
        ),
        None => tr("as fast as your connection allows (set a limit in the preferences)"),
    };
    vec![
        (
            Sharing::Everyone,
            tr("Share With Everyone"),
            trf(
                "Peers anywhere download from this machine while Swarmdate runs: it uploads {upload}. Helps others most, and peers find you sooner.",
                &[("upload", &upload)],
            ),
        ),
        (
            Sharing::LocalNetwork,
            tr("Local Network Only"),
            tr(
                "Only machines on your network download from this one; nothing goes out over the internet.",
            ),
        ),
        (
            Sharing::Nobody,
            tr("Don't Share"),
            tr(
                "Nothing is uploaded and nobody learns what this machine holds; updates still come from peers and mirrors.",
            ),
        ),
    ]
}

/// Asks over `window`; `answered` gets the choice (closing the question answers Don't Share).
pub fn ask(
    window: &impl IsA<gtk::Window>,
    settings: &Settings,
    answered: impl Fn(Sharing) + 'static,
) -> adw::Window {
    let dialog = adw::Window::builder()
        .modal(true)
        .transient_for(window)
        .default_width(440)
        .resizable(false)
        .title(tr("Share what you download?"))
        .build();
    let column = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .margin_top(24)
        .margin_bottom(24)
        .margin_start(24)
        .margin_end(24)
        .build();
    let heading = gtk::Label::builder()
        .label(tr("Share what you download?"))
        .wrap(true)
        .css_classes(["title-2"])
        .build();
    let body = gtk::Label::builder()
        .label(tr(
            "Swarmdate fetches updates and images from other users and shares them in turn. Sharing tells other peers which packages and versions this machine holds. You can change this in the preferences.",
        ))
        .wrap(true)
        .justify(gtk::Justification::Center)
        .build();
    column.append(&heading);
    column.append(&body);
    let answered = std::rc::Rc::new(answered);
    // Answered once: by a button, or by closing (Don't Share).
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    for (sharing, title, cost) in choices(settings) {
        let title_label = gtk::Label::builder()
            .label(&title)
            .xalign(0.0)
            .css_classes(["heading"])
            .build();
        let cost_label = gtk::Label::builder()
            .label(&cost)
            .xalign(0.0)
            .wrap(true)
            .css_classes(["caption"])
            .build();
        let inner = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(3)
            .margin_top(6)
            .margin_bottom(6)
            .build();
        inner.append(&title_label);
        inner.append(&cost_label);
        let button = gtk::Button::builder().child(&inner).build();
        if sharing == Sharing::Everyone {
            button.add_css_class("suggested-action");
        }
        super::a11y::set_label(&button, &title);
        super::a11y::set_description(&button, &cost);
        let (a, d, dlg) = (answered.clone(), done.clone(), dialog.clone());
        button.connect_clicked(move |_| {
            d.set(true);
            a(sharing);
            dlg.close();
        });
        column.append(&button);
    }
    let (a, d) = (answered, done);
    dialog.connect_close_request(move |_| {
        if !d.replace(true) {
            a(Sharing::Nobody);
        }
        glib::Propagation::Proceed
    });
    let keys = gtk::EventControllerKey::new();
    let dlg = dialog.clone();
    keys.connect_key_pressed(move |_, key, _, _| {
        if key == gtk::gdk::Key::Escape {
            dlg.close();
            return glib::Propagation::Stop;
        }
        glib::Propagation::Proceed
    });
    dialog.add_controller(keys);
    let handle = gtk::WindowHandle::builder().child(&column).build();
    dialog.set_content(Some(&handle));
    dialog.present();
    dialog
}
