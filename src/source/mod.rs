//! Source stage: any file path or URI GStreamer can decode → RGB frames at the analysis
//! resolution, one OS thread per stream. Errors stay per stream; live sources reconnect
//! with backoff (`live.rs`) and report their state (`status.rs`).
mod backoff;
mod error;
mod gst_source;
mod live;
mod redact;
mod status;

pub use backoff::{Jitter, ReconnectConfig};
pub use error::SourceError;
pub(crate) use gst_source::configure_network_source;
pub use gst_source::{run_source, uri_for, warm_up, StreamInfo};
pub use live::run_stream;
pub use redact::redact_uri;
pub use status::{RegisterError, StreamState, StreamStatus, StreamTable, StreamView};

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
    /// declared stalled: files fail, live sources reconnect (default 20).
    #[serde(default)]
    pub stall_timeout_s: Option<f64>,
    /// RTSP lower transport: `auto` (GStreamer's UDP-then-TCP), `tcp` or `udp`.
    #[serde(default)]
    pub transport: Option<Transport>,
    /// RTSP jitter-buffer latency, milliseconds (GStreamer's default: 2000).
    #[serde(default)]
    pub latency_ms: Option<u32>,
    /// User name for RTSP/HTTP authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password (never put it in the pipeline file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (first line; e.g. a mounted secret).
    #[serde(default)]
    pub password_file: Option<std::path::PathBuf>,
    /// Reconnect schedule of live sources.
    #[serde(default)]
    pub reconnect: Option<ReconnectConfig>,
}

/// RTSP lower transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Auto,
    Tcp,
    Udp,
}

