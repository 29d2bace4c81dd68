//! `refinevad train`: load feature lists, train with per-epoch validation, keep the best
//! checkpoint, resume, and the five-row ablation table.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use serde_json::json;

use super::trainer::{TrainRecipe, TrainVideo, Trainer};
use super::TrainError;
use crate::dataset::{self, Annotations, Dataset, LoadOptions};
use crate::eval::{self, Metrics, VideoPrediction};
use crate::io::atomic::write_atomic;
use crate::model::{CategoryWeighting, HeadConfig};

/// Arguments of `refinevad train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Training feature list (extract dir, UCF/XD `.npy` list, or CSV `path,category`).
    #[arg(long)]
    pub train: PathBuf,
    /// Test feature list (validated every epoch).
    #[arg(long)]
    pub test: PathBuf,
    /// Temporal annotations of the test list.
    #[arg(long)]
    pub annotations: PathBuf,
    /// Output directory (best checkpoint, history, ablation table).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs (default 30; an epoch sees every video of the larger class once).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Total optimisation steps (overrides --epochs).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Continue from the training state saved in this directory (a previous --out).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    #[arg(long)]
    pub no_motar: bool,
    #[arg(long)]
    pub no_core: bool,
    /// Uniform category weights (prototypes injected, classifier does not steer them).
    #[arg(long)]
    pub no_soft_classification: bool,
    /// Literal floor() shift in training and inference (the gate gets no gradient).
    #[arg(long)]
    pub hard_shift: bool,
    /// Train the five ablation rows and print one table.
    #[arg(long)]
    pub ablation: bool,
    /// Seeds per ablation row (seed, seed+1, …).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Videos per batch (half normal, half abnormal).
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Maximum training segments per video (crop length) and inference window.
    #[arg(long)]
    pub max_len: Option<usize>,
    /// k = ⌊T/N⌋+1 in the top-k MIL loss.
    #[arg(long)]
    pub topk_divisor: Option<usize>,
    /// JSON file with HeadConfig fields to override (see docs/model.md).
    #[arg(long)]
    pub head_config: Option<PathBuf>,
    /// JSON file with TrainRecipe fields to override.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// `.npy` C×P prototype initialisation (rows in sorted category order), e.g. MiniLM
    /// embeddings of category descriptions.
    #[arg(long)]
    pub prototypes: Option<PathBuf>,
    /// Use crop N of multi-crop feature files instead of the mean over crops.
    #[arg(long)]
    pub crop_index: Option<usize>,
    /// Base directory for relative paths in list files.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Checkpoint selection metric: auc or ap.
    #[arg(long, default_value = "auc")]
    pub select: String,
    /// CPU threads for the head's matrix products (small matrices: 1 is fastest).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Runs `refinevad train`.
pub fn run_cli(args: TrainArgs) -> Result<(), TrainError> {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // candle reads this on every matmul; set before any compute thread exists.
        std::env::set_var("RAYON_NUM_THREADS", args.threads.max(1).to_string());
    }
    if args.select != "auc" && args.select != "ap" {
        return Err(TrainError::Invalid(format!("--select must be auc or ap, not {}", args.select)));
    }
    let opts = LoadOptions { crops: args.crop_index.map(dataset_crop).unwrap_or_default(), root: args.root.clone() };
    let train = dataset::load_list(&args.train, &opts)?;
    let test = dataset::load_list(&args.test, &opts)?;
    let ann = Annotations::load(&args.annotations)?;
    if train.layout != test.layout {
        return Err(TrainError::Invalid(format!(
            "train features have layout {} but test features {}",
            train.layout.describe(),
            test.layout.describe()
        )));
    }
    if train.categories.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: no abnormal training videos (no categories found)",
            args.train.display()
        )));
    }
    let data = Data::new(train, test, ann);
    let (cfg, recipe) = build_config(&args)?;
    let protos = match &args.prototypes {
        Some(p) => Some(read_prototypes(p, data.categories.len())?),
        None => None,
    };
    if args.ablation {
        return run_ablation(&args, &data, cfg, recipe, protos.as_deref());
    }
    let r = train_one(&data, cfg, recipe, protos.as_deref(), &args.out, args.resume.as_deref(), &args.select, true)?;
    println!(
        "best epoch {}: {}  ({:.1} s/epoch) → {}",
        r.best_epoch,
        r.best.line,
        r.secs_per_epoch,
        args.out.display()
    );
    Ok(())
}

