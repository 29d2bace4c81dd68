//! Procedural anomaly layers. Each works in output pixels on a float frame, is a pure
//! function of (event parameters, event seed, time within the event) plus small caches,
//! and is exactly absent outside its event's frames.
pub mod explosion;
pub mod fault;
pub mod fire;
pub mod intrusion;
pub mod tamper;

use super::image::{bbox, over, smoothstep, Img};
use super::rng::fbm;

/// Timing of one event at one frame.
#[derive(Debug, Clone, Copy)]
pub struct EventTime {
    /// Seconds since onset, measured at the end of the frame: 1/fps on the first frame,
    /// so the first labelled frame always shows the event.
    pub on: f32,
    /// Seconds until the end, ≥ 1/fps on the last labelled frame (fade-outs reach zero
    /// just after it).
    pub off: f32,
    /// Event length, seconds.
    pub dur: f32,
    /// True when the event stops before the video does (it needs an exit).
    pub exits: bool,
    pub fps: f32,
}

impl EventTime {
    /// Fade-in over `attack` seconds and (if the event exits) fade-out over `release`.
    pub fn envelope(&self, attack: f32, release: f32) -> f32 {
        let a = if attack > 0.0 { (self.on / attack).min(1.0) } else { 1.0 };
        let r = if self.exits && release > 0.0 { (self.off / release).min(1.0) } else { 1.0 };
        smoothstep(0.0, 1.0, a) * smoothstep(0.0, 1.0, r)
    }
}

/// One blob of a smoke cloud: centre, radius (pixels) and density weight.
#[derive(Debug, Clone, Copy)]
pub struct Puff {
    pub x: f32,
    pub y: f32,
    pub r: f32,
    pub a: f32,
}

/// Draws billowing smoke: the summed density of `puffs`, with edges broken up by
/// drifting fractal noise and billows shaded by a finer noise, composited with opacity
/// `opacity`. `heat` (0–1.5) makes the dense parts glow as flame (a fireball is a hot
/// cloud); `lit` adds a warm underglow from fire below; `thin` (0–1) dissipates the
/// cloud into wisps (the density threshold rises) rather than fading it uniformly.
#[allow(clippy::too_many_arguments)]
pub fn cloud(
    img: &mut Img,
    puffs: &[Puff],
    opacity: f32,
    tone: f32,
    heat: f32,
    lit: f32,
    thin: f32,
    seed: u32,
    t: f32,
) {
    if puffs.is_empty() || (opacity <= 0.0 && heat <= 0.0) {
        return;
    }
    let (w, h) = (img.w, img.h);
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut scale = 0.0;
    for p in puffs {
        x0 = x0.min(p.x - p.r);
        y0 = y0.min(p.y - p.r);
        x1 = x1.max(p.x + p.r);
        y1 = y1.max(p.y + p.r);
        scale += p.r;
    }
    let scale = (scale / puffs.len() as f32 * 0.45).max(3.0);
    let m = scale * 0.7;
    let Some((bx0, by0, bx1, by1)) = bbox(x0 - m, y0 - m, x1 + m, y1 + m, w, h) else { return };
    let inv: Vec<(f32, f32, f32, f32)> = puffs.iter().map(|p| (p.x, p.y, 1.0 / (p.r * p.r), p.a)).collect();
    let warp = scale * 1.3;
    for y in by0..by1 {
        let yf = y as f32 + 0.5;
        for x in bx0..bx1 {
            let xf = x as f32 + 0.5;
            // Domain warp: puffs lose their round outlines.
            let wx = xf + (fbm(seed ^ 0x77, xf / (scale * 1.7), yf / (scale * 1.7) + t * 0.2, 2) - 0.5) * warp;
            let wy = yf + (fbm(seed ^ 0x78, xf / (scale * 1.7) + 9.0, yf / (scale * 1.7), 2) - 0.5) * warp;
            let mut dens = 0.0;
            for &(px, py, ir2, a) in &inv {
                let q = ((wx - px) * (wx - px) + (wy - py) * (wy - py)) * ir2;
                if q < 1.0 {
                    let f = 1.0 - q;
                    dens += a * f * f;
                }
            }
            if dens <= 0.002 {
                continue;
            }
            // Coarse noise eats into the edges; fine noise shades the billows.
            let n = fbm(seed, xf / scale + t * 0.12, yf / scale + t * 0.3, 4);
            let d2 = dens + (n - 0.5) * 1.3 * (dens * 2.5).min(1.0);
            let body = smoothstep(0.1 + 0.4 * thin, 0.5 + 0.45 * thin, d2);
            if body <= 0.003 {
                continue;
            }
            let n2 = fbm(seed ^ 0x3C, xf / (scale * 0.4) - t * 0.2, yf / (scale * 0.4) + t * 0.4, 3);
            let shade = tone * (0.55 + 0.8 * n2 + 0.2 * (1.0 - d2.min(1.0)));
            let warm = lit * (1.0 - n) * d2.min(1.0);
            let mut c = [shade + warm * 110.0, shade * 0.97 + warm * 45.0, shade * 0.94 + warm * 5.0];
            let mut alpha = opacity * body;
            if heat > 0.0 {
                let temp = heat * d2 * (0.45 + 1.1 * n2);
                let hot = smoothstep(0.15, 0.5, temp);
                if hot > 0.0 {
                    let f = fire_colour(temp);
                    for k in 0..3 {
                        c[k] += (f[k] - c[k]) * hot;
                    }
                    alpha = alpha.max(body * (0.5 + 0.5 * hot)).max(hot);
                }
            }
            let i = img.at(x, y);
            over(&mut img.px, i, c, alpha.min(1.0));
        }
    }
}

