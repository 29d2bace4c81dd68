//! Reconnect schedule of live sources: exponential backoff with jitter, so cameras that
//! drop together (a switch reboots) do not all reconnect in the same instant.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runtime::rng::XorShift;

/// `sources[].reconnect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    /// Delay before the first reconnect attempt, seconds.
    #[serde(default = "initial_s")]
    pub initial_s: f64,
    /// Upper bound of the delay (before jitter), seconds.
    #[serde(default = "max_s")]
    pub max_s: f64,
    /// Factor between consecutive delays.
    #[serde(default = "multiplier")]
    pub multiplier: f64,
    /// Each delay is scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    #[serde(default = "jitter")]
    pub jitter: f64,
    /// Attempts after which the stream fails; 0 retries forever.
    #[serde(default)]
    pub max_attempts: u32,
}

fn initial_s() -> f64 {
    1.0
}
fn max_s() -> f64 {
    30.0
}
fn multiplier() -> f64 {
    2.0
}
fn jitter() -> f64 {
    0.2
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self { initial_s: initial_s(), max_s: max_s(), multiplier: multiplier(), jitter: jitter(), max_attempts: 0 }
    }
}

impl ReconnectConfig {
    /// Checks the values; the error is `(key, expectation)` relative to `reconnect`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !pos(self.initial_s) {
            return Err(("initial_s", format!("expected a positive number of seconds, found {}", self.initial_s)));
        }
        if !pos(self.max_s) || self.max_s < self.initial_s {
            return Err(("max_s", format!("expected seconds ≥ initial_s ({}), found {}", self.initial_s, self.max_s)));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(("multiplier", format!("expected a number ≥ 1, found {}", self.multiplier)));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(("jitter", format!("expected a fraction in [0, 1], found {}", self.jitter)));
        }
        Ok(())
    }

    /// Delay before reconnect attempt `attempt` (1-based), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = self.multiplier.powi(attempt.saturating_sub(1).min(64) as i32);
        Duration::from_secs_f64((self.initial_s * exp).min(self.max_s))
    }

    /// Delay before attempt `attempt` with jitter; `unit` is a uniform sample in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        self.base_delay(attempt).mul_f64(factor.max(0.0))
    }

    /// True when `attempt` exceeds `max_attempts` (never when it is 0).
    pub fn exhausted(&self, attempt: u32) -> bool {
        self.max_attempts > 0 && attempt > self.max_attempts
    }
}

/// Reconnect jitter, seeded per stream and from the clock.
pub struct Jitter(XorShift);

impl Jitter {
    pub fn seeded(stream: &str) -> Self {
        Self(XorShift::from_clock(stream.as_bytes()))
    }

    /// Uniform in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        self.0.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_doubles_up_to_the_cap() {
        let c = ReconnectConfig::default();
        let secs: Vec<f64> = (1..=7).map(|a| c.base_delay(a).as_secs_f64()).collect();
        assert_eq!(secs, vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
        assert_eq!(c.base_delay(1000).as_secs_f64(), 30.0);
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let c = ReconnectConfig::default();
        let mut j = Jitter::seeded("cam");
        let mut seen = std::collections::HashSet::new();
        for attempt in 1..=10 {
            for _ in 0..200 {
                let d = c.delay(attempt, j.next_unit()).as_secs_f64();
                let base = c.base_delay(attempt).as_secs_f64();
                assert!(d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9, "attempt {attempt}: {d} vs {base}");
                seen.insert((d * 1e6) as u64);
            }
        }
        assert!(seen.len() > 100, "jitter does not vary: {} distinct delays", seen.len());
        assert_eq!(c.delay(3, 0.0).as_secs_f64(), 4.0 * 0.8);
        assert_eq!(ReconnectConfig { jitter: 0.0, ..c }.delay(3, 0.9).as_secs_f64(), 4.0);
    }

    #[test]
    fn attempts_are_bounded_only_when_asked() {
        let forever = ReconnectConfig::default();
        assert!(!forever.exhausted(u32::MAX));
        let three = ReconnectConfig { max_attempts: 3, ..forever };
        assert!(!three.exhausted(3) && three.exhausted(4));
    }

    #[test]
    fn rejects_nonsense() {
        let c = ReconnectConfig::default();
        assert_eq!(ReconnectConfig { initial_s: 0.0, ..c.clone() }.validate().unwrap_err().0, "initial_s");
        assert_eq!(ReconnectConfig { max_s: 0.5, ..c.clone() }.validate().unwrap_err().0, "max_s");
        assert_eq!(ReconnectConfig { multiplier: 0.5, ..c.clone() }.validate().unwrap_err().0, "multiplier");
        assert_eq!(ReconnectConfig { jitter: 1.5, ..c.clone() }.validate().unwrap_err().0, "jitter");
        assert!(c.validate().is_ok());
    }
}