fn dataset_crop(i: usize) -> dataset::CropMode {
    dataset::CropMode::Index(i)
}

/// Training and test data in the form the trainer and the evaluator need.
pub struct Data {
    pub train: Vec<TrainVideo>,
    pub test: Dataset,
    pub ann: Annotations,
    pub categories: Vec<String>,
}

impl Data {
    pub fn new(train: Dataset, test: Dataset, ann: Annotations) -> Self {
        let categories = train.categories.clone();
        let videos = train
            .videos
            .into_iter()
            .map(|v| TrainVideo {
                category: v.category.as_ref().and_then(|c| categories.iter().position(|k| k == c)),
                name: v.name,
                t: v.t,
                data: v.data,
            })
            .collect();
        Self { train: videos, test, ann, categories }
    }
}

fn build_config(args: &TrainArgs) -> Result<(HeadConfig, TrainRecipe), TrainError> {
    let mut cfg: HeadConfig = read_json_or_default(args.head_config.as_deref())?;
    let mut recipe: TrainRecipe = read_json_or_default(args.recipe.as_deref())?;
    cfg.no_motar |= args.no_motar;
    cfg.no_core |= args.no_core;
    if args.no_soft_classification {
        cfg.weighting = CategoryWeighting::Uniform;
    }
    if args.hard_shift {
        cfg.hard_shift_train = true;
        cfg.hard_shift_infer = true;
    }
    recipe.seed = args.seed;
    if let Some(e) = args.epochs {
        recipe.epochs = e;
    }
    if args.steps.is_some() {
        recipe.steps = args.steps;
    }
    if let Some(b) = args.batch_size {
        recipe.batch_size = b;
    }
    if let Some(l) = args.lr {
        recipe.lr = l;
    }
    if let Some(m) = args.max_len {
        recipe.max_len = m;
    }
    if let Some(k) = args.topk_divisor {
        recipe.topk_divisor = k;
    }
    Ok((cfg, recipe))
}

fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(p: Option<&Path>) -> Result<T, TrainError> {
    let Some(p) = p else { return Ok(T::default()) };
    let text = std::fs::read_to_string(p).map_err(|source| TrainError::Io { path: p.to_owned(), source })?;
    serde_json::from_str(&text).map_err(|e| TrainError::Config { path: p.to_owned(), reason: e.to_string() })
}

fn read_prototypes(p: &Path, c: usize) -> Result<Vec<Vec<f32>>, TrainError> {
    let a =
        crate::io::npy::read_f32(p).map_err(|e| TrainError::Config { path: p.to_owned(), reason: e.to_string() })?;
    if a.shape.len() != 2 || a.shape[0] != c {
        return Err(TrainError::Config {
            path: p.to_owned(),
            reason: format!("prototypes must be {c}×P (one row per category, sorted), got {:?}", a.shape),
        });
    }
    Ok(a.data.chunks(a.shape[1]).map(|r| r.to_vec()).collect())
}

/// Result of one training run.
pub struct RunResult {
    /// Test metrics of the best epoch (as in `config.json`).
    pub best: BestMetrics,
    pub best_epoch: usize,
    pub secs_per_epoch: f64,
    pub param_count: usize,
}

/// The headline numbers of the best epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct BestMetrics {
    pub auc: f64,
    pub ap: f64,
    pub category_accuracy: Option<f64>,
    pub line: String,
}

impl BestMetrics {
    fn from_metrics(m: &Metrics) -> Self {
        Self { auc: m.auc, ap: m.ap, category_accuracy: m.category_accuracy, line: summary_line(m) }
    }

    fn from_json(v: &serde_json::Value) -> Self {
        let f = |k: &str| v[k].as_f64();
        let auc = f("auc").unwrap_or(f64::NAN);
        let ap = f("ap").unwrap_or(f64::NAN);
        Self {
            auc,
            ap,
            category_accuracy: f("category_accuracy"),
            line: format!("AUC={auc:.2} AP={ap:.2} (from the resumed checkpoint)"),
        }
    }
}

