//! A small operations endpoint: `GET /metrics` (Prometheus text), `/healthz` and
//! `/readyz` (JSON), `GET /streams` and, when enabled, the stream control API
//! (`POST /streams`, `DELETE /streams/{id}`). Plain std networking on one thread:
//! requests are rare and tiny, and the analysis never waits on it.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::registry;
use crate::source::StreamTable;

/// Largest request body accepted (a source entry is well under 1 KiB).
const MAX_BODY: usize = 64 * 1024;

/// Health as reported on `/healthz`; components update it as they change state.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Health {
    /// Overall status: `ok` or `degraded`.
    pub status: String,
    /// Per-component details (execution providers, sink backlogs…).
    pub components: BTreeMap<String, String>,
    /// Each stream's state (`connecting`, `live`, `stalled`, `backoff`, `failed`, `ended`,
    /// `removed`); any stream stalled, in backoff or failed makes the status `degraded`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, String>,
}

/// An API error: HTTP status and a message naming what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, message: String) -> Self {
        Self { code, message }
    }
}

/// The stream control API, provided by the run (`runtime.control: true`). Success is
/// `(status code, JSON body)`.
pub trait StreamControl: Send + Sync {
    /// `POST /streams` with one `sources[]` entry as JSON.
    fn add(&self, body: &[u8]) -> Result<(u16, String), ApiError>;
    /// `DELETE /streams/{id}`.
    fn remove(&self, id: &str) -> Result<(u16, String), ApiError>;
}

/// Shared state behind the endpoint.
#[derive(Default)]
pub struct OpsState {
    pub ready: AtomicBool,
    pub health: Mutex<Health>,
    /// The run's streams, for `/healthz` and `GET /streams`.
    pub streams: OnceLock<Arc<StreamTable>>,
    /// The control API; `POST`/`DELETE` answer 403 without it.
    pub control: OnceLock<Arc<dyn StreamControl>>,
}

impl OpsState {
    pub fn set_component(&self, name: &str, state: impl Into<String>) {
        self.health.lock().unwrap().components.insert(name.into(), state.into());
    }
}

/// The running endpoint; stops when dropped.
pub struct OpsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl OpsServer {
    /// Binds `addr` (e.g. `127.0.0.1:9464`; port 0 picks a free one) and serves in a thread.
    pub fn start(addr: &str, state: Arc<OpsState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new().name("ops-http".into()).spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = serve(s, &state);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
        Ok(Self { addr, stop, handle: Some(handle) })
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A parsed request: method, path and body.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads the request line, the headers and a body of `Content-Length` bytes (at most
/// [`MAX_BODY`]). Errors are the response to send.
fn read_request(s: &TcpStream) -> Result<Request, ApiError> {
    let bad = |m: &str| ApiError::new(400, m.to_owned());
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(|_| bad("could not read the request"))?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_owned();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).map_err(|_| bad("could not read the headers"))? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| bad("Content-Length: expected a number"))?;
            }
        }
    }
    if length > MAX_BODY {
        return Err(ApiError::new(413, format!("request body of {length} bytes exceeds the limit of {MAX_BODY}")));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).map_err(|_| bad("request body shorter than its Content-Length"))?;
    Ok(Request { method, path, body })
}

fn serve(mut s: TcpStream, state: &OpsState) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let (code, ctype, body) = match read_request(&s) {
        Ok(req) => route(&req, state),
        Err(e) => error_response(e),
    };
    let reason = match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Service Unavailable",
    };
    write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn error_response(e: ApiError) -> (u16, &'static str, String) {
    (e.code, "application/json", serde_json::json!({ "error": e.message }).to_string())
}

