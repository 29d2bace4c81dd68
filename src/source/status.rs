//! Per-stream state, in one place: the source threads write it, `/healthz`, `/streams`
//! and the control API read it. Every transition goes through [`StreamStateChanged`],
//! which logs it and keeps the `refinevad_stream_state` gauge in step.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use super::SourceConfig;
use crate::telemetry::events::{StreamReconnected, StreamStateChanged};

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Opening the input (first connection or a reconnect attempt).
    Connecting,
    /// Frames are flowing.
    Live,
    /// Connected but no frame for a while; the stall watchdog is running.
    Stalled,
    /// The connection was lost; waiting before the next attempt.
    Backoff,
    /// Gave up (bad input, or `reconnect.max_attempts` exhausted).
    Failed,
    /// Reached its end normally (files).
    Ended,
    /// Stopped on request (`DELETE /streams/{id}`).
    Removed,
}

impl StreamState {
    pub const ALL: [StreamState; 7] = [
        StreamState::Connecting,
        StreamState::Live,
        StreamState::Stalled,
        StreamState::Backoff,
        StreamState::Failed,
        StreamState::Ended,
        StreamState::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Stalled => "stalled",
            StreamState::Backoff => "backoff",
            StreamState::Failed => "failed",
            StreamState::Ended => "ended",
            StreamState::Removed => "removed",
        }
    }

    /// The stream will not produce frames again.
    pub fn is_terminal(self) -> bool {
        matches!(self, StreamState::Failed | StreamState::Ended | StreamState::Removed)
    }

    /// States that turn `/healthz` to `degraded`.
    pub fn is_degraded(self) -> bool {
        matches!(self, StreamState::Stalled | StreamState::Backoff | StreamState::Failed)
    }
}

#[derive(Debug)]
struct Current {
    state: StreamState,
    since: SystemTime,
    last_error: Option<String>,
}

/// One stream's live status. Shared (`Arc`) between its source thread and the readers.
#[derive(Debug)]
pub struct StreamStatus {
    pub id: String,
    /// The URI with credentials redacted.
    pub uri: String,
    pub live: bool,
    current: Mutex<Current>,
    reconnects: AtomicU64,
    frames: AtomicU64,
    stop: AtomicBool,
    /// The stream's `End` has gone through every stage up to the events (see
    /// [`StreamStatus::mark_drained`]).
    drained: AtomicBool,
}

/// A snapshot, as served on `/streams`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamView {
    pub id: String,
    pub uri: String,
    pub live: bool,
    pub state: StreamState,
    /// When the stream entered `state`, RFC 3339 UTC.
    pub since: String,
    pub reconnects: u64,
    pub frames: u64,
    pub last_error: Option<String>,
}

impl StreamStatus {
    /// A new stream in state `connecting` (the transition is emitted).
    pub fn new(id: &str, redacted_uri: String, live: bool) -> Arc<Self> {
        let s = Arc::new(Self {
            id: id.to_owned(),
            uri: redacted_uri,
            live,
            current: Mutex::new(Current { state: StreamState::Connecting, since: SystemTime::now(), last_error: None }),
            reconnects: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            drained: AtomicBool::new(false),
        });
        StreamStateChanged { stream: id, from: None, to: StreamState::Connecting, cause: None }.emit();
        s
    }

    pub fn state(&self) -> StreamState {
        self.current.lock().unwrap().state
    }

    /// The events stage has handled the stream's `End`: nothing of it is left in any
    /// stage, so its id can be started again without the old and new streams' segments
    /// meeting in the same per-stream buffers.
    pub fn mark_drained(&self) {
        self.drained.store(true, Ordering::SeqCst);
    }

    pub fn is_drained(&self) -> bool {
        self.drained.load(Ordering::SeqCst)
    }

    /// Moves to `to` (no-op if already there), recording `cause` as the last error when given.
    pub fn set(&self, to: StreamState, cause: Option<&str>) {
        let mut c = self.current.lock().unwrap();
        if let Some(cause) = cause {
            c.last_error = Some(cause.to_owned());
        }
        if c.state == to {
            return;
        }
        let from = c.state;
        c.state = to;
        c.since = SystemTime::now();
        drop(c);
        StreamStateChanged { stream: &self.id, from: Some(from), to, cause }.emit();
    }

    /// A live stream is back after an outage.
    pub fn reconnected(&self, down_s: f64, attempts: u32) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        StreamReconnected { stream: &self.id, down_s, attempts }.emit();
        self.set(StreamState::Live, None);
    }

    pub fn add_frame(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the source to end cleanly (`DELETE /streams/{id}`).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn view(&self) -> StreamView {
        let c = self.current.lock().unwrap();
        StreamView {
            id: self.id.clone(),
            uri: self.uri.clone(),
            live: self.live,
            state: c.state,
            since: crate::events::rfc3339_utc(c.since),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            last_error: c.last_error.clone(),
        }
    }
}

/// Every stream of a run, by id, including those that ended (until replaced).
#[derive(Default)]
pub struct StreamTable {
    streams: Mutex<BTreeMap<String, Arc<StreamStatus>>>,
    /// Each stream's configuration (with its credential references), for consumers that
    /// open their own connection to the same source (the clip recorders).
    configs: Mutex<BTreeMap<String, SourceConfig>>,
}

