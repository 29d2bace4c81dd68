//! Event detection over scored segments: a per-stream state machine (threshold with
//! hysteresis, minimum duration, merge gap, cooldown) turning segment scores into
//! `opened` / `updated` / `closed` events, and [`run_events`], the stage that feeds scores
//! and events to the sinks. A live source's outage closes the stream's event at the gap
//! and becomes a `source_down` / `source_up` message ([`SourceEvent`]).
mod config;
mod detector;
mod event;
mod run;
mod source_event;
pub mod telemetry;
#[cfg(test)]
mod tests;

pub use config::{EventsConfig, InvalidKey};
pub use detector::{EventContext, EventDetector};
pub use event::{event_id, event_id_in_session, rfc3339_utc, Event, EventStatus, EventTime, WallTime};
pub use run::{run_events, run_events_notifying, EventStats};
pub use source_event::{redact_uri, source_event_id, SourceEvent, SourceEventKind};
