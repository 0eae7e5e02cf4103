//! Download and upload speed since the view opened, drawn with cairo in the theme's colours: the
//! time axis spans the samples there are (not a fixed window), the speed axis the peak rounded
//! up; both are labelled, and the chart tells screen readers its figures.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use gtk::prelude::*;

use swarmdate_core::i18n::{tr, trf, trn};

/// Samples kept (one per snapshot the view receives, about one a second).
pub const SAMPLES: usize = 300;

/// One sample: seconds since the view opened, download and upload bytes/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the view opened.
    pub at: f64,
    /// Download speed, bytes/s.
    pub down: u64,
    /// Upload speed, bytes/s.
    pub up: u64,
}

/// The samples, oldest first, shared with the drawing function.
pub type History = Rc<RefCell<VecDeque<Sample>>>;

/// The scale the samples are drawn on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Seconds since the view opened at the left edge (the oldest sample).
    pub from: f64,
    /// Seconds the axis spans: the samples' own, at least [`MIN_SECONDS`].
    pub seconds: f64,
    /// Bytes/s at the top: the peak rounded up to 1, 2 or 5 × 10ⁿ (at least [`MIN_TOP`]).
    pub top: u64,
}

/// The lowest top of the speed axis, so its ticks (10, 5, 0 kB/s) stay whole kB/s.
pub const MIN_TOP: u64 = 10_000;

/// The shortest time axis, so the first samples do not stretch across the chart.
pub const MIN_SECONDS: f64 = 10.0;

/// The scale that fits `samples`: x from the oldest to the newest, y to the peak.
pub fn scale(samples: &[Sample]) -> Scale {
    let from = samples.first().map_or(0.0, |s| s.at);
    let to = samples.last().map_or(0.0, |s| s.at);
    let peak = samples.iter().map(|s| s.down.max(s.up)).max().unwrap_or(0);
    Scale {
        from,
        seconds: (to - from).max(MIN_SECONDS),
        top: crate::ui::axis::nice_top(peak, MIN_TOP),
    }
}

/// A speed as the window writes it: "512 kB/s".
pub fn speed(bytes_per_sec: u64) -> String {
    trf("{n} kB/s", &[("n", &(bytes_per_sec / 1000))])
}

/// How long ago the left edge is: "27 seconds ago", "4 minutes ago".
pub fn ago(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s < 120 {
        trn("{n} second ago", "{n} seconds ago", s, &[("n", &s)])
    } else {
        let m = s / 60;
        trn("{n} minute ago", "{n} minutes ago", m, &[("n", &m)])
    }
}

/// The chart's words: speed ticks (top, middle, zero), time labels (oldest, now), and the
/// sentence for screen readers.
pub fn text(samples: &[Sample]) -> ([String; 3], [String; 2], String) {
    let sc = scale(samples);
    let y = [speed(sc.top), speed(sc.top / 2), speed(0)];
    let x = [ago(sc.seconds), tr("now")];
    let peak = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    let description = match samples.last() {
        None => tr("No speeds measured yet."),
        Some(last) => trf(
            "Over the last {span}: download now {down}, at most {down_peak}; upload now {up}, at most {up_peak}.",
            &[
                ("span", &duration(sc.seconds)),
                ("down", &speed(last.down)),
                ("down_peak", &speed(peak(|s| s.down))),
                ("up", &speed(last.up)),
                ("up_peak", &speed(peak(|s| s.up))),
            ],
        ),
    };
    (y, x, description)
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s < 120 {
        trn("{n} second", "{n} seconds", s, &[("n", &s)])
    } else {
        let m = s / 60;
        trn("{n} minute", "{n} minutes", m, &[("n", &m)])
    }
}

/// A drawing area that plots `history` on [`scale`]: download in the accent colour, upload in
/// green, between lines at the top, middle and foot; `top_label` is the top tick's label, whose
/// middle the top line meets.
pub fn chart(history: History, top_label: gtk::Label) -> gtk::DrawingArea {
    let area = gtk::DrawingArea::builder()
        .content_height(120)
        .hexpand(true)
        .accessible_role(gtk::AccessibleRole::Img)
        .build();
    crate::ui::a11y::set_label(&area, &tr("Download and upload speed"));
    area.set_draw_func(move |area, cr, w, h| {
        let samples = history.borrow();
        let samples = samples.iter().copied().collect::<Vec<_>>();
        let sc = scale(&samples);
        let (w, h) = (f64::from(w), f64::from(h));
        let pad = f64::from(top_label.height()) / 2.0;
        let (y0, y1) = crate::ui::axis::draw_grid(area, cr, w, h, pad);
        let top = sc.top.max(1) as f64;
        for (pick, rgb) in [(0usize, (0.21, 0.52, 0.89)), (1usize, (0.18, 0.76, 0.49))] {
            cr.set_source_rgb(rgb.0, rgb.1, rgb.2);
            cr.set_line_width(2.0);
            for (i, s) in samples.iter().enumerate() {
                let v = if pick == 0 { s.down } else { s.up } as f64;
                let x = w * (s.at - sc.from) / sc.seconds;
                let y = y1 - (y1 - y0) * (v / top).min(1.0);
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

/// Adds a sample taken `at` seconds after the view opened, dropping the oldest past [`SAMPLES`].
pub fn push(history: &History, at: f64, down: u64, up: u64) {
    let mut h = history.borrow_mut();
    h.push_back(Sample { at, down, up });
    while h.len() > SAMPLES {
        h.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: f64, down: u64, up: u64) -> Sample {
        Sample { at, down, up }
    }

    #[test]
    fn the_scale_spans_the_samples_and_their_peak() {
        // A 27 s transfer fills the width: the axis spans 27 s, not a fixed five minutes.
        let samples: Vec<Sample> = (0..=27)
            .map(|s| at(3.0 + s as f64, 400_000 + s * 10_000, 20_000))
            .collect();
        let sc = scale(&samples);
        assert_eq!(sc.from, 3.0);
        assert_eq!(sc.seconds, 27.0);
        // Peak 670 kB/s: the top is 1 MB/s, the middle tick 500 kB/s.
        assert_eq!(sc.top, 1_000_000);
        let (y, x, description) = text(&samples);
        assert_eq!(y, ["1000 kB/s", "500 kB/s", "0 kB/s"]);
        assert_eq!(x, ["27 seconds ago", "now"]);
        assert!(description.contains("670 kB/s"), "{description}");
        assert!(description.contains("27 seconds"), "{description}");
        // Twice the peak, twice the top (rounded to 2 × 10ⁿ); later samples move the left edge.
        let more: Vec<Sample> = samples
            .iter()
            .map(|s| at(s.at + 600.0, s.down * 2, s.up))
            .collect();
        let sc = scale(&more);
        assert_eq!((sc.from, sc.seconds, sc.top), (603.0, 27.0, 2_000_000));
        // One sample, or none: a short axis and a floor of 10 kB/s, never a division by zero.
        assert_eq!(scale(&[at(5.0, 0, 0)]).seconds, MIN_SECONDS);
        assert_eq!(scale(&[]).top, 10_000);
        assert_eq!(text(&[]).0, ["10 kB/s", "5 kB/s", "0 kB/s"]);
        assert_eq!(ago(300.0), "5 minutes ago");
    }
}
