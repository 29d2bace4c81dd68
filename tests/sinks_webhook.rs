//! The webhook sink against a real HTTP server on 127.0.0.1 (bounded: it stops by itself
//! after a request count or a deadline), and queue isolation between sinks.
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use refinevad::events::{Event, EventStatus, EventTime};
use refinevad::runtime::channel::WhenFull;
use refinevad::sinks::webhook::sign::hmac_sha256;
use refinevad::sinks::webhook::WebhookRetryConfig;
use refinevad::sinks::{
    JsonlSinkConfig, SinkConfig, SinkContext, SinkError, SinkMsg, SinkQueueConfig, SinkSet, WebhookSinkConfig,
};
use refinevad::telemetry::registry;

#[derive(Debug, Clone)]
struct Received {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A test receiver: answers `status` after `delay`, records every request.
struct Server {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn start(status: u16, delay: Duration, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        std::thread::spawn(move || {
            let mut conns = 0;
            while Instant::now() < deadline && g.lock().unwrap().len() < max_requests && conns < 64 {
                match listener.accept() {
                    Ok((s, _)) => {
                        conns += 1;
                        let g = g.clone();
                        std::thread::spawn(move || serve_conn(s, g, status, delay, deadline));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let until = Instant::now() + within;
        while self.got.lock().unwrap().len() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.requests()
    }
}

/// Serves keep-alive requests on one connection until EOF, a read timeout or the deadline.
fn serve_conn(mut s: TcpStream, got: Arc<Mutex<Vec<Received>>>, status: u16, delay: Duration, deadline: Instant) {
    s.set_nonblocking(false).unwrap();
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return;
        }
        let Some(head_end) = read_until(&mut s, &mut buf, |b| find(b, b"\r\n\r\n").map(|i| i + 4)) else { return };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, target) = (first.next().unwrap_or("").to_owned(), first.next().unwrap_or("").to_owned());
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if read_until(&mut s, &mut buf, |b| (b.len() >= head_end + len).then_some(0)).is_none() {
            return;
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        got.lock().unwrap().push(Received { method, target, headers, body });
        std::thread::sleep(delay);
        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> Option<usize>) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = done(buf) {
            return Some(i);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn event(i: u64, status: EventStatus) -> Event {
    Event {
        event_id: format!("{i:032x}"),
        seq: status as u32,
        status,
        stream: "cam1".into(),
        video: "file:///data/cam1.mp4".into(),
        start: EventTime::new(i as f64, i * 25),
        end: EventTime::new(i as f64 + 2.5, i * 25 + 62),
        peak_score: 0.97,
        category: Some("Fire".into()),
        category_probs: [("Fire".to_owned(), 0.91), ("Panic".to_owned(), 0.09)].into(),
        pipeline: "test".into(),
        model: "m".into(),
        wall_time: "2026-01-01T00:00:00.000Z".into(),
        clip: None,
    }
}

/// Each sink gets its own outbox (the outbox is locked by one sink at a time).
fn webhook(url: String) -> WebhookSinkConfig {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outbox = std::env::temp_dir().join(format!("refinevad-sinks-webhook-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outbox);
    WebhookSinkConfig { url, timeout_s: 5.0, outbox_dir: Some(outbox), ..Default::default() }
}

/// Retries off: one attempt per message, as the basic sink made.
fn one_attempt(cfg: WebhookSinkConfig) -> WebhookSinkConfig {
    WebhookSinkConfig { retry: WebhookRetryConfig { max_attempts: 1, ..Default::default() }, ..cfg }
}

fn requests_total(sink: &str, outcome: &str) -> u64 {
    registry().counter_value("refinevad_webhook_requests_total", &[("sink", sink), ("outcome", outcome)])
}

#[test]
fn posts_signed_event_json_with_headers() {
    let server = Server::start(200, Duration::ZERO, 3);
    std::env::set_var("REFINEVAD_TEST_WEBHOOK_SECRET", "s3cret");
    let cfg = WebhookSinkConfig {
        secret_env: Some("REFINEVAD_TEST_WEBHOOK_SECRET".into()),
        headers: [("X-Api-Key".to_owned(), "k-123".into())].into(),
        ..webhook(server.url("/hook?source=refinevad"))
    };
    let sinks =
        SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext { pipeline: "test".into(), ops: None }).unwrap();
    let sent: Vec<Event> = [EventStatus::Opened, EventStatus::Updated, EventStatus::Closed].map(|s| event(7, s)).into();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let got = server.wait_for(3, Duration::from_secs(5));
    assert_eq!(got.len(), 3);
    for (r, e) in got.iter().zip(&sent) {
        assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/hook?source=refinevad"));
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-api-key"], "k-123");
        assert_eq!(r.headers["idempotency-key"], format!("{}-{}", e.event_id, e.seq));
        assert!(r.headers["user-agent"].starts_with("refinevad/"));
        let body: Event = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(&body, e, "the payload is the event, in order");
        // The signature verifies as a receiver would check it.
        let ts = &r.headers["x-refinevad-timestamp"];
        let mac = hmac_sha256(b"s3cret", &[ts.as_bytes(), b".", &r.body]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(r.headers["x-refinevad-signature"], format!("v1={hex}"));
        let age = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
            - ts.parse::<i64>().unwrap();
        assert!((0..60).contains(&age));
    }
}

#[test]
fn missing_secret_fails_at_start() {
    let cfg = WebhookSinkConfig {
        secret_env: Some("REFINEVAD_TEST_NO_SUCH_SECRET".into()),
        ..webhook("http://127.0.0.1:9/".into())
    };
    let err = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).err().expect("must fail");
    let SinkError::Start { sink, source } = &err else { panic!("{err}") };
    assert_eq!(sink, "sinks[0] (webhook)");
    assert!(matches!(**source, SinkError::SecretMissing { .. }), "{err}");
    assert!(err.to_string().contains("REFINEVAD_TEST_NO_SUCH_SECRET"));
}

#[test]
fn failures_are_counted_and_reported_at_close() {
    let failing = Server::start(503, Duration::ZERO, 2);
    let hanging = Server::start(200, Duration::from_millis(1500), 2);
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap() // the listener closes here: connections are refused
    };
    let cfgs = [
        SinkConfig::Webhook(one_attempt(webhook(failing.url("/")))),
        SinkConfig::Webhook(one_attempt(webhook(format!("http://{refused}/token/SECRET")))),
        SinkConfig::Webhook(one_attempt(WebhookSinkConfig { timeout_s: 0.3, ..webhook(hanging.url("/")) })),
    ];
    let before: Vec<u64> = [("webhook[0]", "status"), ("webhook[1]", "connect"), ("webhook[2]", "timeout")]
        .iter()
        .map(|(s, o)| requests_total(s, o))
        .collect();
    let sinks = SinkSet::spawn(&cfgs, &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    for i in 0..2 {
        sinks.send(SinkMsg::from(event(i, EventStatus::Opened)));
    }
    let results = sinks.close();
    assert!(t0.elapsed() < Duration::from_secs(4), "timeouts bound the close: {:?}", t0.elapsed());
    for (name, r) in &results {
        match r {
            Err(SinkError::Undelivered { failed: 2, attempted: 2, .. }) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    let msg = results[1].1.as_ref().unwrap_err().to_string();
    assert!(!msg.contains("SECRET"), "URL paths are redacted: {msg}");
    assert!(results[0].1.as_ref().unwrap_err().to_string().contains("HTTP status 503"));
    let after: Vec<u64> = [("webhook[0]", "status"), ("webhook[1]", "connect"), ("webhook[2]", "timeout")]
        .iter()
        .map(|(s, o)| requests_total(s, o))
        .collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a - b >= 2, "webhook[{i}]: {b} -> {a}");
    }
    assert_eq!(failing.requests().len(), 2);
}

#[test]
fn a_slow_webhook_does_not_hold_up_the_jsonl_sink() {
    const N: usize = 10;
    let slow = Server::start(200, Duration::from_millis(250), N);
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("events.jsonl");
    let cfgs = [
        SinkConfig::Webhook(webhook(slow.url("/"))),
        SinkConfig::Jsonl(JsonlSinkConfig { path: jsonl.clone(), queue: Default::default() }),
    ];
    let sinks = SinkSet::spawn(&cfgs, &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    for i in 0..N as u64 {
        sinks.send(SinkMsg::from(event(i, EventStatus::Opened)));
    }
    let sent = t0.elapsed();
    // The jsonl sink has every line long before the webhook is through its queue.
    let lines = || std::fs::read_to_string(&jsonl).unwrap_or_default().lines().count();
    while lines() < N && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let jsonl_done = t0.elapsed();
    let delivered_then = slow.requests().len();
    assert_eq!(lines(), N);
    assert!(sent < Duration::from_millis(200), "send must not wait for the webhook: {sent:?}");
    assert!(delivered_then <= 3, "webhook delivered {delivered_then} by the time jsonl was complete");
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let all = t0.elapsed();
    assert_eq!(slow.requests().len(), N, "close drains the webhook queue");
    eprintln!("slow webhook: sent {N} in {sent:?}; jsonl complete at {jsonl_done:?} (webhook had {delivered_then}); all delivered at {all:?}");
}

#[test]
fn a_full_drop_newest_queue_drops_and_counts_instead_of_blocking() {
    let slow = Server::start(200, Duration::from_millis(300), 20);
    let cfg = WebhookSinkConfig {
        queue: SinkQueueConfig { capacity: 2.try_into().unwrap(), when_full: WhenFull::DropNewest },
        ..webhook(slow.url("/"))
    };
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    let dropped = || {
        registry().counter_value(
            "refinevad_channel_dropped_total",
            &[("channel", "sink:webhook[0]"), ("policy", "drop_newest")],
        )
    };
    let before = dropped();
    let t0 = Instant::now();
    for i in 0..10 {
        sinks.send(SinkMsg::from(event(i, EventStatus::Opened)));
    }
    assert!(t0.elapsed() < Duration::from_millis(200), "{:?}", t0.elapsed());
    for (_, r) in sinks.close() {
        r.unwrap();
    }
    let delivered = slow.requests().len();
    // The webhook sink persists and hands over at once (the outbox absorbs a slow
    // receiver), so its queue rarely fills; whatever was dropped was counted.
    assert_eq!(delivered as u64 + dropped() - before, 10, "every event delivered or counted as dropped");
}

#[test]
fn healthy_receiver_throughput() {
    const N: usize = 300;
    let server = Server::start(200, Duration::ZERO, N);
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(webhook(server.url("/")))], &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    for i in 0..N as u64 {
        sinks.send(SinkMsg::from(event(i, EventStatus::Opened)));
    }
    for (_, r) in sinks.close() {
        r.unwrap();
    }
    let took = t0.elapsed();
    assert_eq!(server.requests().len(), N);
    eprintln!(
        "webhook: {N} events delivered in {took:?} ({:.0} events/s, {:.2} ms each)",
        N as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / N as f64
    );
}
