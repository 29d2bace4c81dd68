//! The events stage: one detector per stream over the scoring stage's output; every
//! score message and every event goes to the sinks, in stream order (a segment before
//! the events it causes, the final `closed` before the stream's `End`). At a live
//! source's `Down` the stream's event in progress is closed (before the `Down` and its
//! `source_down`), and the detector starts afresh for the frames after `Up`.
use std::collections::HashMap;
use std::sync::Arc;

use super::source_event::{redact_uri, source_event_id, SourceEvent, SourceEventKind};
use super::telemetry::SourceChanged;
use super::{EventContext, EventDetector, EventStatus, EventsConfig, WallTime};
use crate::runtime::channel::Rx;
use crate::segment::{SourceDown, SourceUp};
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
    /// Live source outages (`source_down` messages).
    pub outages: usize,
    /// Streams that failed (bad input, decoder error…), with the cause.
    pub failed: Vec<(String, String)>,
}

/// Runs until `rx` is disconnected; streams still open then are finished (their events
/// closed) as if they had ended. Call on a dedicated thread.
pub fn run_events(rx: Rx<ScoreMsg>, cfg: &EventsConfig, ctx: &EventContext, sinks: &SinkSet) -> EventStats {
    run_events_notifying(rx, cfg, ctx, sinks, &|_| {})
}

/// [`run_events`] that calls `ended` with a stream's id once its `End` has been handled
/// (its last events and the `End` passed to the sinks).
pub fn run_events_notifying(
    rx: Rx<ScoreMsg>,
    cfg: &EventsConfig,
    ctx: &EventContext,
    sinks: &SinkSet,
    ended: &dyn Fn(&str),
) -> EventStats {
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
            ScoreMsg::Down(SourceDown { stream, outage, cause, .. }) => {
                stats.outages += 1;
                // Every segment before the gap is in: the event in progress closes there.
                let (closing, source) = match detectors.get_mut(stream) {
                    Some(det) => {
                        let closing = det.gap();
                        let ev = source_event(ctx, det, SourceEventKind::SourceDown, *outage, det.last_end_s());
                        (closing, ev)
                    }
                    None => (Vec::new(), orphan_event(ctx, stream, SourceEventKind::SourceDown, *outage)),
                };
                let source = SourceEvent { cause: Some(cause.clone()), ..source };
                send_events(closing, &mut stats);
                sinks.send(SinkMsg::Score(Arc::new(msg)));
                send_source(source, cfg, sinks);
            }
            ScoreMsg::Up(SourceUp { stream, outage, offset_s, down_s, attempts, .. }) => {
                let source = match detectors.get(stream) {
                    // Where the scoring stage starts the new connection's times.
                    Some(det) => {
                        let at_s = offset_s.max(det.last_end_s());
                        source_event(ctx, det, SourceEventKind::SourceUp, *outage, at_s)
                    }
                    None => orphan_event(ctx, stream, SourceEventKind::SourceUp, *outage),
                };
                let source = SourceEvent { down_s: Some(*down_s), attempts: Some(*attempts), ..source };
                sinks.send(SinkMsg::Score(Arc::new(msg)));
                send_source(source, cfg, sinks);
            }
            ScoreMsg::End { stream, result, .. } => {
                if let Some(mut det) = detectors.remove(stream) {
                    send_events(det.finish(), &mut stats);
                }
                if let Err(e) = result {
                    StreamFailed { stream, kind: e.kind(), cause: &e.to_string() }.emit();
                    stats.failed.push((stream.to_string(), e.to_string()));
                }
                let id = stream.clone();
                sinks.send(SinkMsg::Score(Arc::new(msg)));
                ended(&id);
            }
        }
    }
    for (_, mut det) in detectors {
        send_events(det.finish(), &mut stats);
    }
    stats
}

/// A stream's outage message (the kind-specific fields are added by the caller).
fn source_event(ctx: &EventContext, det: &EventDetector, kind: SourceEventKind, outage: u32, at_s: f64) -> SourceEvent {
    let session = det.session_ms();
    SourceEvent {
        kind,
        event_id: source_event_id(&ctx.pipeline, det.stream(), session, kind, outage),
        stream: det.stream().to_owned(),
        video: redact_uri(det.video()),
        outage,
        seconds: (at_s * 1000.0).round() / 1000.0,
        wall_time: session.map_or_else(now, |ms| WallTime::after(ms, at_s)),
        cause: None,
        down_s: None,
        attempts: None,
        pipeline: ctx.pipeline.clone(),
    }
}

/// An outage message for a stream whose start was never announced (nothing known but its id).
fn orphan_event(ctx: &EventContext, stream: &str, kind: SourceEventKind, outage: u32) -> SourceEvent {
    SourceEvent {
        kind,
        event_id: source_event_id(&ctx.pipeline, stream, None, kind, outage),
        stream: stream.to_owned(),
        video: String::new(),
        outage,
        seconds: 0.0,
        wall_time: now(),
        cause: None,
        down_s: None,
        attempts: None,
        pipeline: ctx.pipeline.clone(),
    }
}

fn now() -> WallTime {
    WallTime(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis() as u64))
}

/// Logs and counts the outage message; sends it to the sinks when `events.source_events`.
fn send_source(e: SourceEvent, cfg: &EventsConfig, sinks: &SinkSet) {
    SourceChanged { event: &e }.emit();
    if cfg.source_events {
        sinks.send(SinkMsg::Source(Arc::new(e)));
    }
}
