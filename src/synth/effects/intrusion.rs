//! Intrusion: a foreign object crossing the scene fast — a car-like body, a thrown dark
//! object with its shadow, or a patch of the footage itself — each pass entering at one
//! edge and leaving at the other, rendered with motion blur (averaged sub-frame
//! positions over a half-open shutter).
use super::EventTime;
use crate::synth::image::{smoothstep, Img};
use crate::synth::rng::{derive, fbm, SplitMix64};

/// Premultiplied RGBA sprite.
pub struct Sprite {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[f32; 4]>,
}

impl Sprite {
    fn new(w: usize, h: usize) -> Self {
        Self { w, h, px: vec![[0.0; 4]; w * h] }
    }

    /// Puts colour `c` with coverage `a` over what the sprite already has.
    fn paint(&mut self, x: usize, y: usize, c: [f32; 3], a: f32) {
        let p = &mut self.px[y * self.w + x];
        let keep = 1.0 - a;
        *p = [c[0] * a + p[0] * keep, c[1] * a + p[1] * keep, c[2] * a + p[2] * keep, a + p[3] * keep];
    }

    #[inline]
    fn sample(&self, x: f32, y: f32) -> [f32; 4] {
        if x < 0.0 || y < 0.0 || x > (self.w - 1) as f32 || y > (self.h - 1) as f32 {
            return [0.0; 4];
        }
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let g = |xx: usize, yy: usize| self.px[yy * self.w + xx];
        let (a, b, c, d) = (g(x0, y0), g(x1, y0), g(x0, y1), g(x1, y1));
        let mut o = [0.0; 4];
        for k in 0..4 {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bot = c[k] + (d[k] - c[k]) * fx;
            o[k] = top + (bot - top) * fy;
        }
        o
    }
}

