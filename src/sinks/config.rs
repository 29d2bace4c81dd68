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
#[allow(clippy::large_enum_variant)] // built once per run; boxing would burden every match
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
    /// An MP4 clip of each closed event (see `docs/clips.md`).
    Clips(ClipsSinkConfig),
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

/// The `webhook` sink: durable, retried, signed delivery of every event message to one
/// URL (see `docs/webhooks.md`). Every key but `url` has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// Absolute `http://` or `https://` URL receiving the POSTs.
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 signing secret (never the secret
    /// itself: pipeline files get committed). Unset (and no `secret_file`) = unsigned.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the signing secret (one trailing newline is ignored); exclusive with
    /// `secret_env`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Seconds allowed for one request (connect, send, response).
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Seconds allowed to establish the connection (TCP + TLS), within `timeout_s`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// Extra request headers: a literal value, or `{env: VAR, prefix: "Bearer "}` to read
    /// it (e.g. a token) from the environment at start.
    #[serde(default)]
    pub headers: BTreeMap<String, WebhookHeaderValue>,
    /// Payload template file (JSON with `{{field}}` placeholders, e.g. for Slack); unset =
    /// the event JSON of DESIGN §6.
    #[serde(default)]
    pub template: Option<PathBuf>,
    /// Directory of the durable outbox (log, lock, dead letters). Default:
    /// `out/outbox/<pipeline name>/webhook-<index>`. One process at a time uses it.
    #[serde(default)]
    pub outbox_dir: Option<PathBuf>,
    /// Delivery threads. Ordering per stream is kept whatever the count: one request in
    /// flight per stream.
    #[serde(default = "default_concurrency")]
    pub concurrency: NonZeroUsize,
    /// Retry budget and backoff.
    #[serde(default)]
    pub retry: WebhookRetryConfig,
    /// Suppression of `opened` events per (stream, category); unset = none.
    #[serde(default)]
    pub rate_limit: Option<WebhookRateLimitConfig>,
    /// At the end of a run, seconds to keep delivering what is pending before stopping
    /// (what is left stays in the outbox for the next start).
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_s: f64,
    /// Pending deliveries held at most; beyond, new events go straight to the dead-letter
    /// file (replayable) instead of growing memory without bound.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// `/healthz` reports the sink degraded from this many pending deliveries…
    #[serde(default = "default_degraded_depth")]
    pub degraded_depth: usize,
    /// …or when the oldest pending delivery is this old (seconds).
    #[serde(default = "default_degraded_age")]
    pub degraded_age_s: f64,
    /// Root certificates for `https`: `system` (the OS bundle, e.g.
    /// /etc/ssl/certs/ca-certificates.crt or `SSL_CERT_FILE`) or `webpki` (Mozilla's,
    /// bundled in the binary).
    #[serde(default)]
    pub tls_roots: WebhookTlsRoots,
    /// Extra PEM root certificates (a private CA), added to the `system` roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
}

impl Default for WebhookSinkConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: None,
            secret_file: None,
            timeout_s: default_timeout(),
            connect_timeout_s: default_connect_timeout(),
            headers: BTreeMap::new(),
            template: None,
            outbox_dir: None,
            concurrency: default_concurrency(),
            retry: WebhookRetryConfig::default(),
            rate_limit: None,
            drain_timeout_s: default_drain_timeout(),
            max_pending: default_max_pending(),
            degraded_depth: default_degraded_depth(),
            degraded_age_s: default_degraded_age(),
            tls_roots: WebhookTlsRoots::default(),
            ca_file: None,
            queue: SinkQueueConfig::default(),
        }
    }
}

/// The `clips` sink: an MP4 of each event, `<dir>/<stream>/<event_id>.mp4`, named in the
/// event's `clip` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipsSinkConfig {
    /// Clip directory (created at start).
    pub dir: PathBuf,
    /// Seconds before the event's start included in its clip.
    #[serde(default = "default_roll")]
    pub pre_roll_s: f64,
    /// Seconds after the event's end included in its clip.
    #[serde(default = "default_roll")]
    pub post_roll_s: f64,
    /// Longest clip (pre-roll included); a longer event's clip keeps its beginning.
    #[serde(default = "default_max_clip")]
    pub max_clip_s: f64,
    /// What events carry in `clip`, with `{stream}` and `{event_id}` (e.g. the URL the
    /// clip directory is served under); unset = the clip's path.
    #[serde(default)]
    pub url_template: Option<String>,
    /// Clips older than this many hours are removed (at start and after each clip).
    #[serde(default)]
    pub max_age_h: Option<f64>,
    /// The oldest clips are removed while the directory holds more than this (MB).
    #[serde(default)]
    pub max_total_mb: Option<f64>,
    /// Seconds of encoded video kept per live stream; default pre_roll + max_clip + post_roll.
    #[serde(default)]
    pub buffer_s: Option<f64>,
    /// MB of encoded video kept per live stream at most.
    #[serde(default = "default_buffer_mb")]
    pub buffer_mb: f64,
    /// Per live stream id, the URI recorded instead of the analysed one (e.g. a camera's
    /// high-resolution main stream while analysis reads its sub-stream).
    #[serde(default)]
    pub record_uris: BTreeMap<String, String>,
    /// Queue in front of the sink.
    #[serde(default)]
    pub queue: SinkQueueConfig,
    /// The run's streams, filled in by the run (not a key): recorders connect with their
    /// stream's transport, latency and credentials.
    #[serde(skip)]
    pub streams: crate::clips::StreamConfigs,
}

