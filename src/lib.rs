//! refinevad: weakly supervised video anomaly detection (RefineVAD: MoTAR + CORE) inside a
//! GStreamer + actor dataflow. Each stage lives in its own module with its config,
//! messages and tests.
pub mod batch;
pub mod bench;
pub mod clips;
pub mod config;
pub mod dataset;
pub mod eval;
pub mod events;
pub mod extract;
pub mod features;
pub mod io;
pub mod model;
pub mod run;
pub mod runtime;
pub mod segment;
pub mod sinks;
pub mod source;
pub mod synth;
pub mod telemetry;
pub mod train;
pub mod window;
