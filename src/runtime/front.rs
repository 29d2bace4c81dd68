//! The front half shared by `extract` and `run`: sources → segmenter → feature pool.
//! It returns the stages to supervise and the channel of segment features.
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::channel::{bounded, Rx, Tx};
use super::{Cancel, StageSet};
use crate::config::PipelineConfig;
use crate::features::extractor::SharedModels;
use crate::features::pool::spawn_pool;
use crate::features::{FeatureError, FeatureMsg, IMAGE_SIDE};
use crate::segment::{SegmentMsg, Segmenter};
use crate::source::{
    redact_uri, run_stream, warm_up, SourceConfig, SourceError, SourceMsg, SourceOut, StreamStatus, StreamTable,
};

use super::control::{Added, SourceControl};
use super::live_queue::LiveQueue;

pub struct Front {
    pub stages: StageSet,
    pub features: Rx<FeatureMsg>,
    pub models: SharedModels,
}

/// Run-time handles of the source stage.
pub struct Sources {
    /// Every stream's state (`/healthz`, `/streams`).
    pub table: Arc<StreamTable>,
    /// The control API, when `control` was asked for.
    pub control: Option<Arc<SourceControl>>,
}

/// Builds the front for `sources`. The feature workers (and their sessions) are created
/// here, so a missing model or unavailable device fails before any decoding starts.
pub fn build_front(cfg: &PipelineConfig, sources: Vec<SourceConfig>, cancel: &Cancel) -> Result<Front, FeatureError> {
    build_live_front(cfg, sources, cancel, false).map(|(front, _)| front)
}

/// [`build_front`] that also returns the stream table and, with `control`, accepts sources
/// added at run time (`POST /streams`). With `control` the source stage — and so the run
/// — keeps going after every stream has ended, until the run is cancelled (Ctrl-C);
/// without it the run ends when all sources have ended.
pub fn build_live_front(
    cfg: &PipelineConfig,
    sources: Vec<SourceConfig>,
    cancel: &Cancel,
    control: bool,
) -> Result<(Front, Sources), FeatureError> {
    let (frames_tx, frames_rx) = bounded::<SourceMsg>("frames", &cfg.channels.frames);
    let (snips_tx, snips_rx) = bounded("snippets", &cfg.channels.snippets);
    let (feats_tx, feats_rx) = bounded("features", &cfg.channels.features);
    // Model sessions take ≈ 0.15 s of one core; GStreamer's start-up runs beside them.
    warm_up();
    let (workers, models) = spawn_pool(&cfg.features, snips_rx, feats_tx)?;

    let mut stages = StageSet::default();
    let max_streams = cfg.runtime.max_streams.get();
    let live_capacity = cfg.channels.frames.capacity.get();
    let src_cancel = cancel.clone();
    let table = Arc::new(StreamTable::default());
    let initial: Vec<Added> = sources
        .into_iter()
        .map(|cfg| {
            let status = StreamStatus::new(&cfg.id, redact_uri(&cfg.uri), cfg.is_live());
            Added { cfg, status }
        })
        .collect();
    for a in &initial {
        table.insert(a.status.clone());
        table.remember(&a.cfg);
    }
    let (added_tx, added_rx) = crossbeam_channel::unbounded();
    let control = control.then(|| Arc::new(SourceControl::new(table.clone(), added_tx, max_streams)));
    let added_rx = control.is_some().then_some(added_rx);
    stages.add("sources", move || {
        run_sources(initial, added_rx, max_streams, frames_tx, live_capacity, &src_cancel);
        Ok(())
    });
    let mut segmenter = Segmenter::new(cfg.segmenter.clone(), cfg.features.needs());
    stages.add("segmenter", move || {
        let _span = tracing::info_span!("segmenter").entered();
        for msg in frames_rx.iter() {
            for out in segmenter.handle(msg) {
                // Snippets follow the channel's policy; stream control never drops.
                let sent = match out {
                    SegmentMsg::Snippet(_) => snips_tx.send(out).is_ok(),
                    _ => snips_tx.send_reliable(out).is_ok(),
                };
                if !sent {
                    return Err("feature stage closed its input".into());
                }
            }
        }
        Ok(())
    });
    stages.add("features", move || {
        let panicked = workers.into_iter().map(|w| w.join().is_err() as usize).sum::<usize>();
        if panicked > 0 {
            Err(format!("{panicked} feature worker(s) panicked"))
        } else {
            Ok(())
        }
    });
    Ok((Front { stages, features: feats_rx, models }, Sources { table, control }))
}

