//! A test webhook receiver on 127.0.0.1 with scripted faults, and helpers. Bounded: every
//! receiver stops by itself at its deadline (or when dropped).
#![allow(dead_code)]
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use refinevad::events::{Event, EventStatus, EventTime};
use refinevad::sinks::webhook::sign::hmac_sha256;
use refinevad::sinks::webhook::WebhookRetryConfig;
use refinevad::sinks::WebhookSinkConfig;

/// What the receiver does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer `status` (with optional `Retry-After`) after `delay`.
    Respond { status: u16, retry_after: Option<String>, delay: Duration },
    /// Read the request and close the connection without answering.
    Close,
}

impl Action {
    pub fn ok() -> Action {
        Action::Respond { status: 200, retry_after: None, delay: Duration::ZERO }
    }
    pub fn status(status: u16) -> Action {
        Action::Respond { status, retry_after: None, delay: Duration::ZERO }
    }
    pub fn hang(d: Duration) -> Action {
        Action::Respond { status: 200, retry_after: None, delay: d }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Got {
    /// 0-based arrival number.
    pub n: usize,
    pub at: Instant,
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status answered (None: closed or hung up on).
    pub answered: Option<u16>,
}

impl Got {
    pub fn key(&self) -> &str {
        self.headers.get("idempotency-key").map_or("", String::as_str)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Plan = Arc<dyn Fn(usize, &Got) -> Action + Send + Sync>;

/// The receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts on a free port with `plan` deciding each request's fate.
    pub fn start(plan: impl Fn(usize, &Got) -> Action + Send + Sync + 'static) -> Receiver {
        Self::start_at("127.0.0.1:0".parse().unwrap(), plan)
    }

    /// Starts on `addr` (e.g. a port that was "down" so far).
    pub fn start_at(addr: SocketAddr, plan: impl Fn(usize, &Got) -> Action + Send + Sync + 'static) -> Receiver {
        let listener = bind_retry(addr);
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let plan: Plan = Arc::new(plan);
        let deadline = Instant::now() + Duration::from_secs(45);
        let (g, st, c) = (got.clone(), stop.clone(), count.clone());
        std::thread::spawn(move || {
            while Instant::now() < deadline && !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (g, st, c, plan) = (g.clone(), st.clone(), c.clone(), plan.clone());
                        std::thread::spawn(move || serve(s, g, st, c, plan, deadline));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver { addr, got, stop, count }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Got> {
        self.all().into_iter().filter(|g| g.answered.is_some_and(|s| (200..300).contains(&s))).collect()
    }

    /// Waits until `f(accepted)` or `within` passes.
    pub fn wait(&self, within: Duration, f: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let until = Instant::now() + within;
        loop {
            let a = self.accepted();
            if f(&a) || Instant::now() >= until {
                return a;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops accepting and closes the listener (connections are refused afterwards).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_retry(addr: SocketAddr) -> TcpListener {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) if Instant::now() < until => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}

/// A local address where nothing listens (yet).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn serve(
    mut s: TcpStream,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    plan: Plan,
    deadline: Instant,
) {
    s.set_nonblocking(false).unwrap();
    let mut buf = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(200));
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return;
        }
        let head_end = match read_until(&mut s, &mut buf, |b| find(b, b"\r\n\r\n").map(|i| i + 4), &stop) {
            Some(i) => i,
            None => return,
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let target = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if read_until(&mut s, &mut buf, |b| (b.len() >= head_end + len).then_some(0), &stop).is_none() {
            return;
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let n = count.fetch_add(1, Ordering::SeqCst);
        let mut g = Got { n, at: Instant::now(), target, headers, body, answered: None };
        let action = plan(n, &g);
        match action {
            Action::Close => {
                got.lock().unwrap().push(g);
                return;
            }
            Action::Respond { status, retry_after, delay } => {
                std::thread::sleep(delay);
                let extra = retry_after.map_or(String::new(), |r| format!("Retry-After: {r}\r\n"));
                let resp =
                    format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
                let ok = s.write_all(resp.as_bytes()).and_then(|_| s.flush()).is_ok();
                // A client that gave up (timeout) has closed: a later write or read fails.
                if ok {
                    g.answered = Some(status);
                }
                got.lock().unwrap().push(g);
                if !ok {
                    return;
                }
            }
        }
    }
}

fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
    stop: &AtomicBool,
) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = done(buf) {
            return Some(i);
        }
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Synthetic message `m`: event `m / 3` on stream `cam{event % streams}`.
pub fn message(m: u64, streams: u64) -> Event {
    let j = m / 3;
    let status = [EventStatus::Opened, EventStatus::Updated, EventStatus::Closed][(m % 3) as usize];
    Event {
        event_id: format!("{j:032x}"),
        seq: (m % 3) as u32,
        status,
        stream: format!("cam{}", j % streams),
        video: "file:///data/cam.mp4".into(),
        start: EventTime::new(j as f64 * 10.0, j * 250),
        end: EventTime::new(j as f64 * 10.0 + 2.0, j * 250 + 50),
        peak_score: 0.93,
        category: Some("Fire".into()),
        category_probs: [("Fire".to_owned(), 0.9), ("Panic".to_owned(), 0.1)].into(),
        pipeline: "test".into(),
        model: "m".into(),
        wall_time: "2026-01-01T00:00:00.000Z".into(),
        clip: None,
    }
}

pub fn key(e: &Event) -> String {
    format!("{}-{}", e.event_id, e.seq)
}

/// A webhook config for tests: own outbox, fast retries.
pub fn config(url: String, outbox: &std::path::Path) -> WebhookSinkConfig {
    WebhookSinkConfig {
        url,
        timeout_s: 2.0,
        connect_timeout_s: 1.0,
        outbox_dir: Some(outbox.to_owned()),
        drain_timeout_s: 20.0,
        retry: WebhookRetryConfig { max_attempts: 50, max_age_s: 600.0, initial_backoff_s: 0.02, max_backoff_s: 0.2 },
        ..Default::default()
    }
}

/// Delivery accounting over what the receiver accepted vs what was sent.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    pub sent: usize,
    pub delivered: usize,
    pub lost: usize,
    /// Extra 2xx deliveries of an already delivered key.
    pub duplicated: usize,
    /// Streams whose accepted messages were out of send order.
    pub out_of_order_streams: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} delivered {} lost {} duplicated {} out-of-order streams {}",
            self.sent, self.delivered, self.lost, self.duplicated, self.out_of_order_streams
        )
    }
}

/// Compares the accepted requests with the messages sent (in send order).
pub fn tally(sent: &[Event], accepted: &[Got]) -> Tally {
    let order: HashMap<String, usize> = sent.iter().enumerate().map(|(i, e)| (key(e), i)).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut per_stream: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut sorted: Vec<&Got> = accepted.iter().collect();
    sorted.sort_by_key(|g| g.n);
    for g in &sorted {
        *seen.entry(g.key()).or_default() += 1;
        if let Some(&i) = order.get(g.key()) {
            per_stream.entry(sent[i].stream.clone()).or_default().push(i);
        }
    }
    let delivered = sent.iter().filter(|e| seen.contains_key(key(e).as_str())).count();
    Tally {
        sent: sent.len(),
        delivered,
        lost: sent.len() - delivered,
        duplicated: seen.values().map(|n| n - 1).sum(),
        // Order is judged on first deliveries (a duplicate re-delivery is not reordering).
        out_of_order_streams: per_stream
            .values()
            .filter(|v| {
                let mut firsts = Vec::new();
                for i in *v {
                    if !firsts.contains(i) {
                        firsts.push(*i);
                    }
                }
                firsts.windows(2).any(|w| w[0] > w[1])
            })
            .count(),
    }
}

/// Checks `X-Refinevad-Signature` the way a receiver does.
pub fn signature_ok(secret: &[u8], g: &Got, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (g.headers.get("x-refinevad-timestamp"), g.headers.get("x-refinevad-signature")) else {
        return false;
    };
    let mac = hmac_sha256(secret, &[ts.as_bytes(), b".", body]);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    sig == &format!("v1={hex}")
}

/// p-quantile (0..=1) of durations.
pub fn quantile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}
