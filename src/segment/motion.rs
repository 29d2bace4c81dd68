//! Motion statistics: ~50 cheap values per snippet computed from small copies of *all*
//! its frames. They catch temporal anomalies that per-frame appearance features miss
//! (frozen video, blackouts, sudden speed-up, flashes, tampering).
//!
//! Every value is scaled to roughly [0, 1]. [`MOTION_NAMES`] documents the columns.

/// Side of the small square grey/colour copy each frame is reduced to.
pub const SMALL: usize = 56;
const GRID: usize = 4;

/// Column names of the motion stream, in order.
pub const MOTION_NAMES: [&str; 50] = [
    "diff_mean",
    "diff_max",
    "diff_std",
    "diff_min",
    "grid_diff_00",
    "grid_diff_01",
    "grid_diff_02",
    "grid_diff_03",
    "grid_diff_10",
    "grid_diff_11",
    "grid_diff_12",
    "grid_diff_13",
    "grid_diff_20",
    "grid_diff_21",
    "grid_diff_22",
    "grid_diff_23",
    "grid_diff_30",
    "grid_diff_31",
    "grid_diff_32",
    "grid_diff_33",
    "freeze_pairs",
    "still_pixels",
    "accel",
    "motion_trend",
    "center_ratio",
    "bright_mean",
    "bright_std",
    "bright_change",
    "bright_temporal_std",
    "sharpness",
    "sharpness_change",
    "hist_r0",
    "hist_r1",
    "hist_r2",
    "hist_r3",
    "hist_g0",
    "hist_g1",
    "hist_g2",
    "hist_g3",
    "hist_b0",
    "hist_b1",
    "hist_b2",
    "hist_b3",
    "hist_shift_prev",
    "hist_shift_within",
    "grid_bright_change_max",
    "grid_diff_max",
    "dark_fraction",
    "bright_fraction",
    "saturation_mean",
];
pub const MOTION_WIDTH: usize = MOTION_NAMES.len();

/// A frame reduced to SMALL×SMALL: grey in [0,1] and RGB bytes.
#[derive(Debug, Clone)]
pub struct SmallFrame {
    pub grey: Vec<f32>,
    pub rgb: Vec<u8>,
}

