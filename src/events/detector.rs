//! Per-stream event state machine over ordered scored segments.
//!
//! An event starts at a segment scoring `>= threshold` and extends over every following
//! segment scoring `>= threshold - hysteresis`. The first segment below that starts a
//! *dip*: a segment `>= threshold` whose start is less than `merge_gap_s` after the
//! event's end re-triggers the same event (the dip becomes part of it); otherwise the
//! event closes once `merge_gap_s` has passed without one. The event's end is the end of
//! its last segment above the low mark, so trailing dips are never included.
//!
//! `opened` is delayed until the event has lasted `min_duration_s` (and the cooldown has
//! passed), so a reported event is never retracted; shorter candidates are dropped and
//! counted. Category = argmax of the score-weighted mean category distribution over the
//! event's segments, so the segments where the anomaly is strongest decide.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::event::{event_id_in_session, rfc3339_utc};
use super::telemetry::{EventEmitted, EventSuppressed};
use super::{Event, EventStatus, EventTime, EventsConfig};
use crate::source::StreamInfo;
use crate::window::ScoredSegment;

/// Float slack for comparing video times computed as frame / fps.
const EPS: f64 = 1e-6;

/// Names that go into every event of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventContext {
    /// Pipeline name (part of the event id).
    pub pipeline: String,
    /// Model identifier reported in events (e.g. the checkpoint's file stem).
    pub model: String,
    /// Where each event's video clip will be: a path or URL template with `{stream}` and
    /// `{event_id}` (set when a `clips` sink is configured).
    pub clip_template: Option<String>,
}

/// Score-weighted sums of a run of segments.
#[derive(Debug, Clone, Default)]
struct Acc {
    weight: f64,
    probs: Vec<f64>,
    peak: f32,
}

impl Acc {
    fn add(&mut self, seg: &ScoredSegment, n_categories: usize) {
        let w = f64::from(seg.score.max(0.0));
        self.probs.resize(n_categories, 0.0);
        for (sum, p) in self.probs.iter_mut().zip(&seg.category_probs) {
            *sum += w * f64::from(*p);
        }
        self.weight += w;
        self.peak = self.peak.max(seg.score);
    }

    fn absorb(&mut self, other: Acc) {
        self.probs.resize(self.probs.len().max(other.probs.len()), 0.0);
        for (a, b) in self.probs.iter_mut().zip(other.probs) {
            *a += b;
        }
        self.weight += other.weight;
        self.peak = self.peak.max(other.peak);
    }

