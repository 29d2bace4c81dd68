//! `refinevad train` end to end on a tiny synthetic set: best checkpoint + metrics,
//! history, resume, and loading the result for evaluation.
mod head_common;

use head_common::*;
use refinevad::train::{run_cli, TrainArgs};

fn args(dir: &std::path::Path, out: &str, steps: usize, resume: Option<&str>) -> TrainArgs {
    TrainArgs {
        train: dir.join("train.csv"),
        test: dir.join("test.csv"),
        annotations: dir.join("ann.txt"),
        out: dir.join(out),
        seed: 3,
        epochs: None,
        steps: Some(steps),
        resume: resume.map(|r| dir.join(r)),
        no_motar: false,
        no_core: false,
        no_soft_classification: false,
        hard_shift: false,
        ablation: false,
        seeds: 1,
        batch_size: Some(8),
        lr: None,
        max_len: Some(48),
        topk_divisor: None,
        head_config: Some(dir.join("head.json")),
        recipe: None,
        prototypes: None,
        crop_index: None,
        root: None,
        select: "auc".into(),
        threads: 1,
    }
}

#[test]
fn train_cli_saves_best_checkpoint_and_resumes() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut ann = String::new();
    write_split(dir, "train", &generate(12, 4, 5, (30, 60)), &mut String::new());
    let test = generate(6, 2, 6, (30, 60));
    write_split(dir, "test", &test, &mut ann);
    std::fs::write(dir.join("ann.txt"), ann).unwrap();
    std::fs::write(
        dir.join("head.json"),
        r#"{"d_model": 32, "gate_hidden": 8, "score_hidden": 16, "prototype_dim": 32}"#,
    )
    .unwrap();

    run_cli(args(dir, "a", 6, None)).unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("a/config.json")).unwrap()).unwrap();
    assert!(cfg["metrics"]["test"]["auc"].as_f64().is_some(), "{cfg}");
    assert_eq!(cfg["categories"], serde_json::json!(["Freeze", "Jitter", "Shift"]));
    assert_eq!(cfg["training"]["seed"], 3);
    let hist: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("a/history.json")).unwrap()).unwrap();
    assert_eq!(hist.last().unwrap()["step"], 6);

    // Resume to 12 steps in a new directory: history continues from step 6.
    run_cli(args(dir, "b", 12, Some("a"))).unwrap();
    let hist: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("b/history.json")).unwrap()).unwrap();
    let steps: Vec<u64> = hist.iter().map(|h| h["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![3, 6, 9, 12], "3 steps per epoch (12 normal videos, 4 per half-batch)");

    assert!(dir.join("b/model.safetensors").exists() && dir.join("b/config.json").exists());

    // The saved checkpoint is what `refinevad eval --model` loads.
    let ds = refinevad::dataset::load_list(&dir.join("test.csv"), &Default::default()).unwrap();
    let preds = refinevad::eval::predict_dataset(&dir.join("a"), &ds).unwrap();
    assert_eq!(preds.len(), test.len());
    let m = refinevad::eval::evaluate(&preds, &refinevad::dataset::Annotations::load(&dir.join("ann.txt")).unwrap())
        .unwrap();
    assert!(m.auc.is_finite());
}
