//! Renders a [`VideoPlan`] frame by frame from a decoded clip:
//! view (crop, flip, jitter, shake, pans) → temporal resampling → colour grade with
//! lighting drift → scene events → lens events → sensor grain → 8-bit → video faults.
//! Rendering the same plan without its events gives the exact benign baseline (except
//! after a Panic speed-up, which moves the source timeline on).
use super::effects::intrusion::{self, Sprite};
use super::effects::tamper::{self, Spray};
use super::effects::{explosion, fault, fire, EventTime};
use super::footage::Clip;
use super::image::{ease, lerp, sample_add, sample_blend, smoothstep, Img, View, Warp};
use super::plan::{source_times, EventPlan, Params, VideoPlan};
use super::rng::{gauss, hash2, noise1s, noise2};

/// Per-event caches (textures built once per event).
enum State {
    None,
    Spray(Box<Spray>),
    Sprites { fwd: Sprite, back: Sprite, shadow: Option<Sprite> },
}

/// Frame-by-frame renderer of one video.
pub struct Renderer<'a> {
    plan: &'a VideoPlan,
    clip: &'a Clip,
    events: Vec<&'a EventPlan>,
    states: Vec<State>,
    times: Vec<f64>,
    base: View,
    w: usize,
    h: usize,
    next: u64,
    last_out: Option<Vec<u8>>,
    frozen: Option<Vec<u8>>,
}

impl<'a> Renderer<'a> {
    /// `with_events = false` renders the benign baseline of the same video.
    pub fn new(plan: &'a VideoPlan, clip: &'a Clip, with_events: bool) -> Self {
        let (w, h) = (plan.size[0] as usize, plan.size[1] as usize);
        let events: Vec<&EventPlan> = if with_events { plan.events.iter().collect() } else { Vec::new() };
        let owned: Vec<EventPlan> = events.iter().map(|e| (*e).clone()).collect();
        let times = source_times(plan.frames, plan.fps, plan.transforms.speed, &owned)
            .into_iter()
            .map(|t| t + plan.base.start_s)
            .collect();
        let (sw, sh) = (clip.width as f32, clip.height as f32);
        let c = &plan.transforms.crop;
        let base = View {
            cx: (c.x + c.w / 2.0) * sw,
            cy: (c.y + c.h / 2.0) * sh,
            sx: c.w * sw / w as f32,
            sy: c.h * sh / h as f32,
            rot: 0.0,
            flip: plan.transforms.flip,
            dx: 0.0,
            dy: 0.0,
        };
        let mut r =
            Self { plan, clip, events, states: Vec::new(), times, base, w, h, next: 0, last_out: None, frozen: None };
        r.states = r.events.iter().map(|e| r.build_state(e)).collect();
        r
    }

    fn build_state(&self, e: &EventPlan) -> State {
        let (w, h) = (self.w as f32, self.h as f32);
        match &e.params {
            Params::Spray { splats, spray_s, opacity, .. } => {
                State::Spray(Box::new(Spray::new(self.w, self.h, *splats, *spray_s, *opacity, e.seed)))
            }
            Params::Vehicle { length, colour, .. } => {
                let fwd = intrusion::vehicle(length * w, *colour, e.seed);
                let back = mirror(&fwd);
                State::Sprites { fwd, back, shadow: None }
            }
            Params::Object { size, tone, .. } => {
                let fwd = intrusion::object(size * h, *tone, e.seed);
                let back = mirror(&fwd);
                State::Sprites { fwd, back, shadow: Some(intrusion::shadow(size * h * 1.3, size * h * 0.35)) }
            }
            Params::Sprite { size, src_x, src_y, src_t, .. } => {
                let (pw, ph) = ((size * h * 1.3).round().max(4.0) as usize, (size * h).round().max(4.0) as usize);
                let (a, _, _) = self.clip.at(*src_t as f64);
                let view = View {
                    cx: src_x * self.clip.width as f32,
                    cy: src_y * self.clip.height as f32,
                    dx: 0.0,
                    dy: 0.0,
                    rot: 0.0,
                    ..self.base
                };
                let mut img = Img::new(pw, ph);
                sample_add(
                    &self.clip.frames[a],
                    self.clip.width as usize,
                    self.clip.height as usize,
                    &view,
                    &mut img,
                    1.0,
                    None,
                );
                let fwd = intrusion::patch(&img);
                let back = mirror(&fwd);
                State::Sprites { fwd, back, shadow: None }
            }
            _ => State::None,
        }
    }

    fn event_time(&self, e: &EventPlan, f: f64) -> EventTime {
        let fps = self.plan.fps;
        EventTime {
            on: ((f - e.start_frame as f64 + 1.0) / fps) as f32,
            off: ((e.end_frame as f64 - f) / fps) as f32,
            dur: (e.frames() as f64 / fps) as f32,
            exits: e.end_frame < self.plan.frames,
            fps: fps as f32,
        }
    }

