//! Fire: flames rising from a base line (fractal noise advected upwards, per-column
//! flicker, black-body colours), flickering warm light on the surroundings, and a smoke
//! column fed by puffs that rise, grow, drift with the wind and thin out.
use super::{cloud, fire_colour, glow, EventTime, Puff};
use crate::synth::image::{bbox, smoothstep, Img};
use crate::synth::rng::{derive, fbm, noise1, SplitMix64};

pub struct Fire {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub growth_s: f32,
    pub glow: f32,
    pub smoke_opacity: f32,
    pub wind: f32,
}

pub fn draw(img: &mut Img, p: &Fire, seed: u64, et: &EventTime) {
    let (w, h) = (img.w as f32, img.h as f32);
    let s = seed as u32;
    let u = et.on;
    let hw = p.width * w * 0.5;
    let (cx, yb) = (p.x * w, p.y * h);
    // Ignition is small but visible, then grows; an exiting fire dies down.
    let grow = 0.3 + 0.7 * smoothstep(0.0, p.growth_s.max(0.05), u);
    let die = if et.exits { 0.3 + 0.7 * smoothstep(0.0, 0.8, et.off) } else { 1.0 };
    let env = grow * die;
    let hf = p.height * hw * 2.0 * env;
    let flicker = 0.8 + 0.2 * noise1(s ^ 4, u * 7.0) + 0.12 * noise1(s ^ 5, u * 17.0) - 0.06;

    // Smoke column behind the flames.
    let smoke_env = p.smoke_opacity * smoothstep(0.0, 1.2, u) * die;
    if smoke_env > 0.0 {
        let dt = 0.22;
        let life = 3.5;
        let rise = (hw * 2.0 * p.height).max(h * 0.08) * 0.8;
        let mut puffs = Vec::new();
        let k_now = (u / dt).floor() as i64;
        for k in (k_now - (life / dt) as i64).max(0)..=k_now {
            let age = u - k as f32 * dt;
            if !(0.0..=life).contains(&age) {
                continue;
            }
            let mut rng = SplitMix64::new(derive(seed, 1000 + k as u64));
            let top = yb - hf * 0.6;
            puffs.push(Puff {
                x: cx + rng.rangef(-0.5, 0.5) * hw + p.wind * rise * age * 0.9 + (age * age) * p.wind * hw * 0.3,
                y: top - rise * age,
                r: hw * (0.7 + 0.8 * age) + h * 0.02,
                a: (std::f32::consts::PI * age / life).sin().powf(0.7) * rng.rangef(0.6, 1.0),
            });
        }
        let tone = 38.0 + 55.0 * (1.0 - p.smoke_opacity);
        cloud(img, &puffs, smoke_env, tone, 0.0, 0.25 * env, 0.0, s ^ 0x77, u);
    }

    // Light cast on the surroundings.
    glow(img, cx, yb - hf * 0.4, hw * 1.5 + hf * 0.6, 0.45 * p.glow * env * flicker, [1.0, 0.5, 0.16]);

    // Flames: one or more tongues along the base.
    let hf_full = (p.height * hw * 2.0).max(1.0);
    let tongues = ((hw * 2.0) / (hf_full * 0.3)).round().clamp(2.0, 5.0) as usize;
    let mut rng = SplitMix64::new(derive(seed, 77));
    let tw = hw / tongues as f32 * 2.3;
    let tl: Vec<(f32, f32, u32)> = (0..tongues)
        .map(|j| {
            let off = if tongues == 1 { 0.0 } else { (j as f32 / (tongues - 1) as f32 - 0.5) * 2.0 * (hw - tw * 0.6) };
            let hk = rng.rangef(0.55, 1.1) * (0.85 + 0.3 * noise1(s ^ (j as u32 + 40), u * 2.0));
            (off, hk, s ^ (0x100 + j as u32))
        })
        .collect();
    let reach = tl.iter().map(|t| t.1).fold(0.0, f32::max) * hf;
    let bloom_r = ((hw * 0.35).round() as usize).clamp(2, 12);
    let pad = bloom_r as f32 * 2.0;
    let Some((x0, y0, x1, y1)) =
        bbox(cx - hw * 1.8 - pad, yb - reach * 1.4 - pad, cx + hw * 1.8 + pad, yb + 2.0 + pad, img.w, img.h)
    else {
        return;
    };
    let (bw, bh) = (x1 - x0, y1 - y0);
    let mut inten = vec![0f32; bw * bh];
    for y in y0..y1 {
        let yf = y as f32 + 0.5;
        for x in x0..x1 {
            let xf = x as f32 + 0.5;
            let mut i = 0f32;
            for &(off, hk, ts) in &tl {
                i = i.max(flame((xf - cx - off) / tw, (yb - yf) / (hf * hk), u, ts, p.wind));
            }
            inten[(y - y0) * bw + x - x0] = i * flicker.min(1.1);
        }
    }
    // Bloom: flames are light sources; a blurred copy of their brightness spills around.
    let mut bloom = inten.clone();
    crate::synth::image::blur_planes(&mut bloom, bw, bh, 1, bloom_r);
    for y in y0..y1 {
        for x in x0..x1 {
            let j = (y - y0) * bw + x - x0;
            let (i, b) = (inten[j], bloom[j]);
            let k = img.at(x, y);
            if b > 0.003 {
                let add = [200.0, 90.0, 20.0];
                for ch in 0..3 {
                    img.px[k + ch] += add[ch] * b * 0.55;
                }
            }
            let a = smoothstep(0.0, 0.4, i);
            if a <= 0.002 {
                continue;
            }
            let col = fire_colour(i);
            for ch in 0..3 {
                img.px[k + ch] = img.px[k + ch] * (1.0 - 0.8 * a) + col[ch] * a;
            }
        }
    }
}

/// Brightness (0–1.2) of one flame tongue at `x` (half-widths from its axis) and `y`
/// (flame heights above the base): rising turbulence inside a tapered envelope whose
/// outline is pushed sideways more and more with height, so the top breaks into tongues.
fn flame(x: f32, y: f32, t: f32, seed: u32, wind: f32) -> f32 {
    if !(-0.08..=1.6).contains(&y) || x.abs() > 2.2 {
        return 0.0;
    }
    let yc = y.max(0.0);
    let n = fbm(seed, x * 1.2, y * 2.6 - t * 5.0, 4);
    let sway = (fbm(seed ^ 0x5a, x * 0.6 + 7.0, y * 1.3 - t * 2.6, 2) - 0.5) * 1.4 * yc.min(0.8) + wind * yc * 0.6;
    let xd = x - sway;
    let width = (1.0 - yc * 0.8).max(0.05).powf(0.7);
    let shape = 1.0 - (xd / width).abs();
    let base = smoothstep(-0.08, 0.04, y);
    ((shape * 1.1 + (n - 0.5) * 1.7 - yc * 0.75) * base).clamp(0.0, 1.2)
}
