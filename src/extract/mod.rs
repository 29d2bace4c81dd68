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
use crate::features::pool::spawn_pool;
use crate::features::{FeatureError, IMAGE_SIDE};
use crate::runtime::channel::{bounded, ChannelConfig, WhenFull};
use crate::runtime::{run_stages, Cancel, StageSet};
use crate::segment::Segmenter;
use crate::source::{run_source, SourceConfig, SourceMsg};
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
pub fn extract(cfg: &PipelineConfig, inputs: &[Input], out_dir: &std::path::Path) -> Result<ExtractReport, ExtractError> {
    let t0 = Instant::now();
    std::fs::create_dir_all(out_dir).map_err(|e| ExtractError::OutDir { path: out_dir.into(), reason: e.to_string() })?;
    let cancel = Cancel::default();

    let (frames_tx, frames_rx) = bounded::<SourceMsg>("frames", &cfg.channels.frames);
    let (snips_tx, snips_rx) = bounded("snippets", &cfg.channels.snippets);
    let (feats_tx, feats_rx) = bounded("features", &cfg.channels.features);
    // Workers and sessions first: a missing model or GPU fails before decoding starts.
    let (workers, shared) = spawn_pool(&cfg.features, snips_rx, feats_tx)?;

    let mut stages = StageSet::default();
    // Sources: up to `max_streams` decoding at once, one thread each.
    let sources: Vec<SourceConfig> =
        inputs.iter().map(|i| SourceConfig { id: i.id.clone(), uri: i.uri.clone(), live: None }).collect();
    let max_streams = cfg.runtime.max_streams.get();
    let live_frames = ChannelConfig { when_full: WhenFull::DropOldest, ..cfg.channels.frames.clone() };
    let src_cancel = cancel.clone();
    stages.add("sources", move || {
        run_sources(sources, max_streams, frames_tx, &live_frames, &src_cancel);
        Ok(())
    });
    let mut segmenter = Segmenter::new(cfg.segmenter.clone(), cfg.features.needs());
    stages.add("segmenter", move || {
        let _span = tracing::info_span!("segmenter").entered();
        for msg in frames_rx.iter() {
            for out in segmenter.handle(msg) {
                let reliable = !matches!(out, crate::segment::SegmentMsg::Snippet(_));
                let sent = if reliable { snips_tx.send_reliable(out).is_ok() } else { snips_tx.send(out).is_ok() };
                if !sent {
                    return Err("feature stage closed its input".into());
                }
            }
        }
        Ok(())
    });
    stages.add("features", move || {
        let mut panicked = 0;
        for w in workers {
            panicked += w.join().is_err() as usize;
        }
        if panicked > 0 { Err(format!("{panicked} feature worker(s) panicked")) } else { Ok(()) }
    });
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
    Ok(ExtractReport { outcomes, listing_errors: vec![], cancelled: outcome.cancelled, seconds: t0.elapsed().as_secs_f64() })
}

fn print_progress(o: &StreamOutcome, done: usize, total: usize) {
    match o {
        StreamOutcome::Written { id, npy, segments, frames, .. } => {
            eprintln!("[{done}/{total}] {id}: {frames} frames → {segments} segments → {}", npy.display())
        }
        StreamOutcome::Failed { id, cause, .. } => eprintln!("[{done}/{total}] {id}: FAILED: {cause}"),
    }
}

/// Decodes sources with at most `max_streams` at once. Each source's last message is
/// its `End`, sent reliably whatever happened.
fn run_sources(
    sources: Vec<SourceConfig>,
    max_streams: usize,
    out: crate::runtime::channel::Tx<SourceMsg>,
    live_cfg: &ChannelConfig,
    cancel: &Cancel,
) {
    let (slot_tx, slot_rx) = crossbeam_channel::bounded::<()>(max_streams);
    std::thread::scope(|scope| {
        for src in sources {
            if cancel.is_cancelled() {
                let stream: Arc<str> = src.id.as_str().into();
                let err = crate::source::SourceError::Cancelled { input: src.uri.clone() };
                let _ = out.send_reliable(SourceMsg::End { stream, frames: 0, result: Err(err) });
                continue;
            }
            slot_tx.send(()).expect("slot channel open");
            let slot_rx = slot_rx.clone();
            // Live streams drop oldest frames when the pipeline falls behind (counted);
            // files block so no frame is lost.
            let tx = if src.is_live() { live_channel(&out, live_cfg) } else { out.clone() };
            let reliable = out.clone();
            scope.spawn(move || {
                let stream: Arc<str> = src.id.as_str().into();
                let _span = tracing::info_span!("source", stream = %stream).entered();
                let result = run_source(&src, &stream, (IMAGE_SIDE, IMAGE_SIDE), &tx, cancel.flag());
                let (frames, result) = match result {
                    Ok(n) => (n, Ok(())),
                    Err(e) => (0, Err(e)),
                };
                let _ = reliable.send_reliable(SourceMsg::End { stream, frames, result });
                let _ = slot_rx.recv();
            });
        }
    });
}

/// A sender onto the same channel but with the drop-oldest policy.
fn live_channel(out: &crate::runtime::channel::Tx<SourceMsg>, cfg: &ChannelConfig) -> crate::runtime::channel::Tx<SourceMsg> {
    out.with_policy(cfg.when_full)
}
