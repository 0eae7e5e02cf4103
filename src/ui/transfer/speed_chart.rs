//! Download and upload speed over the last minutes, drawn with cairo in the theme's colours.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use gtk::prelude::*;

/// Samples kept (one per snapshot the view receives, about one a second).
pub const SAMPLES: usize = 300;

/// (download, upload) bytes/s, oldest first, shared with the drawing function.
pub type History = Rc<RefCell<VecDeque<(u64, u64)>>>;

/// A drawing area that plots `history`: download in the accent colour, upload in green.
pub fn chart(history: History) -> gtk::DrawingArea {
    let area = gtk::DrawingArea::builder()
        .content_height(96)
        .hexpand(true)
        .build();
    area.set_draw_func(move |area, cr, w, h| {
        let samples = history.borrow();
        let top = samples
            .iter()
            .map(|(d, u)| (*d).max(*u))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let fg = area.style_context().color();
        cr.set_source_rgba(
            f64::from(fg.red()),
            f64::from(fg.green()),
            f64::from(fg.blue()),
            0.15,
        );
        cr.set_line_width(1.0);
        cr.move_to(0.0, f64::from(h) - 0.5);
        cr.line_to(f64::from(w), f64::from(h) - 0.5);
        let _ = cr.stroke();
        let step = f64::from(w) / (SAMPLES - 1) as f64;
        let x0 = f64::from(w) - step * (samples.len().saturating_sub(1)) as f64;
        for (pick, rgb) in [(0usize, (0.21, 0.52, 0.89)), (1usize, (0.18, 0.76, 0.49))] {
            cr.set_source_rgb(rgb.0, rgb.1, rgb.2);
            cr.set_line_width(2.0);
            for (i, s) in samples.iter().enumerate() {
                let v = if pick == 0 { s.0 } else { s.1 } as f64;
                let (x, y) = (x0 + step * i as f64, f64::from(h) * (1.0 - v / top));
                if i == 0 {
                    cr.move_to(x, y);
                } else {
                    cr.line_to(x, y);
                }
            }
            let _ = cr.stroke();
        }
    });
    area
}

/// Adds a sample, dropping the oldest past [`SAMPLES`].
pub fn push(history: &History, down: u64, up: u64) {
    let mut h = history.borrow_mut();
    h.push_back((down, up));
    while h.len() > SAMPLES {
        h.pop_front();
    }
}
