//! Explosion: a flash that lights the whole frame (strongest around the blast), an
//! expanding turbulent fireball, then a smoke plume that billows, rises and thins out;
//! the camera shakes briefly.
use super::{cloud, glow, EventTime, Puff};
use crate::synth::image::{smoothstep, Img};
use crate::synth::rng::{derive, noise1s, SplitMix64};

pub struct Explosion {
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub flash: f32,
    pub fireball: f32,
    pub smoke_tone: f32,
    pub smoke_opacity: f32,
}

/// Camera shake offset (output pixels) at time `on` after the blast.
pub fn shake(shake_px: f32, seed: u64, on: f32) -> (f32, f32) {
    let amp = shake_px * (-(on - 0.05).max(0.0) / 0.3).exp() * (on < 1.5) as u8 as f32;
    let s = seed as u32;
    (amp * noise1s(s, on * 16.0), amp * noise1s(s ^ 0xA5A5, on * 16.0 + 3.0))
}

pub fn draw(img: &mut Img, p: &Explosion, seed: u64, et: &EventTime) {
    let (w, h) = (img.w as f32, img.h as f32);
    let (cx, cy, r) = (p.x * w, p.y * h, p.radius * h);
    let u = et.on;
    let s = seed as u32;

    // One cloud: hot (a fireball) at first, cooling into a smoke plume that billows out,
    // rises and thins.
    let gone = smoothstep(et.dur * 0.4, et.dur + 1.0 / et.fps, u);
    let gone = if et.exits { gone } else { gone.min(0.6) };
    // Still faintly there on the last labelled frame; gone right after.
    let opacity = p.smoke_opacity * (1.0 - 0.75 * gone * gone);
    let thin = gone.min(1.0) * 0.6;
    let heat = 1.7 * p.fireball * (-u / (0.2 + 0.35 * p.fireball)).exp();
    let mut rng = SplitMix64::new(derive(seed, 1));
    let mut puffs = Vec::with_capacity(16);
    for k in 0..16 {
        let ang = rng.rangef(0.0, std::f32::consts::TAU);
        let reach = rng.rangef(0.1, 0.8) * r;
        let born = rng.rangef(0.0, 0.15);
        let age = (u - born).max(0.0);
        let burst = 1.0 - (-age / 0.22).exp();
        // Buoyancy varies between puffs, so the cloud stretches into a rising plume.
        let buoy = if k % 3 == 0 { rng.rangef(0.7, 1.2) } else { rng.rangef(0.15, 0.6) };
        let drift = rng.rangef(-0.15, 0.15) * r * age;
        puffs.push(Puff {
            x: cx + ang.cos() * reach * burst * 1.5 + drift,
            y: cy + (ang.sin() * 0.5 - 0.3) * reach * burst - r * buoy * age,
            r: r * rng.rangef(0.38, 0.65) * (0.45 + 0.9 * burst + 0.2 * age),
            a: rng.rangef(0.7, 1.1),
        });
    }
    let lit = (p.fireball * (-u / 1.0).exp()).min(1.0);
    cloud(img, &puffs, opacity, 255.0 * p.smoke_tone, heat, lit, thin, s ^ 0x51, u);
    if heat > 0.05 {
        glow(img, cx, cy - r * 0.3, r * 1.6, (0.35 * heat).min(0.6), [1.0, 0.55, 0.2]);
    }

    // Flash: overexposes the whole frame, strongest near the blast.
    let fa = p.flash * (-(u - 1.0 / et.fps).max(0.0) / 0.22).exp() * (u < 1.5) as u8 as f32;
    if fa > 0.005 {
        let sigma = 0.35 * w.max(h) + r;
        let inv = 1.0 / (2.0 * sigma * sigma);
        let tint = [1.0, 0.93, 0.8];
        for y in 0..img.h {
            let dy = y as f32 + 0.5 - cy;
            for x in 0..img.w {
                let dx = x as f32 + 0.5 - cx;
                let f = fa * (0.35 + 0.65 * (-(dx * dx + dy * dy) * inv).exp());
                let k = img.at(x, y);
                for ch in 0..3 {
                    let v = img.px[k + ch];
                    // Overexposure: add light and compress towards white.
                    img.px[k + ch] = v + f * tint[ch] * (300.0 - 0.6 * v);
                }
            }
        }
    }
}
