//! A small operations endpoint: `GET /metrics` (Prometheus text), `/healthz` and
//! `/readyz` (JSON). Plain std networking on one thread: scrapes are rare and tiny, and
//! the analysis never waits on it.
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::registry;

/// Health as reported on `/healthz`; components update it as they change state.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Health {
    /// Overall status: `ok` or `degraded`.
    pub status: String,
    /// Per-component details (stream states, execution providers, sink backlogs…).
    pub components: std::collections::BTreeMap<String, String>,
}

/// Shared state behind the endpoint.
#[derive(Default)]
pub struct OpsState {
    pub ready: AtomicBool,
    pub health: Mutex<Health>,
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

fn serve(mut s: TcpStream, state: &OpsState) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (code, ctype, body) = match path {
        "/metrics" => (200, "text/plain; version=0.0.4", registry().render()),
        "/healthz" => {
            let h = state.health.lock().unwrap().clone();
            let status = if h.status.is_empty() { "ok".to_string() } else { h.status.clone() };
            let body = serde_json::to_string(&Health { status: status.clone(), ..h }).unwrap_or_default();
            (if status == "ok" { 200 } else { 503 }, "application/json", body)
        }
        "/readyz" => {
            let ready = state.ready.load(Ordering::Relaxed);
            (if ready { 200 } else { 503 }, "application/json", format!("{{\"ready\":{ready}}}"))
        }
        _ => (404, "text/plain", "not found\n".into()),
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
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
    }
}
