//! `refinevad alerts …`: operations on the webhook outbox (replay dead letters).
/// Arguments of `refinevad alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {}

/// Runs `refinevad alerts`; returns the process exit code.
pub fn run_alerts_cli(_args: AlertsArgs) -> Result<u8, super::super::SinkError> {
    Ok(2)
}
