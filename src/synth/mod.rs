//! `refinevad synth`: a corpus of real footage with injected, labelled anomalies.
//!
//! Real clips are decoded once into memory; every video is a random span of one clip,
//! cropped, maybe mirrored, re-timed and colour-graded, with benign variation (lighting
//! drift, grain, jitter, compression strength) in every frame, and — for abnormal videos
//! — one or two procedurally rendered events of one category with frame-exact ground
//! truth. Everything is decided up front in a [`plan::VideoPlan`] from the seed; the
//! manifest stores the plans, so any video can be re-rendered (with or without its events)
//! from the manifest alone. Output: `videos/*.mp4` (H.264 via GStreamer),
//! `annotations.txt` (UCF-Crime format), `manifest.json`. See `docs/synth.md`.
pub mod effects;
pub mod encode;
pub mod footage;
pub mod image;
pub mod manifest;
pub mod plan;
pub mod png;
pub mod render;
pub mod rng;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub use manifest::{split_by_span, Manifest, SpanSplit};
pub use plan::{Category, VideoPlan};

/// Arguments of `refinevad synth`.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Output folder: videos/<name>.mp4, annotations.txt, manifest.json (and stills/).
    #[arg(long)]
    pub out: PathBuf,
    /// Footage file or folder (repeatable; folders are searched recursively).
    /// Default: data/samples/{vtest.avi,box.mp4,cup.mp4,tree.avi}, those present.
    #[arg(long)]
    pub footage: Vec<PathBuf>,
    /// Number of videos.
    #[arg(long, default_value_t = 20)]
    pub videos: usize,
    /// Share of videos with an injected anomaly (exactly round(N·fraction) of them).
    #[arg(long, default_value_t = 0.5)]
    pub abnormal_fraction: f64,
    /// Video length range in seconds, MIN..MAX (videos from short clips may be shorter).
    #[arg(long, value_parser = parse_range, default_value = "10..30")]
    pub seconds: (f64, f64),
    /// Overrides the minimum of --seconds.
    #[arg(long)]
    pub min_seconds: Option<f64>,
    /// Overrides the maximum of --seconds.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Event length range in seconds, MIN..MAX (clipped to the video).
    #[arg(long, value_parser = parse_range, default_value = "1..10")]
    pub event_seconds: (f64, f64),
    /// Seed: the same seed and arguments give the same corpus.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output frame size WxH (keep the footage's aspect, e.g. 320x240 or 384x288 for 4:3).
    #[arg(long, value_parser = parse_size, default_value = "320x240")]
    pub size: (u32, u32),
    /// Output frame rate; default: each clip's own (vtest 10, tree 15, box/cup 25).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Part of every clip to draw from, as fractions of its duration A..B. Two runs with
    /// 0..0.7 and 0.7..1 give train and test corpora with disjoint source footage.
    #[arg(long, value_parser = parse_range, default_value = "0..1")]
    pub span_range: (f64, f64),
    /// Categories to inject (comma-separated); default all six.
    #[arg(long, value_delimiter = ',')]
    pub categories: Vec<String>,
    /// Restrict variants (comma-separated, e.g. `spray,defocus`); categories with no
    /// listed variant use all of theirs. See docs/synth.md for the names.
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Video name prefix (`<prefix>_<index>_<Category|Normal>`).
    #[arg(long, default_value = "synth")]
    pub prefix: String,
    /// Also write one PNG per video (an event frame, or the middle frame) into stills/.
    #[arg(long)]
    pub stills: bool,
    /// Videos rendered in parallel (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// What a synth run produced.
#[derive(Debug, Clone)]
pub struct SynthReport {
    pub out: PathBuf,
    pub manifest: PathBuf,
    pub annotations: PathBuf,
    pub videos: usize,
    pub abnormal: usize,
    pub frames: u64,
    pub seconds_of_video: f64,
    pub wall_s: f64,
}

