//! `refinevad bench`: throughput measured side by side in one run, as ratios against the
//! machine's own limits (DESIGN §7): GStreamer decode alone, the backbone alone, the
//! shared-CPU bound they imply, our source stage alone, and the full extract pipeline
//! (with its CPU seconds per stage); then peak memory of `extract` and `run` on a short
//! and a long input made by looping the video.
mod measure;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::config::PipelineConfig;
use crate::features::extractor::{Extractor, SharedModels};
use crate::features::pool::build_extractors;
use crate::features::{FeatureError, IMAGE_SIDE};
use crate::runtime::channel::{bounded, ChannelConfig};
use crate::segment::{SegmentMsg, Segmenter, Snippet};
use crate::source::{run_source, SourceConfig, SourceError, SourceMsg};
use measure::{cpu_seconds_self, run_child, run_child_marked, ChildUsage, Usage};

/// Arguments of `refinevad bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Video to measure on.
    #[arg(long, default_value = "data/samples/vtest.avi")]
    pub video: PathBuf,
    /// Also measure N concurrent copies of the video (streams in parallel).
    #[arg(long, default_value_t = 2)]
    pub copies: usize,
    /// Pipeline file with the stage settings (default: built-in defaults).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "out/bench.json")]
    pub json: PathBuf,
    /// Length of the long input of the memory measurement, in minutes (the video looped,
    /// re-encoded once to H.264 and cached in `--inputs`); 0 skips the measurement.
    #[arg(long, default_value_t = 20.0)]
    pub long_minutes: f64,
    /// Where the looped inputs are cached.
    #[arg(long, default_value = "out/bench-inputs")]
    pub inputs: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error("{what}: {reason}")]
    Run { what: String, reason: String },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// One measured configuration.
#[derive(Debug, Serialize, Clone)]
pub struct Measurement {
    pub name: String,
    pub streams: usize,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub frames: u64,
    pub snippets: u64,
    pub frames_per_s: f64,
    pub snippets_per_s: f64,
    /// Video seconds processed per wall second.
    pub realtime_factor: f64,
    pub peak_rss_mb: Option<f64>,
    /// CPU seconds per stage (thread group) of a child process: `gstreamer_decode`,
    /// `features_worker`, `onnxruntime_pool`, `segmenter`, `sources`, `main`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_cpu_s: Option<BTreeMap<String, f64>>,
    /// Start-up: seconds from starting the process to its first decoded frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame_s: Option<f64>,
}

/// Peak memory of one command on an input of a given length.
#[derive(Debug, Serialize, Clone)]
pub struct MemoryPoint {
    /// `extract` or `run` (the whole pipeline with the default head and a scores sink).
    pub command: String,
    pub input: String,
    pub minutes: f64,
    pub frames: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
    pub stage_cpu_s: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub video: String,
    pub cores: usize,
    pub frames: u64,
    pub fps: f64,
    pub measurements: Vec<Measurement>,
    /// cores / (decode CPU-s per snippet + inference CPU-s per snippet), per stream count.
    pub shared_cpu_bound_snippets_per_s: Vec<(usize, f64)>,
    pub ratios: Vec<(String, f64)>,
    /// Peak RSS on the short and the long input.
    pub memory: Vec<MemoryPoint>,
}

