//! The front half shared by `extract` and `run`: sources → segmenter → feature pool.
//! It returns the stages to supervise and the channel of segment features.
use std::sync::Arc;

use super::channel::{bounded, ChannelConfig, Rx, Tx, WhenFull};
use super::{Cancel, StageSet};
use crate::config::PipelineConfig;
use crate::features::extractor::SharedModels;
use crate::features::pool::spawn_pool;
use crate::features::{FeatureError, FeatureMsg, IMAGE_SIDE};
use crate::segment::{SegmentMsg, Segmenter};
use crate::source::{run_source, SourceConfig, SourceError, SourceMsg};

pub struct Front {
    pub stages: StageSet,
    pub features: Rx<FeatureMsg>,
    pub models: SharedModels,
}

/// Builds the front for `sources`. The feature workers (and their sessions) are created
/// here, so a missing model or unavailable device fails before any decoding starts.
pub fn build_front(cfg: &PipelineConfig, sources: Vec<SourceConfig>, cancel: &Cancel) -> Result<Front, FeatureError> {
    let (frames_tx, frames_rx) = bounded::<SourceMsg>("frames", &cfg.channels.frames);
    let (snips_tx, snips_rx) = bounded("snippets", &cfg.channels.snippets);
    let (feats_tx, feats_rx) = bounded("features", &cfg.channels.features);
    let (workers, models) = spawn_pool(&cfg.features, snips_rx, feats_tx)?;

    let mut stages = StageSet::default();
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
    Ok(Front { stages, features: feats_rx, models })
}

/// Decodes sources with at most `max_streams` at once. Each source's last message is
/// its `End`, sent reliably whatever happened.
fn run_sources(
    sources: Vec<SourceConfig>,
    max_streams: usize,
    out: Tx<SourceMsg>,
    live_cfg: &ChannelConfig,
    cancel: &Cancel,
) {
    let (slot_tx, slot_rx) = crossbeam_channel::bounded::<()>(max_streams);
    std::thread::scope(|scope| {
        for src in sources {
            let stream: Arc<str> = src.id.as_str().into();
            if cancel.is_cancelled() {
                let err = SourceError::Cancelled { input: src.uri.clone() };
                let _ = out.send_reliable(SourceMsg::End { stream, frames: 0, result: Err(err) });
                continue;
            }
            slot_tx.send(()).expect("slot channel open");
            let slot_rx = slot_rx.clone();
            // Live streams drop the oldest frames when the pipeline falls behind
            // (counted); files block so no frame is lost.
            let tx = if src.is_live() { out.with_policy(live_cfg.when_full) } else { out.clone() };
            let reliable = out.clone();
            scope.spawn(move || {
                let _span = tracing::info_span!("source", stream = %stream).entered();
                let (frames, result) = match run_source(&src, &stream, (IMAGE_SIDE, IMAGE_SIDE), &tx, cancel.flag()) {
                    Ok(n) => (n, Ok(())),
                    Err(e) => (0, Err(e)),
                };
                let _ = reliable.send_reliable(SourceMsg::End { stream, frames, result });
                let _ = slot_rx.recv();
            });
        }
    });
}