impl SynthReport {
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.wall_s.max(1e-9)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("synth: {0}")]
    Args(String),
    #[error("synth: footage {file}: {detail}")]
    Footage { file: String, detail: String },
    #[error("synth: footage could not be decoded")]
    Decode {
        #[source]
        source: crate::source::SourceError,
    },
    #[error("synth: no usable footage: {0}")]
    NoFootage(String),
    #[error("synth: writing {}: {detail}", file.display())]
    Encode { file: PathBuf, detail: String },
    #[error("synth: {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("synth: {}: invalid manifest: {detail}", path.display())]
    Manifest { path: PathBuf, detail: String },
}

fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once("..").ok_or_else(|| format!("expected MIN..MAX, got {s:?}"))?;
    let p = |x: &str| x.trim().parse::<f64>().map_err(|_| format!("{x:?} is not a number"));
    let (a, b) = (p(a)?, p(b)?);
    if !(a.is_finite() && b.is_finite()) || a > b {
        return Err(format!("invalid range {s:?}"));
    }
    Ok((a, b))
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("expected WxH, got {s:?}"))?;
    let p = |x: &str| x.trim().parse::<u32>().map_err(|_| format!("{x:?} is not a size"));
    let (w, h) = (p(w)?, p(h)?);
    if w < 16 || h < 16 || w > 4096 || h > 4096 || w % 2 != 0 || h % 2 != 0 {
        return Err(format!("size {s:?}: width and height must be even and within 16..4096"));
    }
    Ok((w, h))
}

/// Settings after validation.
struct Run {
    settings: plan::PlanSettings,
    footage: Vec<String>,
    out: PathBuf,
    stills: bool,
    jobs: usize,
}

fn validate(args: &SynthArgs) -> Result<Run, SynthError> {
    let bad = |m: String| Err(SynthError::Args(m));
    let seconds = (args.min_seconds.unwrap_or(args.seconds.0), args.max_seconds.unwrap_or(args.seconds.1));
    if !(seconds.0 >= 2.0 && seconds.1 >= seconds.0) {
        return bad(format!("video length {}..{} s: need 2 ≤ MIN ≤ MAX", seconds.0, seconds.1));
    }
    if !(args.event_seconds.0 >= 0.5 && args.event_seconds.1 >= args.event_seconds.0) {
        return bad("event length: need 0.5 ≤ MIN ≤ MAX".into());
    }
    if !(0.0..=1.0).contains(&args.abnormal_fraction) {
        return bad("--abnormal-fraction must be within 0..1".into());
    }
    let (a, b) = args.span_range;
    if !(0.0 <= a && a < b && b <= 1.0) {
        return bad(format!("--span-range {a}..{b}: need 0 ≤ A < B ≤ 1"));
    }
    if let Some(f) = args.fps {
        if !(1.0..=120.0).contains(&f) {
            return bad("--fps must be within 1..120".into());
        }
    }
    if args.prefix.is_empty() || !args.prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return bad("--prefix: letters, digits, '_' or '-' only".into());
    }
    let categories = if args.categories.is_empty() {
        Category::ALL.to_vec()
    } else {
        let mut v = Vec::new();
        for c in &args.categories {
            let cat = Category::parse(c).ok_or_else(|| {
                SynthError::Args(format!(
                    "unknown category {c:?} (known: {})",
                    Category::ALL.map(Category::name).join(", ")
                ))
            })?;
            if !v.contains(&cat) {
                v.push(cat);
            }
        }
        v
    };
    let known: Vec<&str> = Category::ALL.iter().flat_map(|c| c.variants().iter().copied()).collect();
    if let Some(v) = args.variants.iter().find(|v| !known.contains(&v.as_str())) {
        return bad(format!("unknown variant {v:?} (known: {})", known.join(", ")));
    }
    let footage: Vec<String> = if args.footage.is_empty() {
        footage::DEFAULT_FOOTAGE.iter().filter(|p| Path::new(p).is_file()).map(|p| p.to_string()).collect()
    } else {
        footage::expand_footage(&args.footage)?.into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
    };
    if footage.is_empty() {
        return Err(SynthError::NoFootage(
            "none of data/samples/{vtest.avi,box.mp4,cup.mp4,tree.avi} exists; pass --footage FILE_OR_DIR".into(),
        ));
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    Ok(Run {
        settings: plan::PlanSettings {
            videos: args.videos,
            abnormal_fraction: args.abnormal_fraction,
            seconds,
            event_seconds: args.event_seconds,
            seed: args.seed,
            size: args.size,
            fps: args.fps,
            span_range: args.span_range,
            categories,
            variants: args.variants.clone(),
            prefix: args.prefix.clone(),
        },
        footage,
        out: args.out.clone(),
        stills: args.stills,
        jobs,
    })
}