/// Black-body-like ramp for flames: dark red → orange → yellow → near white.
pub fn fire_colour(i: f32) -> [f32; 3] {
    const STOPS: [(f32, [f32; 3]); 6] = [
        (0.0, [70.0, 8.0, 0.0]),
        (0.3, [190.0, 45.0, 5.0]),
        (0.55, [250.0, 115.0, 18.0]),
        (0.8, [255.0, 185.0, 65.0]),
        (1.0, [255.0, 232.0, 150.0]),
        (1.2, [255.0, 250.0, 228.0]),
    ];
    let i = i.clamp(0.0, 1.2);
    for k in 1..STOPS.len() {
        let (t1, c1) = STOPS[k];
        if i <= t1 {
            let (t0, c0) = STOPS[k - 1];
            let f = (i - t0) / (t1 - t0);
            return [c0[0] + (c1[0] - c0[0]) * f, c0[1] + (c1[1] - c0[1]) * f, c0[2] + (c1[2] - c0[2]) * f];
        }
    }
    STOPS[STOPS.len() - 1].1
}

/// Warm flickering light on the surroundings: multiplicative plus a little additive.
pub fn glow(img: &mut Img, cx: f32, cy: f32, radius: f32, amount: f32, tint: [f32; 3]) {
    if amount <= 0.0 {
        return;
    }
    let Some((x0, y0, x1, y1)) =
        bbox(cx - 2.5 * radius, cy - 2.5 * radius, cx + 2.5 * radius, cy + 2.5 * radius, img.w, img.h)
    else {
        return;
    };
    let inv = 1.0 / (2.0 * radius * radius);
    for y in y0..y1 {
        let dy = y as f32 + 0.5 - cy;
        for x in x0..x1 {
            let dx = x as f32 + 0.5 - cx;
            let l = amount * (-(dx * dx + dy * dy) * inv).exp();
            if l < 0.004 {
                continue;
            }
            let i = img.at(x, y);
            for k in 0..3 {
                img.px[i + k] = img.px[i + k] * (1.0 + l * tint[k]) + l * tint[k] * 40.0;
            }
        }
    }
}
