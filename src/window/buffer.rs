//! One stream's state in the MoTAR stage, without the model: puts the feature pool's
//! messages back in stream order and decides which windows to score.
//!
//! Segments are reordered by index and carry the number of outages before them;
//! `Down`/`Up`/`End` carry how many snippets (and outages) precede them. Each is applied
//! only once everything before it is in, whatever order the feature pool delivers in. Files are
//! scored as one window at the end. Live streams keep the last `segments` segments and
//! score a window every `stride` new ones (each window emits only its unscored segments,
//! so every segment is emitted exactly once). At a `Down` the unscored segments are
//! scored with the context the buffer holds, then the buffer is emptied: no window ever
//! holds segments from both sides of a gap.
use std::collections::{BTreeMap, VecDeque};

use super::clock::StreamClock;
use super::stage::SegMeta;
use super::LiveWindowConfig;
use crate::features::{FeatureMsg, SegmentFeatures};
use crate::segment::{SourceDown, SourceUp};
use crate::source::{SourceError, StreamInfo};

/// What the MoTAR worker does next for the stream, in stream order.
#[derive(Debug)]
pub enum Step {
    Started(StreamInfo),
    /// Run MoTAR over `x` (`segments.len()` rows, row-major) and emit `segments[emit_from..]`.
    Window {
        segments: Vec<SegMeta>,
        x: Vec<f32>,
        emit_from: usize,
    },
    Down(SourceDown),
    Up(SourceUp),
    End {
        frames: u64,
        segments: usize,
        result: Result<(), SourceError>,
    },
}

#[derive(Debug)]
enum Ctrl {
    Down(SourceDown),
    Up(SourceUp),
}

/// Per-stream buffer of the MoTAR stage.
#[derive(Debug)]
pub struct StreamBuf {
    stream: std::sync::Arc<str>,
    live_cfg: LiveWindowConfig,
    live: bool,
    clock: StreamClock,
    /// Segments that arrived ahead of their turn.
    ahead: BTreeMap<usize, SegmentFeatures>,
    next: usize,
    /// Outage messages by order key (`2 * outage` for `Down`, `+ 1` for `Up`), each with the
    /// number of segments that precede it.
    ctrl: BTreeMap<u64, (usize, Ctrl)>,
    next_ctrl: u64,
    /// In-order segments of the current connection still in the buffer (all for files).
    rows: VecDeque<(SegMeta, Vec<f32>)>,
    /// Of `rows`, the newest ones not yet scored.
    unscored: usize,
    end: Option<(u64, usize, u32, Result<(), SourceError>)>,
    failed: Option<String>,
}

impl StreamBuf {
    pub fn new(stream: std::sync::Arc<str>, live_cfg: LiveWindowConfig) -> Self {
        Self {
            stream,
            live_cfg,
            live: false,
            clock: StreamClock::default(),
            ahead: BTreeMap::new(),
            next: 0,
            ctrl: BTreeMap::new(),
            next_ctrl: 2,
            rows: VecDeque::new(),
            unscored: 0,
            end: None,
            failed: None,
        }
    }

    /// Takes one message of the stream; appends the steps it makes ready. Returns true once
    /// the stream is finished (its `End` step is out).
    pub fn push(&mut self, msg: FeatureMsg, out: &mut Vec<Step>) -> bool {
        match msg {
            FeatureMsg::Started(info) => {
                self.live = info.live;
                self.clock = StreamClock::new(&info);
                out.push(Step::Started(info));
            }
            FeatureMsg::Segment(s) => {
                self.ahead.insert(s.index, s);
            }
            FeatureMsg::Down(d) => {
                self.ctrl.insert(2 * u64::from(d.outage), (d.segments, Ctrl::Down(d)));
            }
            FeatureMsg::Up(u) => {
                self.ctrl.insert(2 * u64::from(u.outage) + 1, (u.segments, Ctrl::Up(u)));
            }
            FeatureMsg::Failed { error, .. } => self.failed = Some(error),
            FeatureMsg::End { frames, snippets, outages, result, .. } => {
                self.end = Some((frames, snippets, outages, result))
            }
        }
        self.advance(out);
        self.finish_if_done(out)
    }

    fn advance(&mut self, out: &mut Vec<Step>) {
        loop {
            // Outage messages whose place has come, in their order.
            while let Some((at, _)) = self.ctrl.get(&self.next_ctrl) {
                if *at > self.next {
                    break;
                }
                let (_, c) = self.ctrl.remove(&self.next_ctrl).expect("present");
                self.apply(c, out);
                self.next_ctrl += 1;
            }
            // A segment waits until the outages before it are applied (segments tell their
            // connection: an outage message may arrive after segments that follow it).
            match self.ahead.get(&self.next) {
                Some(s) if self.next_ctrl == 2 * u64::from(s.outages) + 2 => {}
                _ => return,
            }
            let s = self.ahead.remove(&self.next).expect("present");
            self.next += 1;
            let meta = self.clock.meta(&s);
            self.rows.push_back((meta, s.vector));
            self.unscored += 1;
            if self.live {
                while self.rows.len() > self.live_cfg.segments.get() {
                    self.rows.pop_front();
                }
                // A stride beyond the window would drop unscored segments: capped at it.
                if self.unscored >= self.live_cfg.stride.get().min(self.live_cfg.segments.get()) {
                    out.push(self.window());
                }
            }
        }
    }

    /// Applies an outage message (in its order).
    fn apply(&mut self, c: Ctrl, out: &mut Vec<Step>) {
        match c {
            Ctrl::Down(d) => {
                if self.unscored > 0 {
                    out.push(self.window());
                }
                self.rows.clear();
                out.push(Step::Down(SourceDown { segments: self.next, ..d }));
            }
            Ctrl::Up(u) => {
                self.clock.reconnect(u.offset_s);
                out.push(Step::Up(u));
            }
        }
    }

    fn finish_if_done(&mut self, out: &mut Vec<Step>) -> bool {
        let done = match &self.end {
            Some((_, n, outages, _)) => {
                let all_ctrl = self.next_ctrl >= 2 * u64::from(*outages) + 2;
                (self.next >= *n && all_ctrl) || self.failed.is_some()
            }
            None => false,
        };
        if !done {
            return false;
        }
        let (frames, n, _, mut result) = self.end.take().expect("end present");
        if let Some(e) = self.failed.take() {
            let detail = format!("feature extraction failed: {e}");
            result = Err(SourceError::Decode { input: self.stream.to_string(), detail });
            // What is buffered is not scored; outage messages still go out, in order.
            self.rows.clear();
            self.unscored = 0;
            for (_, c) in std::mem::take(&mut self.ctrl).into_values() {
                self.apply(c, out);
            }
        }
        if result.is_ok() && self.unscored > 0 {
            out.push(self.window());
        }
        out.push(Step::End { frames, segments: n, result });
        true
    }

    /// The buffered rows as one window; marks them scored.
    fn window(&mut self) -> Step {
        let t = self.rows.len();
        let d = self.rows.front().map_or(0, |(_, v)| v.len());
        let mut x = Vec::with_capacity(t * d);
        for (_, v) in &self.rows {
            x.extend_from_slice(v);
        }
        let segments = self.rows.iter().map(|(m, _)| m.clone()).collect();
        let emit_from = t - self.unscored;
        self.unscored = 0;
        Step::Window { segments, x, emit_from }
    }
}

#[cfg(test)]
#[path = "buffer_tests.rs"]
mod tests;