fn metric_of(m: &Metrics, select: &str) -> f64 {
    if select == "ap" {
        m.ap
    } else {
        m.auc
    }
}

pub fn metrics_json(m: &Metrics) -> serde_json::Value {
    json!({
        "auc": m.auc, "ap": m.ap, "auc_abnormal": m.auc_abnormal, "far": m.far,
        "category_accuracy": m.category_accuracy,
        "map_iou": m.map_iou.iter().map(|(i, v)| json!([i, v])).collect::<Vec<_>>(),
        "map_avg": m.map_avg,
    })
}

fn summary_line(m: &Metrics) -> String {
    let o = |v: Option<f64>, p: usize| v.map(|x| format!("{x:.p$}")).unwrap_or_else(|| "-".into());
    format!(
        "AUC={:.2} AP={:.2} AUC_A={} FAR={} CAT={}",
        m.auc,
        m.ap,
        o(m.auc_abnormal, 2),
        o(m.far, 3),
        o(m.category_accuracy, 2)
    )
}

/// Predicts every test video with the trainer's current weights.
pub fn predict_test(tr: &Trainer, test: &Dataset) -> Result<Vec<VideoPrediction>, TrainError> {
    test.videos.iter().map(|v| Ok(VideoPrediction::of_video(v, tr.predict(&v.data, v.t)?))).collect()
}

const STATE_DIR: &str = "train_state";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_owned(), source }
}

/// Trains one configuration, validating each epoch; the best checkpoint goes to `out`.
#[allow(clippy::too_many_arguments)]
pub fn train_one(
    data: &Data,
    cfg: HeadConfig,
    recipe: TrainRecipe,
    protos: Option<&[Vec<f32>]>,
    out: &Path,
    resume: Option<&Path>,
    select: &str,
    verbose: bool,
) -> Result<RunResult, TrainError> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let mut tr = Trainer::new(
        cfg,
        recipe,
        data.train.clone(),
        data.test.layout.clone(),
        data.categories.clone(),
        protos,
        &Device::Cpu,
    )?;
    let spe = tr.steps_per_epoch();
    let total = tr.total_steps();
    let epochs = total.div_ceil(spe);
    let mut best: Option<(f64, BestMetrics, usize)> = None;
    let mut history: Vec<serde_json::Value> = Vec::new();
    let mut start_epoch = 0;
    if let Some(dir) = resume {
        let (epoch, hist, best_v) = load_state(&mut tr, &dir.join(STATE_DIR))?;
        start_epoch = epoch;
        history = hist;
        // Carry the best checkpoint over so `out` always holds the best model so far.
        let ck_path = dir.join(crate::model::checkpoint::CONFIG_FILE);
        if let (Some(b), Ok(text)) = (best_v, std::fs::read(&ck_path)) {
            let ck: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
            let ep = ck["metrics"]["epoch"].as_u64().unwrap_or(0) as usize;
            best = Some((b, BestMetrics::from_json(&ck["metrics"]["test"]), ep));
            if dir.canonicalize().ok() != out.canonicalize().ok() {
                for f in [crate::model::checkpoint::WEIGHTS_FILE, crate::model::checkpoint::CONFIG_FILE] {
                    let bytes = std::fs::read(dir.join(f)).map_err(io_err(&dir.join(f)))?;
                    write_atomic(&out.join(f), &bytes).map_err(io_err(&out.join(f)))?;
                }
            }
        }
    }
    let tty = verbose && std::io::stderr().is_terminal();
    let mut epoch_secs = Vec::new();
    for epoch in start_epoch..epochs {
        let n = spe.min(total - tr.step_count());
        if n == 0 {
            break;
        }
        let t0 = Instant::now();
        let parts = tr.run_steps(n, |i, p| {
            if tty {
                let w = 30;
                let fill = (i + 1) * w / n;
                eprint!(
                    "\repoch {:>3}/{epochs} [{}{}] {}/{} loss {:.4} (mil {:.4} smooth {:.4} cat {:.4})   ",
                    epoch + 1,
                    "#".repeat(fill),
                    " ".repeat(w - fill),
                    i + 1,
                    n,
                    p.total,
                    p.mil,
                    p.smooth,
                    p.cat
                );
                let _ = std::io::stderr().flush();
            }
        })?;
        let train_secs = t0.elapsed().as_secs_f64();
        epoch_secs.push(train_secs);
        let preds = predict_test(&tr, &data.test)?;
        let m = eval::evaluate(&preds, &data.ann)?;
        let score = metric_of(&m, select);
        let improved = best.as_ref().is_none_or(|b| score > b.0);
        if verbose {
            if tty {
                eprintln!();
            }
            eprintln!(
                "epoch {:>3}/{epochs} step {:>5} {:.1}s loss {:.4} (mil {:.4} smooth {:.4} cat {:.4}) | {}{}",
                epoch + 1,
                tr.step_count(),
                train_secs,
                parts.total,
                parts.mil,
                parts.smooth,
                parts.cat,
                summary_line(&m),
                if improved { " *" } else { "" }
            );
        }
        history.push(json!({ "epoch": epoch + 1, "step": tr.step_count(), "train_secs": train_secs, "loss": parts, "metrics": metrics_json(&m) }));
        if improved {
            let mut ck = tr.checkpoint();
            ck.metrics =
                json!({ "epoch": epoch + 1, "step": tr.step_count(), "select": select, "test": metrics_json(&m) });
            ck.save(&tr.model, out)?;
            best = Some((score, BestMetrics::from_metrics(&m), epoch + 1));
        }
        save_state(&tr, &out.join(STATE_DIR), epoch + 1, &history, best.as_ref().map(|b| b.0))?;
        let hpath = out.join("history.json");
        write_atomic(&hpath, &serde_json::to_vec_pretty(&history).unwrap_or_default()).map_err(io_err(&hpath))?;
    }
    let (_, best, best_epoch) =
        best.ok_or_else(|| TrainError::Invalid("no epoch was run (nothing left to train?)".into()))?;
    let secs = if epoch_secs.is_empty() { 0.0 } else { epoch_secs.iter().sum::<f64>() / epoch_secs.len() as f64 };
    Ok(RunResult { best, best_epoch, secs_per_epoch: secs, param_count: tr.model.num_params() })
}