/// Why a stream could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    #[error("stream id `{0}` is already running (DELETE it first)")]
    Duplicate(String),
    #[error("stream id `{0}` has stopped but its last segments are still being processed; retry shortly")]
    Draining(String),
    #[error("{running} stream(s) already running; runtime.max_streams is {max}")]
    Full { running: usize, max: usize },
}

impl StreamTable {
    /// Registers a new stream. An id whose stream ended, failed or was removed can be
    /// reused once it has drained; a running one cannot. `max_running` bounds the
    /// non-terminal streams.
    pub fn register(
        &self,
        id: &str,
        redacted_uri: String,
        live: bool,
        max_running: Option<usize>,
    ) -> Result<Arc<StreamStatus>, RegisterError> {
        let mut m = self.streams.lock().unwrap();
        if m.get(id).is_some_and(|s| !s.state().is_terminal()) {
            return Err(RegisterError::Duplicate(id.to_owned()));
        }
        if m.get(id).is_some_and(|s| !s.is_drained()) {
            return Err(RegisterError::Draining(id.to_owned()));
        }
        let running = m.values().filter(|s| !s.state().is_terminal()).count();
        if let Some(max) = max_running.filter(|&max| running >= max) {
            return Err(RegisterError::Full { running, max });
        }
        let s = StreamStatus::new(id, redacted_uri, live);
        m.insert(id.to_owned(), s.clone());
        Ok(s)
    }

    /// Adds or replaces a stream without checks (pipeline-file sources, validated at load).
    pub fn insert(&self, status: Arc<StreamStatus>) {
        self.streams.lock().unwrap().insert(status.id.clone(), status);
    }

    pub fn get(&self, id: &str) -> Option<Arc<StreamStatus>> {
        self.streams.lock().unwrap().get(id).cloned()
    }

    /// Records the configuration a stream runs with (pipeline file or `POST /streams`).
    pub fn remember(&self, cfg: &SourceConfig) {
        self.configs.lock().unwrap().insert(cfg.id.clone(), cfg.clone());
    }

    /// The configuration stream `id` runs with.
    pub fn config(&self, id: &str) -> Option<SourceConfig> {
        self.configs.lock().unwrap().get(id).cloned()
    }

    /// Snapshots of every stream, by id.
    pub fn views(&self) -> Vec<StreamView> {
        self.streams.lock().unwrap().values().map(|s| s.view()).collect()
    }

    /// True when any stream is stalled, in backoff or failed.
    pub fn degraded(&self) -> bool {
        self.streams.lock().unwrap().values().any(|s| s.state().is_degraded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::registry;

    #[test]
    fn remembers_each_streams_configuration() {
        let t = StreamTable::default();
        assert_eq!(t.config("cam"), None);
        let mut cfg = SourceConfig::new("cam", "rtsp://127.0.0.1:8554/a");
        cfg.username = Some("viewer".into());
        t.remember(&cfg);
        assert_eq!(t.config("cam").and_then(|c| c.username), Some("viewer".into()));
        cfg.uri = "rtsp://127.0.0.1:8554/b".into();
        t.remember(&cfg); // re-added at run time with another URI
        assert_eq!(t.config("cam").unwrap().uri, "rtsp://127.0.0.1:8554/b");
    }

    fn gauge(stream: &str, state: &str) -> i64 {
        registry().gauge("refinevad_stream_state", &[("stream", stream), ("state", state)]).load(Ordering::Relaxed)
    }

    #[test]
    fn transitions_drive_the_state_gauge() {
        let t = StreamTable::default();
        let s = t.register("status_test_cam", "rtsp://cam".into(), true, None).unwrap();
        assert_eq!(gauge("status_test_cam", "connecting"), 1);
        s.set(StreamState::Live, None);
        s.set(StreamState::Backoff, Some("connection refused"));
        assert_eq!(gauge("status_test_cam", "backoff"), 1);
        assert_eq!(gauge("status_test_cam", "live"), 0);
        assert!(t.degraded());
        s.reconnected(2.0, 1);
        assert_eq!(gauge("status_test_cam", "live"), 1);
        assert_eq!(gauge("status_test_cam", "backoff"), 0);
        let v = t.views().pop().unwrap();
        assert_eq!((v.state, v.reconnects), (StreamState::Live, 1));
        assert_eq!(v.last_error.as_deref(), Some("connection refused"));
        assert_eq!(registry().counter_value("refinevad_stream_reconnects_total", &[("stream", "status_test_cam")]), 1);
        assert!(!t.degraded());
    }

    #[test]
    fn ids_are_unique_while_running_and_bounded() {
        let t = StreamTable::default();
        let a = t.register("status_a", "x".into(), true, Some(2)).unwrap();
        assert_eq!(
            t.register("status_a", "x".into(), true, Some(2)).unwrap_err(),
            RegisterError::Duplicate("status_a".into())
        );
        t.register("status_b", "x".into(), true, Some(2)).unwrap();
        assert_eq!(
            t.register("status_c", "x".into(), true, Some(2)).unwrap_err(),
            RegisterError::Full { running: 2, max: 2 }
        );
        a.set(StreamState::Removed, None);
        assert_eq!(
            t.register("status_a", "x".into(), true, Some(2)).unwrap_err(),
            RegisterError::Draining("status_a".into()),
            "stopped, but its segments are still in the stages"
        );
        a.mark_drained();
        t.register("status_a", "x".into(), true, Some(2)).unwrap();
    }
}
