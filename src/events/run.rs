//! The events stage: one detector per stream over the scoring stage's output; every
//! score message and every event goes to the sinks, in stream order (a segment before
//! the events it causes, the final `closed` before the stream's `End`).
use std::collections::HashMap;
use std::sync::Arc;

use super::{EventContext, EventDetector, EventStatus, EventsConfig};
use crate::runtime::channel::Rx;
use crate::sinks::{SinkMsg, SinkSet};
use crate::telemetry::events::StreamFailed;
use crate::window::ScoreMsg;

/// What the stage saw, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStats {
    pub streams: usize,
    pub segments: usize,
    pub opened: usize,
    pub closed: usize,
    /// Streams that failed (bad input, decoder error…), with the cause.
    pub failed: Vec<(String, String)>,
}

/// Runs until `rx` is disconnected; streams still open then are finished (their events
/// closed) as if they had ended. Call on a dedicated thread.
pub fn run_events(rx: Rx<ScoreMsg>, cfg: &EventsConfig, ctx: &EventContext, sinks: &SinkSet) -> EventStats {
    let mut detectors: HashMap<Arc<str>, EventDetector> = HashMap::new();
    let mut stats = EventStats::default();
    let send_events = |events: Vec<super::Event>, stats: &mut EventStats| {
        for e in events {
            match e.status {
                EventStatus::Opened => stats.opened += 1,
                EventStatus::Closed => stats.closed += 1,
                EventStatus::Updated => {}
            }
            sinks.send(SinkMsg::Event(Arc::new(e)));
        }
    };
    for msg in rx {
        match &msg {
            ScoreMsg::Started { info, categories } => {
                stats.streams += 1;
                if let Some(mut old) =
                    detectors.insert(info.stream.clone(), EventDetector::new(cfg, ctx, info, categories.clone()))
                {
                    send_events(old.finish(), &mut stats); // restarted without End
                }
                sinks.send(SinkMsg::Score(Arc::new(msg)));
            }
            ScoreMsg::Segment(seg) => {
                stats.segments += 1;
                let det = detectors.entry(seg.stream.clone()).or_insert_with(|| {
                    tracing::warn!(stream = &*seg.stream, "segment before the stream's start message");
                    EventDetector::for_stream(cfg, ctx, seg.stream.clone(), "", Arc::from(Vec::new()))
                });
                let events = det.push(seg);
                sinks.send(SinkMsg::Score(Arc::new(msg)));
                send_events(events, &mut stats);
            }
            ScoreMsg::End { stream, result, .. } => {
                if let Some(mut det) = detectors.remove(stream) {
                    send_events(det.finish(), &mut stats);
                }
                if let Err(e) = result {
                    StreamFailed { stream, kind: e.kind(), cause: &e.to_string() }.emit();
                    stats.failed.push((stream.to_string(), e.to_string()));
                }
                sinks.send(SinkMsg::Score(Arc::new(msg)));
            }
        }
    }
    for (_, mut det) in detectors {
        send_events(det.finish(), &mut stats);
    }
    stats
}
