//! `source_down` / `source_up`: a live source's outage as the sinks see it (a `jsonl` line,
//! a webhook delivery, a stdout line), next to the anomaly events.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::{hex128, WallTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceEventKind {
    SourceDown,
    SourceUp,
}

impl SourceEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceEventKind::SourceDown => "source_down",
            SourceEventKind::SourceUp => "source_up",
        }
    }
}

/// One outage message. A stream's `source_down` and the `source_up` that ends the outage
/// share `outage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEvent {
    #[serde(rename = "type")]
    pub kind: SourceEventKind,
    /// Stable id: a hash of pipeline, stream, the stream's session start, type and outage.
    pub event_id: String,
    pub stream: String,
    /// The source URI without credentials or query.
    pub video: String,
    /// 1-based number of the outage in the stream's session.
    pub outage: u32,
    /// Stream seconds: `source_down`, the end of the last segment before the gap;
    /// `source_up`, where the new connection starts.
    pub seconds: f64,
    /// RFC 3339 UTC: the stream's start plus `seconds` (when the pipeline learned of it
    /// when the stream's start is unknown).
    pub wall_time: WallTime,
    /// `source_down`: why the source went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// `source_up`: how long the source was down, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_s: Option<f64>,
    /// `source_up`: reconnect attempts it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    pub pipeline: String,
}

impl SourceEvent {
    /// `Idempotency-Key` of its webhook delivery: `{event_id}-{type}`.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}", self.event_id, self.kind.as_str())
    }
}

/// The id of a stream's `kind` message for its `outage`-th outage in the session that
/// started at `session_ms` (Unix ms).
pub fn source_event_id(
    pipeline: &str,
    stream: &str,
    session_ms: Option<u64>,
    kind: SourceEventKind,
    outage: u32,
) -> String {
    let mut h = Sha256::new();
    for part in [b"refinevad-source-v1".as_slice(), pipeline.as_bytes(), stream.as_bytes(), kind.as_str().as_bytes()] {
        h.update(part);
        h.update(b"\0");
    }
    h.update(session_ms.unwrap_or(0).to_le_bytes());
    h.update(outage.to_le_bytes());
    hex128(&h.finalize())
}

/// `uri` without `user:password@` and without a query or fragment (camera URLs often
/// carry credentials or tokens there).
pub fn redact_uri(uri: &str) -> String {
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_owned() };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_and_queries() {
        assert_eq!(redact_uri("rtsp://admin:s3cret@10.0.0.5:554/stream1?token=x"), "rtsp://10.0.0.5:554/stream1");
        assert_eq!(redact_uri("rtsp://cam.local/live"), "rtsp://cam.local/live");
        assert_eq!(redact_uri("http://u@h"), "http://h");
        assert_eq!(redact_uri("/data/x.mp4"), "/data/x.mp4");
    }

    #[test]
    fn ids_tell_down_from_up_outages_and_sessions_apart() {
        use SourceEventKind::*;
        let id = |s, k, o| source_event_id("p", "cam", s, k, o);
        let a = id(Some(1), SourceDown, 1);
        assert_eq!(a, id(Some(1), SourceDown, 1));
        assert_eq!(a.len(), 32);
        for other in [id(Some(1), SourceUp, 1), id(Some(1), SourceDown, 2), id(Some(2), SourceDown, 1)] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn payload_has_a_type_and_only_its_kinds_fields() {
        let e = SourceEvent {
            kind: SourceEventKind::SourceUp,
            event_id: "x".into(),
            stream: "cam".into(),
            video: "rtsp://h/s".into(),
            outage: 1,
            seconds: 12.5,
            wall_time: WallTime(1_000),
            cause: None,
            down_s: Some(3.0),
            attempts: Some(2),
            pipeline: "p".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "source_up");
        assert_eq!(v["wall_time"], "1970-01-01T00:00:01.000Z");
        assert!(v.get("cause").is_none());
        assert_eq!(e.idempotency_key(), "x-source_up");
        assert_eq!(serde_json::from_value::<SourceEvent>(v).unwrap(), e);
    }
}