impl ClipsSinkConfig {
    /// A clips sink writing to `dir` with every default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            pre_roll_s: default_roll(),
            post_roll_s: default_roll(),
            max_clip_s: default_max_clip(),
            url_template: None,
            max_age_h: None,
            max_total_mb: None,
            buffer_s: None,
            buffer_mb: default_buffer_mb(),
            record_uris: BTreeMap::new(),
            queue: SinkQueueConfig::default(),
            streams: Default::default(),
        }
    }

    /// Seconds of encoded video a live ring keeps.
    pub fn buffer_s(&self) -> f64 {
        self.buffer_s.unwrap_or(self.pre_roll_s + self.max_clip_s + self.post_roll_s)
    }

    /// The stream seconds an event from `start_s` to `end_s` gets as its clip: the rolls
    /// added, not before 0, at most `max_clip_s` long (files also end at their end).
    pub fn range(&self, start_s: f64, end_s: f64) -> (f64, f64) {
        let from = (start_s - self.pre_roll_s).max(0.0);
        (from, (end_s + self.post_roll_s).min(from + self.max_clip_s).max(from))
    }

    fn validate(&self) -> Result<(), InvalidKey> {
        check_writable_dir(&self.dir).map_err(|r| InvalidKey::new("dir", r))?;
        let range = |key: &str, v: f64, min: f64, max: f64| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(InvalidKey::new(key, format!("expected a number in [{min}, {max}], found {v}")))
            }
        };
        range("pre_roll_s", self.pre_roll_s, 0.0, 600.0)?;
        range("post_roll_s", self.post_roll_s, 0.0, 600.0)?;
        range("max_clip_s", self.max_clip_s, 1.0, 3600.0)?;
        range("buffer_mb", self.buffer_mb, 1.0, 65_536.0)?;
        if let Some(b) = self.buffer_s {
            range("buffer_s", b, self.pre_roll_s + self.post_roll_s + 1.0, 86_400.0)?;
        }
        if let Some(h) = self.max_age_h {
            range("max_age_h", h, 0.001, 1e6)?;
        }
        if let Some(m) = self.max_total_mb {
            range("max_total_mb", m, 1.0, 1e9)?;
        }
        if let Some(t) = &self.url_template {
            if !t.contains("{event_id}") {
                return Err(InvalidKey::new("url_template", "must contain `{event_id}` (one clip per event)"));
            }
        }
        for (stream, uri) in &self.record_uris {
            if !uri.contains("://") {
                return Err(InvalidKey::new(format!("record_uris.{stream}"), format!("`{uri}` is not a URI")));
            }
        }
        Ok(())
    }
}

fn default_roll() -> f64 {
    5.0
}
fn default_max_clip() -> f64 {
    60.0
}
fn default_buffer_mb() -> f64 {
    256.0
}

/// A custom header value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WebhookHeaderValue {
    /// Written as is (do not put secrets here: pipeline files get committed).
    Literal(String),
    /// Read from an environment variable at start; never logged.
    Env(WebhookEnvHeader),
}

impl From<&str> for WebhookHeaderValue {
    fn from(s: &str) -> Self {
        WebhookHeaderValue::Literal(s.to_owned())
    }
}

impl From<String> for WebhookHeaderValue {
    fn from(s: String) -> Self {
        WebhookHeaderValue::Literal(s)
    }
}

/// `{env: VAR, prefix: "Bearer "}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEnvHeader {
    pub env: String,
    #[serde(default)]
    pub prefix: String,
}

/// Retries: exponential backoff with full jitter, `Retry-After` honoured; after the
/// budget the event goes to the dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRetryConfig {
    /// Attempts per delivery (this process; the count restarts with the process).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Seconds since the event entered the outbox after which it is not retried again
    /// (survives restarts).
    #[serde(default = "default_max_age")]
    pub max_age_s: f64,
    /// First backoff ceiling; doubles per attempt.
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_s: f64,
    /// Backoff ceiling.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_s: f64,
}