/// A car seen from the side: body with a lighter flank and shading, a cabin with dark
/// glass, wheels, and a soft shadow underneath. `len` in pixels; the sprite faces +x.
pub fn vehicle(len: f32, colour: [f32; 3], seed: u64) -> Sprite {
    let hgt = len * 0.46;
    let (w, h) = ((len + 4.0).ceil() as usize, (hgt + 4.0).ceil() as usize);
    let mut s = Sprite::new(w, h);
    let sd = seed as u32;
    let aa = 1.0f32;
    let cov = |d: f32| smoothstep(aa, -aa, d);
    // Rounded-rectangle signed distance.
    let rrect = |x: f32, y: f32, x0: f32, y0: f32, x1: f32, y1: f32, r: f32| {
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let (hx, hy) = ((x1 - x0) / 2.0 - r, (y1 - y0) / 2.0 - r);
        let (qx, qy) = ((x - cx).abs() - hx, (y - cy).abs() - hy);
        (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt() + qx.max(qy).min(0.0) - r
    };
    let (ox, oy) = (2.0, 2.0);
    let body = (ox, oy + hgt * 0.38, ox + len, oy + hgt * 0.84);
    let wheel_r = hgt * 0.17;
    let wheels = [(ox + len * 0.2, oy + hgt * 0.82), (ox + len * 0.8, oy + hgt * 0.82)];
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            // Shadow on the ground.
            let sx = (xf - ox - len / 2.0) / (len * 0.55);
            let sy = (yf - (oy + hgt * 0.97)) / (hgt * 0.08);
            let shadow = smoothstep(1.0, 0.3, (sx * sx + sy * sy).sqrt()) * 0.45;
            if shadow > 0.0 {
                s.paint(x, y, [10.0, 10.0, 12.0], shadow);
            }
            // Body: flank lighter above the crease, darker sill.
            let d_body = rrect(xf, yf, body.0, body.1, body.2, body.3, hgt * 0.12);
            let a = cov(d_body);
            if a > 0.0 {
                let v = (yf - body.1) / (body.3 - body.1);
                let shade = 1.12 - 0.45 * v + 0.08 * (fbm(sd, xf / 6.0, yf / 6.0, 2) - 0.5);
                let crease = smoothstep(0.06, 0.0, (v - 0.35).abs()) * 0.25;
                let c = colour.map(|c| (c * shade * (1.0 - crease)).min(255.0));
                s.paint(x, y, c, a);
            }
            // Cabin with a sloped windscreen (front at +x).
            let t = ((yf - (oy + hgt * 0.06)) / (hgt * 0.34)).clamp(0.0, 1.0);
            let cab_x0 = ox + len * (0.24 - 0.07 * t);
            let cab_x1 = ox + len * (0.66 + 0.12 * t);
            let d_cab = rrect(xf, yf, cab_x0, oy + hgt * 0.06, cab_x1, oy + hgt * 0.42, hgt * 0.08);
            let a = cov(d_cab);
            if a > 0.0 {
                let frame = cov(rrect(xf, yf, cab_x0 + 2.0, oy + hgt * 0.1, cab_x1 - 2.0, oy + hgt * 0.38, hgt * 0.05));
                let pillar = smoothstep(1.5, 0.5, (xf - (cab_x0 + cab_x1) / 2.0).abs());
                let glass = [38.0, 46.0, 56.0].map(|c: f32| c * (1.0 + 0.5 * (1.0 - t)));
                let body_c = colour.map(|c| c * 0.95);
                let c: [f32; 3] = std::array::from_fn(|k| {
                    let g = glass[k] + (body_c[k] - glass[k]) * pillar;
                    body_c[k] + (g - body_c[k]) * frame
                });
                s.paint(x, y, c, a);
            }
            for (wx, wy) in wheels {
                let d = ((xf - wx).powi(2) + (yf - wy).powi(2)).sqrt();
                let a = cov(d - wheel_r);
                if a > 0.0 {
                    let hub = smoothstep(wheel_r * 0.5, wheel_r * 0.4, d);
                    let c = [22.0 + 90.0 * hub, 22.0 + 90.0 * hub, 24.0 + 92.0 * hub];
                    s.paint(x, y, c, a);
                }
            }
        }
    }
    // Lights: a warm spot at the front, red at the back.
    let lamp = |s: &mut Sprite, lx: f32, c: [f32; 3]| {
        let ly = oy + hgt * 0.5;
        for y in 0..s.h {
            for x in 0..s.w {
                let d = ((x as f32 + 0.5 - lx).powi(2) + (y as f32 + 0.5 - ly).powi(2)).sqrt();
                let a = smoothstep(hgt * 0.07, hgt * 0.03, d) * s.px[y * s.w + x][3].min(1.0);
                if a > 0.0 {
                    s.paint(x, y, c, a);
                }
            }
        }
    };
    lamp(&mut s, ox + len - 2.0, [250.0, 240.0, 200.0]);
    lamp(&mut s, ox + 2.0, [200.0, 30.0, 25.0]);
    s
}

/// An irregular dark object (bag, box, debris) with a lumpy soft edge and texture.
pub fn object(size: f32, tone: [f32; 3], seed: u64) -> Sprite {
    let n = (size * 1.5).ceil() as usize + 4;
    let mut s = Sprite::new(n, n);
    let sd = seed as u32;
    let c = n as f32 / 2.0;
    let mut rng = SplitMix64::new(derive(seed, 3));
    let squash = rng.rangef(0.6, 1.0);
    for y in 0..n {
        for x in 0..n {
            let (dx, dy) = ((x as f32 + 0.5 - c) / (size * 0.5), (y as f32 + 0.5 - c) / (size * 0.5 * squash));
            let lump = (fbm(sd, x as f32 / (size * 0.3), y as f32 / (size * 0.3), 2) - 0.5) * 0.5;
            let d = (dx * dx + dy * dy).sqrt() + lump;
            let a = smoothstep(1.0, 0.85, d);
            if a > 0.0 {
                let light = 1.1 - 0.5 * ((dy + 1.0) / 2.0).clamp(0.0, 1.0);
                let tex = 0.85 + 0.3 * fbm(sd ^ 1, x as f32 / 3.0, y as f32 / 3.0, 2);
                s.paint(x, y, tone.map(|v| v * light * tex), a);
            }
        }
    }
    s
}

