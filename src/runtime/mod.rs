//! Runtime: bounded policy channels for data, and an actix supervisor for lifecycle.
//! Compute runs on plain OS threads owned by the supervisor (never on the actix event
//! loop); the supervisor learns of every stage exit by message, cancels the pipeline on
//! Ctrl-C or on a stage failure, and resolves when all stages have drained.
pub mod channel;
pub mod control;
pub mod front;
pub mod live_queue;
pub mod rng;
pub mod route;
pub mod supervisor;

pub use supervisor::{run_stages, Cancel, StageSet};
