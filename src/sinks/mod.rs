//! Output sinks: `stdout`, `jsonl`, `scores_csv`, `events_json`, `plot` and `webhook`.
//! `stdout`, `jsonl` and `webhook` also report live source outages (`SinkMsg::Source`).
//!
//! Each sink runs on its own thread behind its own bounded queue ([`SinkSet`]), so a
//! slow sink (a webhook receiver that hangs) never holds up the others until its own
//! queue is full. Messages are shared (`Arc`) between the queues, not copied. A sink
//! that fails on one message logs and counts the failure and keeps going; the first
//! failure is returned by [`SinkSet::close`].
mod config;
mod files;
mod paths;
mod plot;
mod set;
mod stdout;
pub mod telemetry;
pub mod webhook;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::{
    validate_sinks, ClipsSinkConfig, EventsJsonSinkConfig, JsonlSinkConfig, PlotSinkConfig, ScoresCsvSinkConfig,
    SinkConfig, SinkQueueConfig, StdoutSinkConfig, WebhookSinkConfig,
};
pub(crate) use files::score_row;
pub use paths::stream_path;
pub use set::{SinkContext, SinkSet};
pub use stdout::format_line;

use crate::events::{Event, InvalidKey, SourceEvent};
use crate::window::ScoreMsg;

/// What the sinks receive: the scoring stage's messages and the detector's events.
#[derive(Debug, Clone)]
pub enum SinkMsg {
    Score(Arc<ScoreMsg>),
    Event(Arc<Event>),
    /// A live source went down or came back (`source_down` / `source_up`).
    Source(Arc<SourceEvent>),
}

impl From<ScoreMsg> for SinkMsg {
    fn from(m: ScoreMsg) -> Self {
        SinkMsg::Score(Arc::new(m))
    }
}

impl From<Event> for SinkMsg {
    fn from(e: Event) -> Self {
        SinkMsg::Event(Arc::new(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: {source}")]
    Start { sink: String, source: Box<SinkError> },
    #[error(transparent)]
    Invalid(#[from] InvalidKey),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Output(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Annotations(#[from] crate::dataset::DatasetError),
    #[error("environment variable {var} (the webhook secret) is not set")]
    SecretMissing { var: String },
    #[error("{url}: {failed} of {attempted} deliveries failed; last error: {last}")]
    Undelivered { url: String, failed: u64, attempted: u64, last: String },
    #[error("standard output: {0}")]
    Stdout(std::io::Error),
    #[error("sink thread: {0}")]
    Thread(String),
}

impl SinkError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SinkError::Io { path: path.into(), source }
    }

    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::Start { .. } => "start",
            SinkError::Invalid(_) => "invalid",
            SinkError::Io { .. } | SinkError::Stdout(_) => "io",
            SinkError::Output(_) => "output",
            SinkError::Annotations(_) => "annotations",
            SinkError::SecretMissing { .. } => "secret",
            SinkError::Undelivered { .. } => "undelivered",
            SinkError::Thread(_) => "thread",
        }
    }
}

#[cfg(test)]
mod tests;