    /// Index of the most likely category (lowest index on ties).
    fn argmax(&self) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, &p) in self.probs.iter().enumerate() {
            if best.is_none_or(|(_, b)| p > b) {
                best = Some((i, p));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// The event being tracked (reported or still a candidate).
#[derive(Debug)]
struct Open {
    id: String,
    /// Start (video seconds, unrounded; frame).
    start: (f64, u64),
    /// End of the last segment at or above the low mark (exclusive frame).
    end: (f64, u64),
    acc: Acc,
    /// Segments of the current dip; joined to `acc` if the event re-triggers.
    dip: Option<Acc>,
    reported: bool,
    seq: u32,
    last_emit_s: f64,
    last_emit_peak: f32,
    last_emit_category: Option<usize>,
}

/// The event state machine of one stream. Feed segments in order with [`push`](Self::push),
/// then call [`finish`](Self::finish) at the end of the stream.
#[derive(Debug)]
pub struct EventDetector {
    cfg: EventsConfig,
    ctx: EventContext,
    stream: Arc<str>,
    video: String,
    categories: Arc<[String]>,
    open: Option<Open>,
    /// Video time before which no new event may be opened.
    cooldown_until: f64,
    /// Live streams: the stream's start (Unix ms), for event ids and wall-clock times.
    session_ms: Option<u64>,
    /// End of the last segment seen (stream seconds).
    last_end_s: f64,
}

impl EventDetector {
    /// A detector for the stream a scoring stage announced (`ScoreMsg::Started`).
    /// Live streams get the stream's start in their event ids and wall-clock times.
    pub fn new(cfg: &EventsConfig, ctx: &EventContext, info: &StreamInfo, categories: Arc<[String]>) -> Self {
        let mut d = Self::for_stream(cfg, ctx, info.stream.clone(), &info.uri, categories);
        d.session_ms = info.live.then_some(info.started_unix_ms).flatten();
        d
    }

    /// A detector for `stream` whose source URI is `video`; `categories` names the
    /// columns of the segments' `category_probs`.
    pub fn for_stream(
        cfg: &EventsConfig,
        ctx: &EventContext,
        stream: Arc<str>,
        video: &str,
        categories: Arc<[String]>,
    ) -> Self {
        Self {
            cfg: cfg.clone(),
            ctx: ctx.clone(),
            stream,
            video: video.to_owned(),
            categories,
            open: None,
            cooldown_until: f64::NEG_INFINITY,
            session_ms: None,
            last_end_s: 0.0,
        }
    }

    /// The live stream's start (Unix ms); `None` for files.
    pub fn session_ms(&self) -> Option<u64> {
        self.session_ms
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The stream's source URI.
    pub fn video(&self) -> &str {
        &self.video
    }

    /// End of the last segment pushed, stream seconds.
    pub fn last_end_s(&self) -> f64 {
        self.last_end_s
    }

    /// The source went down: closes the event in progress at its end (before the gap)
    /// and forgets the stream's history, so what follows the gap is judged afresh (no
    /// event spans a gap, no cooldown carries over).
    pub fn gap(&mut self) -> Vec<Event> {
        let out = self.finish();
        self.cooldown_until = f64::NEG_INFINITY;
        out
    }

    /// Whether an event (reported or candidate) is in progress.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Advances by one segment; returns the messages it causes (at most a `closed` and an
    /// `opened`/`updated`).
    pub fn push(&mut self, seg: &ScoredSegment) -> Vec<Event> {
        let mut out = Vec::new();
        self.last_end_s = self.last_end_s.max(seg.time_end);
        let (threshold, low, gap) =
            (seg.score >= self.cfg.threshold, seg.score >= self.cfg.low(), self.cfg.merge_gap_s);
        // A hole in the sequence (missing segments) or a dip too long to merge ends the event.
        if let Some(o) = &self.open {
            let (gap_s, hole) = (seg.time_start - o.end.0, seg.frame_start > o.end.1);
            if (o.dip.is_some() || hole) && gap_s + EPS >= gap {
                self.close(&mut out);
            }
        }
        let n_cat = self.categories.len();
        match &mut self.open {
            Some(o) => match o.dip.take() {
                None if low => extend(o, seg, n_cat),
                Some(dip) if threshold => {
                    o.acc.absorb(dip);
                    extend(o, seg, n_cat);
                }
                dip => o.dip.get_or_insert(dip.unwrap_or_default()).add(seg, n_cat),
            },
            None if threshold => {
                let start = (seg.time_start, seg.frame_start);
                let mut o = Open {
                    id: event_id_in_session(&self.ctx.pipeline, &self.stream, self.session_ms, seg.frame_start),
                    start,
                    end: start,
                    acc: Acc::default(),
                    dip: None,
                    reported: false,
                    seq: 0,
                    last_emit_s: 0.0,
                    last_emit_peak: 0.0,
                    last_emit_category: None,
                };
                extend(&mut o, seg, n_cat);
                self.open = Some(o);
            }
            None => {}
        }
        if let Some(o) = &self.open {
            if o.dip.is_some() && seg.time_end - o.end.0 + EPS >= gap {
                self.close(&mut out);
            }
        }
        self.maybe_report(seg.time_end, &mut out);
        out
    }

    /// End of stream: closes the event in progress.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        self.close(&mut out);
        out
    }

    /// Opens a confirmed candidate, or sends `updated` for a changed open event.
    fn maybe_report(&mut self, now: f64, out: &mut Vec<Event>) {
        let Some(o) = &self.open else { return };
        if !o.reported {
            let long_enough = o.end.0 - o.start.0 + EPS >= self.cfg.min_duration_s;
            if long_enough && now + EPS >= self.cooldown_until {
                out.push(self.message(EventStatus::Opened, now));
            }
        } else {
            let changed = o.acc.peak != o.last_emit_peak || o.acc.argmax() != o.last_emit_category;
            if changed && now - o.last_emit_s + EPS >= self.cfg.update_interval_s {
                out.push(self.message(EventStatus::Updated, now));
            }
        }
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        let Some(o) = &self.open else { return };
        if o.reported {
            let end = o.end.0;
            self.cooldown_until = end + self.cfg.cooldown_s;
            out.push(self.message(EventStatus::Closed, end));
        } else {
            let short = o.end.0 - o.start.0 + EPS < self.cfg.min_duration_s;
            EventSuppressed {
                stream: &self.stream,
                reason: if short { "short" } else { "cooldown" },
                start_s: o.start.0,
                end_s: o.end.0,
                peak: o.acc.peak,
            }
            .emit();
        }
        self.open = None;
    }

    /// Builds the next message of the open event and records what it reported.
    fn message(&mut self, status: EventStatus, now: f64) -> Event {
        let o = self.open.as_mut().expect("an open event");
        let category = o.acc.argmax();
        let w = o.acc.weight.max(f64::MIN_POSITIVE);
        let category_probs: BTreeMap<String, f32> =
            self.categories.iter().zip(&o.acc.probs).map(|(c, p)| (c.clone(), (p / w) as f32)).collect();
        let e = Event {
            event_id: o.id.clone(),
            seq: o.seq,
            status,
            stream: self.stream.to_string(),
            video: self.video.clone(),
            start: EventTime::new(o.start.0, o.start.1).at_wall(self.session_ms),
            end: EventTime::new(o.end.0, o.end.1).at_wall(self.session_ms),
            peak_score: o.acc.peak,
            category: category.and_then(|i| self.categories.get(i).cloned()),
            category_probs,
            pipeline: self.ctx.pipeline.clone(),
            model: self.ctx.model.clone(),
            wall_time: rfc3339_utc(SystemTime::now()),
            clip: self
                .ctx
                .clip_template
                .as_ref()
                .map(|t| t.replace("{stream}", &self.stream).replace("{event_id}", &o.id)),
        };
        o.reported = true;
        o.seq += 1;
        o.last_emit_peak = o.acc.peak;
        o.last_emit_category = category;
        o.last_emit_s = now;
        EventEmitted { event: &e }.emit();
        e
    }
}

/// Adds a segment at or above the low mark to the event.
fn extend(o: &mut Open, seg: &ScoredSegment, n_categories: usize) {
    o.acc.add(seg, n_categories);
    o.end = (seg.time_end, seg.frame_end);
}
