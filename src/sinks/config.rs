//! The `sinks:` list of a pipeline file.
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::paths::check_writable_dir;
use crate::events::InvalidKey;
use crate::runtime::channel::{ChannelConfig, WhenFull};

/// One output of a pipeline. Every sink runs on its own thread behind its own queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Human-readable lines on standard output as events open and close.
    Stdout(StdoutSinkConfig),
    /// Every event message as one JSON line, appended to a file.
    Jsonl(JsonlSinkConfig),
    /// `<stream>.scores.csv` per stream at its end (DESIGN §6).
    ScoresCsv(ScoresCsvSinkConfig),
    /// `<stream>.events.json` per stream at its end: the closed events (DESIGN §6).
    EventsJson(EventsJsonSinkConfig),
    /// `<stream>.png` score timeline per stream at its end.
    Plot(PlotSinkConfig),
    /// POSTs every event message as JSON to a URL.
    Webhook(WebhookSinkConfig),
}

/// The queue in front of a sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkQueueConfig {
    /// Messages held for this sink. A slow sink only slows the pipeline once its queue is
    /// full, and only under `block`.
    #[serde(default = "default_queue_capacity")]
    pub capacity: NonZeroUsize,
    /// Full queue: `block` (nothing lost), `drop_oldest` or `drop_newest` (drops counted).
    #[serde(default)]
    pub when_full: WhenFull,
}

fn default_queue_capacity() -> NonZeroUsize {
    NonZeroUsize::new(1024).unwrap()
}

impl Default for SinkQueueConfig {
    fn default() -> Self {
        Self { capacity: default_queue_capacity(), when_full: WhenFull::Block }
    }
}

impl From<&SinkQueueConfig> for ChannelConfig {
    fn from(q: &SinkQueueConfig) -> Self {
        ChannelConfig { capacity: q.capacity, when_full: q.when_full }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    /// Also print `updated` messages (default: only opened and closed).
    #[serde(default)]
    pub updates: bool,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    /// File the events are appended to (created with its directories).
    pub path: PathBuf,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresCsvSinkConfig {
    /// Output directory; a stream id with `/` gives nested directories.
    pub dir: PathBuf,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsJsonSinkConfig {
    /// Output directory; a stream id with `/` gives nested directories.
    pub dir: PathBuf,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSinkConfig {
    /// Output directory; a stream id with `/` gives nested directories.
    pub dir: PathBuf,
    /// Ground-truth annotation file (UCF-Crime, XD-Violence or CSV); streams are matched
    /// by stream id, then by the file name of their URI. Truth is shaded when found.
    #[serde(default)]
    pub annotations: Option<PathBuf>,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// Absolute `http://` or `https://` URL receiving the POSTs.
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 signing secret (never the secret
    /// itself: pipeline files get committed). Unset = requests are not signed.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Seconds allowed for one request (connect, send, response).
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Extra request headers, e.g. a receiver's API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

fn default_timeout() -> f64 {
    10.0
}

impl SinkConfig {
    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Jsonl(_) => "jsonl",
            SinkConfig::ScoresCsv(_) => "scores_csv",
            SinkConfig::EventsJson(_) => "events_json",
            SinkConfig::Plot(_) => "plot",
            SinkConfig::Webhook(_) => "webhook",
        }
    }

    pub fn queue(&self) -> &SinkQueueConfig {
        match self {
            SinkConfig::Stdout(c) => &c.queue,
            SinkConfig::Jsonl(c) => &c.queue,
            SinkConfig::ScoresCsv(c) => &c.queue,
            SinkConfig::EventsJson(c) => &c.queue,
            SinkConfig::Plot(c) => &c.queue,
            SinkConfig::Webhook(c) => &c.queue,
        }
    }

    /// Check-time validation (paths writable, URL absolute, names well-formed). Keys are
    /// relative to the sink: prefix with [`InvalidKey::prefixed`]`("sinks[i]")`.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        match self {
            SinkConfig::Stdout(_) => Ok(()),
            SinkConfig::Jsonl(c) => {
                if c.path.as_os_str().is_empty() || c.path.is_dir() {
                    return Err(InvalidKey::new("path", "expected a file path"));
                }
                check_writable_dir(c.path.parent().unwrap_or(&c.path)).map_err(|r| InvalidKey::new("path", r))
            }
            SinkConfig::ScoresCsv(ScoresCsvSinkConfig { dir, .. })
            | SinkConfig::EventsJson(EventsJsonSinkConfig { dir, .. }) => {
                check_writable_dir(dir).map_err(|r| InvalidKey::new("dir", r))
            }
            SinkConfig::Plot(c) => {
                check_writable_dir(&c.dir).map_err(|r| InvalidKey::new("dir", r))?;
                match &c.annotations {
                    Some(a) => crate::dataset::Annotations::load(a)
                        .map(drop)
                        .map_err(|e| InvalidKey::new("annotations", e.to_string())),
                    None => Ok(()),
                }
            }
            SinkConfig::Webhook(c) => c.validate(),
        }
    }
}

/// Validates a whole `sinks:` list; keys come back as `sinks[i].key`.
pub fn validate_sinks(sinks: &[SinkConfig]) -> Result<(), InvalidKey> {
    sinks.iter().enumerate().try_for_each(|(i, s)| s.validate().map_err(|e| e.prefixed(&format!("sinks[{i}]"))))
}

impl WebhookSinkConfig {
    fn validate(&self) -> Result<(), InvalidKey> {
        super::webhook::parse_url(&self.url).map_err(|r| InvalidKey::new("url", r))?;
        if let Some(var) = &self.secret_env {
            if !is_env_name(var) {
                return Err(InvalidKey::new(
                    "secret_env",
                    format!(
                        "`{var}` is not an environment variable name (letters, digits, `_`, not starting with a digit)"
                    ),
                ));
            }
        }
        if !(self.timeout_s > 0.0 && self.timeout_s <= 3600.0) {
            return Err(InvalidKey::new(
                "timeout_s",
                format!("expected seconds in (0, 3600], found {}", self.timeout_s),
            ));
        }
        for (name, value) in &self.headers {
            super::webhook::check_header(name, value).map_err(|r| InvalidKey::new(format!("headers.{name}"), r))?;
        }
        Ok(())
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c == b'_' || c.is_ascii_alphabetic()) && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}
