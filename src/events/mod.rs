//! Event detection over scored segments: a per-stream state machine (threshold with
//! hysteresis, minimum duration, merge gap, cooldown) turning segment scores into
//! `opened` / `updated` / `closed` events, and [`run_events`], the stage that feeds scores
//! and events to the sinks.
mod config;
mod detector;
mod event;
mod run;
pub mod telemetry;
#[cfg(test)]
mod tests;

pub use config::{EventsConfig, InvalidKey};
pub use detector::{EventContext, EventDetector};
pub use event::{event_id, rfc3339_utc, Event, EventStatus, EventTime};
pub use run::{run_events, EventStats};
