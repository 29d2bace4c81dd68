//! Errors of evaluation, score files and `refinevad eval`; each names the video or file.
use std::path::PathBuf;

use crate::dataset::DatasetError;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {reason}")]
    ScoresCsv { path: PathBuf, line: usize, reason: String },
    #[error("video {video}: {reason}")]
    Prediction { video: String, reason: String },
    #[error("video {video} has no entry in {annotations} (only videos whose name says normal, e.g. XD `label_A`, may be absent)")]
    MissingAnnotation { video: String, annotations: PathBuf },
    #[error("{annotations}: video {video} has category {category:?}, which is not one of the head's categories [{}]", known.join(", "))]
    UnknownCategory { annotations: PathBuf, video: String, category: String, known: Vec<String> },
    #[error("video {video} is given twice")]
    DuplicateVideo { video: String },
    #[error("{what} is undefined: all {frames} evaluated frames are {class} (the test set needs normal and anomalous frames)")]
    OneClass { what: &'static str, frames: usize, class: &'static str },
    #[error("nothing to evaluate: {0}")]
    Empty(String),
    #[error("{path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io { path: path.into(), source }
    }
}
