//! `refinevad batch` and `refinevad report`: resumable, shardable archive processing.
//!
//! `batch` lists its inputs (files, folders, globs, manifests), keeps those of its shard
//! (`--shard i/N`: a stable hash of each input's relative key), skips the ones its
//! done-ledger says are finished (same key, size and mtime — or content hash with
//! `--hash` — same pipeline and model, outputs present), and runs the rest through the
//! real pipeline (sources → segmenter → feature pool → MoTAR → CORE) with a final stage of
//! its own ([`writer`]) that writes each video's outputs atomically and then appends its
//! ledger line. `summary.json` and `report.html` are rebuilt from the ledger at the end.
pub mod ledger;
pub mod listing;
pub mod progress;
pub mod report;
pub mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::config::{ConfigError, PipelineConfig};
use crate::dataset::{Annotations, DatasetError};
use crate::events::{rfc3339_utc, Event, EventContext};
use crate::features::FeatureError;
use crate::runtime::channel::bounded;
use crate::runtime::front::{build_front, Front};
use crate::runtime::{run_stages, Cancel};
use crate::sinks::stream_path;
use crate::source::SourceConfig;
use crate::window::{check_checkpoint, spawn_scoring, ScoreMsg, StageError};
use ledger::{Entry, LedgerWriter, Status, STATE_DIR};
use listing::{BatchInput, Shard};
use report::{Located, RunMeta, SummaryTiming};
use writer::{FeatureOutput, OutputWriter, EVENTS, FEATURES, FEATURES_META, PLOT, SCORES};

/// The pipeline `batch` uses when none is given (if present).
pub const DEFAULT_PIPELINE: &str = "pipelines/batch.yaml";

