//! `refinevad batch` and `refinevad report`: resumable, shardable archive processing.
/// Arguments of `refinevad batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {}

/// Arguments of `refinevad report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch: not built yet")]
    NotBuilt,
}

/// Runs `refinevad batch`; returns the process exit code (0 all done, 1 some videos failed).
pub fn run_cli(_args: BatchArgs) -> Result<u8, BatchError> {
    Err(BatchError::NotBuilt)
}

/// Runs `refinevad report`.
pub fn run_report_cli(_args: ReportArgs) -> Result<(), BatchError> {
    Err(BatchError::NotBuilt)
}