/// Decodes sources with at most `max_streams` at once. Each source's last message is
/// its `End`, sent reliably whatever happened. With `added`, sources arriving on it are
/// started too, and the stage returns only when the run is cancelled.
fn run_sources(
    initial: Vec<Added>,
    added: Option<Receiver<Added>>,
    max_streams: usize,
    out: Tx<SourceMsg>,
    live_capacity: usize,
    cancel: &Cancel,
) {
    let (slot_tx, slot_rx) = crossbeam_channel::bounded::<()>(max_streams);
    std::thread::scope(|scope| {
        // `slotted`: the caller already holds a slot for it.
        let spawn = |src: Added, slotted: bool| {
            let (slot_tx, slot_rx, out) = (slot_tx.clone(), slot_rx.clone(), out.clone());
            scope.spawn(move || {
                let Added { cfg, status } = src;
                let stream: Arc<str> = cfg.id.as_str().into();
                let _span = tracing::info_span!("source", stream = %stream).entered();
                if !slotted && !acquire(&slot_tx, cancel, &status) {
                    end_unstarted(&cfg, &status, stream, &out);
                    return;
                }
                let size = (IMAGE_SIDE, IMAGE_SIDE);
                if cfg.is_live() {
                    // Live streams drop their own oldest frames when the pipeline falls
                    // behind (counted); control messages and other streams are untouched.
                    let queue = Arc::new(LiveQueue::new(live_capacity, out.name()));
                    let forwarder = {
                        let (queue, out) = (queue.clone(), out.clone());
                        std::thread::spawn(move || {
                            while let Some(m) = queue.pop() {
                                if out.send_reliable(m).is_err() {
                                    queue.close();
                                }
                            }
                        })
                    };
                    let (frames, result) = run_stream(&cfg, &stream, size, &*queue, cancel.flag(), &status);
                    queue.control(SourceMsg::End { stream, frames, result });
                    queue.finish();
                    let _ = forwarder.join();
                } else {
                    // Files block so no frame is lost.
                    let (frames, result) = run_stream(&cfg, &stream, size, &out, cancel.flag(), &status);
                    let _ = out.send_reliable(SourceMsg::End { stream, frames, result });
                }
                let _ = slot_rx.recv();
            });
        };
        // Pipeline-file sources start in order, at most `max_streams` at once.
        for src in initial {
            if acquire(&slot_tx, cancel, &src.status) {
                spawn(src, true);
            } else {
                end_unstarted(&src.cfg, &src.status, src.cfg.id.as_str().into(), &out);
            }
        }
        if let Some(added) = added {
            while !cancel.is_cancelled() {
                if let Ok(src) = added.recv_timeout(Duration::from_millis(100)) {
                    tracing::info!(stream = src.cfg.id, uri = src.status.uri, "stream added");
                    spawn(src, false);
                }
            }
            for src in added.try_iter() {
                end_unstarted(&src.cfg, &src.status, src.cfg.id.as_str().into(), &out);
            }
        }
    });
}

/// Waits for a decoding slot; false when the run is cancelled or the stream removed first.
fn acquire(slots: &crossbeam_channel::Sender<()>, cancel: &Cancel, status: &StreamStatus) -> bool {
    loop {
        if cancel.is_cancelled() || status.stop_requested() {
            return false;
        }
        if slots.send_timeout((), Duration::from_millis(100)).is_ok() {
            return true;
        }
    }
}

/// Ends a stream that never started: removed on request, otherwise cancelled.
fn end_unstarted(cfg: &SourceConfig, status: &StreamStatus, stream: Arc<str>, out: &Tx<SourceMsg>) {
    use crate::source::StreamState;
    let result = if status.stop_requested() {
        status.set(StreamState::Removed, None);
        Ok(())
    } else {
        let err = SourceError::Cancelled { input: redact_uri(&cfg.uri) };
        status.set(StreamState::Failed, Some(&err.to_string()));
        Err(err)
    };
    let _ = out.send_reliable(SourceMsg::End { stream, frames: 0, result });
}
