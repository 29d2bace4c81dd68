//! Typed telemetry of reliable webhook delivery: each `emit()` logs and counts in one
//! place (see [`crate::telemetry::events`]). Per-request outcomes are
//! [`crate::sinks::telemetry::WebhookAttempt`] (`refinevad_webhook_requests_total`).
//!
//! Metrics (all labelled `sink`):
//! - `refinevad_webhook_enqueued_total` — events persisted to the outbox;
//! - `refinevad_webhook_delivered_total` — deliveries answered 2xx;
//! - `refinevad_webhook_delivery_seconds` — outbox entry to 2xx, retries included;
//! - `refinevad_webhook_failures_total{reason}` — failed attempts: `timeout`, `connect`,
//!   `tls`, `io`, `http_3xx`, `http_408`, `http_429`, `http_4xx`, `http_5xx`;
//! - `refinevad_webhook_retries_total` — retries scheduled;
//! - `refinevad_webhook_dead_letters_total{reason}` — `rejected`, `max_attempts`,
//!   `max_age`, `outbox_full`;
//! - `refinevad_webhook_suppressed_total{reason}` — `rate_limit`, `cooldown`;
//! - `refinevad_webhook_outbox_recovered_total` — entries resumed at start;
//! - gauges `refinevad_webhook_outbox_depth`, `refinevad_webhook_outbox_oldest_seconds`.
use std::path::Path;
use std::sync::atomic::Ordering;

use super::delivery::DeliveryError;
use super::outbox::Recovery;
use crate::telemetry::registry;

fn count(name: &str, labels: &[(&str, &str)]) {
    registry().counter(name, labels).fetch_add(1, Ordering::Relaxed);
}

/// An event was persisted (fsync'd) to the outbox.
pub struct Enqueued<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub key: &'a str,
}

impl Enqueued<'_> {
    pub fn emit(&self) {
        count("refinevad_webhook_enqueued_total", &[("sink", self.sink)]);
        tracing::debug!(sink = self.sink, event_id = self.event_id, key = self.key, "webhook event persisted");
    }
}

/// A delivery got its 2xx.
pub struct Delivered<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub attempts: u32,
    /// From entering the outbox to the 2xx.
    pub seconds: f64,
}

impl Delivered<'_> {
    pub fn emit(&self) {
        count("refinevad_webhook_delivered_total", &[("sink", self.sink)]);
        registry().histogram("refinevad_webhook_delivery_seconds", &[("sink", self.sink)]).observe(self.seconds);
        if self.attempts > 1 {
            tracing::info!(
                sink = self.sink,
                event_id = self.event_id,
                attempts = self.attempts,
                "webhook delivered after retries"
            );
        }
    }
}

/// The reason label of a failed attempt.
pub fn failure_reason(e: &DeliveryError) -> &'static str {
    match e {
        DeliveryError::Status { code, .. } => match code {
            408 => "http_408",
            429 => "http_429",
            300..=399 => "http_3xx",
            400..=499 => "http_4xx",
            500..=599 => "http_5xx",
            _ => "http_other",
        },
        other => other.outcome(),
    }
}

/// An attempt failed; a retry may follow.
pub struct AttemptFailed<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub reason: &'static str,
    pub attempts: u32,
    /// Seconds until the retry (`None`: no retry, a dead letter follows).
    pub retry_in: Option<f64>,
}

impl AttemptFailed<'_> {
    pub fn emit(&self) {
        count("refinevad_webhook_failures_total", &[("sink", self.sink), ("reason", self.reason)]);
        if let Some(s) = self.retry_in {
            count("refinevad_webhook_retries_total", &[("sink", self.sink)]);
            tracing::debug!(
                sink = self.sink,
                event_id = self.event_id,
                reason = self.reason,
                attempts = self.attempts,
                retry_in_s = (s * 1e3).round() / 1e3,
                "webhook retry scheduled"
            );
        }
    }
}

/// An event went to the dead-letter file.
pub struct DeadLettered<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub reason: &'static str,
    pub attempts: u32,
    pub error: &'a str,
    pub dir: &'a Path,
}

impl DeadLettered<'_> {
    pub fn emit(&self) {
        count("refinevad_webhook_dead_letters_total", &[("sink", self.sink), ("reason", self.reason)]);
        tracing::error!(
            sink = self.sink,
            event_id = self.event_id,
            reason = self.reason,
            attempts = self.attempts,
            outbox = %self.dir.display(),
            "webhook event dead-lettered (replay with `refinevad alerts replay`): {}",
            self.error
        );
    }
}

/// A message was not sent because of `rate_limit`.
pub struct Suppressed<'a> {
    pub sink: &'a str,
    pub event_id: &'a str,
    pub stream: &'a str,
    pub reason: &'static str,
}

impl Suppressed<'_> {
    pub fn emit(&self) {
        count("refinevad_webhook_suppressed_total", &[("sink", self.sink), ("reason", self.reason)]);
        tracing::debug!(
            sink = self.sink,
            event_id = self.event_id,
            stream = self.stream,
            reason = self.reason,
            "webhook message suppressed"
        );
    }
}

/// The outbox was opened; what was left by the last process is resumed.
pub struct OutboxOpened<'a> {
    pub sink: &'a str,
    pub dir: &'a Path,
    pub recovery: &'a Recovery,
}

impl OutboxOpened<'_> {
    pub fn emit(&self) {
        let r = self.recovery;
        registry()
            .counter("refinevad_webhook_outbox_recovered_total", &[("sink", self.sink)])
            .fetch_add(r.live as u64, Ordering::Relaxed);
        if r.torn_bytes > 0 || r.corrupt > 0 {
            tracing::warn!(
                sink = self.sink,
                outbox = %self.dir.display(),
                torn_bytes = r.torn_bytes,
                corrupt_records = r.corrupt,
                "webhook outbox: cut an interrupted write off the log / skipped damaged records"
            );
        }
        if r.live > 0 {
            tracing::info!(sink = self.sink, outbox = %self.dir.display(), pending = r.live, "webhook outbox: resuming deliveries");
        } else {
            tracing::debug!(sink = self.sink, outbox = %self.dir.display(), "webhook outbox opened");
        }
    }
}

/// Periodic backlog report (gauges only; transitions are logged by the health update).
pub struct OutboxBacklog<'a> {
    pub sink: &'a str,
    pub depth: usize,
    pub oldest_s: f64,
}

impl OutboxBacklog<'_> {
    pub fn emit(&self) {
        let r = registry();
        r.gauge("refinevad_webhook_outbox_depth", &[("sink", self.sink)]).store(self.depth as i64, Ordering::Relaxed);
        r.gauge("refinevad_webhook_outbox_oldest_seconds", &[("sink", self.sink)])
            .store(self.oldest_s.round() as i64, Ordering::Relaxed);
    }
}
