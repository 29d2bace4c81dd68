//! The `webhook` sink: reliable delivery of every event message (DESIGN §6 JSON, or a
//! [`Template`]) and of every live source outage (`source_down` / `source_up` JSON, never
//! rate limited; not sent to templated sinks, whose templates describe anomaly events)
//! to one URL. See `docs/webhooks.md` for the user's view.
//!
//! - [`outbox`]: every event is persisted (fsync'd) in the sink thread's `handle()` before
//!   any attempt; delivered/dead marks are appended; a new process resumes what is left.
//! - [`engine`]: N delivery threads, one request in flight per stream (order kept),
//!   exponential backoff with full jitter, `Retry-After`, retry budget, dead letters.
//! - [`Delivery`]: one signed attempt ([`sign`]: HMAC-SHA256 over `"{ts}.{body}"`), the
//!   `Idempotency-Key: {event_id}-{seq}` header, classified outcome.
//! - [`ratelimit`]: suppression per (stream, category); `closed` follows its `opened`.
//! - `refinevad alerts status|replay|flush` ([`run_alerts_cli`]).
mod alerts_cli;
mod delivery;
pub mod engine;
pub mod outbox;
mod ratelimit;
pub mod sign;
mod telemetry;
mod template;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use super::config::{
    WebhookEnvHeader, WebhookHeaderValue, WebhookRateLimitConfig, WebhookRetryConfig, WebhookTlsRoots,
};
pub use alerts_cli::{run_alerts_cli, AlertsArgs};
pub use delivery::{
    idempotency_key, load_pem_roots, parse_retry_after, system_roots, ClientOptions, Delivery, DeliveryError, Request,
};
pub use ratelimit::RateLimiter;
pub use template::{Template, FIELDS as TEMPLATE_FIELDS};

use self::engine::{Engine, EngineOptions, HealthReport};
use self::outbox::{NewEntry, Outbox};
use self::telemetry::{OutboxOpened, Suppressed};
use super::set::{Sink, SinkContext};
use super::{SinkError, SinkMsg, WebhookSinkConfig};
use crate::events::InvalidKey;

/// Checks a webhook URL: absolute `http`/`https` with a host.
pub fn parse_url(url: &str) -> Result<ureq::http::Uri, String> {
    if !url.contains("://") {
        return Err("relative URL without a base".into());
    }
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("unsupported scheme `{other}` (expected http or https)")),
        None => return Err("relative URL without a base".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("URL without a host".into());
    }
    Ok(uri)
}

/// Checks a custom header: a valid name and value, and not one the client must set.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    ureq::http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a valid header name"))?;
    ureq::http::HeaderValue::from_str(value)
        .map_err(|_| "not a valid header value (control characters?)".to_owned())?;
    if ["host", "content-length", "transfer-encoding"].contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("`{name}` is set by the HTTP client"));
    }
    Ok(())
}

/// `scheme://host[:port]/…` without path or query, which may carry tokens (Slack-style
/// webhook URLs): what logs and errors show of a URL.
pub fn redact_url(url: &str) -> String {
    match url.parse::<ureq::http::Uri>() {
        Ok(u) if u.authority().is_some() => {
            let rest = if u.path_and_query().is_some_and(|p| p.as_str() != "/") { "/…" } else { "" };
            format!("{}://{}{rest}", u.scheme_str().unwrap_or("http"), u.authority().map(host_port).unwrap_or_default())
        }
        _ => "(invalid URL)".into(),
    }
}

/// Host and port without any `user:password@`.
fn host_port(a: &ureq::http::uri::Authority) -> String {
    match a.port_u16() {
        Some(p) => format!("{}:{p}", a.host()),
        None => a.host().to_owned(),
    }
}

/// `out/outbox/<pipeline>/<sink>` with `webhook[0]` → `webhook-0` (file-name safe).
pub fn default_outbox_dir(pipeline: &str, sink_name: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
    };
    let pipeline = if pipeline.trim().is_empty() { "default".to_owned() } else { clean(pipeline) };
    let sink = clean(sink_name).trim_matches('-').to_owned();
    Path::new("out").join("outbox").join(pipeline).join(sink)
}

/// The sink's outbox directory: `outbox_dir`, else [`default_outbox_dir`].
pub fn outbox_dir(cfg: &WebhookSinkConfig, pipeline: &str, sink_name: &str) -> PathBuf {
    cfg.outbox_dir.clone().unwrap_or_else(|| default_outbox_dir(pipeline, sink_name))
}

