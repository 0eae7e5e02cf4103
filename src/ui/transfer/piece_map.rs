//! The piece map as an image: one pixel per piece (or a square block of pixels when there are
//! few), row by row, which the view scales to its size. Drawing 400,000 pieces is then one
//! texture upload, not 400,000 rectangles.

use gtk::{gdk, glib};
use swarmdate_engine::{PieceMap, PieceState};

/// About how many pixels the image has: enough for a crisp map at any window size.
const TARGET_PIXELS: usize = 160_000;
/// Width / height of the map.
const ASPECT: f64 = 4.0;

/// The map's colours (RGBA): missing is a faint grey that reads on light and dark.
pub fn colour(state: PieceState) -> [u8; 4] {
    match state {
        PieceState::Missing => [0x9a, 0x99, 0x96, 0x40],
        PieceState::HadBefore => [0x9a, 0x99, 0x96, 0xff],
        PieceState::Fetched => [0x35, 0x84, 0xe4, 0xff],
        PieceState::InFlight => [0xf6, 0xd3, 0x2d, 0xff],
    }
}

/// An RGBA image of the map: (width, height, bytes).
pub fn render(map: &PieceMap) -> (usize, usize, Vec<u8>) {
    let n = map.0.len().max(1);
    // Pieces per row and the block each piece gets (1×1 when they are many).
    let block = ((TARGET_PIXELS as f64 / n as f64).sqrt().floor() as usize).max(1);
    let cols = ((n as f64 * ASPECT).sqrt().ceil() as usize).max(1);
    let rows = n.div_ceil(cols);
    let (w, h) = (cols * block, rows * block);
    let mut bytes = vec![0u8; w * h * 4];
    for (i, state) in map.0.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let px = colour(*state);
        for y in r * block..(r + 1) * block {
            let row = &mut bytes[(y * w + c * block) * 4..(y * w + (c + 1) * block) * 4];
            for p in row.chunks_exact_mut(4) {
                p.copy_from_slice(&px);
            }
        }
    }
    (w, h, bytes)
}

/// The map as a texture for a `gtk::Picture`.
pub fn texture(map: &PieceMap) -> gdk::MemoryTexture {
    let (w, h, bytes) = render(map);
    gdk::MemoryTexture::new(
        w as i32,
        h as i32,
        gdk::MemoryFormat::R8g8b8a8,
        &glib::Bytes::from_owned(bytes),
        w * 4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(img: &(usize, usize, Vec<u8>), x: usize, y: usize) -> [u8; 4] {
        let o = (y * img.0 + x) * 4;
        img.2[o..o + 4].try_into().unwrap()
    }

    #[test]
    fn every_piece_is_one_pixel_at_scale_and_a_block_when_few() {
        use PieceState::*;
        // 400,000 pieces: one pixel each, 4:1, each in its state's colour, in order.
        let states = [Missing, HadBefore, Fetched, InFlight];
        let map = PieceMap((0..400_000).map(|i| states[i % 4]).collect());
        let started = std::time::Instant::now();
        let img = render(&map);
        let took = started.elapsed();
        let (w, h, _) = img;
        assert_eq!((w, h), (1265, 317));
        assert!(w * h >= 400_000 && w * (h - 1) < 400_000);
        for i in [0, 1, 2, 3, 1264, 1265, 399_999] {
            assert_eq!(
                pixel(&img, i % w, i / w),
                colour(states[i % 4]),
                "piece {i}"
            );
        }
        // Past the last piece: transparent.
        assert_eq!(pixel(&img, w - 1, h - 1), [0; 4]);
        println!(
            "400,000 pieces rendered in {took:?} ({} KiB)",
            w * h * 4 / 1024
        );

        // 100 pieces: 20×5 pieces of 40×40 pixels each.
        let few = PieceMap(
            (0..100)
                .map(|i| if i < 50 { Fetched } else { Missing })
                .collect(),
        );
        let img = render(&few);
        assert_eq!((img.0, img.1), (20 * 40, 5 * 40));
        assert_eq!(pixel(&img, 39, 39), colour(Fetched));
        assert_eq!(pixel(&img, 10 * 40, 2 * 40), colour(Missing));
    }
}
