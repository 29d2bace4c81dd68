//! What each synthetic video is: base footage span, benign transforms and injected events.
//! A plan is complete: the renderer needs nothing else (plus the decoded clip), so the
//! manifest, which stores the plans, reproduces every video exactly.
use serde::{Deserialize, Serialize};

use super::rng::{derive, SplitMix64};

/// The default anomaly categories (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Explosion,
    Fire,
    CameraTamper,
    VideoFault,
    Intrusion,
    Panic,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Explosion,
        Category::Fire,
        Category::CameraTamper,
        Category::VideoFault,
        Category::Intrusion,
        Category::Panic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Explosion => "Explosion",
            Category::Fire => "Fire",
            Category::CameraTamper => "CameraTamper",
            Category::VideoFault => "VideoFault",
            Category::Intrusion => "Intrusion",
            Category::Panic => "Panic",
        }
    }

    /// Case-insensitive name lookup.
    pub fn parse(s: &str) -> Option<Category> {
        Self::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The visual variants of the category (names as written in the manifest).
    pub fn variants(self) -> &'static [&'static str] {
        match self {
            Category::Explosion => &["fireball", "flash_smoke", "smoke_burst"],
            Category::Fire => &["flames", "flames_smoke", "glow"],
            Category::CameraTamper => &["cover", "spray", "defocus", "turned_away"],
            Category::VideoFault => &["freeze", "blackout", "greenout", "corruption", "snow"],
            Category::Intrusion => &["vehicle", "object", "sprite"],
            Category::Panic => &["rush", "stampede", "shaky"],
        }
    }
}

/// One synthetic video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoPlan {
    /// Video id (file stem), e.g. `synth_0007_Fire`.
    pub name: String,
    /// Path of the MP4 relative to the corpus folder.
    pub file: String,
    /// Anomaly category, or `Normal`.
    pub category: String,
    /// Seed of this video's benign noise (derived from the corpus seed and index).
    pub seed: u64,
    pub fps: f64,
    pub frames: u64,
    /// Output width and height.
    pub size: [u32; 2],
    pub base: BaseSpan,
    pub transforms: Transforms,
    pub benign: Benign,
    /// Injected events, sorted, non-overlapping; empty for normal videos.
    pub events: Vec<EventPlan>,
}

impl VideoPlan {
    pub fn is_normal(&self) -> bool {
        self.events.is_empty()
    }

    /// Seconds of output video.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.fps
    }
}

/// Which part of which real clip the video shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpan {
    /// The footage file as given on the command line.
    pub file: String,
    /// First and last source instants used, seconds from the clip's first frame.
    pub start_s: f64,
    pub end_s: f64,
    /// Length of the whole source clip, seconds.
    pub clip_duration_s: f64,
    /// Size the clip was decoded at before cropping (the renderer's input).
    pub work_size: [u32; 2],
}

/// Per-video benign variety: where in the frame, which way round, how fast, what colours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transforms {
    pub crop: Crop,
    pub flip: bool,
    /// Playback speed of the source (0.8–1.25).
    pub speed: f64,
    pub colour: Colour,
    /// x264 constant quantiser: compression strength varies per video too.
    pub quantizer: u32,
}

/// Crop window, normalised to the source frame (top-left corner and size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Colour {
    /// Per-channel gain (white balance).
    pub gain: [f32; 3],
    pub gamma: f32,
    /// Black level offset, in 0–255 levels.
    pub offset: f32,
    pub saturation: f32,
}

/// Benign variation present in every frame of every video (normal or not), so that
/// "something changed" is not by itself a sign of an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benign {
    /// Relative amplitude of the slow lighting drift.
    pub drift: f32,
    pub drift_period_s: f32,
    pub drift_phase: f32,
    /// Relative amplitude of a slow white-balance wander.
    pub white_balance_drift: f32,
    /// Sensor grain, standard deviation in levels.
    pub grain: f32,
    /// Small camera jitter amplitude, output pixels.
    pub jitter_px: f32,
}