    /// The view at (fractional) frame `f` of current frame `i`: benign jitter plus the
    /// geometric part of active events.
    fn view_at(&self, i: u64, f: f64) -> (View, f32) {
        let t = (f / self.plan.fps) as f32;
        let b = &self.plan.benign;
        let s = self.plan.seed as u32;
        let mut v = self.base;
        v.dx = b.jitter_px * (0.8 * noise1s(s ^ 0x10, t * 0.6) + 0.2 * noise1s(s ^ 0x11, t * 4.0));
        v.dy = b.jitter_px * (0.8 * noise1s(s ^ 0x12, t * 0.6) + 0.2 * noise1s(s ^ 0x13, t * 4.0));
        let mut exposure = 1.0;
        for e in self.events.iter().filter(|e| e.contains(i)) {
            let et = self.event_time(e, f);
            let es = e.seed as u32;
            match &e.params {
                Params::Explosion { shake_px, .. } => {
                    let (dx, dy) = explosion::shake(*shake_px, e.seed, et.on);
                    v.dx += dx;
                    v.dy += dy;
                }
                Params::Panic { shake_px, .. } => {
                    let amp = shake_px * et.envelope(0.1, 0.2);
                    v.dx += amp * noise1s(es, t * 9.0);
                    v.dy += amp * noise1s(es ^ 1, t * 9.0);
                    v.rot += amp * 0.0025 * noise1s(es ^ 2, t * 7.0);
                }
                Params::TurnedAway { x, y, zoom, rotate_deg, pan_s, exposure: ex } => {
                    let mut p = ease((et.on / pan_s).min(1.0));
                    if et.exits {
                        p *= ease((et.off / pan_s).min(1.0));
                    }
                    // Never fully back inside the event: its last frame still shows it.
                    let p = p.max(0.15);
                    let target = View {
                        cx: x * self.clip.width as f32,
                        cy: y * self.clip.height as f32,
                        sx: self.base.sx / zoom,
                        sy: self.base.sy / zoom,
                        rot: rotate_deg.to_radians(),
                        ..v
                    };
                    v = v.lerp(&target, p);
                    exposure *= lerp(1.0, *ex, p);
                }
                _ => {}
            }
        }
        (v, exposure)
    }

