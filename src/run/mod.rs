//! `refinevad run FILE`: a whole pipeline end to end — sources → segmenter → features →
//! MoTAR windowing → CORE + scoring → event detector → sinks — under one supervisor.
mod watch;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::PipelineConfig;
use crate::events::{run_events_notifying, EventContext, EventStats};
use crate::features::FeatureError;
use crate::runtime::channel::bounded;
use crate::runtime::front::{build_live_front, Front};
use crate::runtime::{run_stages, Cancel};
use crate::sinks::{SinkContext, SinkError, SinkSet};
use crate::source::SourceConfig;
use crate::telemetry::http::{OpsServer, OpsState};
use crate::window::{spawn_scoring, ScoreMsg, StageError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Model(#[from] StageError),
    #[error(transparent)]
    Sinks(#[from] SinkError),
    #[error("ops endpoint {addr}: {reason}")]
    Ops { addr: String, reason: String },
    #[error("pipeline stage failed: {0}")]
    Stage(String),
    #[error("the pipeline has no sources")]
    NoSources,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub events: EventStats,
    pub sink_failures: Vec<(String, String)>,
    pub cancelled: bool,
    pub seconds: f64,
}

/// Runs `cfg` with `sources` (normally `cfg.sources`).
pub fn run_pipeline(cfg: &PipelineConfig, sources: Vec<SourceConfig>) -> Result<RunReport, RunError> {
    run_watched(cfg, sources, None)
}

/// [`run_pipeline`] that, with `watch`, applies edits of that pipeline file's `sources`
/// while running (see `run::watch`); like `runtime.control`, the run then lasts until
/// Ctrl-C.
pub fn run_watched(
    cfg: &PipelineConfig,
    sources: Vec<SourceConfig>,
    watch: Option<&Path>,
) -> Result<RunReport, RunError> {
    let dynamic = cfg.runtime.control || watch.is_some();
    // With the control API or a watched file a run may start empty and get its sources later.
    if sources.is_empty() && !dynamic {
        return Err(RunError::NoSources);
    }
    let t0 = Instant::now();
    let cancel = Cancel::default();
    let ops = Arc::new(OpsState::default());
    let _server = match &cfg.runtime.ops_listen {
        Some(addr) => Some(
            OpsServer::start(addr, ops.clone())
                .map_err(|e| RunError::Ops { addr: addr.clone(), reason: e.to_string() })?,
        ),
        None => None,
    };
    let (Front { mut stages, features, models: _ }, live) = build_live_front(cfg, sources, &cancel, dynamic)?;
    let sink_cfgs = crate::clips::with_streams(&cfg.sinks, &live.table);
    let _watcher = match (watch, &live.control) {
        (Some(file), Some(control)) => {
            Some(watch::spawn(file.to_path_buf(), cfg.clone(), control.clone(), live.table.clone(), cancel.clone()))
        }
        _ => None,
    };
    let drained_table = live.table.clone();
    let _ = ops.streams.set(live.table);
    // The HTTP control API only when asked for; `--watch` alone does not open it.
    if let Some(control) = live.control.filter(|_| cfg.runtime.control) {
        let _ = ops.control.set(control);
    }
    let (score_tx, score_rx) = bounded::<ScoreMsg>("scores", &cfg.channels.features);
    let (workers, _categories) = spawn_scoring(&cfg.model, &cfg.features.layout(), features, score_tx)?;
    stages.add("scoring", move || {
        let mut failures = Vec::new();
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(_) => failures.push("a scoring worker panicked".into()),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    });
    let sinks = SinkSet::spawn(&sink_cfgs, &SinkContext { pipeline: cfg.name.clone(), ops: Some(ops.clone()) })?;
    let ctx = EventContext {
        pipeline: cfg.name.clone(),
        model: model_name(&cfg.model.checkpoint),
        clip_template: crate::clips::clip_template(&cfg.sinks),
    };
    let events_cfg = cfg.events.clone();
    let result: Arc<Mutex<Option<(EventStats, Vec<(String, String)>)>>> = Arc::default();
    let result2 = result.clone();
    stages.add("events+sinks", move || {
        // A stream's id may be started again (control API, `--watch`) only once its End
        // is through.
        let drained = |id: &str| drained_table.get(id).into_iter().for_each(|s| s.mark_drained());
        let stats = run_events_notifying(score_rx, &events_cfg, &ctx, &sinks, &drained);
        let failures =
            sinks.close().into_iter().filter_map(|(name, r)| r.err().map(|e| (name, e.to_string()))).collect();
        *result2.lock().unwrap() = Some((stats, failures));
        Ok(())
    });
    ops.ready.store(true, Ordering::Relaxed);
    let outcome = run_stages(stages, cancel, Duration::from_secs(cfg.runtime.shutdown_timeout_s));
    if let Some((stage, e)) = outcome.failures.first() {
        return Err(RunError::Stage(format!("{stage}: {e}")));
    }
    let (events, sink_failures) = result.lock().unwrap().take().unwrap_or_default();
    Ok(RunReport { events, sink_failures, cancelled: outcome.cancelled, seconds: t0.elapsed().as_secs_f64() })
}

/// The name events report for the model: the checkpoint folder's name.
pub fn model_name(checkpoint: &Path) -> String {
    checkpoint.file_name().map_or_else(|| checkpoint.display().to_string(), |n| n.to_string_lossy().into_owned())
}
