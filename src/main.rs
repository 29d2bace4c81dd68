//! The `refinevad` command line: a thin layer over the library.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use refinevad::config::{self, PipelineConfig};
use refinevad::extract::{self, StreamOutcome};

#[derive(Parser)]
#[command(name = "refinevad", version, about = "Video anomaly detection with RefineVAD (MoTAR + CORE)")]
struct Cli {
    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract per-segment RefineVAD input features from videos (.npy + .json per video).
    Extract(ExtractArgs),
    /// Run a pipeline file end to end: score every source, detect events, feed the sinks.
    Run {
        /// Pipeline file (YAML).
        file: PathBuf,
        /// Apply edits of the file's `sources` while running (add, remove, restart
        /// streams); the run then lasts until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Score a video archive: resumable, shardable, with per-video outputs and a report.
    Batch(refinevad::batch::BatchArgs),
    /// Merge the outputs of batch runs (e.g. shards) into one report.
    Report(refinevad::batch::ReportArgs),
    /// Webhook outbox operations (replay dead letters).
    Alerts(refinevad::sinks::webhook::AlertsArgs),
    /// Validate a pipeline file without running it (exit code 2 when invalid).
    Check {
        /// Pipeline file (YAML).
        file: PathBuf,
        /// Also check that the model files exist and match their checksums.
        #[arg(long)]
        models: bool,
    },
    /// Train the RefineVAD head on feature files with video-level labels.
    Train(refinevad::train::TrainArgs),
    /// Evaluate a trained head or score files with the field's protocol.
    Eval(refinevad::eval::EvalArgs),
    /// Build a corpus of real footage with injected, labelled anomalies.
    Synth(refinevad::synth::SynthArgs),
    /// Measure throughput against the machine's limits (decode-only, backbone-only, full pipeline).
    Bench(refinevad::bench::BenchArgs),
}

#[derive(clap::Args)]
struct ExtractArgs {
    /// Pipeline file with the stage settings (default: built-in defaults, which match
    /// pipelines/extract.yaml).
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Output folder: one <id>.npy ([T, D] float32) and <id>.json per input.
    #[arg(long)]
    out: PathBuf,
    /// Video files, folders (searched recursively) or URIs.
    #[arg(required = true)]
    inputs: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The head's matrices are small: candle is fastest single-threaded, and the feature
    // workers own the cores. Set before any thread exists (`train` sets it from --threads).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() && !matches!(cli.command, Command::Train(_)) {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    limit_malloc_arenas();
    // Commands that decode video start GStreamer now, beside config and model loading.
    if matches!(cli.command, Command::Run { .. } | Command::Extract(_) | Command::Batch(_)) {
        refinevad::source::warm_up();
    }
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,ort=error",
        1 => "info,ort=warn",
        _ => "debug,ort=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn load_pipeline(file: Option<&PathBuf>) -> Result<PipelineConfig, ExitCode> {
    match file {
        None => Ok(PipelineConfig::default_named("extract")),
        Some(f) => config::load(f).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }),
    }
}

fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Check { file, models } => {
            let cfg = match load_pipeline(Some(&file)) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            if models {
                if let Err(e) = refinevad::features::extractor::check_models(&cfg.features) {
                    eprintln!("error: {}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
                if !cfg.sources.is_empty() || !cfg.sinks.is_empty() {
                    if let Err(e) = refinevad::window::check_checkpoint(&cfg.model, &cfg.features.layout()) {
                        eprintln!("error: {}: model.checkpoint: {e}", file.display());
                        return Ok(ExitCode::from(2));
                    }
                }
            }
            let layout = cfg.features.layout();
            println!(
                "{}: ok — pipeline `{}`, {} source(s), snippets of {} frames, features {} (D={})",
                file.display(),
                cfg.name,
                cfg.sources.len(),
                cfg.segmenter.snippet_frames,
                layout.describe(),
                layout.width()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { file, watch } => {
            let cfg = match load_pipeline(Some(&file)) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let watched = watch.then_some(file.as_path());
            let report =
                refinevad::run::run_watched(&cfg, cfg.sources.clone(), watched).context(file.display().to_string())?;
            println!(
                "{}: {} stream(s) scored, {} segments, {} event(s) in {:.1}s",
                cfg.name, report.events.streams, report.events.segments, report.events.opened, report.seconds
            );
            for (stream, e) in &report.events.failed {
                eprintln!("stream {stream} FAILED: {e}");
            }
            for (sink, e) in &report.sink_failures {
                eprintln!("sink {sink} FAILED: {e}");
            }
            if report.cancelled {
                return Ok(ExitCode::from(130));
            }
            let failures = report.events.failed.len() + report.sink_failures.len();
            if failures > 0 {
                eprintln!("finished with {failures} failure(s)");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch(args) => Ok(ExitCode::from(refinevad::batch::run_cli(args)?)),
        Command::Report(args) => {
            refinevad::batch::run_report_cli(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts(args) => Ok(ExitCode::from(refinevad::sinks::webhook::run_alerts_cli(args)?)),
        Command::Extract(args) => {
            let cfg = match load_pipeline(args.pipeline.as_ref()) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let (inputs, listing_errors) = extract::expand(&args.inputs);
            for e in &listing_errors {
                eprintln!("error: {}: {}", e.input, e.cause);
            }
            if inputs.is_empty() {
                eprintln!("error: no video found in the given inputs");
                return Ok(ExitCode::from(1));
            }
            let mut report = extract::extract(&cfg, &inputs, &args.out).context("extract")?;
            report.listing_errors = listing_errors;
            let ok: Vec<_> = report
                .outcomes
                .iter()
                .filter_map(|o| match o {
                    StreamOutcome::Written { segments, .. } => Some(*segments),
                    _ => None,
                })
                .collect();
            let failures = report.failures();
            println!(
                "extracted {} of {} input(s): {} segments of D={} in {:.1}s → {}",
                ok.len(),
                inputs.len() + report.listing_errors.len(),
                ok.iter().sum::<usize>(),
                cfg.features.layout().width(),
                report.seconds,
                args.out.display()
            );
            for o in &report.outcomes {
                if let StreamOutcome::Failed { id, cause, .. } = o {
                    println!("  failed: {id}: {cause}");
                }
            }
            if report.cancelled {
                eprintln!("interrupted: finished outputs were kept");
                return Ok(ExitCode::from(130));
            }
            if failures > 0 {
                eprintln!("finished with {failures} failure(s)");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(args) => {
            refinevad::train::run_cli(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(args) => {
            refinevad::eval::run_cli(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            refinevad::bench::run_cli(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth(args) => {
            refinevad::synth::run_cli(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// glibc gives every thread that allocates its own arena (up to 8 per core), and frames,
/// snippets and tensors are allocated on one thread and freed on another, so freed memory
/// strands in many arenas and peak RSS grows with input length (+30 % from a 1- to a
/// 20-minute file). Two arenas keep it flat at no measured CPU cost (docs/performance.md).
/// `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called before any other thread exists; mallopt only tunes the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
