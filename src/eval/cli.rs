//! `refinevad eval`: score files or a trained head on a feature list, against annotations.
use std::path::{Path, PathBuf};

use super::localization::proposals;
use super::{evaluate, plot, read_scores_csv, write_scores_csv, EvalError, Metrics, VideoPrediction};
use crate::dataset::{load_list, Annotations, CropMode, Dataset, LoadOptions};
use crate::model::LoadedModel;

/// Arguments of `refinevad eval`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["scores", "model"])))]
pub struct EvalArgs {
    /// Directory of `*.scores.csv` files (searched recursively; video = file stem).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["model", "test"])]
    pub scores: Option<PathBuf>,
    /// Trained head directory (`refinevad train --out`).
    #[arg(long, value_name = "DIR", requires = "test")]
    pub model: Option<PathBuf>,
    /// Test features: extract dir, UCF/XD `.npy` list or `path,category` CSV.
    #[arg(long, value_name = "LIST")]
    pub test: Option<PathBuf>,
    /// Ground truth: UCF `Temporal_Anomaly_Annotation`, XD `annotations.txt` or CSV.
    #[arg(long, value_name = "FILE")]
    pub annotations: PathBuf,
    /// Write all metrics (and per-video numbers) as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write one PNG score plot per video here.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Multi-crop features: `mean` or a crop index.
    #[arg(long, value_name = "mean|K", default_value = "mean", value_parser = parse_crops)]
    pub crops: CropMode,
    /// With `--model`: also write each video's `<name>.scores.csv` here.
    #[arg(long, value_name = "DIR")]
    pub save_scores: Option<PathBuf>,
}

fn parse_crops(s: &str) -> Result<CropMode, String> {
    match s {
        "mean" => Ok(CropMode::Mean),
        k => k.parse().map(CropMode::Index).map_err(|_| format!("{k:?}: expected `mean` or a crop index")),
    }
}

/// Runs `refinevad eval`; the last line printed is [`Metrics::summary_line`].
pub fn run_cli(args: EvalArgs) -> Result<(), EvalError> {
    let ann = Annotations::load(&args.annotations)?;
    let preds = match (&args.scores, &args.model, &args.test) {
        (Some(dir), _, _) => read_scores_dir(dir)?,
        (None, Some(model), Some(test)) => {
            let ds = load_list(test, &LoadOptions { crops: args.crops, root: None })?;
            let preds = predict_dataset(model, &ds)?;
            if let Some(out) = &args.save_scores {
                for p in &preds {
                    write_scores_csv(&out.join(format!("{}.scores.csv", p.name)), p, 0.0)?;
                }
            }
            preds
        }
        _ => return Err(EvalError::Empty("give --scores DIR, or --model DIR with --test LIST".into())),
    };
    let metrics = evaluate(&preds, &ann)?;
    if let Some(dir) = &args.plots {
        write_plots(dir, &preds, &ann)?;
    }
    if let Some(path) = &args.json {
        let body =
            serde_json::to_vec_pretty(&metrics).map_err(|source| EvalError::Json { path: path.clone(), source })?;
        crate::io::atomic::write_atomic(path, &body).map_err(|e| EvalError::io(path, e))?;
    }
    print_report(&metrics);
    Ok(())
}

fn print_report(m: &Metrics) {
    println!(
        "videos: {} ({} anomalous, {} normal), frames: {} ({} anomalous)",
        m.n_videos, m.n_abnormal_videos, m.n_normal_videos, m.n_frames, m.n_anomalous_frames
    );
    if let Some(avg) = m.map_avg {
        let per: Vec<String> = m.map_iou.iter().map(|(t, v)| format!("{t:.1}:{v:.2}")).collect();
        println!("mAP@IoU {} avg:{avg:.2}", per.join(" "));
    }
    println!("{}", m.summary_line());
}

/// Every `*.scores.csv` below `dir`, sorted by path.
fn read_scores_dir(dir: &Path) -> Result<Vec<VideoPrediction>, EvalError> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    if files.is_empty() {
        return Err(EvalError::Empty(format!("no *.scores.csv files in {}", dir.display())));
    }
    files.sort();
    files.iter().map(|f| read_scores_csv(f)).collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    for e in std::fs::read_dir(dir).map_err(|e| EvalError::io(dir, e))? {
        let p = e.map_err(|e| EvalError::io(dir, e))?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".scores.csv")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Runs a trained head over every video of `ds` (one video at a time, CPU).
pub fn predict_dataset(model_dir: &Path, ds: &Dataset) -> Result<Vec<VideoPrediction>, EvalError> {
    let model = LoadedModel::load(model_dir)?;
    model.check_layout(&ds.layout)?;
    ds.videos.iter().map(|v| Ok(VideoPrediction::of_video(v, model.predict(&v.data, v.t, v.d, &ds.layout)?))).collect()
}

fn write_plots(dir: &Path, preds: &[VideoPrediction], ann: &Annotations) -> Result<(), EvalError> {
    for p in preds {
        let frames: Vec<f32> = p.frame_scores().collect();
        let truth = ann.get(&p.name).map(|a| a.intervals.clone()).unwrap_or_default();
        let props: Vec<(u64, u64)> = if p.category_probs.is_some() {
            proposals(&p.scores, p.snippet_frames, p.eval_frames()).iter().map(|q| (q.start, q.end)).collect()
        } else {
            Vec::new()
        };
        plot::plot_scores(&dir.join(format!("{}.png", p.name)), &frames, &truth, &props)?;
    }
    Ok(())
}
