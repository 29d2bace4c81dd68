//! The event record: the DESIGN §6 webhook payload, also written to `jsonl` and
//! `*.events.json`.
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where an event is in its life. Per `event_id`: one `opened`, any number of `updated`,
/// one `closed`, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Opened,
    Updated,
    Closed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Opened => "opened",
            EventStatus::Updated => "updated",
            EventStatus::Closed => "closed",
        }
    }
}

/// A point in a stream: video seconds (3 decimals) and 0-based decoded-frame index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventTime {
    pub seconds: f64,
    pub frame: u64,
}

impl EventTime {
    pub fn new(seconds: f64, frame: u64) -> Self {
        Self { seconds: (seconds * 1000.0).round() / 1000.0, frame }
    }
}

/// One event message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable idempotency key, see [`event_id`].
    pub event_id: String,
    /// 0 for `opened`, +1 per later message of the same event: receivers can order and
    /// de-duplicate messages with `(event_id, seq)`.
    pub seq: u32,
    pub status: EventStatus,
    pub stream: String,
    /// The stream's source URI.
    pub video: String,
    /// First frame of the event.
    pub start: EventTime,
    /// End of the event, frame exclusive; for `opened`/`updated` the end so far.
    pub end: EventTime,
    pub peak_score: f32,
    /// Most likely category (`null` when the model has no categories).
    pub category: Option<String>,
    /// Score-weighted mean category distribution over the event's segments.
    pub category_probs: BTreeMap<String, f32>,
    pub pipeline: String,
    pub model: String,
    /// When this message was emitted (RFC 3339, UTC).
    pub wall_time: String,
    /// The event's video clip (path or URL), when a `clips` sink records them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<String>,
}

impl Event {
    /// Video seconds covered so far.
    pub fn duration_s(&self) -> f64 {
        self.end.seconds - self.start.seconds
    }

    /// Probability of the reported category (0 when none).
    pub fn category_prob(&self) -> f32 {
        self.category.as_ref().and_then(|c| self.category_probs.get(c)).copied().unwrap_or(0.0)
    }
}

/// `event_id` = the first 128 bits of SHA-256 over pipeline, stream and start frame, in hex
/// (32 characters). Re-running a pipeline on the same file gives the same ids, so a
/// receiver de-duplicates re-deliveries. Live streams restart frame numbering when the
/// process restarts; they will need the stream's session start added to the hash.
pub fn event_id(pipeline: &str, stream: &str, start_frame: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"refinevad-event-v1\0");
    h.update(pipeline.as_bytes());
    h.update(b"\0");
    h.update(stream.as_bytes());
    h.update(b"\0");
    h.update(start_frame.to_le_bytes());
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `t` as RFC 3339 UTC with milliseconds, e.g. `2026-05-01T12:00:03.250Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, d.subsec_millis())
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_instants() {
        let at = |s: u64, ms: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z"); // leap day
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
        assert_eq!(at(1_767_225_599, 0), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn event_id_is_stable_and_discriminating() {
        let a = event_id("demo", "cam1", 120);
        assert_eq!(a, event_id("demo", "cam1", 120));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, event_id("demo", "cam1", 121));
        assert_ne!(a, event_id("demo", "cam2", 120));
        assert_ne!(a, event_id("other", "cam1", 120));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(event_id("ab", "c", 0), event_id("a", "bc", 0));
        // Pinned: ids must not change between releases (receivers de-duplicate on them).
        assert_eq!(event_id("demo", "cam1", 0), PINNED_ID);
    }

    const PINNED_ID: &str = "0a0c2f3c7c8e1cd5ab5b9f99956dccf3";
}
