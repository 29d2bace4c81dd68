//! `refinevad extract`: video → per-segment RefineVAD input features, through the real
//! dataflow (GStreamer sources → segmenter → feature pool → writer), one `.npy` + `.json`
//! per input.
pub mod inputs;
pub mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::PipelineConfig;
use crate::features::FeatureError;
use crate::runtime::front::{build_front, Front};
use crate::runtime::{run_stages, Cancel};
use crate::source::SourceConfig;
pub use inputs::{expand, Input, ListingError};
pub use writer::StreamOutcome;

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error("{}: cannot create output folder: {reason}", path.display())]
    OutDir { path: PathBuf, reason: String },
    #[error("pipeline stage failed: {0}")]
    Stage(String),
}

/// Summary of an extract run.
#[derive(Debug)]
pub struct ExtractReport {
    pub outcomes: Vec<StreamOutcome>,
    pub listing_errors: Vec<ListingError>,
    pub cancelled: bool,
    pub seconds: f64,
}

impl ExtractReport {
    pub fn failures(&self) -> usize {
        self.listing_errors.len() + self.outcomes.iter().filter(|o| matches!(o, StreamOutcome::Failed { .. })).count()
    }
}

/// Runs the extraction of `inputs` into `out_dir` with the pipeline's stage settings.
pub fn extract(
    cfg: &PipelineConfig,
    inputs: &[Input],
    out_dir: &std::path::Path,
) -> Result<ExtractReport, ExtractError> {
    let t0 = Instant::now();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| ExtractError::OutDir { path: out_dir.into(), reason: e.to_string() })?;
    let cancel = Cancel::default();
    let sources = inputs.iter().map(|i| SourceConfig::new(i.id.clone(), i.uri.clone())).collect();
    let Front { mut stages, features: feats_rx, models: shared } = build_front(cfg, sources, &cancel)?;
    let writer = writer::FeatureWriter {
        out_dir: out_dir.into(),
        layout: cfg.features.layout(),
        snippet_frames: cfg.segmenter.snippet_frames.get(),
        image_frames: cfg.features.image.frames_per_snippet.get(),
        models: shared.checksums.clone(),
        sources: inputs.iter().map(|i| (i.id.clone(), i.uri.clone())).collect::<HashMap<_, _>>(),
    };
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let outs = outcomes.clone();
    let total = inputs.len();
    stages.add("writer", move || {
        writer.run(feats_rx, |o| {
            let mut v = outs.lock().unwrap();
            v.push(o);
            print_progress(v.last().unwrap(), v.len(), total);
        });
        Ok(())
    });
    let outcome = run_stages(stages, cancel, Duration::from_secs(cfg.runtime.shutdown_timeout_s));
    if let Some((stage, e)) = outcome.failures.first() {
        return Err(ExtractError::Stage(format!("{stage}: {e}")));
    }
    let mut outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    // Report in input order.
    let order: HashMap<&str, usize> = inputs.iter().enumerate().map(|(i, x)| (x.id.as_str(), i)).collect();
    outcomes.sort_by_key(|o| {
        let id = match o {
            StreamOutcome::Written { id, .. } | StreamOutcome::Failed { id, .. } => id.as_str(),
        };
        order.get(id).copied().unwrap_or(usize::MAX)
    });
    Ok(ExtractReport {
        outcomes,
        listing_errors: vec![],
        cancelled: outcome.cancelled,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn print_progress(o: &StreamOutcome, done: usize, total: usize) {
    match o {
        StreamOutcome::Written { id, npy, segments, frames, .. } => {
            eprintln!("[{done}/{total}] {id}: {frames} frames → {segments} segments → {}", npy.display())
        }
        StreamOutcome::Failed { id, cause, .. } => eprintln!("[{done}/{total}] {id}: FAILED: {cause}"),
    }
}
