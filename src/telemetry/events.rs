//! Typed internal events. `emit()` is the only place that both logs and counts, in the
//! spirit of Vector's InternalEvent: a log line without its metric (or the reverse)
//! cannot be written by accident.
use std::sync::atomic::Ordering;

use super::registry;

/// A stream's source started producing frames.
pub struct StreamStarted<'a> {
    pub stream: &'a str,
    pub uri: &'a str,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
}

impl StreamStarted<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_streams_started_total", &[]).fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            stream = self.stream,
            uri = self.uri,
            width = self.width,
            height = self.height,
            fps = self.fps,
            "stream started"
        );
    }
}

/// A stream's source reached its end normally.
pub struct StreamFinished<'a> {
    pub stream: &'a str,
    pub frames: u64,
}

impl StreamFinished<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_streams_finished_total", &[]).fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = self.stream, frames = self.frames, "stream finished");
    }
}

/// A stream failed (bad input, decoder error, missing plugin…). Only this stream stops.
/// Logged at info: the commands report failures to the user themselves (one line each),
/// so the log line is for operators who asked for more (`-v`, `RUST_LOG`).
pub struct StreamFailed<'a> {
    pub stream: &'a str,
    pub kind: &'static str,
    pub cause: &'a str,
}

impl StreamFailed<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_stream_errors_total", &[("kind", self.kind)]).fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = self.stream, kind = self.kind, "stream failed: {}", self.cause);
    }
}

/// A frame was decoded and handed to the pipeline.
pub struct FrameDecoded<'a> {
    pub stream: &'a str,
}

impl FrameDecoded<'_> {
    /// Counted only: one log line per frame would drown the log.
    pub fn emit(&self) {
        registry()
            .counter("refinevad_frames_decoded_total", &[("stream", self.stream)])
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Items dropped by a channel's `when_full` policy. Logged at powers of two of the
/// running total so overload is visible without flooding the log.
pub struct ItemsDropped<'a> {
    pub channel: &'a str,
    pub policy: &'static str,
    pub count: u64,
}

impl ItemsDropped<'_> {
    pub fn emit(&self) {
        let c = registry()
            .counter("refinevad_channel_dropped_total", &[("channel", self.channel), ("policy", self.policy)]);
        let before = c.fetch_add(self.count, Ordering::Relaxed);
        let after = before + self.count;
        if (before.max(1)).ilog2() != after.ilog2() || before == 0 {
            tracing::warn!(channel = self.channel, policy = self.policy, total = after, "channel full: items dropped");
        }
    }
}

/// One inference batch ran.
pub struct BatchInferred<'a> {
    pub stage: &'a str,
    /// `device#k` of the worker that ran the batch.
    pub worker: &'a str,
    pub snippets: usize,
    pub seconds: f64,
}

impl BatchInferred<'_> {
    pub fn emit(&self) {
        let labels = [("stage", self.stage), ("worker", self.worker)];
        registry().histogram("refinevad_inference_seconds", &labels).observe(self.seconds);
        registry().histogram("refinevad_batch_size", &labels).observe(self.snippets as f64);
        registry()
            .counter("refinevad_snippets_inferred_total", &labels)
            .fetch_add(self.snippets as u64, Ordering::Relaxed);
        tracing::debug!(
            stage = self.stage,
            worker = self.worker,
            batch = self.snippets,
            ms = self.seconds * 1e3,
            "batch inferred"
        );
    }
}

/// An execution provider was registered for an inference worker.
pub struct ProviderSelected<'a> {
    pub stage: &'a str,
    pub device: &'a str,
    pub provider: &'a str,
}

impl ProviderSelected<'_> {
    pub fn emit(&self) {
        registry()
            .gauge(
                "refinevad_execution_provider",
                &[("stage", self.stage), ("device", self.device), ("provider", self.provider)],
            )
            .store(1, Ordering::Relaxed);
        tracing::info!(stage = self.stage, device = self.device, provider = self.provider, "execution provider ready");
        providers()
            .lock()
            .unwrap()
            .insert(format!("provider.{}.{}", self.stage, self.device), self.provider.to_owned());
    }
}

/// Execution providers in use, `provider.<stage>.<device>` → provider, for `/healthz`.
pub fn providers() -> &'static std::sync::Mutex<std::collections::BTreeMap<String, String>> {
    static P: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<String, String>>> =
        std::sync::OnceLock::new();
    P.get_or_init(Default::default)
}

/// A per-video output was written.
pub struct OutputWritten<'a> {
    pub stream: &'a str,
    pub path: &'a str,
    pub segments: usize,
}

impl OutputWritten<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_outputs_written_total", &[]).fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = self.stream, path = self.path, segments = self.segments, "output written");
    }
}

/// An event clip was written. `refinevad_clips_written_total`, `refinevad_clip_write_seconds`.
pub struct ClipWritten<'a> {
    pub stream: &'a str,
    pub event_id: &'a str,
    pub path: &'a str,
    /// Video seconds in the clip.
    pub seconds: f64,
    pub bytes: u64,
    /// Time taken to write it.
    pub write_s: f64,
}

impl ClipWritten<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_clips_written_total", &[]).fetch_add(1, Ordering::Relaxed);
        registry().histogram("refinevad_clip_write_seconds", &[]).observe(self.write_s);
        tracing::info!(
            stream = self.stream,
            event_id = self.event_id,
            path = self.path,
            seconds = self.seconds,
            bytes = self.bytes,
            write_ms = (self.write_s * 1e3).round(),
            "clip written"
        );
    }
}

/// An event clip could not be written. `refinevad_clips_failed_total`.
pub struct ClipFailed<'a> {
    pub stream: &'a str,
    pub event_id: &'a str,
    pub cause: &'a str,
}

