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

/// A point in a stream: video seconds (3 decimals) and 0-based decoded-frame index; for
/// live streams also the wall-clock time (stream seconds count from the stream's start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventTime {
    pub seconds: f64,
    pub frame: u64,
    /// Live streams only: RFC 3339 UTC, e.g. `2026-05-01T12:00:03.250Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time: Option<WallTime>,
}

impl EventTime {
    pub fn new(seconds: f64, frame: u64) -> Self {
        Self { seconds: (seconds * 1000.0).round() / 1000.0, frame, wall_time: None }
    }

    /// The same point with its wall-clock time: `session_ms` (the stream's start, Unix
    /// ms) plus the stream seconds.
    pub fn at_wall(self, session_ms: Option<u64>) -> Self {
        let wall_time = session_ms.map(|ms| WallTime::after(ms, self.seconds));
        Self { wall_time, ..self }
    }
}

/// A wall-clock instant in Unix milliseconds, written as RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallTime(pub u64);

impl WallTime {
    /// `seconds` (>= 0) after the Unix-ms instant `ms`.
    pub fn after(ms: u64, seconds: f64) -> Self {
        WallTime(ms + (seconds.max(0.0) * 1000.0).round() as u64)
    }

    pub fn to_rfc3339(self) -> String {
        rfc3339_utc(UNIX_EPOCH + std::time::Duration::from_millis(self.0))
    }

    /// Parses what [`WallTime::to_rfc3339`] writes (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let ms = match &s[19..] {
            "Z" => 0,
            f if f.len() == 5 && f.starts_with('.') && f.ends_with('Z') => num(20..23)?,
            _ => return None,
        };
        let (y, m, d) = (num(0..4)? as i64, num(5..7)? as u32, num(8..10)? as u32);
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        let days = u64::try_from(days_from_civil(y, m, d)).ok()?;
        Some(WallTime(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms))
    }
}

impl Serialize for WallTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for WallTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WallTime::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an RFC 3339 UTC time, found `{s}`")))
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
/// receiver de-duplicates re-deliveries. Live streams use [`event_id_in_session`].
pub fn event_id(pipeline: &str, stream: &str, start_frame: u64) -> String {
    event_id_in_session(pipeline, stream, None, start_frame)
}

/// [`event_id`] with the stream's session start (Unix ms) in the hash when given: live
/// streams restart frame numbering when the process restarts, so frame numbers alone
/// would repeat ids of earlier sessions. `None` gives exactly the file id.
pub fn event_id_in_session(pipeline: &str, stream: &str, session_ms: Option<u64>, start_frame: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"refinevad-event-v1\0");
    h.update(pipeline.as_bytes());
    h.update(b"\0");
    h.update(stream.as_bytes());
    h.update(b"\0");
    h.update(start_frame.to_le_bytes());
    if let Some(ms) = session_ms {
        h.update(b"\0session\0");
        h.update(ms.to_le_bytes());
    }
    hex128(&h.finalize())
}

/// The first 128 bits of a digest in hex.
pub(crate) fn hex128(digest: &[u8]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `t` as RFC 3339 UTC with milliseconds, e.g. `2026-05-01T12:00:03.250Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, d.subsec_millis())
}

/// (year, month, day) → days since 1970-01-01, proleptic Gregorian (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn live_ids_add_the_session_and_file_ids_stay() {
        assert_eq!(event_id_in_session("demo", "cam1", None, 0), PINNED_ID);
        let a = event_id_in_session("demo", "cam1", Some(1_767_225_600_000), 0);
        assert_ne!(a, PINNED_ID, "a live session changes the id");
        assert_eq!(a, event_id_in_session("demo", "cam1", Some(1_767_225_600_000), 0));
        assert_ne!(a, event_id_in_session("demo", "cam1", Some(1_767_225_600_001), 0));
    }

    #[test]
    fn wall_times_round_trip_and_serialise_as_rfc3339() {
        for ms in [0, 951_782_400_005, 1_709_251_199_999, 4_102_444_800_000] {
            let w = WallTime(ms);
            assert_eq!(WallTime::parse(&w.to_rfc3339()), Some(w), "{}", w.to_rfc3339());
        }
        assert_eq!(WallTime::after(1_000, 2.5), WallTime(3_500));
        assert_eq!(WallTime::parse("2000-02-29T00:00:00Z"), Some(WallTime(951_782_400_000)));
        assert_eq!(WallTime::parse("2000-13-01T00:00:00Z"), None);
        assert_eq!(WallTime::parse("yesterday"), None);
        let t = EventTime::new(2.5, 50).at_wall(Some(1_000));
        assert_eq!(serde_json::to_value(t).unwrap()["wall_time"], "1970-01-01T00:00:03.500Z");
        let file = serde_json::to_value(EventTime::new(2.5, 50).at_wall(None)).unwrap();
        assert_eq!(file, serde_json::json!({"seconds": 2.5, "frame": 50}), "file times have no wall_time");
        assert_eq!(serde_json::from_value::<EventTime>(serde_json::to_value(t).unwrap()).unwrap(), t);
    }

    const PINNED_ID: &str = "0a0c2f3c7c8e1cd5ab5b9f99956dccf3";
}
