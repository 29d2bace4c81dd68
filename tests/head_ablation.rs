//! The ablation table on the synthetic set, through the real `refinevad train` code path
//! (files on disk: `.npy` + CSV manifest + UCF-style annotations). Slow, so ignored:
//! `cargo test --release --test head_ablation -- --ignored --nocapture`
//! (env: ABLATION_STEPS, default 300; ABLATION_SEEDS, default 3; ABLATION_OUT to keep files).
mod head_common;

use head_common::*;
use refinevad::train::{run_cli, TrainArgs};

#[test]
#[ignore]
fn ablation_table_on_synthetic_data() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let steps: usize = std::env::var("ABLATION_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let seeds: usize = std::env::var("ABLATION_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("ABLATION_OUT").map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_owned());
    let (mut ann_train, mut ann_test) = (String::new(), String::new());
    let train = write_split(&dir, "train", &generate(120, 40, 1, (48, 96)), &mut ann_train);
    let test = write_split(&dir, "test", &generate(30, 10, 2, (48, 96)), &mut ann_test);
    let ann = dir.join("test_annotations.txt");
    std::fs::write(&ann, ann_test).unwrap();
    let head = dir.join("head.json");
    std::fs::write(&head, r#"{"d_model": 64, "gate_hidden": 16, "score_hidden": 32, "prototype_dim": 64}"#).unwrap();
    let recipe = dir.join("recipe.json");
    std::fs::write(&recipe, r#"{"batch_size": 16, "lr": 0.001, "max_len": 128, "epochs": 1}"#).unwrap();
    let args = TrainArgs {
        train,
        test,
        annotations: ann,
        out: dir.join("out"),
        seed: 0,
        epochs: None,
        steps: Some(steps),
        resume: None,
        no_motar: false,
        no_core: false,
        no_soft_classification: false,
        hard_shift: false,
        ablation: true,
        seeds,
        batch_size: None,
        lr: None,
        max_len: None,
        topk_divisor: None,
        head_config: Some(head),
        recipe: Some(recipe),
        prototypes: None,
        crop_index: None,
        root: None,
        select: "auc".into(),
        threads: 1,
    };
    run_cli(args).unwrap();
    let table = std::fs::read_to_string(dir.join("out/ablation.md")).unwrap();
    assert_eq!(table.lines().count(), 7, "{table}");
}
