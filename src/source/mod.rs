//! Source stage: any file path or URI GStreamer can decode → RGB frames at the analysis
//! resolution, one OS thread per stream. Errors stay per stream.
mod error;
mod gst_source;

pub use error::SourceError;
pub use gst_source::{run_source, uri_for, StreamInfo};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One input stream of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Stream id used in logs, metrics and output names.
    pub id: String,
    /// A path or URI (`file://`, `rtsp://`, `http(s)://`, …).
    pub uri: String,
    /// Live semantics (frames may be dropped when the pipeline falls behind). Defaults to
    /// true for network URIs and false for files.
    #[serde(default)]
    pub live: Option<bool>,
    /// Seconds without a frame (and without end or error) after which the stream is
    /// declared stalled and fails (default 20).
    #[serde(default)]
    pub stall_timeout_s: Option<f64>,
}

impl SourceConfig {
    /// A source with default settings.
    pub fn new(id: impl Into<String>, uri: impl Into<String>) -> Self {
        Self { id: id.into(), uri: uri.into(), live: None, stall_timeout_s: None }
    }

    pub fn stall_timeout_s(&self) -> f64 {
        self.stall_timeout_s.unwrap_or(20.0)
    }

    pub fn is_live(&self) -> bool {
        self.live.unwrap_or_else(|| {
            let u = self.uri.to_ascii_lowercase();
            ["rtsp://", "rtsps://", "http://", "https://", "udp://", "srt://", "v4l2://"]
                .iter()
                .any(|p| u.starts_with(p))
        })
    }
}

/// A decoded RGB frame, rows tightly packed (no stride padding).
#[derive(Debug, Clone)]
pub struct Frame {
    pub stream: Arc<str>,
    /// 0-based index of the decoded frame in the stream.
    pub index: u64,
    /// Presentation timestamp in nanoseconds, when the container has one.
    pub pts_ns: Option<u64>,
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, RGB.
    pub rgb: Vec<u8>,
}

/// Messages from a source to the segmenter.
#[derive(Debug)]
pub enum SourceMsg {
    /// Caps are known; sent once before the first frame.
    Started(StreamInfo),
    Frame(Frame),
    /// A live stream lost its source (error, end or stall) and will try to reconnect.
    /// Everything before is finished downstream (partial snippet, MoTAR window, open
    /// event): frames after a later `Up` are not continuous with those before.
    Down {
        stream: Arc<str>,
        /// Frames sent so far; frame indices keep counting across reconnects.
        frames: u64,
        /// Why the source went down (a `SourceError` message).
        cause: String,
    },
    /// A live stream is back after a `Down`; its frames follow.
    Up {
        stream: Arc<str>,
        /// Stream time (seconds since the stream first started, wall clock) at which
        /// this connection starts, so segment times stay monotonic across the gap.
        offset_s: f64,
        /// How long the source was down, seconds.
        down_s: f64,
        /// Reconnect attempts it took.
        attempts: u32,
    },
    /// The stream ended (normally or not). Always the stream's last message.
    End {
        stream: Arc<str>,
        frames: u64,
        result: Result<(), SourceError>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_defaults_from_scheme() {
        let s = |uri: &str| SourceConfig::new("a", uri);
        assert!(s("rtsp://cam/1").is_live());
        assert!(!s("/data/x.mp4").is_live());
        assert!(!s("file:///data/x.mp4").is_live());
        assert!(!SourceConfig { live: Some(false), ..s("rtsp://x") }.is_live());
    }
}
