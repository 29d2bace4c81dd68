//! The feature worker pool: `workers_on(device)` threads per configured device, each
//! owning an [`Extractor`]. Workers share one input channel (MPMC) and batch snippets
//! across streams: a batch closes when it holds `batch` snippets or `max_wait_ms` has
//! passed since its first snippet. Segments may leave out of order across workers; the
//! consumer reorders by index (every segment carries it). Stream control (`Started`,
//! `Down`, `Up`, `End`) is forwarded at once and carries the number of snippets (and
//! outages) that precede it, which is all a consumer needs to put it back in stream order.
use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::extractor::{Extractor, SharedModels};
use super::{Device, FeatureError, FeatureMsg, FeaturesConfig, SegmentFeatures};
use crate::runtime::channel::{Rx, Tx};
use crate::segment::{SegmentMsg, Snippet};

/// Builds every worker's sessions up front — so a missing model or an unavailable GPU
/// stops the pipeline before any video is touched — then starts the workers.
pub fn spawn_pool(
    cfg: &FeaturesConfig,
    input: Rx<SegmentMsg>,
    output: Tx<FeatureMsg>,
) -> Result<(Vec<JoinHandle<()>>, SharedModels), FeatureError> {
    let shared = SharedModels::load(cfg)?;
    let extractors = build_extractors(cfg, &shared)?;
    let max_wait = Duration::from_millis(cfg.max_wait_ms);
    let handles = extractors
        .into_iter()
        .enumerate()
        .map(|(i, ex)| {
            let (input, output) = (input.clone(), output.clone());
            let max_batch = cfg.batch_on(ex.device());
            std::thread::Builder::new()
                .name(format!("features-{}-{i}", ex.worker()))
                .spawn(move || worker(ex, input, output, max_batch, max_wait))
                .expect("spawn feature worker")
        })
        .collect();
    Ok((handles, shared))
}

/// One extractor per worker (`workers_on` each device), in device order. CPU sessions
/// are built side by side (each is up to ≈ 0.07 s of graph optimisation on one core);
/// GPU sessions one after another, so that the first fills an engine cache (TensorRT)
/// that the others then read instead of all building and writing it at once.
pub fn build_extractors(cfg: &FeaturesConfig, shared: &SharedModels) -> Result<Vec<Extractor>, FeatureError> {
    let mut slots = std::collections::HashMap::new();
    let mut plan = Vec::new();
    for device in &cfg.devices {
        for _ in 0..cfg.workers_on(*device) {
            let slot = slots.entry(*device).or_insert(0usize);
            plan.push((*device, *slot));
            *slot += 1;
        }
    }
    std::thread::scope(|scope| {
        let cpu: Vec<_> = plan
            .iter()
            .map(|&(device, slot)| {
                (device == Device::Cpu).then(|| scope.spawn(move || Extractor::new(cfg, shared, device, slot)))
            })
            .collect();
        plan.iter()
            .zip(cpu)
            .map(|(&(device, slot), built)| match built {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => Extractor::new(cfg, shared, device, slot),
            })
            .collect()
    })
}

fn worker(mut ex: Extractor, input: Rx<SegmentMsg>, output: Tx<FeatureMsg>, max_batch: usize, max_wait: Duration) {
    let _span = tracing::info_span!("features", worker = %ex.worker()).entered();
    let mut batch: Vec<Snippet> = Vec::with_capacity(max_batch);
    while let Ok(first) = input.recv() {
        let mut open = forward_or_collect(first, &mut batch, &output);
        let deadline = Instant::now() + max_wait;
        while open && batch.len() < max_batch && !batch.is_empty() {
            match input.recv_deadline(deadline) {
                Ok(m) => open = forward_or_collect(m, &mut batch, &output),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        match ex.extract(&batch) {
            Ok(vectors) => {
                for (s, vector) in batch.drain(..).zip(vectors) {
                    let f = SegmentFeatures {
                        stream: s.stream,
                        index: s.index,
                        outages: s.outages,
                        frame_start: s.frame_start,
                        frame_end: s.frame_end,
                        pts_ns: s.pts_ns,
                        vector,
                    };
                    if output.send(FeatureMsg::Segment(f)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let streams: HashSet<Arc<str>> = batch.drain(..).map(|s| s.stream).collect();
                for stream in streams {
                    let _ = output.send_reliable(FeatureMsg::Failed { stream, error: e.to_string() });
                }
            }
        }
    }
}

/// Queues a snippet in the batch, or forwards a control message at once. Returns false
/// when downstream has gone.
fn forward_or_collect(msg: SegmentMsg, batch: &mut Vec<Snippet>, output: &Tx<FeatureMsg>) -> bool {
    let fwd = match msg {
        SegmentMsg::Snippet(s) => {
            batch.push(s);
            return true;
        }
        SegmentMsg::Started(info) => FeatureMsg::Started(info),
        SegmentMsg::Down(d) => FeatureMsg::Down(d),
        SegmentMsg::Up(u) => FeatureMsg::Up(u),
        SegmentMsg::End { stream, frames, snippets, outages, result } => {
            FeatureMsg::End { stream, frames, snippets, outages, result }
        }
    };
    output.send_reliable(fwd).is_ok()
}