/// The signing secret from `secret_env` or `secret_file` (one trailing newline dropped).
pub fn load_secret(cfg: &WebhookSinkConfig) -> Result<Option<Vec<u8>>, SinkError> {
    if let Some(var) = &cfg.secret_env {
        return match std::env::var_os(var) {
            Some(v) if !v.is_empty() => Ok(Some(v.into_encoded_bytes())),
            _ => Err(SinkError::SecretMissing { var: var.clone() }),
        };
    }
    if let Some(f) = &cfg.secret_file {
        let mut b = std::fs::read(f).map_err(|e| SinkError::io(f, e))?;
        if b.ends_with(b"\n") {
            b.pop();
            if b.ends_with(b"\r") {
                b.pop();
            }
        }
        if b.is_empty() {
            return Err(InvalidKey::new("secret_file", format!("{} is empty", f.display())).into());
        }
        return Ok(Some(b));
    }
    Ok(None)
}

/// The custom headers with `{env: …}` values resolved (values are never logged).
pub fn resolve_headers(cfg: &WebhookSinkConfig) -> Result<Vec<(String, String)>, SinkError> {
    cfg.headers
        .iter()
        .map(|(name, v)| {
            let value = match v {
                WebhookHeaderValue::Literal(s) => s.clone(),
                WebhookHeaderValue::Env(e) => match std::env::var(&e.env) {
                    Ok(x) if !x.is_empty() => format!("{}{x}", e.prefix),
                    _ => {
                        return Err(InvalidKey::new(
                            format!("headers.{name}"),
                            format!("environment variable {} is not set", e.env),
                        )
                        .into())
                    }
                },
            };
            // The message names the header, never the value.
            check_header(name, &value).map_err(|r| InvalidKey::new(format!("headers.{name}"), r))?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// Timeouts and root certificates for `cfg` (system roots are loaded for https only).
pub fn client_options(cfg: &WebhookSinkConfig) -> Result<ClientOptions, SinkError> {
    let mut opts = ClientOptions::new(Duration::from_secs_f64(cfg.timeout_s.clamp(0.001, 3600.0)));
    opts.connect_timeout = Duration::from_secs_f64(cfg.connect_timeout_s.clamp(0.001, 3600.0));
    if !cfg.url.to_ascii_lowercase().starts_with("https:") || cfg.tls_roots == WebhookTlsRoots::Webpki {
        return Ok(opts);
    }
    let mut certs = match system_roots() {
        Some((path, certs)) => {
            tracing::debug!(roots = %path.display(), n = certs.len(), "webhook TLS: system roots");
            certs
        }
        None if cfg.ca_file.is_none() => {
            tracing::warn!("webhook TLS: no system CA bundle found; using the bundled webpki roots");
            return Ok(opts);
        }
        None => Vec::new(),
    };
    if let Some(f) = &cfg.ca_file {
        certs.extend(load_pem_roots(f).map_err(|r| InvalidKey::new("ca_file", r))?);
    }
    opts.roots = Some(Arc::new(certs));
    Ok(opts)
}

/// The [`Delivery`] (client, headers, secret) a webhook config describes.
pub fn delivery_for(cfg: &WebhookSinkConfig, url: &str) -> Result<Delivery, SinkError> {
    parse_url(url).map_err(|r| InvalidKey::new("url", r))?;
    Ok(Delivery::with_options(url, &client_options(cfg)?, resolve_headers(cfg)?, load_secret(cfg)?))
}

/// The sink: rate limit → render → persist (fsync) → hand to the engine.
pub(crate) struct WebhookSink {
    name: String,
    url: String,
    template: Option<Template>,
    limiter: RateLimiter,
    engine: Option<Engine>,
    drain: Duration,
    handled: u64,
}

impl WebhookSink {
    pub fn new(cfg: &WebhookSinkConfig, ctx: &SinkContext, name: &str) -> Result<Self, SinkError> {
        let delivery = delivery_for(cfg, &cfg.url)?;
        let template = match &cfg.template {
            Some(t) => Some(Template::load(t).map_err(|r| InvalidKey::new("template", r))?),
            None => None,
        };
        let dir = outbox_dir(cfg, &ctx.pipeline, name);
        let (outbox, pending, recovery) = Outbox::open(&dir)?;
        OutboxOpened { sink: name, dir: &dir, recovery: &recovery }.emit();
        let health = ctx.ops.as_ref().map(|ops| HealthReport {
            ops: ops.clone(),
            degraded_depth: cfg.degraded_depth,
            degraded_age_s: cfg.degraded_age_s,
        });
        let opts = EngineOptions {
            retry: cfg.retry.clone(),
            concurrency: cfg.concurrency.get(),
            max_pending: cfg.max_pending,
            health,
        };
        let engine = Engine::start(name, delivery, opts, outbox, pending)?;
        Ok(Self {
            name: name.to_owned(),
            url: redact_url(&cfg.url),
            template,
            limiter: RateLimiter::new(cfg.rate_limit.as_ref()),
            engine: Some(engine),
            drain: Duration::from_secs_f64(cfg.drain_timeout_s.clamp(0.0, 86_400.0)),
            handled: 0,
        })
    }
}

impl Sink for WebhookSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        let event = match msg {
            SinkMsg::Event(e) => e,
            SinkMsg::Source(e) => return self.source(e),
            SinkMsg::Score(_) => return Ok(()),
        };
        if let Some(reason) = self.limiter.check(event) {
            Suppressed { sink: &self.name, event_id: &event.event_id, stream: &event.stream, reason }.emit();
            return Ok(());
        }
        let body = match &self.template {
            Some(t) => t.render(event),
            None => serde_json::to_string(&**event).expect("events serialise"),
        };
        self.handled += 1;
        let entry = NewEntry {
            event_id: event.event_id.clone(),
            key: idempotency_key(event),
            stream: event.stream.clone(),
            body,
        };
        self.engine.as_ref().expect("engine runs until finish").submit(entry)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let Some(engine) = self.engine.take() else { return Ok(()) };
        self.finish_engine(engine)
    }
}

impl WebhookSink {
    /// Persists and queues a source outage message like an event (same outbox, same
    /// per-stream order), with its own idempotency key.
    fn source(&mut self, e: &crate::events::SourceEvent) -> Result<(), SinkError> {
        if self.template.is_some() {
            Suppressed { sink: &self.name, event_id: &e.event_id, stream: &e.stream, reason: "template" }.emit();
            return Ok(());
        }
        self.handled += 1;
        let entry = NewEntry {
            event_id: e.event_id.clone(),
            key: e.idempotency_key(),
            stream: e.stream.clone(),
            body: serde_json::to_string(e).expect("source events serialise"),
        };
        self.engine.as_ref().expect("engine runs until finish").submit(entry)
    }

    fn finish_engine(&mut self, engine: Engine) -> Result<(), SinkError> {
        let sum = engine.finish(self.drain);
        if sum.pending > 0 {
            tracing::warn!(
                sink = self.name,
                pending = sum.pending,
                "webhook: undelivered events stay in the outbox; they are sent at the next start \
                 (or now with `refinevad alerts flush`)"
            );
        }
        let failed = sum.dead + sum.pending as u64;
        match (failed, sum.last_error) {
            (0, _) => Ok(()),
            (failed, last) => Err(SinkError::Undelivered {
                url: self.url.clone(),
                failed,
                attempted: self.handled.max(failed),
                last: last.unwrap_or_else(|| "not attempted".into()),
            }),
        }
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // A sink dropped without finish (a failed start of another sink): stop at once.
        if let Some(e) = self.engine.take() {
            e.finish(Duration::ZERO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("https://alerts.example/hook").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/x?y=1").is_ok());
        assert_eq!(parse_url("/hook").unwrap_err(), "relative URL without a base");
        assert_eq!(parse_url("alerts.example/hook").unwrap_err(), "relative URL without a base");
        assert!(parse_url("ftp://x/y").unwrap_err().contains("unsupported scheme `ftp`"));
        assert!(parse_url("https://").is_err());
        assert!(parse_url("http://exa mple/").is_err());
    }

    #[test]
    fn redaction_hides_paths_and_credentials() {
        assert_eq!(redact_url("https://hooks.example.com/services/T0/B0/SECRET"), "https://hooks.example.com/…");
        assert_eq!(redact_url("http://user:pw@127.0.0.1:9000/"), "http://127.0.0.1:9000");
        assert_eq!(redact_url("http://h:1/x?token=abc"), "http://h:1/…");
    }

    #[test]
    fn headers() {
        assert!(check_header("X-Api-Key", "abc").is_ok());
        assert!(check_header("Bad Name", "x").is_err());
        assert!(check_header("X-A", "a\r\nb").is_err());
        assert!(check_header("Content-Length", "1").is_err());
    }

    #[test]
    fn retry_classification() {
        let s = |code| DeliveryError::Status { code, retry_after: None };
        assert!(s(503).is_retryable() && s(429).is_retryable() && s(408).is_retryable());
        assert!(!s(400).is_retryable() && !s(401).is_retryable() && !s(404).is_retryable());
        assert!(DeliveryError::Timeout.is_retryable() && DeliveryError::Connect("x".into()).is_retryable());
        assert!(!DeliveryError::Tls("x".into()).is_retryable());
    }
}
