//! One delivery attempt: [`Delivery::prepare`] turns an event into a [`Request`] (payload,
//! headers, signature) and [`Delivery::post`] sends it once and classifies the outcome.
//! Keeping the two apart is what lets a durable outbox store prepared requests and a
//! retry policy re-post them (see [`DeliveryError::is_retryable`]).
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::tls::{Certificate, RootCerts, TlsConfig};

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

/// How a [`Delivery`] connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole request (connect, send, response).
    pub timeout: Duration,
    /// Connection establishment (TCP + TLS).
    pub connect_timeout: Duration,
    /// Root certificates for https; `None` = the bundled webpki roots.
    pub roots: Option<Arc<Vec<Certificate<'static>>>>,
}

impl ClientOptions {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, connect_timeout: timeout, roots: None }
    }
}

impl Delivery {
    pub fn new(url: &str, timeout: Duration, headers: Vec<(String, String)>, secret: Option<Vec<u8>>) -> Self {
        Self::with_options(url, &ClientOptions::new(timeout), headers, secret)
    }

    pub fn with_options(
        url: &str,
        opts: &ClientOptions,
        headers: Vec<(String, String)>,
        secret: Option<Vec<u8>>,
    ) -> Self {
        let roots = match &opts.roots {
            Some(certs) => RootCerts::Specific(certs.clone()),
            None => RootCerts::WebPki,
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .timeout_connect(Some(opts.connect_timeout.min(opts.timeout)))
            .http_status_as_error(false)
            // A redirect would turn the POST into a GET; report the 3xx instead.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("refinevad/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Self { url: url.to_owned(), agent, headers, secret }
    }

    /// A request for a stored payload, signed at `now` (each attempt is signed afresh so
    /// receivers that reject old timestamps accept retries).
    pub fn request(&self, event_id: &str, idempotency_key: &str, body: Vec<u8>, now: SystemTime) -> Request {
        let mut headers = vec![("Idempotency-Key".to_owned(), idempotency_key.to_owned())];
        if let Some(secret) = &self.secret {
            let ts = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            headers.push((TIMESTAMP_HEADER.to_owned(), ts.to_string()));
            headers.push((SIGNATURE_HEADER.to_owned(), signature(secret, ts, &body)));
        }
        Request { event_id: event_id.to_owned(), idempotency_key: idempotency_key.to_owned(), body, headers }
    }

    /// The request for one event message, signed at `now` when a secret is set.
    pub fn prepare(&self, event: &Event, now: SystemTime) -> Request {
        let body = serde_json::to_vec(event).expect("events serialise");
        self.request(&event.event_id, &idempotency_key(event), body, now)
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
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
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

/// `{event_id}-{seq}`: the same for every attempt, restart and replay of one message.
pub fn idempotency_key(event: &Event) -> String {
    format!("{}-{}", event.event_id, event.seq)
}

/// `Retry-After`: delay-seconds or an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    // IMF-fixdate only (the form RFC 9110 says senders use).
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, mon, year, hms, "GMT"] = parts[..] else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == mon)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let at = days * 86_400 + h * 3600 + m * 60 + s;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs((at - now).max(0) as u64))
}

/// The operating system's CA bundle: `SSL_CERT_FILE`, then the usual Linux/BSD paths.
/// `None` when none is found (the caller falls back to the bundled webpki roots).
pub fn system_roots() -> Option<(std::path::PathBuf, Vec<Certificate<'static>>)> {
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let known = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ];
    env.into_iter().chain(known.iter().map(std::path::PathBuf::from)).find_map(|p| match load_pem_roots(&p) {
        Ok(c) if !c.is_empty() => Some((p, c)),
        _ => None,
    })
}

/// The certificates of a PEM file.
pub fn load_pem_roots(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificates", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