    /// Renders the next frame; `None` after the last.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let i = self.next;
        if i >= self.plan.frames {
            return None;
        }
        self.next += 1;
        let out = self.render(i);
        self.last_out = Some(out.clone());
        Some(out)
    }

    fn render(&mut self, i: u64) -> Vec<u8> {
        let (w, h) = (self.w, self.h);
        let fps = self.plan.fps;
        let t = (i as f64 / fps) as f32;
        let active: Vec<usize> = (0..self.events.len()).filter(|&k| self.events[k].contains(i)).collect();

        // Freeze: repeat the last good frame verbatim.
        for &k in &active {
            if let Params::Freeze {} = self.events[k].params {
                if self.frozen.is_none() || i == self.events[k].start_frame {
                    self.frozen = self.last_out.clone();
                }
                if let Some(f) = &self.frozen {
                    return f.clone();
                }
            }
        }

        // 1. Geometry with motion blur over a half-open shutter when the view moves.
        let (view, exposure) = self.view_at(i, i as f64);
        let moving = active.iter().any(|&k| {
            matches!(self.events[k].params, Params::Explosion { .. } | Params::Panic { .. } | Params::TurnedAway { .. })
        });
        let views: Vec<View> = if moving {
            let (prev, _) = self.view_at(i, i as f64 - 0.5);
            let disp = ((view.cx - prev.cx) / view.sx).abs()
                + ((view.cy - prev.cy) / view.sy).abs()
                + (view.dx - prev.dx).abs()
                + (view.dy - prev.dy).abs()
                + (view.rot - prev.rot).abs() * w as f32 * 0.5
                + ((view.sx - prev.sx) / view.sx).abs() * w as f32 * 0.5;
            let n = (disp / 1.5).ceil().clamp(1.0, 8.0) as usize;
            (0..n).map(|k| prev.lerp(&view, (k + 1) as f32 / n as f32)).collect()
        } else {
            vec![view]
        };
        let warp = active.iter().find_map(|&k| match self.events[k].params {
            Params::Panic { jitter_px, .. } if jitter_px > 0.0 => {
                let et = self.event_time(self.events[k], i as f64);
                Some(crowd_warp(jitter_px * et.envelope(0.3, 0.3), self.events[k].seed as u32, t))
            }
            _ => None,
        });

        // 2. Sample the source (cross-fading between its two nearest frames).
        let (a, b, wb) = self.clip.at(self.times[i as usize]);
        let (sw, sh) = (self.clip.width as usize, self.clip.height as usize);
        let mut img = Img::new(w, h);
        let k = 1.0 / views.len() as f32;
        let srcs: Vec<(&[u8], f32)> = if wb > 0.0 {
            vec![(&self.clip.frames[a][..], (1.0 - wb) * k), (&self.clip.frames[b][..], wb * k)]
        } else {
            vec![(&self.clip.frames[a][..], k)]
        };
        for v in &views {
            sample_blend(&srcs, sw, sh, v, &mut img, warp.as_ref());
        }

        // 3. Colour grade and lighting drift.
        self.grade(&mut img, t, exposure);

        // 4. Scene and lens events.
        for &k in &active {
            let e = self.events[k];
            let et = self.event_time(e, i as f64);
            match &e.params {
                Params::Explosion { x, y, radius, flash, fireball, smoke_tone, smoke_opacity, .. } => {
                    let p = explosion::Explosion {
                        x: *x,
                        y: *y,
                        radius: *radius,
                        flash: *flash,
                        fireball: *fireball,
                        smoke_tone: *smoke_tone,
                        smoke_opacity: *smoke_opacity,
                    };
                    explosion::draw(&mut img, &p, e.seed, &et);
                }
                Params::Fire { x, y, width, height, growth_s, glow, smoke_opacity, wind } => {
                    let p = fire::Fire {
                        x: *x,
                        y: *y,
                        width: *width,
                        height: *height,
                        growth_s: *growth_s,
                        glow: *glow,
                        smoke_opacity: *smoke_opacity,
                        wind: *wind,
                    };
                    fire::draw(&mut img, &p, e.seed, &et);
                }
                Params::Vehicle { .. } | Params::Object { .. } | Params::Sprite { .. } => {
                    self.draw_crossing(&mut img, k, &et);
                }
                _ => {}
            }
        }
        for &k in &active {
            let e = self.events[k];
            let et = self.event_time(e, i as f64);
            match &e.params {
                Params::Cover { edge, coverage, tone, slide_s } => {
                    tamper::cover(&mut img, *edge, *coverage, *tone, *slide_s, e.seed, &et)
                }
                Params::Spray { colour, .. } => {
                    if let State::Spray(s) = &mut self.states[k] {
                        s.draw(&mut img, *colour, e.seed, &et);
                    }
                }
                Params::Defocus { blur_px, ramp_s } => img.blur_frac(tamper::defocus_radius(*blur_px, *ramp_s, &et)),
                _ => {}
            }
        }

        // 5. Sensor grain (luma plus a little chroma), then 8-bit.
        self.grain(&mut img, i);
        let mut out = img.to_rgb8();

        // 6. Faults after the camera.
        for &k in &active {
            let e = self.events[k];
            let mut f = fault::Frame { w, h, rgb: &mut out };
            match &e.params {
                Params::Blackout { level } => {
                    fault::blackout(&mut f, *level, i == e.start_frame, (e.seed as u32) ^ i as u32)
                }
                Params::Greenout { partial } => fault::greenout(&mut f, *partial, i, e.seed),
                Params::Corruption { intensity } => {
                    let prev = self.last_out.clone().unwrap_or_else(|| f.rgb.to_vec());
                    fault::corruption(&mut f, &prev, *intensity, i, e.seed);
                }
                Params::Snow { sigma } => fault::snow(&mut f, *sigma, i, e.seed),
                _ => {}
            }
        }
        out
    }

    /// Per-video grade (gain, gamma, black level, saturation) with slow lighting and
    /// white-balance drift, via per-channel lookup tables at ¼-level resolution.
    fn grade(&self, img: &mut Img, t: f32, exposure: f32) {
        let c = &self.plan.transforms.colour;
        let b = &self.plan.benign;
        let s = self.plan.seed as u32;
        let light = 1.0
            + b.drift * (std::f32::consts::TAU * t / b.drift_period_s.max(0.5) + b.drift_phase).sin()
            + 0.5 * b.drift * noise1s(s ^ 0x20, t / b.drift_period_s.max(0.5) * 3.0);
        let mut lut = vec![0f32; 3 * 1024];
        for ch in 0..3 {
            let wb = 1.0 + b.white_balance_drift * noise1s(s ^ (0x30 + ch as u32), t / 10.0);
            let g = c.gain[ch] * light * wb * exposure;
            for j in 0..1024 {
                let x = (j as f32 / 4.0 / 255.0 * g).max(0.0);
                lut[ch * 1024 + j] = 255.0 * x.powf(c.gamma) + c.offset;
            }
        }
        let sat = c.saturation;
        for p in img.px.chunks_exact_mut(3) {
            let mut v = [0f32; 3];
            for ch in 0..3 {
                let j = (p[ch] * 4.0).clamp(0.0, 1023.0) as usize;
                v[ch] = lut[ch * 1024 + j];
            }
            let l = 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
            for ch in 0..3 {
                p[ch] = l + sat * (v[ch] - l);
            }
        }
    }

    fn grain(&self, img: &mut Img, i: u64) {
        let sigma = self.plan.benign.grain;
        if sigma <= 0.0 {
            return;
        }
        let s = (self.plan.seed as u32) ^ (i as u32).wrapping_mul(0x9E37_79B9);
        let (w, h) = (img.w, img.h);
        for y in 0..h {
            for x in 0..w {
                let hh = hash2(s, x as i32, y as i32);
                let n = gauss(hh) * sigma;
                let c = hh.wrapping_mul(0x9E37_79B1) ^ (hh >> 15);
                let k = img.at(x, y);
                for ch in 0..3 {
                    let chroma = (((c >> (ch * 8)) & 0xFF) as f32 / 255.0 - 0.5) * sigma * 0.7;
                    img.px[k + ch] += n + chroma;
                }
            }
        }
    }

    fn draw_crossing(&self, img: &mut Img, k: usize, et: &EventTime) {
        let e = self.events[k];
        let State::Sprites { fwd, back, shadow } = &self.states[k] else { return };
        let (w, h) = (self.w as f32, self.h as f32);
        let (y, direction, passes, cross_s, arc) = match e.params {
            Params::Vehicle { y, direction, passes, cross_s, .. } => (y, direction, passes, cross_s, 0.0),
            Params::Object { y, direction, passes, cross_s, arc, .. } => (y, direction, passes, cross_s, arc),
            Params::Sprite { y, direction, passes, cross_s, .. } => (y, direction, passes, cross_s, 0.0),
            _ => return,
        };
        let (pass, _) = intrusion::pass_progress(et, cross_s, passes);
        let dir = if pass % 2 == 0 { direction } else { -direction };
        let sprite = if dir > 0.0 { fwd } else { back };
        let (spw, sph) = (sprite.w as f32, sprite.h as f32);
        // From 40 % inside one edge to 40 % inside the other: visible on every labelled frame
        // (a fast object moves a good part of its length per frame anyway).
        let path = |s: f32| -> (f32, f32) {
            let s = if dir > 0.0 { s } else { 1.0 - s };
            let cx = lerp(-spw * 0.1, w + spw * 0.1, s);
            let ground = (y + 0.035 * pass as f32) * h;
            let lift = arc * h * 4.0 * s * (1.0 - s);
            (cx - spw / 2.0, ground - sph * 0.95 - lift)
        };
        let speed = (w + spw * 0.2) / (cross_s * et.fps);
        let positions: Vec<(f32, f32)> = intrusion::shutter_samples(speed, et.fps)
            .into_iter()
            .map(|dt| {
                let on = (et.on + dt).max(0.0);
                let s = ((on - pass as f32 * cross_s) / cross_s).clamp(0.0, 1.0);
                path(s)
            })
            .collect();
        if let Some(sh) = shadow {
            let ground = (y + 0.035 * pass as f32) * h;
            let sp: Vec<(f32, f32)> = positions
                .iter()
                .map(|&(px, _)| (px + spw / 2.0 - sh.w as f32 / 2.0, ground - sh.h as f32 / 2.0))
                .collect();
            intrusion::composite(img, sh, &sp);
        }
        intrusion::composite(img, sprite, &positions);
    }
}