/// Training state for `--resume`: weights, AdamW moments, step, RNG, history.
fn save_state(
    tr: &Trainer,
    dir: &Path,
    epoch: usize,
    history: &[serde_json::Value],
    best: Option<f64>,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut ck = tr.checkpoint();
    ck.save(&tr.model, dir)?;
    let opt: std::collections::HashMap<String, candle_core::Tensor> = tr.opt.state_tensors().into_iter().collect();
    let opath = dir.join("optimizer.safetensors");
    candle_core::safetensors::save(&opt, &opath)
        .map_err(|e| TrainError::Invalid(format!("{}: {e}", opath.display())))?;
    let s = json!({ "epoch": epoch, "step": tr.step_count(), "rng": tr.rng, "history": history, "best": best });
    let spath = dir.join("state.json");
    write_atomic(&spath, &serde_json::to_vec_pretty(&s).unwrap_or_default()).map_err(io_err(&spath))
}

fn load_state(tr: &mut Trainer, dir: &Path) -> Result<(usize, Vec<serde_json::Value>, Option<f64>), TrainError> {
    let loaded = crate::model::LoadedModel::load(dir)?;
    if loaded.checkpoint.architecture != *tr.model.config() {
        return Err(TrainError::Invalid(format!(
            "{}: saved architecture differs from the requested one",
            dir.display()
        )));
    }
    if loaded.checkpoint.layout != tr.layout || loaded.checkpoint.categories != tr.categories {
        return Err(TrainError::Invalid(format!("{}: saved layout/categories differ from the data", dir.display())));
    }
    for (k, v) in tr.model.vars() {
        v.set(loaded.model.vars()[k].as_tensor())?;
    }
    let opath = dir.join("optimizer.safetensors");
    let opt = candle_core::safetensors::load(&opath, &Device::Cpu)
        .map_err(|e| TrainError::Invalid(format!("{}: {e}", opath.display())))?;
    let spath = dir.join("state.json");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&spath).map_err(io_err(&spath))?)
        .map_err(|e| TrainError::Config { path: spath.clone(), reason: e.to_string() })?;
    let step = s["step"].as_u64().unwrap_or(0) as usize;
    tr.opt.load_state(&opt, step)?;
    tr.rng = serde_json::from_value(s["rng"].clone())
        .map_err(|e| TrainError::Config { path: spath.clone(), reason: e.to_string() })?;
    tr.model.reseed_dropout(tr.rng.next_u64());
    let hist = s["history"].as_array().cloned().unwrap_or_default();
    Ok((s["epoch"].as_u64().unwrap_or(0) as usize, hist, s["best"].as_f64()))
}

