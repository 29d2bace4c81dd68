//! Training of the RefineVAD head with weak (video-level) labels: losses, AdamW, the
//! in-memory training loop, and the `refinevad train` command (incl. `--ablation`).
mod cli;
pub mod loss;
pub mod optim;
pub mod trainer;

pub use cli::{run_cli, TrainArgs};
pub use trainer::{CropMode, LossParts, TrainRecipe, TrainVideo, Trainer};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Config { path: std::path::PathBuf, reason: String },
    #[error("train: {0}")]
    Invalid(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Model(e.into())
    }
}
