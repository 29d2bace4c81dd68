//! The delivery engine behind one outbox: N worker threads taking pending entries from
//! per-stream FIFO queues — at most one request in flight per stream (head-of-line per
//! stream: an `updated` never overtakes its `opened`), streams served in outbox order —
//! with retries (exponential backoff, full jitter, `Retry-After`), a retry budget and
//! dead letters. Used by the sink and by `refinevad alerts replay|flush`.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::super::config::WebhookRetryConfig;
use super::delivery::{Delivery, DeliveryError};
use super::outbox::{now_ms, rfc3339_ms, DeadLetter, NewEntry, Outbox, Stored};
use super::telemetry::{failure_reason, AttemptFailed, DeadLettered, Delivered, Enqueued, OutboxBacklog};
use crate::runtime::rng::XorShift;
use crate::sinks::telemetry::{SinkFailed, WebhookAttempt};
use crate::sinks::SinkError;
use crate::telemetry::http::OpsState;

/// `/healthz` thresholds.
#[derive(Clone)]
pub struct HealthReport {
    pub ops: Arc<OpsState>,
    pub degraded_depth: usize,
    pub degraded_age_s: f64,
}

/// How the engine delivers.
#[derive(Clone)]
pub struct EngineOptions {
    pub retry: WebhookRetryConfig,
    /// Delivery threads.
    pub concurrency: usize,
    /// Pending entries beyond which new events are dead-lettered (`outbox_full`).
    pub max_pending: usize,
    pub health: Option<HealthReport>,
}

