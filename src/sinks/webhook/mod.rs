//! The `webhook` sink: POSTs every event message as JSON (DESIGN §6) to one URL, with a
//! timeout, optional HMAC-SHA256 signing ([`sign`]) and an `Idempotency-Key` header.
//!
//! Basic delivery: one attempt per message, failures logged and counted, a summary error
//! at close. The stages are kept apart so reliable delivery slots in without a rewrite:
//! [`Delivery::prepare`] builds a self-contained [`Request`] (what an outbox persists
//! before sending), [`Delivery::post`] makes one attempt and classifies its outcome
//! ([`DeliveryError::is_retryable`], `Retry-After`), and [`WebhookSink`] is only the loop
//! `prepare → post → record` that an outbox + retry scheduler replaces.
mod alerts_cli;
mod delivery;
pub mod sign;

use std::time::{Duration, Instant, SystemTime};

pub use alerts_cli::{run_alerts_cli, AlertsArgs};
pub use delivery::{Delivery, DeliveryError, Request};

use super::set::{Sink, SinkContext};
use super::telemetry::WebhookAttempt;
use super::{SinkError, SinkMsg, WebhookSinkConfig};

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

/// The sink loop (see the module docs).
pub(crate) struct WebhookSink {
    name: String,
    url: String,
    delivery: Delivery,
    attempted: u64,
    failed: u64,
    last_error: Option<String>,
}

impl WebhookSink {
    pub fn new(cfg: &WebhookSinkConfig, _ctx: &SinkContext, name: &str) -> Result<Self, SinkError> {
        parse_url(&cfg.url).map_err(|r| crate::events::InvalidKey::new("url", r))?;
        let secret = match &cfg.secret_env {
            Some(var) => match std::env::var_os(var) {
                Some(v) if !v.is_empty() => Some(v.into_encoded_bytes()),
                _ => return Err(SinkError::SecretMissing { var: var.clone() }),
            },
            None => None,
        };
        let timeout = Duration::from_secs_f64(cfg.timeout_s.clamp(0.001, 3600.0));
        let headers = cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Self {
            name: name.to_owned(),
            url: redact_url(&cfg.url),
            delivery: Delivery::new(&cfg.url, timeout, headers, secret),
            attempted: 0,
            failed: 0,
            last_error: None,
        })
    }
}

impl Sink for WebhookSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        let SinkMsg::Event(event) = msg else { return Ok(()) };
        let req = self.delivery.prepare(event, SystemTime::now());
        let t0 = Instant::now();
        let result = self.delivery.post(&req);
        self.attempted += 1;
        let error = result.as_ref().err().map(|e| e.to_string());
        WebhookAttempt {
            sink: &self.name,
            event_id: &req.event_id,
            outcome: result.as_ref().map_or_else(|e| e.outcome(), |_| "ok"),
            status: match &result {
                Ok(code) | Err(DeliveryError::Status { code, .. }) => Some(*code),
                Err(_) => None,
            },
            seconds: t0.elapsed().as_secs_f64(),
            error: error.as_deref(),
        }
        .emit();
        if let Some(e) = error {
            self.failed += 1;
            self.last_error = Some(e);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self.last_error.take() {
            Some(last) => Err(SinkError::Undelivered {
                url: self.url.clone(),
                failed: self.failed,
                attempted: self.attempted,
                last,
            }),
            None => Ok(()),
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