/// One injected anomaly. Frames `[start_frame, end_frame)` are exactly the frames where
/// it is visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPlan {
    pub category: Category,
    pub variant: String,
    pub start_frame: u64,
    /// Exclusive.
    pub end_frame: u64,
    pub start_s: f64,
    pub end_s: f64,
    /// 0.4–1.0: scales the parameters below (already applied to them).
    pub strength: f32,
    /// Seed of the event's procedural textures.
    pub seed: u64,
    pub params: Params,
}

impl EventPlan {
    pub fn contains(&self, frame: u64) -> bool {
        (self.start_frame..self.end_frame).contains(&frame)
    }

    pub fn frames(&self) -> u64 {
        self.end_frame - self.start_frame
    }

    /// A frame that shows the event well (for stills).
    pub fn showcase_frame(&self, fps: f64) -> u64 {
        let after = |s: f64| self.start_frame + ((s * fps) as u64).min(self.frames().saturating_sub(1));
        match &self.params {
            Params::Explosion { .. } => after(0.7),
            Params::Freeze {} | Params::Blackout { .. } | Params::Greenout { .. } => after(0.5),
            Params::Vehicle { cross_s, .. } | Params::Object { cross_s, .. } | Params::Sprite { cross_s, .. } => {
                after(*cross_s as f64 * 0.45)
            }
            _ => self.start_frame + self.frames() * 2 / 3,
        }
    }
}

/// Screen edge (hand covering the lens comes from one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    Left,
    Right,
    Top,
    Bottom,
}

/// Variant parameters. Positions and sizes are fractions of the output frame
/// (x of width, y and sizes of height unless noted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Params {
    /// Flash with radial falloff, optional fireball, smoke plume, shake.
    Explosion {
        x: f32,
        y: f32,
        radius: f32,
        flash: f32,
        fireball: f32,
        smoke_tone: f32,
        smoke_opacity: f32,
        shake_px: f32,
    },
    /// Flames rising from a base line at (x, y), glow on the surroundings, smoke column.
    Fire { x: f32, y: f32, width: f32, height: f32, growth_s: f32, glow: f32, smoke_opacity: f32, wind: f32 },
    /// Something (hand, cloth) slides over the lens from `edge`.
    Cover { edge: Edge, coverage: f32, tone: [f32; 3], slide_s: f32 },
    /// Paint blotches accumulate on the lens.
    Spray { colour: [f32; 3], splats: u32, spray_s: f32, opacity: f32 },
    /// Progressive loss of focus up to `blur_px` (output pixels).
    Defocus { blur_px: f32, ramp_s: f32 },
    /// The camera swings to another view: centre (x, y) of the source, zoom, roll.
    TurnedAway { x: f32, y: f32, zoom: f32, rotate_deg: f32, pan_s: f32, exposure: f32 },
    /// Repeats the last good frame.
    Freeze {},
    /// Signal loss to (near) black.
    Blackout { level: f32 },
    /// Decoder output of missing data: green; `partial` = share of frames only partly green.
    Greenout { partial: f32 },
    /// Macroblock smear, channel shifts, tearing, noise bursts.
    Corruption { intensity: f32 },
    /// Heavy noise burst.
    Snow { sigma: f32 },
    /// A car-like body crossing horizontally at ground line y, length in frame widths.
    Vehicle { y: f32, length: f32, colour: [f32; 3], direction: f32, passes: u32, cross_s: f32 },
    /// A dark irregular object thrown across on an arc.
    Object { y: f32, size: f32, tone: [f32; 3], direction: f32, passes: u32, cross_s: f32, arc: f32 },
    /// A patch of the footage itself (other time, other place) moving across fast.
    Sprite { y: f32, size: f32, src_x: f32, src_y: f32, src_t: f32, direction: f32, passes: u32, cross_s: f32 },
    /// The scene runs `speedup`× faster, with shake and/or local jitter.
    Panic { speedup: f32, shake_px: f32, jitter_px: f32 },
}

