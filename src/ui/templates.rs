//! The pieces every page is built from, as Relm4 widget templates: a status page with a spinner,
//! a status page with one pill button, and the page's scrolling, clamped column.

use adw::prelude::*;
use relm4::WidgetTemplate;
use relm4::prelude::*;

/// A status page that waits: its title says for what.
#[relm4::widget_template(pub)]
impl WidgetTemplate for SpinnerPage {
    view! {
        adw::StatusPage {
            #[wrap(Some)]
            set_child = &gtk::Spinner {
                set_spinning: true,
                set_size_request: (32, 32),
                set_halign: gtk::Align::Center,
            },
        }
    }
}

/// A status page with one action: set the button's label and what it does.
#[relm4::widget_template(pub)]
impl WidgetTemplate for ActionPage {
    view! {
        adw::StatusPage {
            #[wrap(Some)]
            #[name = "button"]
            set_child = &gtk::Button {
                set_halign: gtk::Align::Center,
                add_css_class: "pill",
            },
        }
    }
}

/// A page's content: scrolls vertically, at most 720 pixels wide, children one below another.
#[relm4::widget_template(pub)]
impl WidgetTemplate for PageColumn {
    view! {
        gtk::ScrolledWindow {
            set_hscrollbar_policy: gtk::PolicyType::Never,
            adw::Clamp {
                set_maximum_size: 720,
                #[name = "column"]
                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_spacing: 18,
                    set_margin_top: 24,
                    set_margin_bottom: 24,
                    set_margin_start: 12,
                    set_margin_end: 12,
                },
            },
        }
    }
}