/// What the engine did (this process).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub delivered: u64,
    pub dead: u64,
    /// Still in the outbox when the engine stopped.
    pub pending: usize,
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Item {
    stored: Arc<Stored>,
    attempts: u32,
    next_at: Instant,
    first_attempt_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct StreamQ {
    items: VecDeque<Item>,
    busy: bool,
}

struct Sched {
    streams: HashMap<String, StreamQ>,
    depth: usize,
    /// Set by `finish`: stop when empty or at this instant.
    closing: Option<Instant>,
    last_report: Option<Instant>,
    degraded: bool,
}

struct Shared {
    sink: String,
    delivery: Delivery,
    retry: WebhookRetryConfig,
    max_pending: usize,
    outbox: Mutex<Outbox>,
    sched: Mutex<Sched>,
    cv: Condvar,
    health: Option<HealthReport>,
    delivered: AtomicU64,
    dead: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Ids for entries that could not be persisted (kept in memory only).
    volatile_ids: AtomicU64,
}

/// The running engine.
pub struct Engine {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts `concurrency` workers over `outbox`, resuming `pending` (outbox order).
    pub fn start(
        sink: &str,
        delivery: Delivery,
        opts: EngineOptions,
        outbox: Outbox,
        pending: Vec<Arc<Stored>>,
    ) -> Result<Engine, SinkError> {
        let EngineOptions { retry, concurrency, max_pending, health } = opts;
        let shared = Arc::new(Shared {
            sink: sink.to_owned(),
            delivery,
            retry,
            max_pending,
            outbox: Mutex::new(outbox),
            sched: Mutex::new(Sched {
                streams: HashMap::new(),
                depth: 0,
                closing: None,
                last_report: None,
                degraded: false,
            }),
            cv: Condvar::new(),
            health,
            delivered: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            last_error: Mutex::new(None),
            volatile_ids: AtomicU64::new(u64::MAX / 2),
        });
        shared.push(pending);
        let mut workers = Vec::new();
        for i in 0..concurrency.max(1) {
            let sh = shared.clone();
            let w = std::thread::Builder::new()
                .name(format!("webhook-{i}"))
                .spawn(move || worker(&sh, i as u64))
                .map_err(|e| SinkError::Thread(e.to_string()))?;
            workers.push(w);
        }
        Ok(Engine { shared, workers })
    }

    /// Persists one event (fsync) and queues it for delivery. Beyond `max_pending` the
    /// event goes straight to the dead-letter file. When the outbox cannot be written
    /// (disk full…) the event is still delivered from memory and the error returned.
    pub fn submit(&self, entry: NewEntry) -> Result<(), SinkError> {
        let sh = &self.shared;
        if sh.sched.lock().unwrap().depth >= sh.max_pending {
            let now = now_ms();
            let letter = DeadLetter {
                event_id: entry.event_id.clone(),
                idempotency_key: entry.key.clone(),
                stream: entry.stream.clone(),
                body: entry.body,
                last_error: format!("outbox full ({} pending)", sh.max_pending),
                reason: "outbox_full".into(),
                attempts: 0,
                first_attempt: String::new(),
                last_attempt: String::new(),
                created: rfc3339_ms(now),
                dead_at: rfc3339_ms(now),
            };
            sh.dead.fetch_add(1, Ordering::Relaxed);
            let mut ob = sh.outbox.lock().unwrap();
            DeadLettered {
                sink: &sh.sink,
                event_id: &letter.event_id,
                reason: "outbox_full",
                attempts: 0,
                error: &letter.last_error,
                dir: ob.dir(),
            }
            .emit();
            return ob.dead(None, &letter);
        }
        let persisted = sh.outbox.lock().unwrap().enqueue(vec![entry.clone()]);
        match persisted {
            Ok(stored) => {
                for s in &stored {
                    Enqueued { sink: &sh.sink, event_id: &s.event_id, key: &s.key }.emit();
                }
                sh.push(stored);
                Ok(())
            }
            Err(e) => {
                let s = Stored {
                    id: sh.volatile_ids.fetch_add(1, Ordering::Relaxed),
                    event_id: entry.event_id,
                    key: entry.key,
                    stream: entry.stream,
                    created_ms: now_ms(),
                    body: entry.body,
                };
                sh.push(vec![Arc::new(s)]);
                Err(e)
            }
        }
    }

    /// Entries waiting or in flight.
    pub fn depth(&self) -> usize {
        self.shared.sched.lock().unwrap().depth
    }

    /// Keeps delivering for at most `drain` (stops at once when nothing is pending), then
    /// stops the workers (a request in flight finishes first) and fsyncs the outbox.
    pub fn finish(self, drain: Duration) -> Summary {
        let sh = self.shared;
        sh.sched.lock().unwrap().closing = Some(Instant::now() + drain);
        sh.cv.notify_all();
        for w in self.workers {
            let _ = w.join();
        }
        let pending = {
            let mut s = sh.sched.lock().unwrap();
            s.last_report = None;
            sh.report(&mut s, Instant::now());
            s.depth
        };
        if let Err(e) = sh.outbox.lock().unwrap().sync() {
            SinkFailed { sink: &sh.sink, error: &e }.emit();
        }
        let last_error = sh.last_error.lock().unwrap().clone();
        Summary {
            delivered: sh.delivered.load(Ordering::Relaxed),
            dead: sh.dead.load(Ordering::Relaxed),
            pending,
            last_error,
        }
    }
}

enum Verdict {
    Retry(Duration),
    Dead(&'static str),
}

impl Shared {
    fn push(&self, entries: Vec<Arc<Stored>>) {
        if entries.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut s = self.sched.lock().unwrap();
        let n = entries.len();
        for e in entries {
            s.depth += 1;
            s.streams.entry(e.stream.clone()).or_default().items.push_back(Item {
                stored: e,
                attempts: 0,
                next_at: now,
                first_attempt_ms: None,
            });
        }
        drop(s);
        // Wake one worker per new entry (waking all of them for one entry only makes them
        // fight for the lock).
        if n == 1 {
            self.cv.notify_one();
        } else {
            self.cv.notify_all();
        }
    }

    /// The ready head with the smallest outbox id, marked busy; or the earliest instant
    /// a head becomes ready.
    fn pick(s: &mut Sched, now: Instant) -> Result<(Arc<Stored>, u32, Option<u64>), Option<Instant>> {
        let mut best: Option<(&String, u64)> = None;
        let mut wake: Option<Instant> = None;
        for (name, q) in &s.streams {
            let Some(head) = q.items.front() else { continue };
            if q.busy {
                continue;
            }
            if head.next_at <= now {
                if best.is_none_or(|(_, id)| head.stored.id < id) {
                    best = Some((name, head.stored.id));
                }
            } else if wake.is_none_or(|w| head.next_at < w) {
                wake = Some(head.next_at);
            }
        }
        match best {
            Some((name, _)) => {
                let name = name.clone();
                let q = s.streams.get_mut(&name).unwrap();
                q.busy = true;
                let h = q.items.front().unwrap();
                Ok((h.stored.clone(), h.attempts, h.first_attempt_ms))
            }
            None => Err(wake),
        }
    }

    /// Removes the finished head of `stream`.
    fn complete(&self, stream: &str) {
        let mut s = self.sched.lock().unwrap();
        if let Some(q) = s.streams.get_mut(stream) {
            q.items.pop_front();
            q.busy = false;
            if q.items.is_empty() {
                s.streams.remove(stream);
            }
            s.depth -= 1;
        }
        // The calling worker picks the stream's next entry itself; the others only need
        // waking when nothing is left (a closing engine stops).
        if s.depth == 0 {
            self.cv.notify_all();
        }
    }

    fn reschedule(&self, stream: &str, attempts: u32, first_ms: u64, delay: Duration) {
        let mut s = self.sched.lock().unwrap();
        if let Some(q) = s.streams.get_mut(stream) {
            if let Some(h) = q.items.front_mut() {
                h.attempts = attempts;
                h.first_attempt_ms = Some(first_ms);
                h.next_at = Instant::now() + delay;
            }
            q.busy = false;
        }
    }

    /// Gauges and `/healthz` (at most twice a second).
    fn report(&self, s: &mut MutexGuard<'_, Sched>, now: Instant) {
        if s.last_report.is_some_and(|t| now.duration_since(t) < Duration::from_millis(500)) {
            return;
        }
        s.last_report = Some(now);
        let oldest_ms = s.streams.values().filter_map(|q| q.items.front()).map(|i| i.stored.created_ms).min();
        let oldest_s = oldest_ms.map_or(0.0, |c| now_ms().saturating_sub(c) as f64 / 1e3);
        OutboxBacklog { sink: &self.sink, depth: s.depth, oldest_s }.emit();
        let Some(h) = &self.health else { return };
        let degraded = s.depth >= h.degraded_depth || oldest_s >= h.degraded_age_s;
        let state = if degraded {
            format!("degraded: webhook outbox has {} pending, oldest {oldest_s:.0} s", s.depth)
        } else {
            format!("ok: webhook outbox has {} pending", s.depth)
        };
        let mut health = h.ops.health.lock().unwrap();
        health.components.insert(format!("sink.{}", self.sink), state);
        if degraded {
            health.status = "degraded".into();
        } else if s.degraded && !health.components.values().any(|v| v.starts_with("degraded")) {
            health.status = "ok".into();
        }
        drop(health);
        if degraded != s.degraded {
            if degraded {
                tracing::warn!(sink = self.sink, depth = s.depth, oldest_s, "webhook outbox backing up: degraded");
            } else {
                tracing::info!(sink = self.sink, depth = s.depth, "webhook outbox recovered");
            }
            s.degraded = degraded;
        }
    }

    fn verdict(&self, e: &DeliveryError, attempts: u32, created_ms: u64, rng: &mut XorShift) -> Verdict {
        if !e.is_retryable() {
            return Verdict::Dead("rejected");
        }
        if attempts >= self.retry.max_attempts {
            return Verdict::Dead("max_attempts");
        }
        let age_s = now_ms().saturating_sub(created_ms) as f64 / 1e3;
        if age_s >= self.retry.max_age_s {
            return Verdict::Dead("max_age");
        }
        if let DeliveryError::Status { retry_after: Some(d), .. } = e {
            return Verdict::Retry((*d).min(Duration::from_secs(3600)));
        }
        let exp = self.retry.initial_backoff_s * 2f64.powi(attempts.saturating_sub(1).min(60) as i32);
        let ceiling = exp.min(self.retry.max_backoff_s);
        Verdict::Retry(Duration::from_secs_f64(ceiling * rng.unit()))
    }
}

fn worker(sh: &Shared, index: u64) {
    let mut rng = XorShift::new(now_ms() ^ (index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    loop {
        let (stored, attempts, first_ms) = {
            let mut s = sh.sched.lock().unwrap();
            loop {
                let now = Instant::now();
                sh.report(&mut s, now);
                if let Some(deadline) = s.closing {
                    if s.depth == 0 || now >= deadline {
                        return;
                    }
                }
                match Shared::pick(&mut s, now) {
                    Ok(x) => break x,
                    Err(wake) => {
                        let mut wait = wake.map_or(Duration::from_secs(1), |w| w - now).min(Duration::from_secs(1));
                        if let Some(d) = s.closing {
                            wait = wait.min(d.saturating_duration_since(now));
                        }
                        s = sh.cv.wait_timeout(s, wait.max(Duration::from_millis(1))).unwrap().0;
                    }
                }
            }
        };
        let attempt_ms = now_ms();
        let first_ms = first_ms.unwrap_or(attempt_ms);
        let req =
            sh.delivery.request(&stored.event_id, &stored.key, stored.body.as_bytes().to_vec(), SystemTime::now());
        let t0 = Instant::now();
        let result = sh.delivery.post(&req);
        let error = result.as_ref().err().map(|e| e.to_string());
        WebhookAttempt {
            sink: &sh.sink,
            event_id: &stored.event_id,
            outcome: result.as_ref().map_or_else(|e| e.outcome(), |_| "ok"),
            status: match &result {
                Ok(code) | Err(DeliveryError::Status { code, .. }) => Some(*code),
                Err(_) => None,
            },
            seconds: t0.elapsed().as_secs_f64(),
            error: error.as_deref(),
        }
        .emit();
        let attempts = attempts + 1;
        match result {
            Ok(_) => {
                if let Err(e) = sh.outbox.lock().unwrap().delivered(stored.id) {
                    SinkFailed { sink: &sh.sink, error: &e }.emit();
                }
                sh.delivered.fetch_add(1, Ordering::Relaxed);
                Delivered {
                    sink: &sh.sink,
                    event_id: &stored.event_id,
                    attempts,
                    seconds: now_ms().saturating_sub(stored.created_ms) as f64 / 1e3,
                }
                .emit();
                sh.complete(&stored.stream);
            }
            Err(e) => {
                let error = error.unwrap_or_default();
                *sh.last_error.lock().unwrap() = Some(error.clone());
                let reason = failure_reason(&e);
                match sh.verdict(&e, attempts, stored.created_ms, &mut rng) {
                    Verdict::Retry(delay) => {
                        AttemptFailed {
                            sink: &sh.sink,
                            event_id: &stored.event_id,
                            reason,
                            attempts,
                            retry_in: Some(delay.as_secs_f64()),
                        }
                        .emit();
                        sh.reschedule(&stored.stream, attempts, first_ms, delay);
                    }
                    Verdict::Dead(why) => {
                        AttemptFailed { sink: &sh.sink, event_id: &stored.event_id, reason, attempts, retry_in: None }
                            .emit();
                        let letter = DeadLetter {
                            event_id: stored.event_id.clone(),
                            idempotency_key: stored.key.clone(),
                            stream: stored.stream.clone(),
                            body: stored.body.clone(),
                            last_error: error,
                            reason: why.into(),
                            attempts,
                            first_attempt: rfc3339_ms(first_ms),
                            last_attempt: rfc3339_ms(attempt_ms),
                            created: rfc3339_ms(stored.created_ms),
                            dead_at: rfc3339_ms(now_ms()),
                        };
                        sh.dead.fetch_add(1, Ordering::Relaxed);
                        let mut ob = sh.outbox.lock().unwrap();
                        DeadLettered {
                            sink: &sh.sink,
                            event_id: &stored.event_id,
                            reason: why,
                            attempts,
                            error: &letter.last_error,
                            dir: ob.dir(),
                        }
                        .emit();
                        let id = (stored.id < u64::MAX / 2).then_some(stored.id);
                        if let Err(e) = ob.dead(id, &letter) {
                            SinkFailed { sink: &sh.sink, error: &e }.emit();
                        }
                        drop(ob);
                        sh.complete(&stored.stream);
                    }
                }
            }
        }
    }
}