/// A source setting that cannot work, as `(key relative to the source, expectation)`.
pub type SourceConfigError = (&'static str, String);

impl SourceConfig {
    /// A source with default settings.
    pub fn new(id: impl Into<String>, uri: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            uri: uri.into(),
            live: None,
            stall_timeout_s: None,
            transport: None,
            latency_ms: None,
            username: None,
            password_env: None,
            password_file: None,
            reconnect: None,
        }
    }

    /// Whether losing the stream means reconnecting rather than ending: live cameras
    /// (RTSP, V4L2, UDP, SRT) by default; HTTP(S) and files only with an explicit
    /// `reconnect` (an HTTP URL is often a plain file whose end is the end).
    pub fn reconnects(&self) -> bool {
        let u = self.uri.to_ascii_lowercase();
        let camera = ["rtsp://", "rtsps://", "rtspt://", "v4l2://", "/dev/video", "udp://", "srt://"]
            .iter()
            .any(|p| u.starts_with(p));
        self.is_live() && (camera || self.reconnect.is_some())
    }

    pub fn reconnect(&self) -> ReconnectConfig {
        self.reconnect.clone().unwrap_or_default()
    }

    fn is_rtsp(&self) -> bool {
        let u = self.uri.to_ascii_lowercase();
        u.starts_with("rtsp://") || u.starts_with("rtsps://") || u.starts_with("rtspt://")
    }

    /// Checks what types cannot express (the pipeline file and `POST /streams` share it).
    pub fn validate(&self) -> Result<(), SourceConfigError> {
        if self.id.trim().is_empty() {
            return Err(("id", "must not be empty".into()));
        }
        if self.id.contains(['/', '\\', '?', '#', ' ']) {
            return Err(("id", format!("`{}`: must not contain `/`, `\\`, `?`, `#` or spaces", self.id)));
        }
        if self.uri.trim().is_empty() {
            return Err(("uri", "must not be empty".into()));
        }
        if let Some(t) = self.stall_timeout_s.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(("stall_timeout_s", format!("expected a positive number of seconds, found {t}")));
        }
        if self.transport.is_some() && !self.is_rtsp() {
            return Err(("transport", "applies to rtsp:// sources only".into()));
        }
        if self.latency_ms.is_some() && !self.is_rtsp() {
            return Err(("latency_ms", "applies to rtsp:// sources only".into()));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(("password_env", "give either password_env or password_file, not both".into()));
        }
        if self.username.is_none() && (self.password_env.is_some() || self.password_file.is_some()) {
            return Err(("username", "required with password_env or password_file".into()));
        }
        if let Some(var) = &self.password_env {
            if std::env::var_os(var).is_none() {
                return Err(("password_env", format!("environment variable `{var}` is not set")));
            }
        }
        if let Some(f) = &self.password_file {
            if let Err(e) = std::fs::metadata(f) {
                return Err(("password_file", format!("{}: {e}", f.display())));
            }
        }
        if let Some(r) = &self.reconnect {
            if !self.is_live() {
                return Err(("reconnect", "applies to live sources only (set live: true)".into()));
            }
            r.validate().map_err(|(k, e)| match k {
                "initial_s" => ("reconnect.initial_s", e),
                "max_s" => ("reconnect.max_s", e),
                "multiplier" => ("reconnect.multiplier", e),
                _ => ("reconnect.jitter", e),
            })?;
        }
        Ok(())
    }

    /// The password from `password_env` or `password_file`, read at each connection so
    /// a rotated secret is picked up on the next reconnect.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(var) = &self.password_env {
            return std::env::var(var).map(Some).map_err(|_| format!("password_env: `{var}` is not set"));
        }
        if let Some(f) = &self.password_file {
            let text = std::fs::read_to_string(f).map_err(|e| format!("password_file: {}: {e}", f.display()))?;
            return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
        }
        Ok(None)
    }

    pub fn stall_timeout_s(&self) -> f64 {
        self.stall_timeout_s.unwrap_or(20.0)
    }

    pub fn is_live(&self) -> bool {
        self.live.unwrap_or_else(|| {
            let u = self.uri.to_ascii_lowercase();
            ["rtsp://", "rtsps://", "rtspt://", "http://", "https://", "udp://", "srt://", "v4l2://", "/dev/video"]
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

/// Where a source's messages go: frames may be dropped by the receiver's policy, control
/// messages (`Started`, `Down`, `Up`, `End`) never are. Both return false once the
/// receiving side has gone.
pub trait SourceOut: Sync {
    fn frame(&self, msg: SourceMsg) -> bool;
    fn control(&self, msg: SourceMsg) -> bool;
}

impl SourceOut for crate::runtime::channel::Tx<SourceMsg> {
    fn frame(&self, msg: SourceMsg) -> bool {
        self.send(msg).is_ok()
    }
    fn control(&self, msg: SourceMsg) -> bool {
        self.send_reliable(msg).is_ok()
    }
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
        assert!(s("/dev/video0").is_live());
        assert!(s("rtsp://cam/1").reconnects() && s("/dev/video0").reconnects());
        assert!(!s("https://host/clip.mp4").reconnects() && !s("/data/x.mp4").reconnects());
        let looped = SourceConfig { live: Some(true), reconnect: Some(Default::default()), ..s("https://cam/mjpeg") };
        assert!(looped.reconnects());
        assert!(!SourceConfig { live: Some(false), ..s("rtsp://x") }.reconnects());
    }

    fn parse(json: &str) -> Result<SourceConfig, String> {
        serde_json::from_str::<SourceConfig>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn live_keys_parse_and_validate() {
        let c = parse(
            r#"{"id":"gate","uri":"rtsp://cam/s","transport":"tcp","latency_ms":200,
                "reconnect":{"initial_s":0.5,"max_s":10,"max_attempts":3}}"#,
        )
        .unwrap();
        assert_eq!(c.transport, Some(Transport::Tcp));
        assert_eq!(c.reconnect().max_attempts, 3);
        assert_eq!(c.reconnect().multiplier, 2.0);
        assert!(c.validate().is_ok());
        assert!(parse(r#"{"id":"a","uri":"x","transprot":"tcp"}"#).unwrap_err().contains("unknown field `transprot`"));
        assert!(parse(r#"{"id":"a","uri":"rtsp://x","transport":"quic"}"#).unwrap_err().contains("unknown variant"));
        assert!(parse(r#"{"id":"a","uri":"rtsp://x","reconnect":{"max":3}}"#).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn validation_names_the_key() {
        let key = |c: SourceConfig| c.validate().unwrap_err().0;
        let rtsp = SourceConfig::new("cam", "rtsp://cam/s");
        assert_eq!(
            key(SourceConfig { transport: Some(Transport::Tcp), ..SourceConfig::new("f", "/x.mp4") }),
            "transport"
        );
        assert_eq!(key(SourceConfig { latency_ms: Some(1), ..SourceConfig::new("f", "http://x") }), "latency_ms");
        assert_eq!(key(SourceConfig { password_env: Some("X".into()), ..rtsp.clone() }), "username");
        assert_eq!(
            key(SourceConfig {
                username: Some("u".into()),
                password_env: Some("REFINEVAD_TEST_SURELY_UNSET".into()),
                ..rtsp.clone()
            }),
            "password_env"
        );
        assert_eq!(
            key(SourceConfig { reconnect: Some(Default::default()), ..SourceConfig::new("f", "/x.mp4") }),
            "reconnect"
        );
        let bad = ReconnectConfig { jitter: 2.0, ..Default::default() };
        assert_eq!(key(SourceConfig { reconnect: Some(bad), ..rtsp.clone() }), "reconnect.jitter");
        assert_eq!(key(SourceConfig::new("a/b", "rtsp://x")), "id");
        assert_eq!(key(SourceConfig { stall_timeout_s: Some(0.0), ..rtsp.clone() }), "stall_timeout_s");
        assert!(rtsp.validate().is_ok());
    }
}
