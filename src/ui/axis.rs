//! Chart axes: the top of a scale, rounded up to a number that reads well (1, 2 or 5 times a
//! power of ten), so the labelled ticks at its top and middle are round figures.

use gtk::prelude::*;

/// Draws a chart's faint lines at its top, middle and zero ticks, `pad` from the area's top and
/// bottom (half a label's height, so labels centre on them); returns the top and zero lines' y.
pub fn draw_grid(
    area: &gtk::DrawingArea,
    cr: &gtk::cairo::Context,
    w: f64,
    h: f64,
    pad: f64,
) -> (f64, f64) {
    let (y0, y1) = (pad, (h - pad).max(pad + 1.0));
    let fg = area.style_context().color();
    cr.set_source_rgba(
        f64::from(fg.red()),
        f64::from(fg.green()),
        f64::from(fg.blue()),
        0.2,
    );
    cr.set_line_width(1.0);
    for y in [y0, (y0 + y1) / 2.0, y1] {
        cr.move_to(0.0, y.round() + 0.5);
        cr.line_to(w, y.round() + 0.5);
    }
    let _ = cr.stroke();
    (y0, y1)
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `peak` (at least `floor`, for an empty chart).
pub fn nice_top(peak: u64, floor: u64) -> u64 {
    let peak = peak.max(floor).max(1);
    let mut base: u64 = 1;
    loop {
        for f in [1, 2, 5] {
            match base.checked_mul(f) {
                Some(v) if v >= peak => return v,
                Some(_) => {}
                None => return u64::MAX,
            }
        }
        base = match base.checked_mul(10) {
            Some(b) => b,
            None => return u64::MAX,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tops_are_round_and_at_or_above_the_peak() {
        assert_eq!(nice_top(0, 1000), 1000);
        assert_eq!(nice_top(1, 1), 1);
        assert_eq!(nice_top(1001, 1000), 2000);
        assert_eq!(nice_top(2000, 1000), 2000);
        assert_eq!(nice_top(2001, 1000), 5000);
        assert_eq!(nice_top(7_600_000, 1000), 10_000_000);
        assert_eq!(nice_top(u64::MAX, 1), u64::MAX);
    }
}