fn route(req: &Request, state: &OpsState) -> (u16, &'static str, String) {
    const JSON: &str = "application/json";
    let path = req.path.split('?').next().unwrap_or("/");
    match (req.method.as_str(), path) {
        ("GET", "/metrics") => (200, "text/plain; version=0.0.4", registry().render()),
        ("GET", "/healthz") => {
            let mut h = state.health.lock().unwrap().clone();
            h.components.extend(super::events::providers().lock().unwrap().clone());
            let mut degraded = h.status == "degraded";
            if let Some(t) = state.streams.get() {
                for v in t.views() {
                    degraded |= v.state.is_degraded();
                    h.streams.insert(v.id, v.state.as_str().to_owned());
                }
            }
            h.status = if degraded { "degraded" } else { "ok" }.into();
            (if degraded { 503 } else { 200 }, JSON, serde_json::to_string(&h).unwrap_or_default())
        }
        ("GET", "/readyz") => {
            let ready = state.ready.load(Ordering::Relaxed);
            (if ready { 200 } else { 503 }, JSON, format!("{{\"ready\":{ready}}}"))
        }
        ("GET", "/streams") => {
            let views = state.streams.get().map(|t| t.views()).unwrap_or_default();
            (200, JSON, serde_json::to_string(&views).unwrap_or_default())
        }
        ("POST", "/streams") => match state.control.get() {
            Some(c) => c.add(&req.body).map_or_else(error_response, |(code, body)| (code, JSON, body)),
            None => error_response(control_disabled()),
        },
        ("DELETE", p) if p.starts_with("/streams/") => match state.control.get() {
            Some(c) => c.remove(&p["/streams/".len()..]).map_or_else(error_response, |(code, body)| (code, JSON, body)),
            None => error_response(control_disabled()),
        },
        (_, "/metrics" | "/healthz" | "/readyz" | "/streams") => {
            error_response(ApiError::new(405, format!("{} is not allowed on {path}", req.method)))
        }
        _ => (404, "text/plain", "not found\n".into()),
    }
}

fn control_disabled() -> ApiError {
    ApiError::new(403, "the stream control API is disabled; set runtime.control: true".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_health_and_readiness() {
        registry().counter("ops_test_total", &[]).fetch_add(2, Ordering::Relaxed);
        let state = Arc::new(OpsState::default());
        let srv = OpsServer::start("127.0.0.1:0", state.clone()).unwrap();
        assert!(get(srv.addr, "/metrics").contains("ops_test_total 2"));
        assert!(get(srv.addr, "/readyz").starts_with("HTTP/1.1 503"));
        state.ready.store(true, Ordering::Relaxed);
        assert!(get(srv.addr, "/readyz").starts_with("HTTP/1.1 200"));
        state.set_component("features.cpu", "CPUExecutionProvider");
        let h = get(srv.addr, "/healthz");
        assert!(h.starts_with("HTTP/1.1 200") && h.contains("CPUExecutionProvider"), "{h}");
        assert!(get(srv.addr, "/nope").starts_with("HTTP/1.1 404"));
        crate::telemetry::events::ProviderSelected { stage: "image", device: "cpu", provider: "CPUExecutionProvider" }
            .emit();
        let h = get(srv.addr, "/healthz");
        assert!(h.contains(r#""provider.image.cpu":"CPUExecutionProvider""#), "{h}");
    }

    fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    struct Echo;
    impl StreamControl for Echo {
        fn add(&self, body: &[u8]) -> Result<(u16, String), ApiError> {
            Ok((201, String::from_utf8_lossy(body).into_owned()))
        }
        fn remove(&self, id: &str) -> Result<(u16, String), ApiError> {
            Err(ApiError::new(404, format!("unknown stream `{id}`")))
        }
    }

    #[test]
    fn streams_health_and_control_routes() {
        use crate::source::{StreamState, StreamTable};
        let state = Arc::new(OpsState::default());
        let table = Arc::new(StreamTable::default());
        let cam = table.register("http_test_cam", "rtsp://u:***@cam".into(), true, None).unwrap();
        cam.set(StreamState::Live, None);
        let _ = state.streams.set(table);
        let srv = OpsServer::start("127.0.0.1:0", state.clone()).unwrap();
        let h = get(srv.addr, "/healthz");
        assert!(h.starts_with("HTTP/1.1 200") && h.contains(r#""http_test_cam":"live""#), "{h}");
        cam.set(StreamState::Backoff, Some("connection refused"));
        let h = get(srv.addr, "/healthz");
        assert!(h.starts_with("HTTP/1.1 503") && h.contains(r#""status":"degraded""#), "{h}");
        let l = get(srv.addr, "/streams");
        assert!(l.contains(r#""state":"backoff""#) && l.contains("connection refused"), "{l}");
        assert!(request(srv.addr, "POST", "/streams", "{}").starts_with("HTTP/1.1 403"));
        let _ = state.control.set(Arc::new(Echo));
        let r = request(srv.addr, "POST", "/streams", r#"{"id":"x"}"#);
        assert!(r.starts_with("HTTP/1.1 201") && r.ends_with(r#"{"id":"x"}"#), "{r}");
        let r = request(srv.addr, "DELETE", "/streams/nope", "");
        assert!(r.starts_with("HTTP/1.1 404") && r.contains("unknown stream `nope`"), "{r}");
        let mut s = TcpStream::connect(srv.addr).unwrap();
        write!(s, "POST /streams HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 413") && out.contains("exceeds the limit"), "{out}");
        assert!(request(srv.addr, "PUT", "/streams", "").starts_with("HTTP/1.1 405"));
    }
}
