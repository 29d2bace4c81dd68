//! Video faults, applied to the finished 8-bit frame (they happen after the camera:
//! in transmission, decoding or recording). Freezing is done by the renderer.
use crate::synth::rng::{derive, gauss, hash2, unit, SplitMix64};

/// A packed RGB frame being faulted.
pub struct Frame<'a> {
    pub w: usize,
    pub h: usize,
    pub rgb: &'a mut [u8],
}

/// Signal loss: near-black with faint noise; on the first frame the picture is cut
/// part-way down (the stream stopped mid-frame).
pub fn blackout(f: &mut Frame, level: f32, first: bool, seed: u32) {
    let cut = if first { (unit(hash2(seed, 1, 2)) * 0.6 * f.h as f32) as usize } else { 0 };
    for y in cut..f.h {
        for x in 0..f.w {
            let n = gauss(hash2(seed, x as i32, y as i32)) * 1.2;
            let v = (level + n).clamp(0.0, 255.0) as u8;
            let k = (y * f.w + x) * 3;
            f.rgb[k..k + 3].fill(v);
        }
    }
}

/// Missing data decoded as YUV zeros → green; partly-decoded frames show the top of the
/// picture, a vertical smear of its last good row, then green.
pub fn greenout(f: &mut Frame, partial: f32, frame: u64, seed: u64) {
    let mut rng = SplitMix64::new(derive(seed, 40 + frame));
    let green = [0u8, 135, 0];
    let (good, smear_to) = if rng.chance(partial as f64) {
        let g = (rng.rangef(0.15, 0.7) * f.h as f32) as usize;
        (g, (g + (rng.rangef(0.0, 0.3) * f.h as f32) as usize).min(f.h))
    } else {
        (0, 0)
    };
    let row = f.w * 3;
    if good > 0 {
        let last = f.rgb[(good - 1) * row..good * row].to_vec();
        for y in good..smear_to {
            f.rgb[y * row..(y + 1) * row].copy_from_slice(&last);
        }
    }
    for y in smear_to.max(good)..f.h {
        for x in 0..f.w {
            f.rgb[y * row + x * 3..y * row + x * 3 + 3].copy_from_slice(&green);
        }
    }
}

/// Corruption: macroblocks smeared from the previous (already corrupt) frame with wrong
/// motion vectors and DC shifts, colour-plane misregistration, torn rows, noise bursts.
/// Every frame of the event gets at least one of them.
pub fn corruption(f: &mut Frame, prev: &[u8], intensity: f32, frame: u64, seed: u64) {
    let mut rng = SplitMix64::new(derive(seed, 90 + frame));
    let (w, h) = (f.w, f.h);
    let row = w * 3;
    let mb = ((16 * w) / 320).max(8);
    let mut any = false;
    let p = 0.35 + 0.5 * intensity as f64;
    for kind in 0..4 {
        let on = rng.chance(p);
        if !on && !(kind == 3 && !any) {
            continue;
        }
        any = true;
        match kind {
            0 => {
                // Macroblock smear in a band.
                let by0 = rng.below((h / mb) as u64) as usize;
                let by1 = (by0 + 1 + rng.below((h / mb / 2).max(1) as u64) as usize).min(h.div_ceil(mb));
                let (mvx, mvy) = (rng.range(-12.0, 12.0) as isize, rng.range(-6.0, 6.0) as isize);
                let fill = rng.rangef(0.5, 1.0);
                for by in by0..by1 {
                    for bx in 0..w.div_ceil(mb) {
                        if !rng.chance(fill as f64) {
                            continue;
                        }
                        let dc = [rng.rangef(-25.0, 25.0), rng.rangef(-25.0, 25.0), rng.rangef(-25.0, 25.0)];
                        for y in by * mb..((by + 1) * mb).min(h) {
                            let sy = (y as isize + mvy).clamp(0, h as isize - 1) as usize;
                            for x in bx * mb..((bx + 1) * mb).min(w) {
                                let sx = (x as isize + mvx).clamp(0, w as isize - 1) as usize;
                                for ch in 0..3 {
                                    let v = prev[sy * row + sx * 3 + ch] as f32 + dc[ch];
                                    f.rgb[y * row + x * 3 + ch] = v.clamp(0.0, 255.0) as u8;
                                }
                            }
                        }
                    }
                }
            }
            1 => {
                // Chroma planes out of register.
                let s = (rng.range(2.0, 9.0) * w as f64 / 320.0) as usize;
                let src = f.rgb.to_vec();
                for y in 0..h {
                    for x in 0..w {
                        let xr = x.saturating_sub(s);
                        let xb = (x + s).min(w - 1);
                        f.rgb[y * row + x * 3] = src[y * row + xr * 3];
                        f.rgb[y * row + x * 3 + 2] = src[y * row + xb * 3 + 2];
                    }
                }
            }
            2 => {
                // Torn band: rows shifted sideways.
                let y0 = rng.below(h as u64) as usize;
                let y1 = (y0 + 2 + rng.below((h / 4) as u64) as usize).min(h);
                let shift = (rng.range(0.03, 0.25) * w as f64) as usize;
                for y in y0..y1 {
                    f.rgb[y * row..(y + 1) * row].rotate_right(shift * 3);
                }
            }
            _ => {
                // Noise burst in a band.
                let y0 = rng.below(h as u64) as usize;
                let y1 = (y0 + 4 + rng.below((h / 3) as u64) as usize).min(h);
                let sigma = 25.0 + 40.0 * intensity;
                let s = derive(seed, 7 + frame) as u32;
                for y in y0..y1 {
                    for x in 0..w {
                        let n = gauss(hash2(s, x as i32, y as i32)) * sigma;
                        for ch in 0..3 {
                            let k = y * row + x * 3 + ch;
                            f.rgb[k] = (f.rgb[k] as f32 + n).clamp(0.0, 255.0) as u8;
                        }
                    }
                }
            }
        }
    }
}

/// Heavy noise burst over the whole picture: grain, chroma speckle and line noise, with
/// a flickering mix.
pub fn snow(f: &mut Frame, sigma: f32, frame: u64, seed: u64) {
    let s = derive(seed, 200 + frame) as u32;
    let mix = 0.35 + 0.45 * unit(hash2(s, -1, -1));
    let row = f.w * 3;
    for y in 0..f.h {
        let line = gauss(hash2(s, -7, y as i32)) * sigma * 0.4;
        for x in 0..f.w {
            let hsh = hash2(s, x as i32, y as i32);
            let n = gauss(hsh) * sigma + line;
            let c = hash2(s ^ 0x55, x as i32, y as i32);
            for ch in 0..3 {
                let chroma = (((c >> (ch * 8)) & 0xFF) as f32 - 127.5) * 0.25;
                let k = y * row + x * 3 + ch;
                let v = f.rgb[k] as f32;
                f.rgb[k] = (v + (128.0 + n + chroma - v) * mix).clamp(0.0, 255.0) as u8;
            }
        }
    }
}