fn mirror(s: &Sprite) -> Sprite {
    let mut px = s.px.clone();
    for row in px.chunks_exact_mut(s.w) {
        row.reverse();
    }
    Sprite { w: s.w, h: s.h, px }
}

/// Crowd-like local jitter: a coarse, fast-changing displacement field, strongest in the
/// lower part of the frame where people are.
fn crowd_warp(amp: f32, seed: u32, t: f32) -> Warp {
    let (gw, gh) = (17, 13);
    let d = (0..gw * gh)
        .map(|n| {
            let (gx, gy) = ((n % gw) as f32, (n / gw) as f32);
            let wgt = smoothstep(0.15, 0.45, gy / (gh - 1) as f32);
            let dx = (noise2(seed, gx * 0.8, t * 7.0 + gy * 0.37) - 0.5) * 2.0;
            let dy = (noise2(seed ^ 0x77, gx * 0.8 + 5.0, t * 7.0 + gy * 0.41) - 0.5) * 2.0;
            (amp * wgt * dx, amp * wgt * dy * 0.6)
        })
        .collect();
    Warp { gw, gh, d }
}

/// Renders every frame of a plan.
pub fn render_all(plan: &VideoPlan, clip: &Clip, with_events: bool) -> Vec<Vec<u8>> {
    let mut r = Renderer::new(plan, clip, with_events);
    std::iter::from_fn(|| r.next_frame()).collect()
}
