//! `refinevad bench`: throughput measured side by side in one run, as ratios against the
//! machine's own limits (DESIGN §7): GStreamer decode alone, the backbone alone, the
//! shared-CPU bound they imply, our source stage alone, and the full extract pipeline.
mod measure;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::config::PipelineConfig;
use crate::features::extractor::{Extractor, SharedModels};
use crate::features::{FeatureError, IMAGE_SIDE};
use crate::runtime::channel::{bounded, ChannelConfig};
use crate::segment::{SegmentMsg, Segmenter, Snippet};
use crate::source::{run_source, SourceConfig, SourceError, SourceMsg};
use measure::{cpu_seconds_self, run_child, Usage};

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
    let mut ex = Extractor::new(&cfg.features, &shared, cfg.features.devices[0], 0)?;
    let tmp = tempfile_dir()?;
    for &n in &counts {
        let mk = |name: &str, u: Usage, rss: Option<f64>| {
            measurement(name, n, u, frames, per_copy_snippets, duration_s, rss)
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
        let bb = backbone_only(&mut ex, &snippets, cfg.features.batch.get(), n)?;
        eprintln!("  backbone-only ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / bb.wall_s);
        ms.push(mk("backbone_only", bb, None));
        let (full, rss) = full_pipeline(&video, n, args.pipeline.as_deref(), &tmp)?;
        eprintln!("  full extract ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / full.wall_s);
        ms.push(mk("full_pipeline", full, Some(rss)));

        let snip = (per_copy_snippets * n as u64) as f64;
        let bound = cores as f64 / (dec_a.cpu_s / snip + bb.cpu_s / snip);
        bounds.push((n, bound));
        let full_rate = snip / full.wall_s;
        ratios.push((format!("full/shared_cpu_bound x{n}"), full_rate / bound));
        ratios.push((format!("full/decode_only x{n}"), full.wall_s.recip() / dec.wall_s.recip()));
        ratios.push((format!("full/backbone_only x{n}"), bb.wall_s / full.wall_s));
        match python_baseline(&video, n, &shared.dir) {
            Some(Ok(py)) => {
                eprintln!("  python baseline ×{n}: {:.1} snippets/s", per_copy_snippets as f64 * n as f64 / py.wall_s);
                ms.push(mk("python_opencv_onnxruntime", py, None));
                ratios.push((format!("full/python x{n}"), py.wall_s / full.wall_s));
            }
            Some(Err(e)) => eprintln!("  python baseline ×{n}: failed: {e}"),
            None => {}
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
fn python_baseline(video: &Path, n: usize, models: &Path) -> Option<Result<Usage, BenchError>> {
    let python = std::env::var("REFINEVAD_BENCH_PYTHON").ok()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python_baseline.py");
    let model = models.join("efficientnet_lite0.onnx");
    // One process per copy, all at once, as our pipeline decodes the copies concurrently.
    let args = vec![script.display().to_string(), video.display().to_string(), model.display().to_string(), "1".into()];
    Some(run_child((0..n).map(|_| (python.clone(), args.clone(), vec![])).collect()).map(|(u, _)| u))
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
    run_child(cmds).map(|(u, _)| u)
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

fn backbone_only(ex: &mut Extractor, snippets: &[Snippet], batch: usize, n: usize) -> Result<Usage, BenchError> {
    ex.extract(&snippets[..batch.min(snippets.len())])?; // warm-up
    let cpu0 = cpu_seconds_self();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        for chunk in snippets.chunks(batch) {
            ex.extract(chunk)?;
        }
    }
    Ok(Usage { wall_s: t0.elapsed().as_secs_f64(), cpu_s: cpu_seconds_self() - cpu0 })
}

/// The real `refinevad extract` on `n` copies (symlinks) of the video, as a child process
/// so its peak RSS is its own.
fn full_pipeline(video: &Path, n: usize, pipeline: Option<&Path>, tmp: &Path) -> Result<(Usage, f64), BenchError> {
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
    let env = vec![("REFINEVAD__RUNTIME__MAX_STREAMS".to_string(), n.max(1).to_string())];
    run_child(vec![(exe.display().to_string(), args, env)])
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
    for (n, b) in &r.shared_cpu_bound_snippets_per_s {
        println!("shared-CPU bound ×{n}: {b:.1} snippets/s");
    }
    for (k, v) in &r.ratios {
        println!("{k}: {v:.2}");
    }
}
