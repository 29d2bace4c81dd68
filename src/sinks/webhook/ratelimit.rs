//! Rate limiting / cooldown of `opened` events per (stream, category), on each stream's
//! own clock (the event's start in video seconds: deterministic for files, wall-clock
//! for live streams). The rule: the decision is taken at `opened`, and the event's
//! `updated`/`closed` messages follow it, so a receiver never sees half an event — in
//! particular the `closed` of an `opened` that was sent is never suppressed, and the
//! `closed` of a suppressed `opened` is suppressed too.
use std::collections::{HashMap, VecDeque};

use super::super::config::WebhookRateLimitConfig;
use crate::events::{Event, EventStatus};

/// Why a message was suppressed (metric label).
pub type Reason = &'static str;

#[derive(Debug, Default)]
struct KeyState {
    /// Admitted `opened` starts within the last 60 s.
    window: VecDeque<f64>,
    /// Last admitted `opened` start.
    last: Option<f64>,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    per_min: Option<u32>,
    cooldown_s: Option<f64>,
    /// Start times of the admitted `opened` in the last 60 s, per (stream, category).
    admitted: HashMap<(String, String), KeyState>,
    /// Open events: suppressed (with the reason) or not.
    decisions: HashMap<String, Option<Reason>>,
}

/// Decisions kept at most (events that never close, e.g. a stream that died).
const MAX_OPEN: usize = 100_000;

impl RateLimiter {
    pub fn new(cfg: Option<&WebhookRateLimitConfig>) -> Self {
        Self {
            per_min: cfg.and_then(|c| c.per_stream_category_per_min),
            cooldown_s: cfg.and_then(|c| c.cooldown_s),
            ..Self::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_min.is_some() || self.cooldown_s.is_some()
    }

    /// `None` = send; `Some(reason)` = suppress.
    pub fn check(&mut self, e: &Event) -> Option<Reason> {
        if !self.enabled() {
            return None;
        }
        match e.status {
            EventStatus::Opened => {
                let verdict = self.admit_opened(e);
                if self.decisions.len() >= MAX_OPEN {
                    self.decisions.clear();
                }
                self.decisions.insert(e.event_id.clone(), verdict);
                verdict
            }
            EventStatus::Updated => self.decisions.get(&e.event_id).copied().flatten(),
            // Unknown events (opened before a restart) are sent.
            EventStatus::Closed => self.decisions.remove(&e.event_id).flatten(),
        }
    }

    fn admit_opened(&mut self, e: &Event) -> Option<Reason> {
        let key = (e.stream.clone(), e.category.clone().unwrap_or_else(|| "anomaly".into()));
        let t = e.start.seconds;
        let k = self.admitted.entry(key).or_default();
        if k.last.is_some_and(|last| t < last) {
            *k = KeyState::default(); // the stream's clock went back (a restarted live source)
        }
        while k.window.front().is_some_and(|&f| f <= t - 60.0) {
            k.window.pop_front();
        }
        if let (Some(c), Some(last)) = (self.cooldown_s, k.last) {
            if t - last < c {
                return Some("cooldown");
            }
        }
        if self.per_min.is_some_and(|n| k.window.len() >= n as usize) {
            return Some("rate_limit");
        }
        k.window.push_back(t);
        k.last = Some(t);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventTime;

    fn ev(id: &str, stream: &str, cat: &str, t: f64, status: EventStatus) -> Event {
        Event {
            event_id: id.into(),
            seq: status as u32,
            status,
            stream: stream.into(),
            video: String::new(),
            start: EventTime::new(t, (t * 25.0) as u64),
            end: EventTime::new(t + 1.0, (t * 25.0) as u64 + 25),
            peak_score: 0.9,
            category: Some(cat.into()),
            category_probs: Default::default(),
            pipeline: String::new(),
            model: String::new(),
            wall_time: String::new(),
            clip: None,
        }
    }

    #[test]
    fn per_minute_limit_follows_opened() {
        let mut r =
            RateLimiter::new(Some(&WebhookRateLimitConfig { per_stream_category_per_min: Some(2), cooldown_s: None }));
        let mut sent = Vec::new();
        for i in 0..5 {
            let t = i as f64 * 10.0;
            let id = format!("e{i}");
            for st in [EventStatus::Opened, EventStatus::Updated, EventStatus::Closed] {
                if r.check(&ev(&id, "cam1", "Fire", t, st)).is_none() {
                    sent.push(format!("{id}:{}", st.as_str()));
                }
            }
        }
        // e0, e1 sent whole; e2..e4 (t = 20, 30, 40 < 60) suppressed whole.
        assert_eq!(sent, ["e0:opened", "e0:updated", "e0:closed", "e1:opened", "e1:updated", "e1:closed"]);
        assert!(r.check(&ev("x", "cam1", "Fire", 61.0, EventStatus::Opened)).is_none(), "window slides");
        assert!(r.check(&ev("y", "cam2", "Fire", 41.0, EventStatus::Opened)).is_none(), "per stream");
        assert!(r.check(&ev("z", "cam1", "Panic", 41.0, EventStatus::Opened)).is_none(), "per category");
        assert!(r.check(&ev("late", "cam9", "Fire", 0.0, EventStatus::Closed)).is_none(), "unknown closes are sent");
    }

    #[test]
    fn cooldown() {
        let mut r = RateLimiter::new(Some(&WebhookRateLimitConfig {
            per_stream_category_per_min: None,
            cooldown_s: Some(90.0),
        }));
        assert!(r.check(&ev("a", "c", "F", 0.0, EventStatus::Opened)).is_none());
        assert_eq!(r.check(&ev("b", "c", "F", 50.0, EventStatus::Opened)), Some("cooldown"));
        assert_eq!(r.check(&ev("b", "c", "F", 50.0, EventStatus::Closed)), Some("cooldown"));
        assert!(r.check(&ev("a", "c", "F", 0.0, EventStatus::Closed)).is_none(), "closed of a sent opened");
        assert!(r.check(&ev("d", "c", "F", 95.0, EventStatus::Opened)).is_none());
    }
}
