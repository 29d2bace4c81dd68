//! Scoring stages: MoTAR windowing (per-stream ring buffer of segment features; whole
//! video for files, sliding windows for live) and CORE + scoring. Their output, one
//! [`ScoredSegment`] per segment in order, feeds the event detector and the sinks.
use std::sync::Arc;

use crate::segment::{SourceDown, SourceUp};
use crate::source::{SourceError, StreamInfo};

/// A segment with its anomaly score and category probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredSegment {
    pub stream: Arc<str>,
    /// 0-based segment index; segments of a stream arrive in index order.
    pub index: usize,
    /// First frame (inclusive) and last frame (exclusive).
    pub frame_start: u64,
    pub frame_end: u64,
    /// Seconds from the stream start (frame / fps for files; for live streams wall-clock
    /// seconds since the stream first started, pts-based within a connection).
    pub time_start: f64,
    pub time_end: f64,
    /// Anomaly score in [0, 1].
    pub score: f32,
    /// Probability per category, aligned with the stream's `categories`.
    pub category_probs: Vec<f32>,
}

/// Messages from the scoring stage to events and sinks, in order per stream.
#[derive(Debug, Clone)]
pub enum ScoreMsg {
    Started {
        info: StreamInfo,
        categories: Arc<[String]>,
    },
    Segment(ScoredSegment),
    /// The stream's live source went down: `segments` were emitted before, nothing after
    /// is continuous with them (no window spans the gap).
    Down(SourceDown),
    /// The source is back; its segments follow, their times from `offset_s` on.
    Up(SourceUp),
    End {
        stream: Arc<str>,
        frames: u64,
        segments: usize,
        result: Result<(), SourceError>,
    },
}

mod buffer;
mod clock;
mod config;
pub mod head;
pub mod stage;

pub use config::{LiveWindowConfig, ModelStageConfig};
pub use stage::{check_checkpoint, spawn_scoring, SegMeta, StageError, WindowMsg};