impl ClipFailed<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_clips_failed_total", &[]).fetch_add(1, Ordering::Relaxed);
        tracing::warn!(stream = self.stream, event_id = self.event_id, "clip failed: {}", self.cause);
    }
}

/// A live stream's clip recorder lost its connection and will reconnect after `retry_s`
/// (`cause` None: the source ended cleanly). `refinevad_clip_recorder_reconnects_total{stream}`.
pub struct RecorderReconnecting<'a> {
    pub stream: &'a str,
    /// Redacted URI.
    pub uri: &'a str,
    pub cause: Option<&'a str>,
    pub retry_s: f64,
}

impl RecorderReconnecting<'_> {
    pub fn emit(&self) {
        registry()
            .counter("refinevad_clip_recorder_reconnects_total", &[("stream", self.stream)])
            .fetch_add(1, Ordering::Relaxed);
        match self.cause {
            None => tracing::info!(stream = self.stream, uri = self.uri, "clip recorder: source ended; reconnecting"),
            Some(cause) => tracing::warn!(
                stream = self.stream,
                uri = self.uri,
                "clip recorder: {cause}; reconnecting in {} s",
                self.retry_s
            ),
        }
    }
}

/// A live stream cannot be recorded (e.g. a codec the ring cannot cut); it gets no clips.
/// `refinevad_clip_recorder_unsupported_total{stream}`.
pub struct RecorderUnsupported<'a> {
    pub stream: &'a str,
    pub uri: &'a str,
    pub reason: &'a str,
}

impl RecorderUnsupported<'_> {
    pub fn emit(&self) {
        registry()
            .counter("refinevad_clip_recorder_unsupported_total", &[("stream", self.stream)])
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            stream = self.stream,
            uri = self.uri,
            "clip recorder: {}; no clips for this stream",
            self.reason
        );
    }
}

/// Retention removed clips. `refinevad_clips_pruned_total`.
pub struct ClipsPruned<'a> {
    pub dir: &'a str,
    pub files: usize,
    pub bytes: u64,
}

impl ClipsPruned<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_clips_pruned_total", &[]).fetch_add(self.files as u64, Ordering::Relaxed);
        tracing::info!(dir = self.dir, files = self.files, bytes = self.bytes, "clips pruned");
    }
}

/// A stream moved from one state to another (`src/source/status.rs`). The gauge
/// `refinevad_stream_state{stream,state}` is 1 for the current state and 0 for the others.
pub struct StreamStateChanged<'a> {
    pub stream: &'a str,
    /// None when the stream was just registered.
    pub from: Option<crate::source::StreamState>,
    pub to: crate::source::StreamState,
    /// Why (an error message), for the unhealthy states.
    pub cause: Option<&'a str>,
}

impl StreamStateChanged<'_> {
    pub fn emit(&self) {
        for s in crate::source::StreamState::ALL {
            registry()
                .gauge("refinevad_stream_state", &[("stream", self.stream), ("state", s.as_str())])
                .store((s == self.to) as i64, Ordering::Relaxed);
        }
        let from = self.from.map_or("new", |s| s.as_str());
        let to = self.to.as_str();
        match (self.to.is_degraded(), self.cause) {
            (true, Some(cause)) => tracing::warn!(stream = self.stream, from, to, "stream {to}: {cause}"),
            (true, None) => tracing::warn!(stream = self.stream, from, to, "stream {to}"),
            (false, _) => tracing::info!(stream = self.stream, from, to, "stream {to}"),
        }
    }
}

/// A live stream reconnected after an outage.
pub struct StreamReconnected<'a> {
    pub stream: &'a str,
    pub down_s: f64,
    pub attempts: u32,
}

impl StreamReconnected<'_> {
    pub fn emit(&self) {
        registry()
            .counter("refinevad_stream_reconnects_total", &[("stream", self.stream)])
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = self.stream, down_s = self.down_s, attempts = self.attempts, "stream reconnected");
    }
}

/// `run --watch` applied an edit of the pipeline file.
/// `refinevad_pipeline_reloads_total{result="ok"|"partial"}` (partial: some sources could
/// not be stopped or started; see `errors`).
pub struct PipelineReloaded<'a> {
    pub file: &'a str,
    pub added: &'a [String],
    pub removed: &'a [String],
    pub restarted: &'a [String],
    /// Changed sections that need a restart.
    pub not_applied: &'a [String],
    /// Sources that could not be stopped or started, with the cause.
    pub errors: &'a [String],
}

impl PipelineReloaded<'_> {
    pub fn emit(&self) {
        let result = if self.errors.is_empty() { "ok" } else { "partial" };
        registry().counter("refinevad_pipeline_reloads_total", &[("result", result)]).fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            file = self.file,
            added = ?self.added,
            removed = ?self.removed,
            restarted = ?self.restarted,
            "pipeline file reloaded"
        );
        if !self.not_applied.is_empty() {
            tracing::warn!(
                file = self.file,
                "pipeline file: changes to {} take effect at the next start; only `sources` are applied while running",
                self.not_applied.join(", ")
            );
        }
        for e in self.errors {
            tracing::error!(file = self.file, "pipeline file: {e}");
        }
    }
}

/// `run --watch` found an edit of the pipeline file that does not load; nothing changes.
/// `refinevad_pipeline_reloads_total{result="error"}`.
pub struct PipelineReloadFailed<'a> {
    pub file: &'a str,
    pub error: &'a str,
}

impl PipelineReloadFailed<'_> {
    pub fn emit(&self) {
        registry().counter("refinevad_pipeline_reloads_total", &[("result", "error")]).fetch_add(1, Ordering::Relaxed);
        tracing::error!(file = self.file, "pipeline file not reloaded, the run keeps its sources: {}", self.error);
    }
}
