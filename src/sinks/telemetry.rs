//! Typed telemetry of the sinks: each `emit()` logs and counts in one place (see
//! [`crate::telemetry::events`]).
use std::sync::atomic::Ordering;

use super::SinkError;
use crate::telemetry::registry;

/// A sink failed to handle a message (or to start, or to finish).
/// `refinevad_sink_errors_total{sink,kind}`.
pub struct SinkFailed<'a> {
    pub sink: &'a str,
    pub error: &'a SinkError,
}

impl SinkFailed<'_> {
    pub fn emit(&self) {
        let kind = self.error.kind();
        registry()
            .counter("refinevad_sink_errors_total", &[("sink", self.sink), ("kind", kind)])
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(sink = self.sink, kind, "{}", self.error);
    }
}

/// A sink's thread is gone; messages for it are discarded from now on.
/// `refinevad_sink_errors_total{sink,kind="stopped"}`.
pub struct SinkStopped<'a> {
    pub sink: &'a str,
}

impl SinkStopped<'_> {
    pub fn emit(&self) {
        registry()
            .counter("refinevad_sink_errors_total", &[("sink", self.sink), ("kind", "stopped")])
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(sink = self.sink, "sink stopped; its messages are discarded");
    }
}

/// One webhook request finished. `outcome`: `ok`, `status` (non-2xx), `timeout`,
/// `connect`, `tls`, `io`. `refinevad_webhook_requests_total{sink,outcome}` and
/// `refinevad_webhook_request_seconds{sink}`.
pub struct WebhookAttempt<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub outcome: &'static str,
    pub status: Option<u16>,
    pub seconds: f64,
    /// Failure description (never contains the secret or header values).
    pub error: Option<&'a str>,
}

impl WebhookAttempt<'_> {
    pub fn emit(&self) {
        let r = registry();
        r.counter("refinevad_webhook_requests_total", &[("sink", self.sink), ("outcome", self.outcome)])
            .fetch_add(1, Ordering::Relaxed);
        r.histogram("refinevad_webhook_request_seconds", &[("sink", self.sink)]).observe(self.seconds);
        let ms = (self.seconds * 1e3).round();
        match self.error {
            None => tracing::debug!(
                sink = self.sink,
                event_id = self.event_id,
                status = self.status,
                ms,
                "webhook delivered"
            ),
            Some(error) => tracing::warn!(
                sink = self.sink,
                event_id = self.event_id,
                outcome = self.outcome,
                status = self.status,
                ms,
                "webhook delivery failed: {error}"
            ),
        }
    }
}