impl SmallFrame {
    /// Box-filters a packed RGB frame down to SMALL×SMALL (any input size ≥ 1×1).
    ///
    /// Runs on every decoded frame, so it sums each band of input rows into one row of
    /// column sums first (a straight, vectorisable pass over the bytes) and only then
    /// adds up each cell's columns; the integer sums, and so the result, are those of
    /// visiting every cell's pixels one by one.
    pub fn from_rgb(rgb: &[u8], width: usize, height: usize) -> Self {
        let mut grey = vec![0f32; SMALL * SMALL];
        let mut small = vec![0u8; SMALL * SMALL * 3];
        let xs: Vec<(usize, usize)> = (0..SMALL).map(|s| cell_span(s, width)).collect();
        let mut cols = vec![0u32; width * 3];
        for sy in 0..SMALL {
            let (y0, y1) = cell_span(sy, height);
            cols.fill(0);
            for row in rgb[y0 * width * 3..y1 * width * 3].chunks_exact(width * 3) {
                cols.iter_mut().zip(row).for_each(|(c, &v)| *c += v as u32);
            }
            for (sx, &(x0, x1)) in xs.iter().enumerate() {
                let mut acc = [0u32; 3];
                for px in cols[x0 * 3..x1 * 3].chunks_exact(3) {
                    acc[0] += px[0];
                    acc[1] += px[1];
                    acc[2] += px[2];
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                let c = [acc[0] / n, acc[1] / n, acc[2] / n];
                let i = sy * SMALL + sx;
                small[i * 3..i * 3 + 3].copy_from_slice(&[c[0] as u8, c[1] as u8, c[2] as u8]);
                grey[i] = (0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32) / 255.0;
            }
        }
        Self { grey, rgb: small }
    }
}

/// Input rows (or columns) `[start, end)` of output cell `s` out of SMALL along a side of
/// `len` pixels: at least one pixel, even when `len < SMALL`.
fn cell_span(s: usize, len: usize) -> (usize, usize) {
    let start = s * len / SMALL;
    (start, ((s + 1) * len / SMALL).max(start + 1).min(len))
}

/// Per-stream state carried between snippets (the previous colour histogram).
#[derive(Debug, Default, Clone)]
pub struct MotionState {
    prev_hist: Option<[f32; 12]>,
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

fn std(v: &[f32]) -> f32 {
    let m = mean(v);
    if v.is_empty() {
        0.0
    } else {
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt()
    }
}

fn hist(rgb: &[u8]) -> [f32; 12] {
    let mut h = [0f32; 12];
    for px in rgb.chunks_exact(3) {
        for c in 0..3 {
            h[c * 4 + (px[c] as usize >> 6)] += 1.0;
        }
    }
    let n = (rgb.len() / 3).max(1) as f32;
    h.iter_mut().for_each(|x| *x /= n);
    h
}

fn l1(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / 6.0
}

fn laplacian_var(g: &[f32]) -> f32 {
    let mut vals = Vec::with_capacity((SMALL - 2) * (SMALL - 2));
    for y in 1..SMALL - 1 {
        for x in 1..SMALL - 1 {
            let i = y * SMALL + x;
            vals.push(4.0 * g[i] - g[i - 1] - g[i + 1] - g[i - SMALL] - g[i + SMALL]);
        }
    }
    let s = std(&vals);
    // Scale so ordinary footage lands well inside [0, 1].
    (s * s * 20.0).min(1.0)
}

fn cell_means(g: &[f32]) -> [f32; GRID * GRID] {
    let mut m = [0f32; GRID * GRID];
    let c = SMALL / GRID;
    for y in 0..SMALL {
        for x in 0..SMALL {
            m[(y / c).min(GRID - 1) * GRID + (x / c).min(GRID - 1)] += g[y * SMALL + x];
        }
    }
    m.iter_mut().for_each(|v| *v /= (c * c) as f32);
    m
}

/// Computes the motion vector of one snippet from its frames in order.
pub fn motion_features(frames: &[SmallFrame], state: &mut MotionState) -> Vec<f32> {
    let n = frames.len();
    let cell = SMALL / GRID;
    let mut pair_means = Vec::with_capacity(n.saturating_sub(1));
    let mut grid = [0f32; GRID * GRID];
    let mut still = 0f32;
    for w in frames.windows(2) {
        let (a, b) = (&w[0].grey, &w[1].grey);
        let mut total = 0f32;
        let mut cells = [0f32; GRID * GRID];
        let mut still_px = 0u32;
        for y in 0..SMALL {
            for x in 0..SMALL {
                let d = (b[y * SMALL + x] - a[y * SMALL + x]).abs();
                total += d;
                cells[(y / cell).min(GRID - 1) * GRID + (x / cell).min(GRID - 1)] += d;
                still_px += (d < 2.0 / 255.0) as u32;
            }
        }
        pair_means.push(total / (SMALL * SMALL) as f32);
        for (g, c) in grid.iter_mut().zip(cells) {
            *g += c / (cell * cell) as f32;
        }
        still += still_px as f32 / (SMALL * SMALL) as f32;
    }
    let pairs = pair_means.len().max(1) as f32;
    grid.iter_mut().for_each(|g| *g /= pairs);
    let still = if pair_means.is_empty() { 1.0 } else { still / pairs };

    let mut out = Vec::with_capacity(MOTION_WIDTH);
    // Motion magnitudes are small numbers; ×4 spreads ordinary motion over [0, 1].
    let k = 4.0;
    out.push((mean(&pair_means) * k).min(1.0));
    out.push((pair_means.iter().cloned().fold(0.0, f32::max) * k).min(1.0));
    out.push((std(&pair_means) * k).min(1.0));
    let min_pair = pair_means.iter().cloned().fold(f32::INFINITY, f32::min);
    out.push(if pair_means.is_empty() { 0.0 } else { (min_pair * k).min(1.0) });
    out.extend(grid.iter().map(|g| (g * k).min(1.0)));
    let freeze = if pair_means.is_empty() {
        1.0
    } else {
        pair_means.iter().filter(|d| **d < 0.5 / 255.0).count() as f32 / pairs
    };
    out.push(freeze);
    out.push(still);
    let accel: Vec<f32> = pair_means.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    out.push((mean(&accel) * k).min(1.0));
    let half = pair_means.len() / 2;
    let trend = if half > 0 { mean(&pair_means[half..]) - mean(&pair_means[..half]) } else { 0.0 };
    out.push((trend * k).clamp(-1.0, 1.0));
    let centre = (grid[5] + grid[6] + grid[9] + grid[10]) / 4.0;
    let whole = mean(&grid);
    out.push(if whole > 1e-6 { (centre / whole / 4.0).min(1.0) } else { 0.0 });

    let frame_means: Vec<f32> = frames.iter().map(|f| mean(&f.grey)).collect();
    out.push(mean(&frame_means));
    out.push(mean(&frames.iter().map(|f| std(&f.grey)).collect::<Vec<_>>()));
    out.push(frame_means.last().unwrap_or(&0.0) - frame_means.first().unwrap_or(&0.0));
    out.push(std(&frame_means));
    let sharp: Vec<f32> = frames.iter().map(|f| laplacian_var(&f.grey)).collect();
    out.push(mean(&sharp));
    out.push(sharp.last().unwrap_or(&0.0) - sharp.first().unwrap_or(&0.0));

    let mut h = [0f32; 12];
    for f in frames {
        let fh = hist(&f.rgb);
        h.iter_mut().zip(fh).for_each(|(a, b)| *a += b / n.max(1) as f32);
    }
    out.extend_from_slice(&h);
    out.push(state.prev_hist.map_or(0.0, |p| l1(&p, &h)));
    out.push(match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => l1(&hist(&a.rgb), &hist(&b.rgb)),
        _ => 0.0,
    });
    state.prev_hist = Some(h);
    let (first_cells, last_cells) = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => (cell_means(&a.grey), cell_means(&b.grey)),
        _ => ([0.0; 16], [0.0; 16]),
    };
    out.push(first_cells.iter().zip(last_cells).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max));
    out.push((grid.iter().cloned().fold(0.0, f32::max) * k).min(1.0));

    let (mut dark, mut bright, mut sat, mut total) = (0u32, 0u32, 0f32, 0u32);
    for f in frames {
        for (gv, px) in f.grey.iter().zip(f.rgb.chunks_exact(3)) {
            dark += (*gv < 16.0 / 255.0) as u32;
            bright += (*gv > 240.0 / 255.0) as u32;
            let mx = px.iter().max().copied().unwrap_or(0);
            let mn = px.iter().min().copied().unwrap_or(0);
            sat += (mx - mn) as f32 / 255.0;
            total += 1;
        }
    }
    let total = total.max(1) as f32;
    out.push(dark as f32 / total);
    out.push(bright as f32 / total);
    out.push(sat / total);
    debug_assert_eq!(out.len(), MOTION_WIDTH);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(v: u8) -> SmallFrame {
        let rgb = vec![v; 224 * 224 * 3];
        SmallFrame::from_rgb(&rgb, 224, 224)
    }

    fn noise(seed: u32) -> SmallFrame {
        let mut x = seed.wrapping_mul(2654435761).max(1);
        let rgb: Vec<u8> = (0..224 * 224 * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x & 0xff) as u8
            })
            .collect();
        SmallFrame::from_rgb(&rgb, 224, 224)
    }

    fn col(name: &str) -> usize {
        MOTION_NAMES.iter().position(|n| *n == name).unwrap()
    }

    /// The plain per-cell box filter the fast one must equal exactly (with its own
    /// cell bounds: at least one pixel per cell).
    fn reference_small(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
        let span = |s: usize, len: usize| {
            let start = s * len / SMALL;
            (start, ((s + 1) * len / SMALL).max(start + 1).min(len))
        };
        let mut out = Vec::with_capacity(SMALL * SMALL * 3);
        for sy in 0..SMALL {
            let (y0, y1) = span(sy, height);
            for sx in 0..SMALL {
                let (x0, x1) = span(sx, width);
                let mut acc = [0u32; 3];
                for y in y0..y1 {
                    for x in x0..x1 {
                        for c in 0..3 {
                            acc[c] += rgb[(y * width + x) * 3 + c] as u32;
                        }
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                out.extend(acc.map(|a| (a / n) as u8));
            }
        }
        out
    }

    #[test]
    fn box_filter_equals_per_cell_sums_at_any_size() {
        let mut seed = 7u32;
        for (w, h) in [(224, 224), (1, 1), (3, 100), (57, 55), (768, 576), (130, 31)] {
            let rgb: Vec<u8> = (0..w * h * 3)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect();
            let f = SmallFrame::from_rgb(&rgb, w, h);
            assert_eq!(f.rgb, reference_small(&rgb, w, h), "{w}×{h}");
            let c = &f.rgb[..3];
            let g = (0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32) / 255.0;
            assert_eq!(f.grey[0], g);
        }
    }

    #[test]
    fn frozen_video_reads_as_frozen() {
        let frames = vec![solid(100); 16];
        let m = motion_features(&frames, &mut MotionState::default());
        assert_eq!(m.len(), MOTION_WIDTH);
        assert_eq!(m[col("diff_mean")], 0.0);
        assert_eq!(m[col("freeze_pairs")], 1.0);
        assert_eq!(m[col("still_pixels")], 1.0);
    }

    #[test]
    fn changing_video_has_motion_and_blackout_is_dark() {
        let frames: Vec<_> = (0..16).map(noise).collect();
        let m = motion_features(&frames, &mut MotionState::default());
        assert!(m[col("diff_mean")] > 0.05, "{}", m[col("diff_mean")]);
        assert_eq!(m[col("freeze_pairs")], 0.0);
        let black = motion_features(&vec![solid(0); 16], &mut MotionState::default());
        assert_eq!(black[col("dark_fraction")], 1.0);
        let white = motion_features(&vec![solid(255); 16], &mut MotionState::default());
        assert_eq!(white[col("bright_fraction")], 1.0);
    }

    #[test]
    fn histogram_shift_tracks_previous_snippet() {
        let mut st = MotionState::default();
        let a = motion_features(&vec![solid(10); 4], &mut st);
        assert_eq!(a[col("hist_shift_prev")], 0.0);
        let b = motion_features(&vec![solid(250); 4], &mut st);
        assert!(b[col("hist_shift_prev")] > 0.9);
    }

    #[test]
    fn single_frame_snippet_is_finite() {
        let m = motion_features(&[noise(3)], &mut MotionState::default());
        assert!(m.iter().all(|v| v.is_finite()));
    }
}