/// What the planner needs to know about a footage clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipInfo {
    pub file: String,
    pub native_size: [u32; 2],
    pub work_size: [u32; 2],
    pub fps: f64,
    pub duration_s: f64,
    /// Decoded frames in the whole clip.
    pub frames: u64,
}

/// Corpus-level planning settings.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub videos: usize,
    pub abnormal_fraction: f64,
    pub seconds: (f64, f64),
    pub event_seconds: (f64, f64),
    pub seed: u64,
    pub size: (u32, u32),
    pub fps: Option<f64>,
    pub span_range: (f64, f64),
    pub categories: Vec<Category>,
    /// Variants to draw from (names from [`Category::variants`]); a category with none
    /// listed uses all of its own.
    pub variants: Vec<String>,
    pub prefix: String,
}

/// Shortest usable source span for a clip to be used at all.
pub const MIN_CLIP_SPAN_S: f64 = 3.0;

/// Smallest crop, as a fraction of the largest window of the output aspect.
pub const MIN_CROP: f64 = 0.65;
/// Largest crop: leaves a margin so jitter and shake rarely sample outside the source.
pub const MAX_CROP: f64 = 0.95;

fn r3(x: f64) -> f32 {
    ((x * 1000.0).round() / 1000.0) as f32
}

