//! Camera tampering at the lens: an out-of-focus hand or cloth sliding over it (with the
//! camera's auto-exposure reacting), spray paint accumulating in soft blotches and mist,
//! and progressive defocus. (Turning the camera away is a change of view: see render.)
use super::EventTime;
use crate::synth::image::{ease, lerp, smoothstep, Img};
use crate::synth::plan::Edge;
use crate::synth::rng::{derive, fbm, hash2, noise1s, unit, SplitMix64};

/// Hand/cloth over the lens.
pub fn cover(img: &mut Img, edge: Edge, coverage: f32, tone: [f32; 3], slide_s: f32, seed: u64, et: &EventTime) {
    let (w, h) = (img.w as f32, img.h as f32);
    let s = seed as u32;
    let mut rng = SplitMix64::new(derive(seed, 7));
    let slide = slide_s.max(0.05);
    let mut p = ease((et.on / slide).min(1.0));
    if et.exits {
        p *= ease((et.off / slide).min(1.0));
    }
    let p = p.max(0.12);
    // An unsteady hand.
    let wob = (0.015 * noise1s(s, et.on * 1.3), 0.015 * noise1s(s ^ 9, et.on * 1.1));
    let (rx, ry) = (w * (0.55 + 0.45 * coverage), h * (0.65 + 0.5 * coverage));
    let soft = 0.16;
    let along = rng.rangef(0.3, 0.7);
    // Final and starting centres: the blob reaches `coverage` of the frame from `edge`.
    let reach = coverage * 1.08;
    let (c_final, c_start) = match edge {
        Edge::Left => ((reach * w - rx, along * h), (-rx * (1.0 + soft), along * h)),
        Edge::Right => ((w - reach * w + rx, along * h), (w + rx * (1.0 + soft), along * h)),
        Edge::Top => ((along * w, reach * h - ry), (along * w, -ry * (1.0 + soft))),
        Edge::Bottom => ((along * w, h - reach * h + ry), (along * w, h + ry * (1.0 + soft))),
    };
    let cx = lerp(c_start.0, c_final.0, p) + wob.0 * w;
    let cy = lerp(c_start.1, c_final.1, p) + wob.1 * h;
    let mut mask = vec![0f32; img.w * img.h];
    let mut covered = 0.0;
    let lump_sc = w * 0.18;
    for y in 0..img.h {
        let ey = (y as f32 + 0.5 - cy) / ry;
        for x in 0..img.w {
            let ex = (x as f32 + 0.5 - cx) / rx;
            let q = (ex * ex + ey * ey).sqrt();
            if q > 1.0 + soft * 2.0 {
                continue;
            }
            let lump = (fbm(s ^ 0x11, x as f32 / lump_sc, y as f32 / lump_sc, 2) - 0.5) * 0.3;
            let m = smoothstep(1.0 + soft, 1.0 - soft, q + lump);
            mask[y * img.w + x] = m;
            covered += m;
        }
    }
    let frac = covered / (img.w * img.h) as f32;
    // Auto-exposure opens up as the frame darkens.
    let ae = 1.0 + 0.7 * frac * smoothstep(0.0, 0.8, et.on);
    let tex_sc = w * 0.25;
    for y in 0..img.h {
        for x in 0..img.w {
            let k = img.at(x, y);
            let m = mask[y * img.w + x];
            for ch in 0..3 {
                img.px[k + ch] *= ae;
            }
            if m <= 0.0 {
                continue;
            }
            let ex = (x as f32 + 0.5 - cx) / rx;
            let ey = (y as f32 + 0.5 - cy) / ry;
            let q = (ex * ex + ey * ey).sqrt();
            // Light bleeds through near the rim; the centre is dark.
            let rim = smoothstep(0.35, 1.0, q);
            let n = 0.88 + 0.24 * fbm(s ^ 0x22, x as f32 / tex_sc, y as f32 / tex_sc, 2);
            let shade = (0.22 + 0.78 * rim) * n * ae.min(1.5);
            for ch in 0..3 {
                img.px[k + ch] += (tone[ch] * shade - img.px[k + ch]) * m;
            }
        }
    }
}

/// Paint blotches on the lens: static once sprayed, so the coverage map is cached.
pub struct Spray {
    splats: Vec<Splat>,
    noise: Vec<f32>,
    cache: Option<Vec<f32>>,
    done_at: f32,
}

struct Splat {
    t: f32,
    x: f32,
    y: f32,
    r: f32,
    o: f32,
    off: (usize, usize),
}