impl Default for WebhookRetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            max_age_s: default_max_age(),
            initial_backoff_s: default_initial_backoff(),
            max_backoff_s: default_max_backoff(),
        }
    }
}

/// Suppression of `opened` per (stream, category), on the stream's own clock (video
/// seconds). The `updated`/`closed` messages of an event follow its `opened`: a `closed`
/// whose `opened` was sent is never suppressed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRateLimitConfig {
    /// At most this many `opened` per (stream, category) in any 60 s.
    #[serde(default)]
    pub per_stream_category_per_min: Option<u32>,
    /// At least this many seconds between two `opened` of one (stream, category).
    #[serde(default)]
    pub cooldown_s: Option<f64>,
}

/// Root certificates for `https` webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookTlsRoots {
    /// The operating system's CA bundle (falls back to `webpki` when none is found).
    #[default]
    System,
    /// Mozilla's roots compiled into the binary.
    Webpki,
}

fn default_timeout() -> f64 {
    10.0
}
fn default_connect_timeout() -> f64 {
    5.0
}
fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(2).unwrap()
}
fn default_drain_timeout() -> f64 {
    10.0
}
fn default_max_pending() -> usize {
    100_000
}
fn default_degraded_depth() -> usize {
    1000
}
fn default_degraded_age() -> f64 {
    300.0
}
fn default_max_attempts() -> u32 {
    30
}
fn default_max_age() -> f64 {
    86_400.0
}
fn default_initial_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    300.0
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
            SinkConfig::Clips(_) => "clips",
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
            SinkConfig::Clips(c) => &c.queue,
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
            SinkConfig::Clips(c) => c.validate(),
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
            check_env_name("secret_env", var)?;
        }
        if let Some(f) = &self.secret_file {
            if self.secret_env.is_some() {
                return Err(InvalidKey::new("secret_file", "give `secret_env` or `secret_file`, not both"));
            }
            if f.as_os_str().is_empty() {
                return Err(InvalidKey::new("secret_file", "expected a file path"));
            }
        }
        let secs = |key: &str, v: f64, max: f64| {
            if v > 0.0 && v <= max {
                Ok(())
            } else {
                Err(InvalidKey::new(key, format!("expected seconds in (0, {max}], found {v}")))
            }
        };
        secs("timeout_s", self.timeout_s, 3600.0)?;
        secs("connect_timeout_s", self.connect_timeout_s, 3600.0)?;
        secs("drain_timeout_s", self.drain_timeout_s, 86_400.0)?;
        secs("degraded_age_s", self.degraded_age_s, 1e9)?;
        secs("retry.max_age_s", self.retry.max_age_s, 1e9)?;
        secs("retry.initial_backoff_s", self.retry.initial_backoff_s, 86_400.0)?;
        secs("retry.max_backoff_s", self.retry.max_backoff_s, 86_400.0)?;
        if self.retry.max_attempts == 0 {
            return Err(InvalidKey::new("retry.max_attempts", "expected at least 1"));
        }
        if self.max_pending == 0 {
            return Err(InvalidKey::new("max_pending", "expected at least 1"));
        }
        if let Some(r) = &self.rate_limit {
            if r.per_stream_category_per_min == Some(0) {
                return Err(InvalidKey::new(
                    "rate_limit.per_stream_category_per_min",
                    "expected at least 1 (0 would suppress everything)",
                ));
            }
            if let Some(c) = r.cooldown_s {
                secs("rate_limit.cooldown_s", c, 1e9)?;
            }
        }
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let shown = match value {
                WebhookHeaderValue::Literal(v) => v.clone(),
                WebhookHeaderValue::Env(e) => {
                    check_env_name(&key, &e.env)?;
                    format!("{}x", e.prefix)
                }
            };
            super::webhook::check_header(name, &shown).map_err(|r| InvalidKey::new(key, r))?;
        }
        if let Some(t) = &self.template {
            super::webhook::Template::load(t).map_err(|r| InvalidKey::new("template", r))?;
        }
        if let Some(d) = &self.outbox_dir {
            check_writable_dir(d).map_err(|r| InvalidKey::new("outbox_dir", r))?;
        }
        if let Some(f) = &self.ca_file {
            if self.tls_roots == WebhookTlsRoots::Webpki {
                return Err(InvalidKey::new("ca_file", "needs `tls_roots: system`"));
            }
            super::webhook::load_pem_roots(f).map_err(|r| InvalidKey::new("ca_file", r))?;
        }
        Ok(())
    }
}

fn check_env_name(key: &str, var: &str) -> Result<(), InvalidKey> {
    if is_env_name(var) {
        Ok(())
    } else {
        Err(InvalidKey::new(
            key,
            format!("`{var}` is not an environment variable name (letters, digits, `_`, not starting with a digit)"),
        ))
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c == b'_' || c.is_ascii_alphabetic()) && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}
