//! `refinevad eval --model` end to end on an untrained head: features list → predictions →
//! metrics, and the saved score files evaluate to the same numbers via `--scores`.
use std::path::Path;

use clap::Parser;
use refinevad::eval::{run_cli, EvalArgs};
use refinevad::features::layout::FeatureLayout;
use refinevad::io::npy::write_f32;
use refinevad::model::{Checkpoint, HeadConfig, NormStats, RefineVad};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

fn run(args: &[&str]) {
    let mut v = vec!["eval"];
    v.extend_from_slice(args);
    run_cli(Cli::try_parse_from(v).unwrap().eval).unwrap();
}

#[test]
fn model_predictions_and_their_score_files_agree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (t, width) = (12usize, 6usize);
    let names = ["Fire001_x264", "Panic002_x264", "Normal_Videos_001_x264", "Normal_Videos_002_x264"];
    let mut list = String::new();
    for (i, n) in names.iter().enumerate() {
        let data: Vec<f32> = (0..t * width)
            .map(|k| ((k * 7 + i * 13) % 11) as f32 / 11.0 + if k / width > 5 && i < 2 { 1.0 } else { 0.0 })
            .collect();
        write_f32(&d.join(format!("feats/{n}.npy")), &[t, width], &data).unwrap();
        list += &format!("feats/{n}.npy\n");
    }
    std::fs::write(d.join("test.list"), list).unwrap();
    std::fs::write(
        d.join("ann.txt"),
        "Fire001_x264.mp4  Fire  96  191  -1  -1\nPanic002_x264.mp4  Panic  100  150  -1  -1\n\
         Normal_Videos_001_x264.mp4  Normal  -1  -1  -1  -1\nNormal_Videos_002_x264.mp4  Normal  -1  -1  -1  -1\n",
    )
    .unwrap();

    let layout = FeatureLayout::external(width);
    let cfg = HeadConfig {
        input_dim: width,
        num_categories: 2,
        d_model: 16,
        prototype_dim: 16,
        score_hidden: 8,
        gate_hidden: 8,
        ..Default::default()
    };
    let model = RefineVad::new(cfg, 7, None, &candle_core::Device::Cpu).unwrap();
    let mut ck = Checkpoint::new(&model, layout, vec!["Fire".into(), "Panic".into()], NormStats::identity(width));
    ck.save(&model, &d.join("head")).unwrap();

    let (j1, j2, scores) = (d.join("m1.json"), d.join("m2.json"), d.join("scores"));
    run(&[
        "--model",
        &s(&d.join("head")),
        "--test",
        &s(&d.join("test.list")),
        "--annotations",
        &s(&d.join("ann.txt")),
        "--json",
        &s(&j1),
        "--save-scores",
        &s(&scores),
    ]);
    assert!(scores.join("Fire001_x264.scores.csv").is_file());
    run(&["--scores", &s(&scores), "--annotations", &s(&d.join("ann.txt")), "--json", &s(&j2)]);
    let read = |p: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (m1, m2) = (read(&j1), read(&j2));
    for k in ["auc", "ap", "auc_abnormal", "far", "category_accuracy", "map_avg", "n_frames"] {
        assert_eq!(m1[k], m2[k], "{k}");
    }
    assert!(m1["auc"].as_f64().unwrap() >= 0.0 && m1["n_frames"].as_u64() == Some(4 * 12 * 16));
}
