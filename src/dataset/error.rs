//! Errors of the dataset readers. Every variant names the file (and line when the problem
//! is in a list or annotation file) so a researcher can fix the data without a debugger.
use std::path::PathBuf;

use crate::io::npy::NpyError;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error("{list}:{line}: feature file {path} does not exist")]
    Missing { list: PathBuf, line: usize, path: PathBuf },
    #[error("{path}: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error("{path}: non-finite value {value} at row {row}{} column {col} (first bad row)", crop.map(|c| format!(" crop {c}")).unwrap_or_default())]
    NonFinite { path: PathBuf, row: usize, crop: Option<usize>, col: usize, value: f32 },
    #[error("{path}: feature width D={d} differs from D={expected} of {first}")]
    Width { path: PathBuf, d: usize, expected: usize, first: PathBuf },
    #[error("{path}: {t} segments, but crop file {other} of the same video has {expected}")]
    CropLength { path: PathBuf, t: usize, expected: usize, other: PathBuf },
    #[error("video {video}: crop {crop} requested but only crops {available:?} exist ({first})")]
    CropMissing { video: String, crop: usize, available: Vec<usize>, first: PathBuf },
    #[error("{path}: sidecar is not valid refinevad feature metadata: {source}")]
    Sidecar { path: PathBuf, source: serde_json::Error },
    #[error("{path}: sidecar disagrees with the features: {reason}")]
    SidecarMismatch { path: PathBuf, reason: String },
    #[error("{path}: feature layout {layout} differs from layout {expected} of {first}")]
    Layout { path: PathBuf, layout: String, expected: String, first: PathBuf },
    #[error("{path}:{line}: {reason}")]
    Syntax { path: PathBuf, line: usize, reason: String },
    #[error("{path}:{line}: unknown category {category:?}{}", if known.is_empty() { String::new() } else { format!(" (known: {})", known.join(", ")) })]
    UnknownCategory { path: PathBuf, line: usize, category: String, known: Vec<String> },
    #[error("{path}: video {video} appears twice (lines {first_line} and {line})")]
    Duplicate { path: PathBuf, video: String, first_line: usize, line: usize },
    #[error("video {video} is given twice: {first} and {second}")]
    DuplicateFiles { video: String, first: PathBuf, second: PathBuf },
    #[error("{path}: no feature files found")]
    Empty { path: PathBuf },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io { path: path.into(), source }
    }
}