pub fn run_cli(args: BenchArgs) -> Result<BenchReport, BenchError> {
    let cfg = match &args.pipeline {
        Some(p) => crate::config::load(p)?,
        None => PipelineConfig::default_named("bench"),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let video = std::fs::canonicalize(&args.video)
        .map_err(|e| BenchError::Run { what: args.video.display().to_string(), reason: e.to_string() })?;
    eprintln!("bench: {} on {cores} cores", video.display());

    // Decode once through our stages to know the frame count and keep snippets for the
    // backbone-only run.
    let (frames, fps, snippets) = decode_snippets(&video, &cfg)?;
    let per_copy_snippets = snippets.len() as u64;
    let duration_s = if fps > 0.0 { frames as f64 / fps } else { 0.0 };
    let mut ms = Vec::new();
    let mut bounds = Vec::new();
    let mut ratios = Vec::new();
    let counts: Vec<usize> = if args.copies > 1 { vec![1, args.copies] } else { vec![1] };
    let shared = SharedModels::load(&cfg.features)?;
    let mut workers = build_extractors(&cfg.features, &shared)?;
    let tmp = tempfile_dir()?;
    for &n in &counts {
        let mk = |name: &str, u: Usage, rss: Option<f64>| {
            measurement(name, n, u, frames, per_copy_snippets, duration_s, rss)
        };
        let mk_child = |name: &str, c: ChildUsage, with_rss: bool| Measurement {
            stage_cpu_s: Some(c.stage_cpu_s),
            first_frame_s: c.marker_s,
            ..measurement(name, n, c.usage, frames, per_copy_snippets, duration_s, with_rss.then_some(c.peak_rss_mb))
        };
        let uri = gst::glib_uri(&video);
        let dec = decode_only(&uri, n, false)?;
        eprintln!("  decode-only ×{n}: {:.0} frames/s", frames as f64 * n as f64 / dec.wall_s);
        ms.push(mk("decode_only", dec, None));
        let dec_a = decode_only(&uri, n, true)?;
        ms.push(mk("decode_to_analysis_rgb", dec_a, None));
        let src = source_only(&video, n)?;
        eprintln!("  source stage ×{n}: {:.0} frames/s", frames as f64 * n as f64 / src.wall_s);
        ms.push(mk("source_stage", src, None));
        let bb = backbone_only(&mut workers, &snippets, cfg.features.batch_on(cfg.features.devices[0]), n)?;
        eprintln!("  backbone-only ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / bb.wall_s);
        ms.push(mk("backbone_only", bb, None));
        let full_child = full_pipeline(&video, n, args.pipeline.as_deref(), &tmp)?;
        let (full, first_frame) = (full_child.usage, full_child.marker_s);
        eprintln!("  full extract ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / full.wall_s);
        ms.push(mk_child("full_pipeline", full_child, true));

        let snip = (per_copy_snippets * n as u64) as f64;
        let bound = cores as f64 / (dec_a.cpu_s / snip + bb.cpu_s / snip);
        bounds.push((n, bound));
        let full_rate = snip / full.wall_s;
        ratios.push((format!("full/shared_cpu_bound x{n}"), full_rate / bound));
        // The same from the first decoded frame on: what start-up (process, libraries,
        // sessions) costs on an input this short, which the bound does not count for the
        // backbone (it times warm sessions).
        if let Some(first) = first_frame.filter(|f| *f < full.wall_s) {
            ratios
                .push((format!("full after first frame/shared_cpu_bound x{n}"), snip / (full.wall_s - first) / bound));
        }
        ratios.push((format!("full/decode_only x{n}"), full.wall_s.recip() / dec.wall_s.recip()));
        ratios.push((format!("full/backbone_only x{n}"), bb.wall_s / full.wall_s));
        match python_baseline(&video, n, &shared.dir) {
            Some(Ok(py)) => {
                let py = py.usage;
                eprintln!("  python baseline ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / py.wall_s);
                ms.push(mk("python_opencv_onnxruntime", py, None));
                ratios.push((format!("full/python x{n}"), py.wall_s / full.wall_s));
            }
            Some(Err(e)) => eprintln!("  python baseline ×{n}: failed: {e}"),
            None => {}
        }
    }
    let mut memory = Vec::new();
    if args.long_minutes > 0.0 {
        memory =
            memory_vs_length(&video, duration_s, args.long_minutes, &args, &shared.dir, &tmp).unwrap_or_else(|e| {
                eprintln!("  memory vs input length: failed: {e}");
                Vec::new()
            });
        for cmd in ["extract", "run"] {
            let pts: Vec<&MemoryPoint> = memory.iter().filter(|p| p.command == cmd).collect();
            if let [short, long] = pts.as_slice() {
                ratios.push((format!("{cmd} peak RSS long/short"), long.peak_rss_mb / short.peak_rss_mb));
            }
        }
        // Startup amortised: the long extract against the bound with its own decode cost.
        let long = memory.iter().find(|p| p.command == "extract" && p.minutes > 1.5);
        let dec = long.map(|l| decode_only(&gst::glib_uri(Path::new(&l.input)), 1, true));
        if let Some(Err(e)) = &dec {
            eprintln!("  decode of the long input: failed: {e}");
        }
        if let (Some(long), Some(Ok(dec))) = (long, dec) {
            let snip = long.frames.div_ceil(cfg.segmenter.snippet_frames.get() as u64) as f64;
            let bb_per_snip = ms
                .iter()
                .find(|m| m.name == "backbone_only" && m.streams == 1)
                .map_or(0.0, |m| m.cpu_s / m.snippets as f64);
            let bound = cores as f64 / (dec.cpu_s / snip + bb_per_snip);
            ms.push(Measurement {
                name: "decode_to_analysis_rgb_long".into(),
                streams: 1,
                wall_s: dec.wall_s,
                cpu_s: dec.cpu_s,
                frames: long.frames,
                snippets: snip as u64,
                frames_per_s: long.frames as f64 / dec.wall_s,
                snippets_per_s: snip / dec.wall_s,
                realtime_factor: long.minutes * 60.0 / dec.wall_s,
                peak_rss_mb: None,
                stage_cpu_s: None,
                first_frame_s: None,
            });
            bounds.push((0, bound));
            ratios.push(("long extract/shared_cpu_bound x1".into(), snip / long.wall_s / bound));
        }
    }
    let report = BenchReport {
        video: video.display().to_string(),
        cores,
        frames,
        fps,
        measurements: ms,
        shared_cpu_bound_snippets_per_s: bounds,
        ratios,
        memory,
    };
    print_report(&report);
    let text = serde_json::to_string_pretty(&report).expect("serialisable");
    crate::io::atomic::write_atomic(&args.json, text.as_bytes())
        .map_err(|e| BenchError::Run { what: args.json.display().to_string(), reason: e.to_string() })?;
    eprintln!("bench: results in {}", args.json.display());
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(report)
}

/// The plain Python script a user would write (benches/python_baseline.py), run with
/// `$REFINEVAD_BENCH_PYTHON` (scripts/bench.sh prepares it); `None` when not configured.
fn python_baseline(video: &Path, n: usize, models: &Path) -> Option<Result<ChildUsage, BenchError>> {
    let python = std::env::var("REFINEVAD_BENCH_PYTHON").ok()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python_baseline.py");
    let model = models.join("efficientnet_lite0.onnx");
    // One process per copy, all at once, as our pipeline decodes the copies concurrently.
    let args = vec![script.display().to_string(), video.display().to_string(), model.display().to_string(), "1".into()];
    Some(run_child((0..n).map(|_| (python.clone(), args.clone(), vec![])).collect()))
}

mod gst {
    pub fn glib_uri(p: &std::path::Path) -> String {
        gstreamer::glib::filename_to_uri(p, None).map(|u| u.to_string()).unwrap_or_default()
    }
}

fn tempfile_dir() -> Result<PathBuf, BenchError> {
    let d = std::env::temp_dir().join(format!("refinevad-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)
        .map_err(|e| BenchError::Run { what: d.display().to_string(), reason: e.to_string() })?;
    Ok(d)
}

fn measurement(
    name: &str,
    streams: usize,
    u: Usage,
    frames: u64,
    snippets: u64,
    duration_s: f64,
    rss: Option<f64>,
) -> Measurement {
    let n = streams as f64;
    Measurement {
        name: name.into(),
        streams,
        wall_s: u.wall_s,
        cpu_s: u.cpu_s,
        frames: frames * streams as u64,
        snippets: snippets * streams as u64,
        frames_per_s: frames as f64 * n / u.wall_s,
        snippets_per_s: snippets as f64 * n / u.wall_s,
        realtime_factor: duration_s * n / u.wall_s,
        peak_rss_mb: rss,
        stage_cpu_s: None,
        first_frame_s: None,
    }
}

fn decode_snippets(video: &Path, cfg: &PipelineConfig) -> Result<(u64, f64, Vec<Snippet>), BenchError> {
    let (tx, rx) = bounded::<SourceMsg>("bench", &ChannelConfig::default());
    let src = SourceConfig::new("bench", video.display().to_string());
    let stream: Arc<str> = "bench".into();
    let h =
        std::thread::spawn(move || run_source(&src, &stream, (IMAGE_SIDE, IMAGE_SIDE), &tx, &AtomicBool::new(false)));
    let mut seg = Segmenter::new(cfg.segmenter.clone(), cfg.features.needs());
    let mut snippets = Vec::new();
    let mut fps = 0.0;
    for m in rx.iter() {
        if let SourceMsg::Started(i) = &m {
            fps = i.fps;
        }
        snippets.extend(seg.handle(m).into_iter().filter_map(|s| match s {
            SegmentMsg::Snippet(s) => Some(s),
            _ => None,
        }));
    }
    let frames = h.join().expect("source thread")?;
    let stream: Arc<str> = "bench".into();
    snippets.extend(seg.handle(SourceMsg::End { stream, frames, result: Ok(()) }).into_iter().filter_map(
        |s| match s {
            SegmentMsg::Snippet(s) => Some(s),
            _ => None,
        },
    ));
    Ok((frames, fps, snippets))
}

/// `gst-launch-1.0 uridecodebin ! fakesink` (or with scaling + RGB conversion to the
/// analysis size) in `n` concurrent processes.
fn decode_only(uri: &str, n: usize, to_analysis: bool) -> Result<Usage, BenchError> {
    let mut args = vec!["-q".to_string(), "uridecodebin".into(), format!("uri={uri}"), "!".into()];
    if to_analysis {
        for a in [
            "videoscale",
            "!",
            "video/x-raw,width=224,height=224",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=RGB",
            "!",
        ] {
            args.push(a.into());
        }
    }
    args.extend(["fakesink".into(), "sync=false".into()]);
    let cmds = (0..n).map(|_| ("gst-launch-1.0".to_string(), args.clone(), vec![])).collect();
    run_child(cmds).map(|c| c.usage)
}

fn source_only(video: &Path, n: usize) -> Result<Usage, BenchError> {
    let cpu0 = cpu_seconds_self();
    let t0 = std::time::Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let src = SourceConfig::new(format!("s{i}"), video.display().to_string());
            std::thread::spawn(move || {
                let (tx, rx) = bounded::<SourceMsg>("bench", &ChannelConfig::default());
                let drain = std::thread::spawn(move || rx.iter().count());
                let stream: Arc<str> = src.id.as_str().into();
                let r = run_source(&src, &stream, (IMAGE_SIDE, IMAGE_SIDE), &tx, &AtomicBool::new(false));
                drop(tx);
                drain.join().ok();
                r
            })
        })
        .collect();
    for h in handles {
        h.join().expect("source thread")?;
    }
    Ok(Usage { wall_s: t0.elapsed().as_secs_f64(), cpu_s: cpu_seconds_self() - cpu0 })
}

/// The pipeline's feature workers (same devices, workers and threads) on pre-decoded
/// snippets, `n` copies, each worker taking the next batch as it frees up.
fn backbone_only(workers: &mut [Extractor], snippets: &[Snippet], batch: usize, n: usize) -> Result<Usage, BenchError> {
    for ex in workers.iter_mut() {
        ex.extract(&snippets[..batch.min(snippets.len())])?; // warm-up
    }
    let chunks: Vec<&[Snippet]> = (0..n).flat_map(|_| snippets.chunks(batch)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let cpu0 = cpu_seconds_self();
    let t0 = std::time::Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = workers
            .iter_mut()
            .map(|ex| {
                let (chunks, next) = (&chunks, &next);
                scope.spawn(move || {
                    while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        ex.extract(chunk)?;
                    }
                    Ok::<_, FeatureError>(())
                })
            })
            .collect();
        runs.into_iter().try_for_each(|r| r.join().expect("backbone worker panicked"))
    })?;
    Ok(Usage { wall_s: t0.elapsed().as_secs_f64(), cpu_s: cpu_seconds_self() - cpu0 })
}

/// The real `refinevad extract` on `n` copies (symlinks) of the video, as a child process
/// so its peak RSS is its own.
fn full_pipeline(video: &Path, n: usize, pipeline: Option<&Path>, tmp: &Path) -> Result<ChildUsage, BenchError> {
    let exe =
        std::env::current_exe().map_err(|e| BenchError::Run { what: "current_exe".into(), reason: e.to_string() })?;
    let inputs = tmp.join(format!("in{n}"));
    std::fs::create_dir_all(&inputs)
        .map_err(|e| BenchError::Run { what: inputs.display().to_string(), reason: e.to_string() })?;
    let ext = video.extension().and_then(|e| e.to_str()).unwrap_or("mp4");
    let mut args = vec!["extract".to_string(), "--out".into(), tmp.join(format!("out{n}")).display().to_string()];
    if let Some(p) = pipeline {
        args.extend(["--pipeline".into(), p.display().to_string()]);
    }
    for i in 0..n {
        let link = inputs.join(format!("copy{i}.{ext}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(video, &link)
            .map_err(|e| BenchError::Run { what: link.display().to_string(), reason: e.to_string() })?;
        args.push(link.display().to_string());
    }
    // All copies in flight at once.
    let env = vec![
        ("REFINEVAD__RUNTIME__MAX_STREAMS".to_string(), n.max(1).to_string()),
        // Only the typed events at info (the first frame's `stream started` marks the end
        // of start-up), whatever RUST_LOG the bench itself runs with.
        ("RUST_LOG".to_string(), "warn,ort=error,refinevad::telemetry::events=info".to_string()),
    ];
    run_child_marked(vec![(exe.display().to_string(), args, env)], Some("stream started"))
}

/// `video` looped `times` times: its compressed stream remuxed into Matroska (no
/// re-encoding, so decoding costs what it costs on the original); cached under `dir`.
fn looped_input(video: &Path, times: usize, dir: &Path) -> Result<PathBuf, BenchError> {
    let stem = video.file_stem().and_then(|s| s.to_str()).unwrap_or("video");
    let out = dir.join(format!("{stem}-loop{times}.mkv"));
    let err = |reason: String| BenchError::Run { what: out.display().to_string(), reason };
    if out.is_file() {
        return std::fs::canonicalize(&out).map_err(|e| err(e.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let part = dir.join(format!("{stem}-loop{times}.mkv.part"));
    let mut args: Vec<String> =
        "-q concat name=c ! queue ! matroskamux ! filesink".split_whitespace().map(String::from).collect();
    args.push(format!("location={}", part.display()));
    for _ in 0..times {
        args.extend(["filesrc".into(), format!("location={}", video.display()), "!".into()]);
        args.extend(["parsebin".into(), "!".into(), "c.".into()]);
    }
    run_child(vec![("gst-launch-1.0".into(), args, vec![])])?;
    std::fs::rename(&part, &out).map_err(|e| err(e.to_string()))?;
    std::fs::canonicalize(&out).map_err(|e| err(e.to_string()))
}

/// Peak RSS of `extract` and of `run` (default head, scores sink) on the video looped to
/// about one minute and to about `long_minutes` minutes.
fn memory_vs_length(
    video: &Path,
    duration_s: f64,
    long_minutes: f64,
    args: &BenchArgs,
    models: &Path,
    tmp: &Path,
) -> Result<Vec<MemoryPoint>, BenchError> {
    let err =
        |what: &Path, e: std::io::Error| BenchError::Run { what: what.display().to_string(), reason: e.to_string() };
    let exe = std::env::current_exe().map_err(|e| err(Path::new("current_exe"), e))?;
    let short_times = (60.0 / duration_s).round().max(1.0) as usize;
    let long_times = (long_minutes * 60.0 / duration_s).round().max(short_times as f64 + 1.0) as usize;
    let base = match &args.pipeline {
        Some(p) => crate::config::load(p)?,
        None => PipelineConfig::default_named("bench"),
    };
    let mut points = Vec::new();
    for times in [short_times, long_times] {
        let input = looped_input(video, times, &args.inputs)?;
        // extract
        let out = tmp.join(format!("mem-extract-{times}"));
        let mut a = vec!["extract".to_string(), "--out".into(), out.display().to_string()];
        if let Some(p) = &args.pipeline {
            a.extend(["--pipeline".into(), p.display().to_string()]);
        }
        a.push(input.display().to_string());
        let c = run_child(vec![(exe.display().to_string(), a, vec![])])?;
        let frames = output_frames(&out, &input).unwrap_or(0);
        eprintln!("  extract on {times}× the video: peak RSS {:.0} MB", c.peak_rss_mb);
        points.push(point("extract", &input, times as f64 * duration_s / 60.0, frames, c));
        // run: the whole pipeline with the default head
        let mut v = serde_json::to_value(&base).expect("serialisable");
        v["name"] = "bench-memory".into();
        v["sources"] = serde_json::json!([{ "id": "long", "uri": input.display().to_string() }]);
        v["model"]["checkpoint"] = models.join("refinevad-default").display().to_string().into();
        let scores = tmp.join(format!("mem-run-{times}"));
        v["sinks"] = serde_json::json!([{ "type": "scores_csv", "dir": scores.display().to_string() }]);
        let file = tmp.join(format!("mem-run-{times}.yaml"));
        std::fs::write(&file, serde_json::to_string_pretty(&v).expect("serialisable")).map_err(|e| err(&file, e))?;
        let c = run_child(vec![(exe.display().to_string(), vec!["run".into(), file.display().to_string()], vec![])])?;
        eprintln!("  run on {times}× the video: peak RSS {:.0} MB", c.peak_rss_mb);
        points.push(point("run", &input, times as f64 * duration_s / 60.0, frames, c));
    }
    Ok(points)
}

fn point(command: &str, input: &Path, minutes: f64, frames: u64, c: ChildUsage) -> MemoryPoint {
    MemoryPoint {
        command: command.into(),
        input: input.display().to_string(),
        minutes,
        frames,
        wall_s: c.usage.wall_s,
        cpu_s: c.usage.cpu_s,
        peak_rss_mb: c.peak_rss_mb,
        stage_cpu_s: c.stage_cpu_s,
    }
}

/// Frames decoded, from the JSON `extract` writes beside the features.
fn output_frames(out: &Path, input: &Path) -> Option<u64> {
    let stem = input.file_stem()?.to_str()?;
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(format!("{stem}.json"))).ok()?).ok()?;
    v["n_frames"].as_u64()
}

fn print_report(r: &BenchReport) {
    println!(
        "{:<24} {:>7} {:>8} {:>8} {:>10} {:>11} {:>8} {:>9}",
        "measurement", "streams", "wall s", "cpu s", "frames/s", "snippets/s", "RTF", "peak MB"
    );
    for m in &r.measurements {
        println!(
            "{:<24} {:>7} {:>8.2} {:>8.2} {:>10.0} {:>11.1} {:>8.1} {:>9}",
            m.name,
            m.streams,
            m.wall_s,
            m.cpu_s,
            m.frames_per_s,
            m.snippets_per_s,
            m.realtime_factor,
            m.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}"))
        );
    }
    for m in r.measurements.iter().filter(|m| m.stage_cpu_s.is_some()) {
        let stages = m.stage_cpu_s.iter().flatten().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>();
        println!("{} ×{} CPU s by stage: {}", m.name, m.streams, stages.join(", "));
        if let Some(f) = m.first_frame_s {
            println!("{} ×{} start-up (start to first decoded frame): {f:.3} s", m.name, m.streams);
        }
    }
    for p in &r.memory {
        let stages = p.stage_cpu_s.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>();
        println!(
            "{:<8} {:>5.1} min {:>7} frames: wall {:>6.1} s, CPU {:>6.1} s, peak RSS {:>5.0} MB ({})",
            p.command,
            p.minutes,
            p.frames,
            p.wall_s,
            p.cpu_s,
            p.peak_rss_mb,
            stages.join(", ")
        );
    }
    for (n, b) in &r.shared_cpu_bound_snippets_per_s {
        match n {
            0 => println!("shared-CPU bound, long input: {b:.1} snippets/s"),
            n => println!("shared-CPU bound ×{n}: {b:.1} snippets/s"),
        }
    }
    for (k, v) in &r.ratios {
        println!("{k}: {v:.2}");
    }
}
