//! Per-video score plots as small PNGs: the score curve over frames (blue) with the ground
//! truth shaded (pink), localisation proposals as an orange band at the bottom, grid lines
//! at 0.25/0.75 and the dashed 0.5 decision line. No text (the file name names
//! the video). Drawn into an indexed image and encoded by hand (PNG chunks + zlib from
//! `miniz_oxide`, CRC from `crc32fast`): two tiny pure-Rust crates instead of an image or
//! plotting stack.
use std::path::Path;

use super::EvalError;
use crate::io::atomic::write_atomic;

pub const WIDTH: usize = 960;
pub const HEIGHT: usize = 200;
const MARGIN: usize = 6;

/// Palette: background, truth shading, grid, axes/threshold, curve, proposal tick.
const PALETTE: [[u8; 3]; 6] =
    [[255, 255, 255], [250, 205, 205], [225, 225, 225], [90, 90, 90], [25, 80, 200], [230, 120, 0]];
const BG: u8 = 0;
const TRUTH: u8 = 1;
const GRID: u8 = 2;
const AXIS: u8 = 3;
const CURVE: u8 = 4;
const PROPOSAL: u8 = 5;

/// An indexed-colour canvas.
struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, c: u8) {
        if x < WIDTH && y < HEIGHT {
            self.px[y * WIDTH + x] = c;
        }
    }
    fn vline(&mut self, x: usize, y0: usize, y1: usize, c: u8) {
        (y0.min(y1)..=y0.max(y1)).for_each(|y| self.set(x, y, c));
    }
    fn hline(&mut self, y: usize, x0: usize, x1: usize, c: u8, dashed: bool) {
        (x0..=x1).filter(|x| !dashed || x / 6 % 2 == 0).for_each(|x| self.set(x, y, c));
    }
}

/// Draws a per-frame score curve (`frame_scores`, length L) with `truth` intervals shaded
/// and `proposals` (frame intervals) marked.
pub fn plot_scores(
    path: &Path,
    frame_scores: &[f32],
    truth: &[(u64, u64)],
    proposals: &[(u64, u64)],
) -> Result<(), EvalError> {
    let (x0, x1, y0, y1) = (MARGIN, WIDTH - 1 - MARGIN, MARGIN, HEIGHT - 1 - MARGIN);
    let (pw, ph) = (x1 - x0, (y1 - y0) as f32);
    let mut c = Canvas { px: vec![BG; WIDTH * HEIGHT] };
    let n = frame_scores.len().max(1) as f64;
    let frames_of = |x: usize| -> (usize, usize) {
        let a = ((x - x0) as f64 / pw as f64 * n) as usize;
        let b = (((x - x0 + 1) as f64 / pw as f64 * n).ceil() as usize).clamp(a + 1, n as usize);
        (a.min(n as usize - 1), b)
    };
    for x in x0..x1 {
        let (a, b) = frames_of(x);
        let hit = |iv: &[(u64, u64)]| iv.iter().any(|&(s, e)| (s as usize) < b && (e as usize) > a);
        if hit(truth) {
            c.vline(x, y0, y1, TRUTH);
        }
        if hit(proposals) {
            c.vline(x, y1 - 4, y1, PROPOSAL);
        }
    }
    let y_of = |v: f32| y1 - (v.clamp(0.0, 1.0) * ph).round() as usize;
    for v in [0.25, 0.75] {
        c.hline(y_of(v), x0, x1, GRID, false);
    }
    c.hline(y_of(0.5), x0, x1, AXIS, true);
    let mut prev: Option<usize> = None;
    for x in x0..x1 {
        if frame_scores.is_empty() {
            break;
        }
        let (a, b) = frames_of(x);
        let seg = &frame_scores[a..b];
        let (lo, hi) = seg.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let (ylo, yhi) = (y_of(lo), y_of(hi));
        let (top, bottom) = match prev {
            Some(p) => (yhi.min(p), ylo.max(p)),
            None => (yhi, ylo),
        };
        c.vline(x, top, bottom, CURVE);
        c.vline(x, top.saturating_sub(1), bottom, CURVE); // 2 px thick
        prev = Some(y_of(seg[seg.len() - 1]));
    }
    for x in x0..=x1 {
        c.set(x, y0, AXIS);
        c.set(x, y1, AXIS);
    }
    c.vline(x0, y0, y1, AXIS);
    c.vline(x1, y0, y1, AXIS);
    write_atomic(path, &encode_png(&c.px)).map_err(|e| EvalError::io(path, e))
}

/// Encodes the canvas as an 8-bit palette PNG.
fn encode_png(px: &[u8]) -> Vec<u8> {
    crate::io::png::encode_palette(WIDTH, HEIGHT, px, &PALETTE.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_valid_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.png");
        let scores: Vec<f32> = (0..500).map(|i| (i as f32 / 50.0).sin() * 0.5 + 0.5).collect();
        plot_scores(&p, &scores, &[(100, 200)], &[(120, 180)]).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&b[12..16], b"IHDR");
        let idat = b.windows(4).position(|w| w == b"IDAT").unwrap();
        let len = u32::from_be_bytes(b[idat - 4..idat].try_into().unwrap()) as usize;
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&b[idat + 4..idat + 4 + len]).unwrap();
        assert_eq!(raw.len(), (WIDTH + 1) * HEIGHT);
        assert!(raw.contains(&TRUTH) && raw.contains(&CURVE) && raw.contains(&PROPOSAL));
        // Short videos (fewer frames than pixels) and empty truth work too.
        plot_scores(&p, &[0.2, 0.9], &[], &[]).unwrap();
    }
}
