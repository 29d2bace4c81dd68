//! One delivery attempt: [`Delivery::prepare`] turns an event into a [`Request`] (payload,
//! headers, signature) and [`Delivery::post`] sends it once and classifies the outcome.
//! Keeping the two apart is what lets a durable outbox store prepared requests and a
//! retry policy re-post them (see [`DeliveryError::is_retryable`]).
use std::io::ErrorKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::sign::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::events::Event;

/// A request ready to send (or to persist before sending).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub event_id: String,
    /// `{event_id}-{seq}`: the same message always carries the same key, so a receiver
    /// can de-duplicate at-least-once delivery.
    pub idempotency_key: String,
    pub body: Vec<u8>,
    /// Signature headers (when a secret is set) and the idempotency key; the configured
    /// custom headers are added by `post`.
    pub headers: Vec<(String, String)>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    #[error("HTTP status {code}")]
    Status { code: u16, retry_after: Option<Duration> },
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Other(String),
}

impl DeliveryError {
    /// Metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            DeliveryError::Status { .. } => "status",
            DeliveryError::Timeout => "timeout",
            DeliveryError::Connect(_) => "connect",
            DeliveryError::Tls(_) => "tls",
            DeliveryError::Other(_) => "io",
        }
    }

    /// Whether the same request may succeed later: connect errors, timeouts, I/O errors,
    /// 408, 429 and 5xx. Other statuses (400, 401, 404, …) and TLS failures need a human.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Status { code, .. } => matches!(code, 408 | 429 | 500..=599),
            DeliveryError::Tls(_) => false,
            DeliveryError::Timeout | DeliveryError::Connect(_) | DeliveryError::Other(_) => true,
        }
    }
}

/// Sends prepared requests to one URL.
pub struct Delivery {
    url: String,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret or header values (they carry API keys).
        f.debug_struct("Delivery")
            .field("url", &super::redact_url(&self.url))
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

impl Delivery {
    pub fn new(url: &str, timeout: Duration, headers: Vec<(String, String)>, secret: Option<Vec<u8>>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A redirect would turn the POST into a GET; report the 3xx instead.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("refinevad/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { url: url.to_owned(), agent, headers, secret }
    }

    /// The request for one event message, signed at `now` when a secret is set.
    pub fn prepare(&self, event: &Event, now: SystemTime) -> Request {
        let body = serde_json::to_vec(event).expect("events serialise");
        let idempotency_key = format!("{}-{}", event.event_id, event.seq);
        let mut headers = vec![("Idempotency-Key".to_owned(), idempotency_key.clone())];
        if let Some(secret) = &self.secret {
            let ts = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            headers.push((TIMESTAMP_HEADER.to_owned(), ts.to_string()));
            headers.push((SIGNATURE_HEADER.to_owned(), signature(secret, ts, &body)));
        }
        Request { event_id: event.event_id.clone(), idempotency_key, body, headers }
    }

    /// One POST; `Ok(status)` for any 2xx.
    pub fn post(&self, req: &Request) -> Result<u16, DeliveryError> {
        let mut r = self.agent.post(&self.url).header("Content-Type", "application/json");
        for (k, v) in self.headers.iter().chain(&req.headers) {
            r = r.header(k, v);
        }
        let mut resp = r.send(&req.body[..]).map_err(classify)?;
        // Drain a little of the body so the connection can be reused.
        let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
        let code = resp.status().as_u16();
        if (200..300).contains(&code) {
            return Ok(code);
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(DeliveryError::Status { code, retry_after })
    }
}

fn classify(e: ureq::Error) -> DeliveryError {
    match e {
        ureq::Error::Timeout(_) => DeliveryError::Timeout,
        ureq::Error::HostNotFound => DeliveryError::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => DeliveryError::Connect("connection failed".into()),
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => DeliveryError::Timeout,
            ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected => DeliveryError::Connect(io.to_string()),
            _ => DeliveryError::Other(io.to_string()),
        },
        ureq::Error::StatusCode(code) => DeliveryError::Status { code, retry_after: None },
        e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TlsRequired) => {
            DeliveryError::Tls(e.to_string())
        }
        other => DeliveryError::Other(other.to_string()),
    }
}
