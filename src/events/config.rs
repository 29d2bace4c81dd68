//! The `events:` section of a pipeline file.
use serde::{Deserialize, Serialize};

/// Rules that turn per-segment scores into events. Times are in video seconds, so a file
/// gives the same events however fast it is processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// A segment scoring at least this starts (or re-triggers) an event.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// An event stays open while segments score at least `threshold - hysteresis`, so a
    /// score wobbling around the threshold does not split it.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f32,
    /// Events shorter than this are never reported. `opened` is delayed until the event
    /// has lasted this long, so no `opened` is ever followed by a retraction.
    #[serde(default = "default_min_duration")]
    pub min_duration_s: f64,
    /// A dip below `threshold - hysteresis` shorter than this, followed by a segment at
    /// or above `threshold`, continues the same event. Also the delay before `closed`.
    #[serde(default = "default_merge_gap")]
    pub merge_gap_s: f64,
    /// After an event, a new event on the same stream is held back until this much video
    /// time has passed since the previous event's end; if it ends sooner it is suppressed
    /// (counted), if it is still going it is opened then, with its true start. 0 (the
    /// default, right for file analysis) reports every event; live cameras use ~30.
    #[serde(default)]
    pub cooldown_s: f64,
    /// While an event is open, `updated` is sent when its peak or category changed, at
    /// most once per this many video seconds.
    #[serde(default = "default_update_interval")]
    pub update_interval_s: f64,
    /// Send `source_down` / `source_up` to the sinks when a live source loses its
    /// connection and gets it back.
    #[serde(default = "yes")]
    pub source_events: bool,
}

fn yes() -> bool {
    true
}

fn default_threshold() -> f32 {
    0.6
}
fn default_hysteresis() -> f32 {
    0.1
}
fn default_min_duration() -> f64 {
    1.5
}
fn default_merge_gap() -> f64 {
    2.0
}
fn default_update_interval() -> f64 {
    5.0
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            threshold: default_threshold(),
            hysteresis: default_hysteresis(),
            min_duration_s: default_min_duration(),
            merge_gap_s: default_merge_gap(),
            cooldown_s: 0.0,
            update_interval_s: default_update_interval(),
            source_events: true,
        }
    }
}

/// A config value that types cannot rule out; `key` is relative to the section
/// (`threshold`, `url`), the caller prefixes where the section lives (`events.`, `sinks[1].`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidKey {
    pub key: String,
    pub reason: String,
}

impl InvalidKey {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }

    /// The same error under a parent key: `prefixed("sinks[1]")` turns `url` into `sinks[1].url`.
    pub fn prefixed(self, parent: &str) -> Self {
        Self { key: format!("{parent}.{}", self.key), reason: self.reason }
    }
}

impl EventsConfig {
    /// Checks ranges; keys are relative to the `events` section.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(InvalidKey::new("threshold", format!("expected a score in (0, 1], found {}", self.threshold)));
        }
        if !(self.hysteresis >= 0.0 && self.hysteresis < self.threshold) {
            return Err(InvalidKey::new(
                "hysteresis",
                format!("expected 0 <= hysteresis < threshold ({}), found {}", self.threshold, self.hysteresis),
            ));
        }
        for (key, v) in [
            ("min_duration_s", self.min_duration_s),
            ("merge_gap_s", self.merge_gap_s),
            ("cooldown_s", self.cooldown_s),
            ("update_interval_s", self.update_interval_s),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(InvalidKey::new(key, format!("expected seconds >= 0, found {v}")));
            }
        }
        Ok(())
    }

    /// Segments at or above this keep an open event going.
    pub fn low(&self) -> f32 {
        self.threshold - self.hysteresis
    }
}