fn r3d(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Output frame rate for a clip: the requested one, else the clip's own (rounded to an
/// integer when it is one, e.g. 1000000/66667 → 15).
pub fn output_fps(requested: Option<f64>, clip_fps: f64) -> f64 {
    let f = requested.unwrap_or(if clip_fps > 0.0 { clip_fps } else { 25.0 });
    if (f - f.round()).abs() < 0.01 {
        f.round()
    } else {
        (f * 1000.0).round() / 1000.0
    }
}

/// Usable source span of a clip under `span_range`, seconds.
pub fn usable_span(clip: &ClipInfo, span_range: (f64, f64)) -> (f64, f64) {
    (clip.duration_s * span_range.0, clip.duration_s * span_range.1)
}

/// Plans the whole corpus. Video `i` depends only on (seed, i, settings, clips).
pub fn plan_corpus(s: &PlanSettings, clips: &[ClipInfo]) -> Vec<VideoPlan> {
    let eligible: Vec<usize> = (0..clips.len())
        .filter(|&i| {
            let (a, b) = usable_span(&clips[i], s.span_range);
            b - a >= MIN_CLIP_SPAN_S
        })
        .collect();
    if eligible.is_empty() || s.videos == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = eligible
        .iter()
        .map(|&i| {
            let (a, b) = usable_span(&clips[i], s.span_range);
            b - a
        })
        .collect();

    // Balanced labels: exactly round(N·fraction) abnormal videos at shuffled positions,
    // categories dealt round-robin from a shuffled order.
    let mut rng = SplitMix64::new(derive(s.seed, 0xC0_4B05));
    let n_abn = ((s.videos as f64 * s.abnormal_fraction).round() as usize).min(s.videos);
    let mut abnormal = vec![false; s.videos];
    abnormal[..n_abn].iter_mut().for_each(|a| *a = true);
    rng.shuffle(&mut abnormal);
    let mut cats = s.categories.clone();
    rng.shuffle(&mut cats);
    let mut k = 0;
    let assigned: Vec<Option<Category>> = abnormal
        .iter()
        .map(|&a| {
            a.then(|| {
                let c = cats[k % cats.len()];
                k += 1;
                c
            })
        })
        .collect();

    (0..s.videos)
        .map(|i| {
            let mut rng = SplitMix64::new(derive(s.seed, i as u64 + 1));
            let clip = &clips[eligible[rng.weighted(&weights)]];
            plan_video(s, i, clip, assigned[i], &mut rng)
        })
        .collect()
}

fn plan_video(
    s: &PlanSettings,
    index: usize,
    clip: &ClipInfo,
    cat: Option<Category>,
    rng: &mut SplitMix64,
) -> VideoPlan {
    let (w, h) = s.size;
    let fps = output_fps(s.fps, clip.fps);
    let speed = r3d((rng.range(0.8f64.ln(), 1.25f64.ln())).exp());
    let (lo, hi) = usable_span(clip, s.span_range);
    // Keep one source frame of margin at the end for blending.
    let avail = (hi - lo - 1.0 / clip.fps.max(1.0)).max(0.5);
    let want_s = rng.range(s.seconds.0, s.seconds.1.max(s.seconds.0));
    let mut max_frames = ((avail / speed) * fps).floor() as u64;
    if cat == Some(Category::Panic) {
        // A speed-up consumes source faster: leave room for it.
        max_frames /= 2;
    }
    let frames = ((want_s * fps).round() as u64).min(max_frames).max(2);

    // Crop: a window of the output aspect, 65–95 % of the largest one, anywhere.
    let (sw, sh) = (clip.work_size[0] as f64, clip.work_size[1] as f64);
    let out_aspect = w as f64 / h as f64;
    let (max_w, max_h) = if sw / sh > out_aspect { (sh * out_aspect, sh) } else { (sw, sw / out_aspect) };
    let c = rng.range(MIN_CROP, MAX_CROP);
    let (cw, ch) = (max_w * c / sw, max_h * c / sh);
    let crop = Crop { x: r3(rng.range(0.0, 1.0 - cw)), y: r3(rng.range(0.0, 1.0 - ch)), w: r3(cw), h: r3(ch) };
    let flip = rng.chance(0.5);
    let g = |rng: &mut SplitMix64| r3(rng.range(0.92, 1.08));
    let colour = Colour {
        gain: [g(rng), g(rng), g(rng)],
        gamma: r3(rng.range(0.85, 1.18)),
        offset: r3(rng.range(-8.0, 8.0)),
        saturation: r3(rng.range(0.75, 1.2)),
    };
    let quantizer = 18 + rng.below(12) as u32;
    let benign = Benign {
        drift: r3(rng.range(0.015, 0.07)),
        drift_period_s: r3(rng.range(6.0, 30.0)),
        drift_phase: r3(rng.range(0.0, std::f64::consts::TAU)),
        white_balance_drift: r3(rng.range(0.0, 0.03)),
        grain: r3(rng.range(0.8, 3.0)),
        jitter_px: if rng.chance(0.4) { 0.0 } else { r3(rng.range(0.3, 1.5)) },
    };

    let seed = derive(s.seed, 0x5EED_0000 + index as u64);
    let mut events = match cat {
        Some(c) => plan_events(rng, c, frames, fps, s, clip, seed),
        None => Vec::new(),
    };
    // If a speed-up still overruns the span: tone it down to 2.5×, then shorten the event
    // (with half the span in reserve this always fits before the event vanishes).
    let needed = |events: &[EventPlan]| source_times(frames, fps, speed, events).last().copied().unwrap_or(0.0);
    while needed(&events) > avail {
        let Some(e) = events.iter_mut().find(|e| matches!(e.params, Params::Panic { .. }) && e.frames() > 1) else {
            break;
        };
        if let Params::Panic { speedup, .. } = &mut e.params {
            if *speedup > 2.5 {
                *speedup = r3((*speedup as f64 * 0.9).max(2.5));
                continue;
            }
        }
        e.end_frame -= ((fps / 4.0).ceil() as u64).min(e.frames() - 1);
        e.end_s = r3d(e.end_frame as f64 / fps);
    }
    let used = needed(&events);
    let start_s = r3d(rng.range(lo, (lo + avail - used).max(lo)));
    let name = format!("{}_{:04}_{}", s.prefix, index, cat.map_or("Normal", Category::name));
    VideoPlan {
        file: format!("videos/{name}.mp4"),
        name,
        category: cat.map_or("Normal", Category::name).to_owned(),
        seed,
        fps,
        frames,
        size: [w, h],
        base: BaseSpan {
            file: clip.file.clone(),
            start_s,
            end_s: r3d(start_s + used + 1.0 / clip.fps.max(1.0)),
            clip_duration_s: clip.duration_s,
            work_size: clip.work_size,
        },
        transforms: Transforms { crop, flip, speed, colour, quantizer },
        benign,
        events,
    }
}

/// Source time offset (seconds from the span start) of every output frame. Panic events
/// make the source run faster from their first frame on (abrupt onset, 0.2 s ramps
/// measured like the effects: at the end of each frame).
pub fn source_times(frames: u64, fps: f64, speed: f64, events: &[EventPlan]) -> Vec<f64> {
    let mut out = Vec::with_capacity(frames as usize);
    let mut t = 0.0;
    for i in 0..frames {
        if i > 0 {
            let mut rate = 1.0;
            for e in events {
                if let (true, Params::Panic { speedup, .. }) = (e.contains(i), &e.params) {
                    let on = (i - e.start_frame + 1) as f64 / fps;
                    let off = (e.end_frame - i) as f64 / fps;
                    rate += (*speedup as f64 - 1.0) * ramp(on / 0.2) * ramp(off / 0.2);
                }
            }
            t += speed * rate / fps;
        }
        out.push(t);
    }
    out
}

fn ramp(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// Plans the events of an abnormal video: one, or two in separate halves of a long video.
fn plan_events(
    rng: &mut SplitMix64,
    cat: Category,
    frames: u64,
    fps: f64,
    s: &PlanSettings,
    clip: &ClipInfo,
    video_seed: u64,
) -> Vec<EventPlan> {
    let dur_s = frames as f64 / fps;
    let two = dur_s >= 16.0 && rng.chance(0.25);
    let slots: Vec<(u64, u64)> = if two { vec![(0, frames / 2), (frames / 2, frames)] } else { vec![(0, frames)] };
    let n_slots = slots.len();
    slots
        .into_iter()
        .enumerate()
        .filter_map(|(k, (a, b))| {
            let last = k + 1 == n_slots;
            plan_event(rng, cat, a, b, frames, last, fps, s, clip, derive(video_seed, k as u64 + 100))
        })
        .collect()
}

/// Plans one event inside frames `[a, b)` of a video of `frames` frames.
#[allow(clippy::too_many_arguments)]
fn plan_event(
    rng: &mut SplitMix64,
    cat: Category,
    a: u64,
    b: u64,
    frames: u64,
    last_slot: bool,
    fps: f64,
    s: &PlanSettings,
    clip: &ClipInfo,
    seed: u64,
) -> Option<EventPlan> {
    let allowed: Vec<&'static str> =
        cat.variants().iter().copied().filter(|v| s.variants.iter().any(|x| x == v)).collect();
    let variant = if allowed.is_empty() { *rng.pick(cat.variants()) } else { *rng.pick(&allowed) };
    let strength = r3(rng.range(0.4, 1.0));
    let st = strength as f64;
    let (emin, emax) = s.event_seconds;
    let min_s = match cat {
        Category::Explosion => emin.max(1.5),
        _ => emin,
    };
    // At least ~1 s of normal context before the event (and a frame to freeze on).
    let lead = ((fps * 1.0).round() as u64).min((b - a) / 4).max(1);
    let room_s = (b.saturating_sub(a + lead)) as f64 / fps;
    if room_s < 0.5 {
        return None;
    }
    let mut dur_s = rng.range(min_s, emax.max(min_s)).min(room_s);
    let (w, h) = (s.size.0 as f64, s.size.1 as f64);
    let aspect = w / h;
    let dir = rng.sign();
    // Crossing objects: the event length is a whole number of fast passes.
    let mut passes_for = |rng: &mut SplitMix64, lo: f64, hi: f64| -> (u32, f32) {
        let cross = rng.range(lo, hi).min(room_s);
        let passes = ((dur_s / cross).round() as u32).clamp(1, 4);
        dur_s = (cross * passes as f64).min(room_s);
        (passes, r3(dur_s / passes as f64))
    };
    let params = match (cat, variant) {
        (Category::Explosion, v) => {
            let (flash, fireball, tone, opacity) = match v {
                "fireball" => (rng.range(0.6, 0.9), rng.range(0.7, 1.0), rng.range(0.12, 0.3), rng.range(0.75, 0.95)),
                "flash_smoke" => {
                    (rng.range(0.85, 1.0), rng.range(0.0, 0.3), rng.range(0.5, 0.75), rng.range(0.6, 0.85))
                }
                _ => (rng.range(0.4, 0.7), rng.range(0.2, 0.5), rng.range(0.3, 0.55), rng.range(0.8, 0.95)),
            };
            Params::Explosion {
                x: r3(rng.range(0.15, 0.85)),
                y: r3(rng.range(0.4, 0.85)),
                radius: r3(rng.range(0.14, 0.3) * (0.7 + 0.3 * st)),
                flash: r3(flash * st.sqrt()),
                fireball: r3(fireball),
                smoke_tone: r3(tone),
                smoke_opacity: r3(opacity * (0.75 + 0.25 * st)),
                shake_px: r3(rng.range(2.0, 7.0) * st * h / 240.0),
            }
        }
        (Category::Fire, v) => {
            let (width, glow, smoke) = match v {
                "flames" => (rng.range(0.1, 0.25), rng.range(0.3, 0.6), rng.range(0.25, 0.45)),
                "flames_smoke" => (rng.range(0.1, 0.22), rng.range(0.3, 0.6), rng.range(0.7, 0.95)),
                _ => (rng.range(0.05, 0.1), rng.range(0.8, 1.2), rng.range(0.45, 0.7)),
            };
            Params::Fire {
                x: r3(rng.range(0.15, 0.85)),
                y: r3(rng.range(0.55, 0.92)),
                width: r3(width * (0.7 + 0.3 * st)),
                height: r3(rng.range(1.2, 2.2)),
                growth_s: r3(rng.range(0.5, 2.0).min(dur_s * 0.5)),
                glow: r3(glow * (0.6 + 0.4 * st)),
                smoke_opacity: r3(smoke),
                wind: r3(rng.range(-0.6, 0.6)),
            }
        }
        (Category::CameraTamper, "cover") => {
            let tones = [[118.0, 78.0, 62.0], [86.0, 58.0, 46.0], [32.0, 32.0, 36.0], [120.0, 118.0, 112.0]];
            let tone = *rng.pick(&tones);
            let k = rng.rangef(0.85, 1.15);
            Params::Cover {
                edge: *rng.pick(&[Edge::Left, Edge::Right, Edge::Bottom, Edge::Bottom, Edge::Top]),
                coverage: r3(rng.range(0.7, 1.0) * (0.8 + 0.2 * st)),
                tone: tone.map(|c: f32| r3((c * k) as f64)),
                slide_s: r3(rng.range(0.3, 1.0).min(dur_s * 0.4)),
            }
        }
        (Category::CameraTamper, "spray") => {
            let colours = [
                [22.0, 22.0, 24.0],
                [150.0, 22.0, 24.0],
                [30.0, 50.0, 140.0],
                [228.0, 226.0, 220.0],
                [60.0, 110.0, 50.0],
            ];
            Params::Spray {
                colour: *rng.pick(&colours),
                splats: 6 + rng.below(14) as u32,
                spray_s: r3(rng.range(0.5, 2.5).min(dur_s * 0.7)),
                opacity: r3(rng.range(0.6, 0.95) * (0.7 + 0.3 * st)),
            }
        }
        (Category::CameraTamper, "defocus") => Params::Defocus {
            blur_px: r3(rng.range(0.02, 0.05) * w * (0.6 + 0.4 * st)),
            ramp_s: r3(rng.range(0.4, 2.0).min(dur_s * 0.5)),
        },
        (Category::CameraTamper, _) => {
            let zoom = rng.range(1.6, 2.6);
            // Target centre such that the zoomed window stays inside the source.
            let m = 0.5 / zoom + 0.08;
            Params::TurnedAway {
                x: r3(rng.range(m, 1.0 - m)),
                y: r3(rng.range(m, 1.0 - m)),
                zoom: r3(zoom),
                rotate_deg: r3(rng.sign() as f64 * rng.range(3.0, 14.0)),
                pan_s: r3(rng.range(0.4, 1.2).min(dur_s * 0.4)),
                exposure: r3(rng.range(0.8, 1.2)),
            }
        }
        (Category::VideoFault, "freeze") => Params::Freeze {},
        (Category::VideoFault, "blackout") => Params::Blackout { level: r3(rng.range(0.0, 14.0)) },
        (Category::VideoFault, "greenout") => Params::Greenout { partial: r3(rng.range(0.0, 0.6)) },
        (Category::VideoFault, "corruption") => Params::Corruption { intensity: r3(0.4 + 0.6 * st) },
        (Category::VideoFault, _) => Params::Snow { sigma: r3(rng.range(30.0, 70.0) * (0.6 + 0.4 * st)) },
        (Category::Intrusion, "vehicle") => {
            let (passes, cross_s) = passes_for(rng, 0.9, 2.2);
            let colours = [
                [225.0, 225.0, 222.0],
                [28.0, 28.0, 32.0],
                [150.0, 152.0, 156.0],
                [160.0, 28.0, 30.0],
                [30.0, 55.0, 125.0],
                [70.0, 72.0, 76.0],
            ];
            Params::Vehicle {
                y: r3(rng.range(0.5, 0.9)),
                length: r3(rng.range(0.22, 0.42) * (0.8 + 0.2 * st) * 4.0 / 3.0 / aspect),
                colour: *rng.pick(&colours),
                direction: dir,
                passes,
                cross_s,
            }
        }
        (Category::Intrusion, "object") => {
            let (passes, cross_s) = passes_for(rng, 1.0, 2.2);
            let tones = [[40.0, 36.0, 32.0], [80.0, 62.0, 45.0], [95.0, 95.0, 98.0], [20.0, 20.0, 22.0]];
            Params::Object {
                y: r3(rng.range(0.35, 0.8)),
                size: r3(rng.range(0.1, 0.2) * (0.7 + 0.3 * st)),
                tone: *rng.pick(&tones),
                direction: dir,
                passes,
                cross_s,
                arc: r3(rng.range(0.05, 0.3)),
            }
        }
        (Category::Intrusion, _) => {
            let (passes, cross_s) = passes_for(rng, 0.8, 2.0);
            // The patch comes from the same span range, so split corpora stay disjoint.
            let (lo, hi) = usable_span(clip, s.span_range);
            Params::Sprite {
                y: r3(rng.range(0.35, 0.85)),
                size: r3(rng.range(0.2, 0.35) * (0.8 + 0.2 * st)),
                src_x: r3(rng.range(0.2, 0.8)),
                src_y: r3(rng.range(0.2, 0.8)),
                src_t: r3(rng.range(lo, hi)),
                direction: dir,
                passes,
                cross_s,
            }
        }
        (Category::Panic, v) => {
            let speedup = r3(rng.range(3.0, 3.0 + 3.0 * st));
            let (shake, jitter) = match v {
                "rush" => (rng.range(0.8, 2.5), 0.0),
                "stampede" => (rng.range(0.5, 1.5), rng.range(1.5, 3.5)),
                _ => (rng.range(4.0, 9.0), 0.0),
            };
            Params::Panic { speedup, shake_px: r3(shake * h / 240.0), jitter_px: r3(jitter * h / 240.0) }
        }
    };
    let n = ((dur_s * fps).round() as u64).max(1);
    // Persistent events (fire still burning, camera still tampered) run to the end.
    let persistent =
        last_slot && b == frames && matches!(cat, Category::Fire | Category::CameraTamper) && rng.chance(0.35);
    let start = if persistent {
        b.saturating_sub(n).max(a + lead)
    } else {
        let hi = b.saturating_sub(n).max(a + lead);
        a + lead + rng.below(hi - (a + lead) + 1)
    };
    let end = (start + n).min(b);
    Some(EventPlan {
        category: cat,
        variant: variant.to_owned(),
        start_frame: start,
        end_frame: end,
        start_s: r3d(start as f64 / fps),
        end_s: r3d(end as f64 / fps),
        strength,
        seed,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(videos: usize) -> PlanSettings {
        PlanSettings {
            videos,
            abnormal_fraction: 0.5,
            seconds: (10.0, 30.0),
            event_seconds: (1.0, 10.0),
            seed: 7,
            size: (320, 240),
            fps: None,
            span_range: (0.0, 1.0),
            categories: Category::ALL.to_vec(),
            variants: Vec::new(),
            prefix: "synth".into(),
        }
    }

    fn clips() -> Vec<ClipInfo> {
        vec![
            ClipInfo {
                file: "a.avi".into(),
                native_size: [768, 576],
                work_size: [480, 360],
                fps: 10.0,
                duration_s: 79.5,
                frames: 795,
            },
            ClipInfo {
                file: "b.mp4".into(),
                native_size: [640, 480],
                work_size: [480, 360],
                fps: 25.0,
                duration_s: 8.7,
                frames: 217,
            },
        ]
    }

    #[test]
    fn plans_are_deterministic_balanced_and_inside_spans() {
        let s = settings(60);
        let a = plan_corpus(&s, &clips());
        assert_eq!(a, plan_corpus(&s, &clips()));
        assert_eq!(a.iter().filter(|v| !v.is_normal()).count(), 30);
        for c in Category::ALL {
            assert_eq!(a.iter().filter(|v| v.category == c.name()).count(), 5, "{c:?}");
        }
        for v in &a {
            assert!(v.base.start_s >= 0.0 && v.base.end_s <= v.base.clip_duration_s + 1e-3, "{v:?}");
            let mut prev_end = 0;
            for e in &v.events {
                assert!(e.start_frame >= prev_end.max(1) && e.end_frame <= v.frames && e.start_frame < e.end_frame);
                prev_end = e.end_frame;
            }
        }
    }

    #[test]
    fn speed_ups_fit_inside_short_spans() {
        let mut s = settings(40);
        s.abnormal_fraction = 1.0;
        s.categories = vec![Category::Panic];
        s.seconds = (20.0, 30.0);
        for v in plan_corpus(&s, &clips()) {
            let e = &v.events[0];
            assert!(e.frames() >= 1 && e.end_frame <= v.frames);
            let used = *source_times(v.frames, v.fps, v.transforms.speed, &v.events).last().unwrap();
            let (lo, hi) = usable_span(&clips().into_iter().find(|c| c.file == v.base.file).unwrap(), (0.0, 1.0));
            assert!(v.base.start_s >= lo && v.base.start_s + used <= hi, "{:?} uses {used}", v.base);
            if let Params::Panic { speedup, .. } = e.params {
                assert!((2.5..=6.0).contains(&speedup), "{speedup}");
            }
        }
    }

    #[test]
    fn span_range_confines_sources() {
        let mut s = settings(40);
        s.span_range = (0.7, 1.0);
        for v in plan_corpus(&s, &clips()) {
            let lo = v.base.clip_duration_s * 0.7;
            assert!(v.base.start_s >= lo - 1e-9 && v.base.end_s <= v.base.clip_duration_s + 1e-3, "{:?}", v.base);
            assert_eq!(v.base.file, "a.avi", "b.mp4 has only 2.6 s in that range");
        }
    }
}
