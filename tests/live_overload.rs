//! Overload: a source faster than the pipeline. A file read with `live: true` is not paced
//! to real time, so real GStreamer decoding of vtest.avi outruns real ONNX Runtime
//! inference of its snippets.
//! - A channel with `drop_oldest` keeps within its capacity and counts every dropped frame in
//!   `refinevad_channel_dropped_total`: decoded = segmented + dropped;
//! - `block` (file semantics) loses nothing: decoded = segmented, nothing counted;
//! - the pipeline's live path (`run_stream` into the stream's own `LiveQueue`) does the same
//!   and never drops the stream's control messages.
//!
//! Only counts are asserted, never times.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::*;
use refinevad::features::extractor::{Extractor, SharedModels};
use refinevad::features::{Device, FeaturesConfig};
use refinevad::runtime::channel::{bounded, ChannelConfig, WhenFull};
use refinevad::runtime::live_queue::LiveQueue;
use refinevad::segment::{SegmentMsg, Segmenter, SegmenterConfig};
use refinevad::source::{run_source, run_stream, SourceConfig, SourceMsg, SourceOut, StreamStatus};
use refinevad::telemetry::registry;

const CAPACITY: usize = 8;

struct Counts {
    decoded: u64,
    segmented: u64,
    snippets: usize,
    dropped: u64,
    /// Most items seen waiting in the channel.
    max_queued: usize,
}

/// Decodes vtest.avi as a live source into a frames channel of `CAPACITY` with `policy`,
/// while this thread segments and runs the image encoder on every snippet.
fn overload(policy: WhenFull, channel: &str) -> Counts {
    let features = FeaturesConfig::default();
    let shared = SharedModels::load(&features).unwrap();
    let mut ex = Extractor::new(&features, &shared, Device::Cpu, 0).unwrap();
    let (tx, rx) =
        bounded::<SourceMsg>(channel, &ChannelConfig { capacity: CAPACITY.try_into().unwrap(), when_full: policy });
    let mut src = SourceConfig::new("overload", sample("vtest.avi").display().to_string());
    src.live = Some(true);
    let stream: Arc<str> = "overload".into();
    let source = std::thread::spawn(move || {
        let frames = run_source(&src, &stream, (224, 224), &tx, &AtomicBool::new(false)).unwrap();
        tx.send_reliable(SourceMsg::End { stream, frames, result: Ok(()) }).unwrap();
        frames
    });
    let mut seg = Segmenter::new(SegmenterConfig::default(), features.needs());
    let (mut segmented, mut snippets, mut max_queued, mut started) = (0, 0, 0, 0);
    for msg in rx.iter() {
        max_queued = max_queued.max(rx.len());
        let end = matches!(msg, SourceMsg::End { .. });
        started += matches!(msg, SourceMsg::Started(_)) as u64;
        for out in seg.handle(msg) {
            if let SegmentMsg::Snippet(s) = out {
                segmented += s.frame_end - s.frame_start;
                snippets += 1;
                let v = ex.extract(std::slice::from_ref(&s)).unwrap();
                assert_eq!(v[0].len(), features.layout().width());
            }
        }
        if end {
            break;
        }
    }
    let decoded = source.join().unwrap();
    let dropped = registry()
        .counter_value("refinevad_channel_dropped_total", &[("channel", channel), ("policy", policy.as_str())]);
    // The stream's `Started` shares the queue; if evicted, it is among the dropped items.
    Counts { decoded, segmented, snippets, dropped: dropped - (1 - started), max_queued }
}

#[test]
fn drop_oldest_stays_bounded_and_counts_every_dropped_frame() {
    let c = overload(WhenFull::DropOldest, "overload_drop_oldest");
    eprintln!(
        "drop_oldest: decoded {}, segmented {} in {} snippets, dropped {}, max queued {}",
        c.decoded, c.segmented, c.snippets, c.dropped, c.max_queued
    );
    assert_eq!(c.decoded, 795, "the source decodes every frame of vtest.avi");
    assert!(c.dropped > 0, "the source outruns inference, so frames must have been dropped");
    assert_eq!(c.decoded, c.segmented + c.dropped, "every frame is either segmented or counted as dropped");
    assert!(c.max_queued <= CAPACITY, "queue held {} > capacity {CAPACITY}", c.max_queued);
    assert!(c.snippets < 50, "fewer snippets than the whole video's 50");
}

#[test]
fn block_loses_no_frame() {
    let c = overload(WhenFull::Block, "overload_block");
    assert_eq!(c.decoded, 795);
    assert_eq!(c.segmented, c.decoded, "file semantics: every decoded frame is segmented");
    assert_eq!(c.snippets, 50, "ceil(795 / 16)");
    assert_eq!(c.dropped, 0);
    assert!(c.max_queued <= CAPACITY);
}

#[test]
fn live_queue_drops_oldest_frames_only_and_counts_them() {
    let channel = "overload_live_queue";
    let features = FeaturesConfig::default();
    let shared = SharedModels::load(&features).unwrap();
    let mut ex = Extractor::new(&features, &shared, Device::Cpu, 0).unwrap();
    let queue = Arc::new(LiveQueue::new(CAPACITY, channel));
    let mut src = SourceConfig::new("overload_live", sample("vtest.avi").display().to_string());
    src.live = Some(true);
    let stream: Arc<str> = "overload_live".into();
    let q = queue.clone();
    let source = std::thread::spawn(move || {
        let status = StreamStatus::new("overload_live", src.uri.clone(), true);
        let (frames, result) = run_stream(&src, &stream, (224, 224), &*q, &AtomicBool::new(false), &status);
        result.unwrap();
        q.control(SourceMsg::End { stream, frames, result: Ok(()) });
        q.finish();
        frames
    });
    let mut seg = Segmenter::new(SegmenterConfig::default(), features.needs());
    let (mut segmented, mut snippets, mut started, mut ended) = (0, 0, 0, 0);
    while let Some(msg) = queue.pop() {
        started += matches!(msg, SourceMsg::Started(_)) as u32;
        ended += matches!(msg, SourceMsg::End { .. }) as u32;
        for out in seg.handle(msg) {
            if let SegmentMsg::Snippet(s) = out {
                segmented += s.frame_end - s.frame_start;
                snippets += 1;
                ex.extract(std::slice::from_ref(&s)).unwrap();
            }
        }
    }
    let decoded = source.join().unwrap();
    let dropped =
        registry().counter_value("refinevad_channel_dropped_total", &[("channel", channel), ("policy", "drop_oldest")]);
    eprintln!("live queue: decoded {decoded}, segmented {segmented} in {snippets} snippets, dropped {dropped}");
    assert_eq!(decoded, 795);
    assert_eq!((started, ended), (1, 1), "control messages are never dropped");
    assert!(dropped > 0, "the source outruns inference, so frames must have been dropped");
    assert_eq!(decoded, segmented + dropped, "every frame is either segmented or counted as dropped");
}