impl Spray {
    pub fn new(w: usize, h: usize, splats: u32, spray_s: f32, opacity: f32, seed: u64) -> Self {
        let mut rng = SplitMix64::new(derive(seed, 11));
        let (wf, hf) = (w as f32, h as f32);
        // The nozzle sweeps from one point to another.
        let (ax, ay) = (rng.rangef(0.2, 0.8) * wf, rng.rangef(0.2, 0.8) * hf);
        let (bx, by) = (rng.rangef(0.2, 0.8) * wf, rng.rangef(0.2, 0.8) * hf);
        let n = splats.max(1);
        let list: Vec<Splat> = (0..n)
            .map(|k| {
                let f = k as f32 / n as f32;
                Splat {
                    t: spray_s * f.powf(0.8),
                    x: lerp(ax, bx, f) + rng.rangef(-0.2, 0.2) * wf,
                    y: lerp(ay, by, f) + rng.rangef(-0.2, 0.2) * hf,
                    r: hf * rng.rangef(0.12, 0.38),
                    o: opacity * rng.rangef(0.65, 1.0),
                    off: (rng.below(w as u64) as usize, rng.below(h as u64) as usize),
                }
            })
            .collect();
        let s = seed as u32;
        let sc = wf * 0.07;
        let noise = (0..w * h).map(|i| fbm(s ^ 0x33, (i % w) as f32 / sc, (i / w) as f32 / sc, 3)).collect();
        let done_at = list.iter().map(|s| s.t).fold(0.0, f32::max) + 0.3;
        Self { splats: list, noise, cache: None, done_at }
    }

    fn coverage(&self, w: usize, h: usize, t: f32, seed: u32) -> Vec<f32> {
        // Transparency product over splats: 1 − Π(1 − αₖ).
        let mut clear = vec![1f32; w * h];
        for sp in &self.splats {
            let grow = ((t - sp.t) / 0.2).clamp(0.0, 1.0);
            if grow <= 0.0 {
                continue;
            }
            let reach = sp.r * 1.9;
            let x0 = (sp.x - reach).max(0.0) as usize;
            let x1 = ((sp.x + reach).max(0.0) as usize).min(w);
            let y0 = (sp.y - reach).max(0.0) as usize;
            let y1 = ((sp.y + reach).max(0.0) as usize).min(h);
            for y in y0..y1 {
                for x in x0..x1 {
                    let (dx, dy) = (x as f32 + 0.5 - sp.x, y as f32 + 0.5 - sp.y);
                    let d = (dx * dx + dy * dy).sqrt() / (sp.r * (0.6 + 0.4 * grow));
                    let n = self.noise[((y + sp.off.1) % h) * w + (x + sp.off.0) % w];
                    let core = smoothstep(0.0, 0.5, 1.0 - d + (n - 0.5) * 1.1);
                    // Mist: sparse fine droplets around the blotch (softened by the blur below).
                    let mist = smoothstep(1.9, 1.0, d);
                    let drop =
                        if unit(hash2(seed ^ sp.off.0 as u32, x as i32, y as i32)) < mist * 0.12 { 0.9 } else { 0.0 };
                    let a = (core.max(drop) * sp.o * (0.4 + 0.6 * grow)).min(0.98);
                    clear[y * w + x] *= 1.0 - a;
                }
            }
        }
        let mut cov: Vec<f32> = clear.into_iter().map(|c| 1.0 - c).collect();
        // Paint on the lens is out of focus.
        crate::synth::image::blur_planes(&mut cov, w, h, 1, 2);
        cov
    }

    pub fn draw(&mut self, img: &mut Img, colour: [f32; 3], seed: u64, et: &EventTime) {
        let (w, h) = (img.w, img.h);
        let s = seed as u32;
        let cov = if et.on >= self.done_at {
            if self.cache.is_none() {
                self.cache = Some(self.coverage(w, h, et.on, s));
            }
            self.cache.clone().unwrap_or_default()
        } else {
            self.coverage(w, h, et.on, s)
        };
        let wipe = if et.exits { 0.3 + 0.7 * smoothstep(0.0, 0.5, et.off) } else { 1.0 };
        for i in 0..w * h {
            let a = cov[i] * wipe;
            if a <= 0.002 {
                continue;
            }
            let shade = 0.85 + 0.3 * (self.noise[i] - 0.5);
            let k = i * 3;
            for ch in 0..3 {
                img.px[k + ch] += (colour[ch] * shade - img.px[k + ch]) * a;
            }
        }
    }
}

/// Focus ramp: blur radius at this instant (output pixels).
pub fn defocus_radius(blur_px: f32, ramp_s: f32, et: &EventTime) -> f32 {
    let mut r = blur_px * (0.2 + 0.8 * ease((et.on / ramp_s.max(0.05)).min(1.0)));
    if et.exits {
        r *= 0.15 + 0.85 * ease((et.off / 0.4).min(1.0));
    }
    r
}