/// A soft elliptical shadow sprite.
pub fn shadow(wd: f32, ht: f32) -> Sprite {
    let (w, h) = (wd.ceil() as usize + 2, ht.ceil() as usize + 2);
    let mut s = Sprite::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f32 + 0.5 - w as f32 / 2.0) / (wd / 2.0);
            let dy = (y as f32 + 0.5 - h as f32 / 2.0) / (ht / 2.0);
            let a = smoothstep(1.0, 0.2, (dx * dx + dy * dy).sqrt()) * 0.4;
            s.paint(x, y, [8.0, 8.0, 10.0], a);
        }
    }
    s
}

/// Cuts a patch (RGB, `pw`×`ph`) into a sprite with a soft rounded-rectangle edge.
pub fn patch(rgb: &Img) -> Sprite {
    let (w, h) = (rgb.w, rgb.h);
    let mut s = Sprite::new(w, h);
    let r = (w.min(h) as f32) * 0.3;
    for y in 0..h {
        for x in 0..w {
            let (qx, qy) = (
                (x as f32 + 0.5 - w as f32 / 2.0).abs() - (w as f32 / 2.0 - r),
                (y as f32 + 0.5 - h as f32 / 2.0).abs() - (h as f32 / 2.0 - r),
            );
            let d = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt() + qx.max(qy).min(0.0) - r;
            let a = smoothstep(0.0, -r * 0.6, d);
            let k = rgb.at(x, y);
            s.paint(x, y, [rgb.px[k], rgb.px[k + 1], rgb.px[k + 2]], a);
        }
    }
    s
}

/// Composites `sprite` with its top-left at each of `positions` (sub-frame samples of
/// its path), averaged: a motion-blurred object over the frame.
pub fn composite(img: &mut Img, sprite: &Sprite, positions: &[(f32, f32)]) {
    if positions.is_empty() {
        return;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(px, py) in positions {
        x0 = x0.min(px);
        y0 = y0.min(py);
        x1 = x1.max(px + sprite.w as f32);
        y1 = y1.max(py + sprite.h as f32);
    }
    let Some((bx0, by0, bx1, by1)) = crate::synth::image::bbox(x0, y0, x1, y1, img.w, img.h) else { return };
    let k = 1.0 / positions.len() as f32;
    for y in by0..by1 {
        for x in bx0..bx1 {
            let mut acc = [0f32; 4];
            for &(px, py) in positions {
                let s = sprite.sample(x as f32 + 0.5 - px - 0.5, y as f32 + 0.5 - py - 0.5);
                for c in 0..4 {
                    acc[c] += s[c];
                }
            }
            let a = acc[3] * k;
            if a <= 0.001 {
                continue;
            }
            let i = img.at(x, y);
            for c in 0..3 {
                img.px[i + c] = img.px[i + c] * (1.0 - a) + acc[c] * k;
            }
        }
    }
}

/// Where a crossing object is: pass index and progress (0–1) at this instant.
pub fn pass_progress(et: &EventTime, cross_s: f32, passes: u32) -> (u32, f32) {
    let t = et.on.min(et.dur);
    let p = ((t / cross_s.max(0.05)).ceil() as u32).clamp(1, passes.max(1)) - 1;
    let s = ((t - p as f32 * cross_s) / cross_s).clamp(0.0, 1.0);
    (p, s)
}

/// Sub-frame sample times (seconds, relative to `et.on`) for a half-open shutter.
pub fn shutter_samples(speed_px_per_frame: f32, fps: f32) -> Vec<f32> {
    let blur = speed_px_per_frame * 0.5;
    let n = (blur / 1.5).ceil().clamp(1.0, 12.0) as usize;
    (0..n).map(|i| -(i as f32) / n as f32 * 0.5 / fps).collect()
}
