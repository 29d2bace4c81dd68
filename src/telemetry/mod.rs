//! Telemetry: every event worth logging is also a metric. Each typed event in
//! [`events`] updates the metrics registry *and* writes one structured log line, so the
//! two can never disagree.
pub mod events;
pub mod http;
pub mod registry;

pub use registry::{registry, Registry};
