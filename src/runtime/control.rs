//! The stream control API behind `POST /streams` and `DELETE /streams/{id}`: validates a
//! source like the pipeline file does, registers it in the [`StreamTable`] and hands it to
//! the running source stage.
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::source::{redact_uri, uri_for, SourceConfig, StreamState, StreamStatus, StreamTable};
use crate::telemetry::http::{ApiError, StreamControl};

/// A source added at run time, already registered.
pub struct Added {
    pub cfg: SourceConfig,
    pub status: Arc<StreamStatus>,
}

pub struct SourceControl {
    table: Arc<StreamTable>,
    tx: Sender<Added>,
    max_streams: usize,
}

impl SourceControl {
    pub fn new(table: Arc<StreamTable>, tx: Sender<Added>, max_streams: usize) -> Self {
        Self { table, tx, max_streams }
    }
}

/// Parses and validates one `sources[]` entry given as JSON; errors name the key.
pub fn parse_source(body: &[u8]) -> Result<SourceConfig, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let cfg: SourceConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let inner = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        if path == "." {
            format!("invalid source: {inner}")
        } else {
            format!("{path}: {inner}")
        }
    })?;
    cfg.validate().map_err(|(key, reason)| format!("{key}: {reason}"))?;
    if !cfg.uri.contains("://") || cfg.uri.starts_with("file://") {
        uri_for(&cfg.uri).map_err(|e| format!("uri: {e}"))?;
    }
    Ok(cfg)
}

impl StreamControl for SourceControl {
    fn add(&self, body: &[u8]) -> Result<(u16, String), ApiError> {
        let cfg = parse_source(body).map_err(|m| ApiError::new(400, m))?;
        self.add_source(cfg)
    }

    fn remove(&self, id: &str) -> Result<(u16, String), ApiError> {
        self.remove_source(id)
    }
}

impl SourceControl {
    /// Registers a validated source and hands it to the running source stage: 201 with the
    /// stream's view, 409 for a running duplicate id or a full `max_streams`, 503 when the
    /// run is shutting down.
    pub fn add_source(&self, cfg: SourceConfig) -> Result<(u16, String), ApiError> {
        let status = self
            .table
            .register(&cfg.id, redact_uri(&cfg.uri), cfg.is_live(), Some(self.max_streams))
            .map_err(|e| ApiError::new(409, format!("id: {e}")))?;
        self.table.remember(&cfg);
        let view = status.view();
        if self.tx.send(Added { cfg, status: status.clone() }).is_err() {
            status.set(StreamState::Failed, Some("the run is shutting down"));
            return Err(ApiError::new(503, "the run is shutting down".into()));
        }
        Ok((201, serde_json::to_string(&view).unwrap_or_default()))
    }

    /// Stops stream `id` (it drains to `removed`): 202, or 200 if it had already ended;
    /// 404 for an unknown id.
    pub fn remove_source(&self, id: &str) -> Result<(u16, String), ApiError> {
        let Some(status) = self.table.get(id) else {
            return Err(ApiError::new(404, format!("unknown stream `{id}`")));
        };
        if status.state().is_terminal() {
            status.set(StreamState::Removed, None);
            return Ok((200, serde_json::to_string(&status.view()).unwrap_or_default()));
        }
        status.request_stop();
        Ok((202, serde_json::to_string(&status.view()).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_get_messages_naming_the_key() {
        let err = |body: &str| parse_source(body.as_bytes()).unwrap_err();
        assert!(
            err(r#"{"id":"a","uri":"rtsp://x","latency":5}"#).contains("unknown field `latency`"),
            "{}",
            err(r#"{"id":"a","uri":"rtsp://x","latency":5}"#)
        );
        assert_eq!(err(r#"{"id":"a"}"#), "invalid source: missing field `uri`");
        assert!(
            err(r#"{"id":"a","uri":"/surely/missing.mp4"}"#).starts_with("uri: /surely/missing.mp4: file not found")
        );
        assert!(err(r#"{"id":"a","uri":"rtsp://x","reconnect":{"jitter":3}}"#).starts_with("reconnect.jitter: "));
        assert!(err(r#"{"id":"a","uri":"rtsp://x","latency_ms":"soon"}"#).starts_with("latency_ms: invalid type"));
        assert!(err("not json").starts_with("invalid source: expected"));
        assert!(parse_source(br#"{"id":"a","uri":"rtsp://x","transport":"tcp"}"#).is_ok());
    }

    #[test]
    fn add_registers_and_forwards_remove_stops() {
        let table = Arc::new(StreamTable::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let c = SourceControl::new(table.clone(), tx, 1);
        let (code, body) = c.add(br#"{"id":"control_cam","uri":"rtsp://127.0.0.1:9/x"}"#).unwrap();
        assert_eq!(code, 201);
        assert!(body.contains(r#""state":"connecting""#), "{body}");
        let added = rx.try_recv().unwrap();
        assert_eq!(c.add(br#"{"id":"control_cam","uri":"rtsp://x"}"#).unwrap_err().code, 409);
        assert_eq!(c.add(br#"{"id":"control_other","uri":"rtsp://x"}"#).unwrap_err().code, 409);
        assert_eq!(c.remove("nope").unwrap_err().code, 404);
        assert_eq!(c.remove("control_cam").unwrap().0, 202);
        assert!(added.status.stop_requested());
    }
}