/// Runs `refinevad synth`.
pub fn run_cli(args: SynthArgs) -> Result<SynthReport, SynthError> {
    let run = validate(&args)?;
    let report = build(&run)?;
    eprintln!(
        "synth: {} videos ({} abnormal), {} frames ({:.0} s of video) in {:.1} s — {:.0} frames/s\n  {}\n  {}",
        report.videos,
        report.abnormal,
        report.frames,
        report.seconds_of_video,
        report.wall_s,
        report.frames_per_s(),
        report.annotations.display(),
        report.manifest.display()
    );
    Ok(report)
}

fn build(run: &Run) -> Result<SynthReport, SynthError> {
    let t0 = Instant::now();
    let s = &run.settings;
    let mut clips = Vec::new();
    for f in &run.footage {
        let info = footage::probe(f, s.size)?;
        let (a, b) = plan::usable_span(&info, s.span_range);
        if b - a < plan::MIN_CLIP_SPAN_S {
            eprintln!("synth: skipping {f}: only {:.1} s inside --span-range", b - a);
        }
        clips.push(info);
    }
    let plans = plan::plan_corpus(s, &clips);
    if plans.is_empty() && s.videos > 0 {
        return Err(SynthError::NoFootage(format!(
            "no clip has ≥ {} s of footage inside --span-range {}..{}",
            plan::MIN_CLIP_SPAN_S,
            s.span_range.0,
            s.span_range.1
        )));
    }
    let io = |path: &Path, e: std::io::Error| SynthError::Io { path: path.to_owned(), source: e };
    let videos_dir = run.out.join("videos");
    std::fs::create_dir_all(&videos_dir).map_err(|e| io(&videos_dir, e))?;
    if run.stills {
        let d = run.out.join("stills");
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }

    // Render clip by clip (one decoded clip in memory, the next one decoding meanwhile).
    let order: Vec<usize> = clips.iter().map(|c| c.file.clone()).enumerate().map(|(i, _)| i).collect();
    let groups: Vec<(usize, Vec<usize>)> = order
        .iter()
        .map(|&ci| (ci, (0..plans.len()).filter(|&v| plans[v].base.file == clips[ci].file).collect::<Vec<_>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let done = AtomicUsize::new(0);
    let total = plans.len();
    let decode_clip = |ci: usize| {
        let c = &clips[ci];
        let (a, b) = plan::usable_span(c, s.span_range);
        footage::decode(&c.file, (c.work_size[0], c.work_size[1]), Some((a, b))).map(|(clip, _)| clip)
    };
    std::thread::scope(|scope| -> Result<(), SynthError> {
        let mut pending = groups.first().map(|(ci, _)| {
            let ci = *ci;
            scope.spawn(move || decode_clip(ci))
        });
        for (g, (_, vids)) in groups.iter().enumerate() {
            let clip = pending.take().expect("a decode is pending").join().expect("decoder thread")?;
            if let Some((next_ci, _)) = groups.get(g + 1) {
                let ci = *next_ci;
                pending = Some(scope.spawn(move || decode_clip(ci)));
            }
            render_group(run, &plans, vids, &clip, &done, total)?;
        }
        Ok(())
    })?;

    let categories = s.categories.iter().map(|c| c.name().to_owned()).collect();
    let manifest = Manifest {
        version: manifest::MANIFEST_VERSION,
        generator: format!("refinevad synth {}", env!("CARGO_PKG_VERSION")),
        seed: s.seed,
        size: [s.size.0, s.size.1],
        fps: s.fps,
        span_range: [s.span_range.0, s.span_range.1],
        categories,
        clips,
        videos: plans,
    };
    let ann_path = run.out.join("annotations.txt");
    crate::io::atomic::write_atomic(&ann_path, manifest::annotations_text(&manifest.videos).as_bytes())
        .map_err(|e| io(&ann_path, e))?;
    let man_path = run.out.join("manifest.json");
    crate::io::atomic::write_atomic(&man_path, manifest.to_json().as_bytes()).map_err(|e| io(&man_path, e))?;
    let frames: u64 = manifest.videos.iter().map(|v| v.frames).sum();
    Ok(SynthReport {
        out: run.out.clone(),
        manifest: man_path,
        annotations: ann_path,
        videos: manifest.videos.len(),
        abnormal: manifest.videos.iter().filter(|v| !v.is_normal()).count(),
        frames,
        seconds_of_video: manifest.videos.iter().map(VideoPlan::duration_s).sum(),
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// Renders and encodes the videos `vids` of one clip with `run.jobs` workers.
fn render_group(
    run: &Run,
    plans: &[VideoPlan],
    vids: &[usize],
    clip: &footage::Clip,
    done: &AtomicUsize,
    total: usize,
) -> Result<(), SynthError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_err: Mutex<Option<SynthError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..run.jobs.min(vids.len()) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&v) = vids.get(k) else { return };
                let t = Instant::now();
                match write_video(run, &plans[v], clip) {
                    Ok(()) => {
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        eprintln!("{}", progress_line(n, total, &plans[v], t.elapsed().as_secs_f64()));
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_err.lock().unwrap().get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_err.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn progress_line(n: usize, total: usize, v: &VideoPlan, secs: f64) -> String {
    let base = Path::new(&v.base.file).file_name().map_or(v.base.file.clone(), |f| f.to_string_lossy().into_owned());
    let events: Vec<String> = v
        .events
        .iter()
        .map(|e| format!("{}/{} {}..{}", e.category.name(), e.variant, e.start_frame, e.end_frame))
        .collect();
    format!(
        "synth: [{n:>w$}/{total}] {}  {} {:.1}–{:.1}s  {} frames @{}fps  {}  ({:.2} s)",
        v.name,
        base,
        v.base.start_s,
        v.base.end_s,
        v.frames,
        v.fps,
        if events.is_empty() { "normal".to_owned() } else { events.join(", ") },
        secs,
        w = total.to_string().len()
    )
}

fn write_video(run: &Run, plan: &VideoPlan, clip: &footage::Clip) -> Result<(), SynthError> {
    let path = run.out.join(&plan.file);
    let mut enc = encode::Encoder::create(&path, plan.size[0], plan.size[1], plan.fps, plan.transforms.quantizer)?;
    let still_at = plan.events.first().map_or(plan.frames / 2, |e| e.showcase_frame(plan.fps));
    let mut r = render::Renderer::new(plan, clip, true);
    let mut i = 0u64;
    while let Some(frame) = r.next_frame() {
        if run.stills && i == still_at {
            let p = run.out.join("stills").join(format!("{}.png", plan.name));
            png::write_png(&p, plan.size[0] as usize, plan.size[1] as usize, &frame)?;
        }
        enc.push(&frame)?;
        i += 1;
    }
    enc.finish()?;
    Ok(())
}

/// Re-renders one video of a corpus from its manifest entry (decoding its clip), with or
/// without its events: the exact frames that were encoded, or their benign baseline.
pub fn rerender(plan: &VideoPlan, with_events: bool) -> Result<Vec<Vec<u8>>, SynthError> {
    let [w, h] = plan.base.work_size;
    let (clip, _) = footage::decode(&plan.base.file, (w, h), None)?;
    Ok(render::render_all(plan, &clip, with_events))
}
