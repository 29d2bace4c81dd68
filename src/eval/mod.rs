//! Evaluation with the field's protocol (frame AUC, AP, AUC_A, FAR, category accuracy,
//! mAP@IoU), the `*.scores.csv` contract, score plots and `refinevad eval`.
mod cli;
mod error;
pub mod localization;
pub mod metrics;
pub mod plot;
mod protocol;
pub mod scores_csv;

pub use cli::{predict_dataset, run_cli, EvalArgs};
pub use error::EvalError;
pub use metrics::{average_precision, roc_auc};
pub use protocol::{evaluate, Metrics, VideoMetrics, VideoPrediction, FAR_THRESHOLD};
pub use scores_csv::{read_scores_csv, read_scores_file, write_scores_csv, write_scores_file, ScoreRow, ScoresFile};
