//! Typed telemetry of the event detector: each `emit()` logs and counts in one place
//! (see [`crate::telemetry::events`]).
use std::sync::atomic::Ordering;

use super::{Event, EventStatus};
use crate::telemetry::registry;

/// An event message left the detector. `refinevad_events_total{status}`.
pub struct EventEmitted<'a> {
    pub event: &'a Event,
}

impl EventEmitted<'_> {
    pub fn emit(&self) {
        let e = self.event;
        registry().counter("refinevad_events_total", &[("status", e.status.as_str())]).fetch_add(1, Ordering::Relaxed);
        let category = e.category.as_deref().unwrap_or("-");
        match e.status {
            EventStatus::Updated => tracing::debug!(
                stream = e.stream,
                event_id = e.event_id,
                category,
                peak = e.peak_score,
                "event updated"
            ),
            status => tracing::info!(
                stream = e.stream,
                event_id = e.event_id,
                category,
                peak = e.peak_score,
                start_s = e.start.seconds,
                end_s = e.end.seconds,
                "event {}",
                status.as_str()
            ),
        }
    }
}

/// A candidate event was never reported. `reason`: `short` (under `min_duration_s`) or
/// `cooldown` (started and ended within the cooldown). `refinevad_events_suppressed_total{reason}`.
pub struct EventSuppressed<'a> {
    pub stream: &'a str,
    pub reason: &'static str,
    pub start_s: f64,
    pub end_s: f64,
    pub peak: f32,
}

impl EventSuppressed<'_> {
    pub fn emit(&self) {
        registry()
            .counter("refinevad_events_suppressed_total", &[("reason", self.reason)])
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            stream = self.stream,
            reason = self.reason,
            start_s = self.start_s,
            end_s = self.end_s,
            peak = self.peak,
            "event suppressed"
        );
    }
}

/// A live source went down (`kind` = `source_down`) or came back (`source_up`).
/// `refinevad_source_events_total{type}`.
pub struct SourceChanged<'a> {
    pub event: &'a super::SourceEvent,
}

impl SourceChanged<'_> {
    pub fn emit(&self) {
        let e = self.event;
        registry()
            .counter("refinevad_source_events_total", &[("type", e.kind.as_str())])
            .fetch_add(1, Ordering::Relaxed);
        match e.kind {
            super::SourceEventKind::SourceDown => tracing::warn!(
                stream = e.stream,
                outage = e.outage,
                at_s = e.seconds,
                "source down: {}",
                e.cause.as_deref().unwrap_or("")
            ),
            super::SourceEventKind::SourceUp => tracing::info!(
                stream = e.stream,
                outage = e.outage,
                at_s = e.seconds,
                down_s = e.down_s,
                attempts = e.attempts,
                "source up"
            ),
        }
    }
}