/// Arguments of `refinevad batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// Videos, folders (searched recursively for video extensions), glob patterns (quote
    /// them: 'archive/**/*.mp4'), manifests (.txt/.csv/.list: one path per line, or a CSV
    /// with a `path` column; relative paths are relative to the manifest) or URIs.
    #[arg(required_unless_present = "manifest")]
    pub inputs: Vec<String>,
    /// Output folder: per video <id>.scores.csv, <id>.events.json, <id>.png mirroring the
    /// inputs' relative paths; summary.json, report.html; the ledger in .refinevad/.
    #[arg(long)]
    pub out: PathBuf,
    /// Pipeline file (stage settings, model, event rules). Default: pipelines/batch.yaml
    /// when it exists, else the built-in defaults.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// A manifest, whatever its extension (repeatable).
    #[arg(long)]
    pub manifest: Vec<PathBuf>,
    /// Videos in flight at once, sharing the stage pools (default: the pipeline's
    /// runtime.max_streams, 2 in pipelines/batch.yaml).
    #[arg(long, short = 'j')]
    pub jobs: Option<NonZeroUsize>,
    /// Process only shard i of N (0-based), e.g. --shard "$JOB_COMPLETION_INDEX/8". Inputs
    /// are assigned by a hash of their relative path, the same on every machine.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Also write each video's features: <id>.npy ([T, D] float32) + <id>.json, as
    /// `refinevad extract` does.
    #[arg(long)]
    pub features: bool,
    /// Temporal annotations (UCF-Crime, XD-Violence or CSV): adds the evaluation metrics to
    /// the summary and the report, and shades ground truth on the plots.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Recognise finished inputs by content (SHA-256 of each file, read on every run)
    /// instead of size + modification time: survives copies that change mtimes.
    #[arg(long)]
    pub hash: bool,
    /// Also redo inputs that failed in an earlier run (they are skipped by default).
    #[arg(long)]
    pub retry_failed: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `refinevad report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Output folders of batch runs (e.g. one per shard, or one folder shared by shards).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged summary.json and report.html (default: the first folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Temporal annotations: adds the evaluation metrics.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Model(#[from] StageError),
    #[error("annotations: {0}")]
    Annotations(#[from] DatasetError),
    #[error("pipeline stage failed: {0}")]
    Stage(String),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> BatchError {
    BatchError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// What the ledger says about a listed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Finished with the same input, pipeline and model; outputs present.
    Done,
    /// Failed before; skipped unless `--retry-failed`.
    Failed,
    /// Done, but the plot must be redrawn (annotations changed).
    Replot,
    /// To (re)do.
    Todo,
}

fn verdict(
    e: Option<&Entry>,
    input: &BatchInput,
    sha: Option<&str>,
    config_hash: &str,
    truth_hash: Option<&str>,
    want_features: bool,
    out: &Path,
) -> Verdict {
    let Some(e) = e else { return Verdict::Todo };
    let same_input = e.size == input.size
        && match sha {
            Some(h) => e.sha256.as_deref() == Some(h),
            None => e.mtime_ns == input.mtime_ns,
        };
    // The source path may be spelt differently (`archive/` vs `./archive`): the key decides.
    if !same_input || e.config_hash != config_hash || e.id != input.id {
        return Verdict::Todo;
    }
    if e.status == Status::Failed {
        return Verdict::Failed;
    }
    let has_features = e.outputs.iter().any(|o| o.ends_with(FEATURES));
    if (want_features && !has_features) || !e.outputs.iter().all(|o| out.join(o).is_file()) {
        return Verdict::Todo;
    }
    if e.truth_hash.as_deref() != truth_hash {
        return Verdict::Replot;
    }
    Verdict::Done
}

/// Runs `refinevad batch`; returns the process exit code (0 all done, 1 some videos
/// failed, 2 invalid pipeline file, 130 interrupted).
pub fn run_cli(args: BatchArgs) -> Result<u8, BatchError> {
    let t0 = Instant::now();
    let loaded = match &args.pipeline {
        Some(p) => crate::config::load(p),
        None if Path::new(DEFAULT_PIPELINE).is_file() => crate::config::load(Path::new(DEFAULT_PIPELINE)),
        None => Ok(PipelineConfig::default_named("batch")),
    };
    let mut cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    if let Some(j) = args.jobs {
        cfg.runtime.max_streams = j;
    }
    if !cfg.sources.is_empty() || !cfg.sinks.is_empty() {
        eprintln!("warning: batch takes its inputs from the command line and writes its own outputs: the pipeline's sources and sinks are ignored");
    }
    let shard_suffix = args.shard.map(|s| s.suffix()).unwrap_or_default();
    let out = args.out.clone();
    std::fs::create_dir_all(out.join(STATE_DIR))
        .map_err(|e| io_err(&out, format!("cannot create the output folder: {e}")))?;

    // Inputs of this shard.
    let (all, listing_errors) = listing::list_inputs(&args.inputs, &args.manifest);
    let listing_errors: Vec<(String, String)> = listing_errors.into_iter().map(|e| (e.input, e.cause)).collect();
    if all.is_empty() && listing_errors.is_empty() {
        return Err(BatchError::Usage("no video found in the given inputs".into()));
    }
    let mine: Vec<BatchInput> = all.iter().filter(|i| args.shard.is_none_or(|s| s.owns(&i.key))).cloned().collect();
    let listing_errors = if args.shard.is_some_and(|s| s.index != 0) { Vec::new() } else { listing_errors };

    let annotations = args.annotations.as_deref().map(Annotations::load).transpose()?.map(Arc::new);
    let truth_hash = match &args.annotations {
        Some(p) => Some(file_sha256(p).map_err(|e| io_err(p, e))?),
        None => None,
    };
    let config_hash = config_hash(&cfg)?;
    let shas: HashMap<String, String> = if args.hash {
        mine.iter().filter_map(|i| file_sha256(Path::new(&i.source)).ok().map(|h| (i.key.clone(), h))).collect()
    } else {
        HashMap::new()
    };
    let meta = RunMeta {
        refinevad_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: cfg.name.clone(),
        model: crate::run::model_name(&cfg.model.checkpoint),
        config_hash: config_hash.clone(),
        snippet_frames: cfg.segmenter.snippet_frames.get(),
        event_threshold: cfg.events.threshold,
        shard: args.shard.map(|s| format!("{}/{}", s.index, s.count)),
    };
    let meta_path = out.join(STATE_DIR).join(format!("run{shard_suffix}.json"));
    crate::io::atomic::write_atomic(&meta_path, &serde_json::to_vec_pretty(&meta).expect("meta serialises"))
        .map_err(|e| io_err(&meta_path, e))?;

    // What is left to do.
    let (known, torn) = ledger::load(&ledger::ledger_files(&out)).map_err(|e| io_err(&out.join(STATE_DIR), e))?;
    if torn > 0 {
        tracing::warn!(lines = torn, "skipped unreadable ledger line(s) (a run was killed mid-write)");
    }
    let mut todo = Vec::new();
    let mut replot = Vec::new();
    let mut skipped = 0usize;
    for i in &mine {
        let sha = shas.get(&i.key).map(String::as_str);
        match verdict(known.get(&i.key), i, sha, &config_hash, truth_hash.as_deref(), args.features, &out) {
            Verdict::Done => skipped += 1,
            Verdict::Failed if !args.retry_failed => skipped += 1,
            Verdict::Replot => replot.push(i.clone()),
            Verdict::Failed | Verdict::Todo => todo.push(i.clone()),
        }
    }
    let ledger_path = ledger::ledger_path(&out, &shard_suffix);
    let mut ledger_w = LedgerWriter::open(&ledger_path).map_err(|e| io_err(&ledger_path, e))?;
    let progress = Arc::new(progress::Progress::new(mine.len(), skipped + replot.len(), args.quiet));
    progress.println(&format!(
        "batch: {} input(s){}, {} already done, {} to process with {} in flight → {}",
        mine.len(),
        meta.shard.as_deref().map(|s| format!(" in shard {s} (of {} listed)", all.len())).unwrap_or_default(),
        skipped + replot.len(),
        todo.len(),
        cfg.runtime.max_streams,
        out.display()
    ));
    for i in &replot {
        let mut e = known[&i.key].clone();
        redraw_plot(&out, &e, annotations.as_deref()).map_err(|err| io_err(&out, err))?;
        e.truth_hash = truth_hash.clone();
        ledger_w.append(&e).map_err(|err| io_err(&ledger_path, err))?;
    }
    clean_stale_temp_files(&out, &todo, &shard_suffix);

    let mut cancelled = false;
    if !todo.is_empty() {
        let writer = OutputWriter {
            out: out.clone(),
            events: cfg.events.clone(),
            ctx: EventContext { pipeline: cfg.name.clone(), model: meta.model.clone(), ..Default::default() },
            annotations: annotations.clone(),
            truth_hash: truth_hash.clone(),
            config_hash: config_hash.clone(),
            snippet_frames: cfg.segmenter.snippet_frames.get(),
            inputs: todo.iter().map(|i| (i.id.clone(), (i.clone(), shas.get(&i.key).cloned()))).collect(),
            features: None,
            ledger: ledger_w,
            progress: progress.clone(),
        };
        cancelled = run_todo(&cfg, &todo, writer, args.features)?;
    } else {
        drop(ledger_w);
    }
    progress.finish();

    // Summary and report from the ledger.
    let (known, _) = ledger::load(&ledger::ledger_files(&out)).map_err(|e| io_err(&out.join(STATE_DIR), e))?;
    let mut rows = Vec::new();
    let mut pending = Vec::new();
    for i in &mine {
        let sha = shas.get(&i.key).map(String::as_str);
        match verdict(known.get(&i.key), i, sha, &config_hash, truth_hash.as_deref(), args.features, &out) {
            Verdict::Done | Verdict::Failed | Verdict::Replot => {
                rows.push(Located { dir: out.clone(), rel_dir: String::new(), entry: known[&i.key].clone() })
            }
            Verdict::Todo => pending.push(i.key.clone()),
        }
    }
    let (video_s, wall_s) = progress.totals();
    let timing = SummaryTiming {
        generated: rfc3339_utc(SystemTime::now()),
        run_wall_s: Some(round3(t0.elapsed().as_secs_f64())),
        processed_video_s: Some(round3(video_s)),
        video_hours_per_wall_hour: (wall_s > 0.0).then(|| round3(video_s / wall_s)),
    };
    let (summary, rows) = report::build(&meta, rows, &listing_errors, pending, annotations.as_deref(), timing);
    let summary_path = out.join(format!("summary{shard_suffix}.json"));
    let report_path = out.join(format!("report{shard_suffix}.html"));
    report::write_summary(&summary_path, &summary).map_err(|e| io_err(&summary_path, e))?;
    crate::io::atomic::write_atomic(&report_path, report::render_html(&summary, &rows, &meta).as_bytes())
        .map_err(|e| io_err(&report_path, e))?;

    println!(
        "batch: {} input(s): {} scored, {} failed, {} pending ({} skipped as already done{}) in {:.1}s → {}",
        summary.inputs,
        summary.ok,
        summary.failed,
        summary.pending.len(),
        skipped + replot.len(),
        if replot.is_empty() { String::new() } else { format!(", {} plot(s) redrawn", replot.len()) },
        t0.elapsed().as_secs_f64(),
        report_path.display()
    );
    if let Some(m) = &summary.metrics {
        println!("metrics: {}", m.summary_line());
    }
    if cancelled {
        eprintln!("interrupted: finished videos are recorded; run the same command again to resume");
        return Ok(130);
    }
    if summary.failed > 0 {
        for f in &summary.failures {
            eprintln!("  failed: {}: {}", f.input, f.cause);
        }
        eprintln!("finished with {} failure(s)", summary.failed);
        return Ok(1);
    }
    Ok(0)
}

/// Runs the pipeline over `todo`. Returns whether it was interrupted.
fn run_todo(
    cfg: &PipelineConfig,
    todo: &[BatchInput],
    mut writer: OutputWriter,
    features: bool,
) -> Result<bool, BatchError> {
    let layout = cfg.features.layout();
    // A missing or mismatched model fails before any decoding starts.
    check_checkpoint(&cfg.model, &layout)?;
    let cancel = Cancel::default();
    let sources = todo
        .iter()
        .map(|i| SourceConfig {
            live: if i.source.contains("://") { None } else { Some(false) },
            ..SourceConfig::new(i.id.clone(), i.source.clone())
        })
        .collect();
    let Front { mut stages, features: feats_rx, models } = build_front(cfg, sources, &cancel)?;
    let scoring_in = if features {
        let store = writer::FeatureStore::default();
        writer.features = Some(FeatureOutput {
            store: store.clone(),
            layout: layout.clone(),
            image_frames: cfg.features.image.frames_per_snippet.get(),
            models: models.checksums.clone(),
        });
        let (tx, rx) = bounded("features-tap", &cfg.channels.features);
        stages.add("features-tap", move || writer::tap_features(feats_rx, tx, store));
        rx
    } else {
        feats_rx
    };
    let (score_tx, score_rx) = bounded::<ScoreMsg>("scores", &cfg.channels.features);
    let (workers, _categories) = spawn_scoring(&cfg.model, &layout, scoring_in, score_tx)?;
    stages.add("scoring", move || {
        let failures: Vec<String> = workers
            .into_iter()
            .filter_map(|w| match w.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("a scoring worker panicked".into()),
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    });
    stages.add("outputs", move || writer.run(score_rx));
    let outcome = run_stages(stages, cancel, Duration::from_secs(cfg.runtime.shutdown_timeout_s));
    if let Some((stage, e)) = outcome.failures.first() {
        return Err(BatchError::Stage(format!("{stage}: {e}")));
    }
    Ok(outcome.cancelled)
}

/// Everything that determines a video's outputs: the stage settings that shape features,
/// scores and events, and the model checkpoint's files. Worker counts, batch sizes and
/// devices are left out (they change speed, not results).
fn config_hash(cfg: &PipelineConfig) -> Result<String, BatchError> {
    let f = &cfg.features;
    let settings = serde_json::json!({
        "pipeline": cfg.name,
        "segmenter": cfg.segmenter,
        "features": { "image": f.image, "caption": f.caption, "motion": f.motion, "clip": f.clip },
        "window": cfg.model.window,
        "events": cfg.events,
    });
    let mut h = Sha256::new();
    h.update(b"refinevad-batch-v1\0");
    h.update(settings.to_string().as_bytes());
    let dir = &cfg.model.checkpoint;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, format!("cannot read the model checkpoint folder (model.checkpoint): {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for p in files {
        h.update(p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&p).map_err(|e| io_err(&p, e))?);
    }
    Ok(hex(&h.finalize()[..16]))
}

fn file_sha256(p: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Redraws a finished video's plot (new annotations) from its scores and events files.
fn redraw_plot(out: &Path, e: &Entry, ann: Option<&Annotations>) -> Result<(), String> {
    let scores = crate::eval::read_scores_file(&stream_path(out, &e.id, SCORES)).map_err(|e| e.to_string())?;
    let mut frames: Vec<f32> = Vec::new();
    for r in &scores.rows {
        frames.resize(r.frame_start as usize, 0.0);
        frames.resize((r.frame_end as usize).max(r.frame_start as usize), r.score);
    }
    let ev_path = stream_path(out, &e.id, EVENTS);
    let text = std::fs::read_to_string(&ev_path).map_err(|err| format!("{}: {err}", ev_path.display()))?;
    let events: Vec<Event> = serde_json::from_str(&text).map_err(|err| format!("{}: {err}", ev_path.display()))?;
    let spans: Vec<(u64, u64)> = events.iter().map(|ev| (ev.start.frame, ev.end.frame)).collect();
    let truth = writer::truth(ann, &e.id, &e.source);
    crate::eval::plot::plot_scores(&stream_path(out, &e.id, PLOT), &frames, &truth, &spans).map_err(|e| e.to_string())
}

/// Removes temporary files a killed run left next to the outputs of inputs about to be
/// redone (and next to this shard's summary and report). Only files this process would
/// write are touched, so shards sharing a folder do not disturb each other.
fn clean_stale_temp_files(out: &Path, todo: &[BatchInput], shard_suffix: &str) {
    let mut by_dir: BTreeMap<PathBuf, HashSet<String>> = BTreeMap::new();
    let mut add = |p: PathBuf| {
        if let (Some(dir), Some(name)) = (p.parent(), p.file_name()) {
            by_dir.entry(dir.to_path_buf()).or_default().insert(name.to_string_lossy().into_owned());
        }
    };
    for i in todo {
        for suffix in [SCORES, EVENTS, PLOT, FEATURES, FEATURES_META] {
            add(stream_path(out, &i.id, suffix));
        }
    }
    add(out.join(format!("summary{shard_suffix}.json")));
    add(out.join(format!("report{shard_suffix}.html")));
    add(out.join(STATE_DIR).join(format!("run{shard_suffix}.json")));
    for (dir, names) in by_dir {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for entry in rd.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            let stale = n
                .strip_prefix('.')
                .and_then(|rest| rest.rsplit_once(".tmp-"))
                .is_some_and(|(name, pid)| names.contains(name) && pid.bytes().all(|b| b.is_ascii_digit()));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Runs `refinevad report`: merges the ledgers of batch output folders into one
/// summary.json + report.html.
pub fn run_report_cli(args: ReportArgs) -> Result<(), BatchError> {
    let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
    std::fs::create_dir_all(&out).map_err(|e| io_err(&out, e))?;
    let annotations = args.annotations.as_deref().map(Annotations::load).transpose()?;
    let mut metas: Vec<RunMeta> = Vec::new();
    let mut merged: HashMap<String, Located> = HashMap::new();
    let mut duplicates = 0;
    for dir in &args.dirs {
        let files = ledger::ledger_files(dir);
        if files.is_empty() {
            return Err(io_err(dir, format!("no batch ledger found (expected {}/ledger*.jsonl)", STATE_DIR)));
        }
        for m in std::fs::read_dir(dir.join(STATE_DIR)).map_err(|e| io_err(dir, e))?.flatten() {
            let n = m.file_name().to_string_lossy().into_owned();
            if n.starts_with("run") && n.ends_with(".json") {
                if let Ok(meta) = std::fs::read(m.path())
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<RunMeta>(&b).map_err(|e| e.to_string()))
                {
                    metas.push(meta);
                }
            }
        }
        let (entries, _) = ledger::load(&files).map_err(|e| io_err(dir, e))?;
        let rel_dir = relative_dir(&out, dir);
        for (key, entry) in entries {
            let loc = Located { dir: dir.clone(), rel_dir: rel_dir.clone(), entry };
            match merged.get(&key) {
                Some(old) => {
                    duplicates += 1;
                    if old.entry.timing.finished <= loc.entry.timing.finished {
                        merged.insert(key, loc);
                    }
                }
                None => {
                    merged.insert(key, loc);
                }
            }
        }
    }
    if duplicates > 0 {
        eprintln!(
            "warning: {duplicates} input(s) appear in several folders; the most recent result of each is reported"
        );
    }
    metas.sort_by(|a, b| a.shard.cmp(&b.shard));
    let join = |f: &dyn Fn(&RunMeta) -> String| {
        let mut v: Vec<String> = metas.iter().map(f).collect();
        v.sort();
        v.dedup();
        v.join(", ")
    };
    let meta = RunMeta {
        refinevad_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: join(&|m| m.pipeline.clone()),
        model: join(&|m| m.model.clone()),
        config_hash: join(&|m| m.config_hash.clone()),
        snippet_frames: metas.first().map_or(16, |m| m.snippet_frames),
        event_threshold: metas.first().map_or(0.5, |m| m.event_threshold),
        shard: (args.dirs.len() > 1 || metas.len() > 1)
            .then(|| format!("merged from {} folder(s), {} run(s)", args.dirs.len(), metas.len())),
    };
    let timing = SummaryTiming { generated: rfc3339_utc(SystemTime::now()), ..Default::default() };
    let rows: Vec<Located> = merged.into_values().collect();
    let (summary, rows) = report::build(&meta, rows, &[], Vec::new(), annotations.as_ref(), timing);
    let summary_path = out.join("summary.json");
    let report_path = out.join("report.html");
    report::write_summary(&summary_path, &summary).map_err(|e| io_err(&summary_path, e))?;
    crate::io::atomic::write_atomic(&report_path, report::render_html(&summary, &rows, &meta).as_bytes())
        .map_err(|e| io_err(&report_path, e))?;
    println!(
        "report: {} input(s) from {} folder(s): {} scored, {} failed → {}",
        summary.inputs,
        args.dirs.len(),
        summary.ok,
        summary.failed,
        report_path.display()
    );
    if let Some(m) = &summary.metrics {
        println!("metrics: {}", m.summary_line());
    }
    Ok(())
}

/// `to` relative to `from` (both folders), `""` when the same; falls back to the absolute
/// path when they share no root.
fn relative_dir(from: &Path, to: &Path) -> String {
    let (Ok(a), Ok(b)) = (std::fs::canonicalize(from), std::fs::canonicalize(to)) else {
        return to.to_string_lossy().into_owned();
    };
    let (ac, bc): (Vec<_>, Vec<_>) = (a.components().collect(), b.components().collect());
    let common = ac.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); ac.len() - common];
    parts.extend(bc[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dirs() {
        let d = tempfile::tempdir().unwrap();
        for s in ["a/b", "c"] {
            std::fs::create_dir_all(d.path().join(s)).unwrap();
        }
        assert_eq!(relative_dir(&d.path().join("a/b"), &d.path().join("c")), "../../c");
        assert_eq!(relative_dir(&d.path().join("a"), &d.path().join("a/b")), "b");
        assert_eq!(relative_dir(&d.path().join("c"), &d.path().join("c")), "");
    }
}