/// The paper's ablation rows as head configurations.
pub fn ablation_rows(base: &HeadConfig) -> Vec<(&'static str, HeadConfig)> {
    let b = base.clone();
    vec![
        ("Base (MLP + MIL)", HeadConfig { no_motar: true, no_core: true, ..b.clone() }),
        ("+ MoTAR", HeadConfig { no_motar: false, no_core: true, ..b.clone() }),
        (
            "+ Category-Injection",
            HeadConfig { no_motar: true, no_core: false, weighting: CategoryWeighting::Uniform, ..b.clone() },
        ),
        (
            "+ Category-Injection + Soft-Classification (CORE)",
            HeadConfig { no_motar: true, no_core: false, weighting: CategoryWeighting::Soft, ..b.clone() },
        ),
        (
            "+ MoTAR + CORE (full)",
            HeadConfig { no_motar: false, no_core: false, weighting: CategoryWeighting::Soft, ..b },
        ),
    ]
}

fn run_ablation(
    args: &TrainArgs,
    data: &Data,
    cfg: HeadConfig,
    recipe: TrainRecipe,
    protos: Option<&[Vec<f32>]>,
) -> Result<(), TrainError> {
    let mut rows = Vec::new();
    for (i, (name, c)) in ablation_rows(&cfg).into_iter().enumerate() {
        let mut runs = Vec::new();
        for s in 0..args.seeds.max(1) {
            let seed = args.seed + s as u64;
            let dir = args.out.join(format!("row{}", i + 1)).join(format!("seed{seed}"));
            eprintln!("ablation row {} ({name}), seed {seed}", i + 1);
            let r = train_one(
                data,
                c.clone(),
                TrainRecipe { seed, ..recipe.clone() },
                protos,
                &dir,
                None,
                &args.select,
                true,
            )?;
            runs.push(r);
        }
        rows.push((name, runs));
    }
    let table = ablation_table(&rows);
    println!("{table}");
    let md = args.out.join("ablation.md");
    write_atomic(&md, table.as_bytes()).map_err(io_err(&md))?;
    let js: Vec<_> = rows
        .iter()
        .map(|(n, runs)| json!({ "row": n, "runs": runs.iter().map(|r| json!({ "best_epoch": r.best_epoch, "secs_per_epoch": r.secs_per_epoch, "params": r.param_count, "metrics": { "auc": r.best.auc, "ap": r.best.ap, "category_accuracy": r.best.category_accuracy } })).collect::<Vec<_>>() }))
        .collect();
    let jp = args.out.join("ablation.json");
    write_atomic(&jp, &serde_json::to_vec_pretty(&js).unwrap_or_default()).map_err(io_err(&jp))
}

/// Markdown table: mean ± std over seeds of AUC, AP and CAT per row.
pub fn ablation_table(rows: &[(&str, Vec<RunResult>)]) -> String {
    let ms = |v: Vec<f64>| -> String {
        if v.is_empty() {
            return "-".into();
        }
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        if v.len() == 1 {
            return format!("{m:.2}");
        }
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        format!("{m:.2} ± {sd:.2}")
    };
    let mut s = String::from("| configuration | AUC | AP | CAT | params | seeds |\n|---|---|---|---|---|---|\n");
    for (name, runs) in rows {
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            ms(runs.iter().map(|r| r.best.auc).collect()),
            ms(runs.iter().map(|r| r.best.ap).collect()),
            ms(runs.iter().filter_map(|r| r.best.category_accuracy).collect()),
            runs.first().map(|r| r.param_count).unwrap_or(0),
            runs.len()
        );
    }
    s
}
