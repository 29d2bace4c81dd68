//! The `*.scores.csv` contract (DESIGN §6) and `refinevad eval --scores`.
use std::path::PathBuf;

use clap::Parser;
use refinevad::eval::{read_scores_csv, read_scores_file, run_cli, write_scores_csv, EvalArgs, VideoPrediction};

fn pred(name: &str, scores: Vec<f32>, n_frames: Option<u64>) -> VideoPrediction {
    VideoPrediction {
        name: name.into(),
        scores,
        snippet_frames: 16,
        n_frames,
        category_probs: Some(vec![0.125, 0.6, 0.275]),
        categories: vec!["Abuse".into(), "Fire".into(), "Riot".into()],
        true_category: None,
    }
}

#[test]
fn write_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/Abuse028_x264.scores.csv");
    let p = pred("Abuse028_x264", vec![0.1, 0.123_456_79, 1.0, 3.0e-5], Some(60));
    write_scores_csv(&path, &p, 30.0).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "segment,frame_start,frame_end,time_start,time_end,score,p_Abuse,p_Fire,p_Riot");
    assert_eq!(lines.next().unwrap(), "0,0,16,0.000,0.533,0.1,0.125,0.6,0.275");
    assert_eq!(
        text.lines().last().unwrap(),
        "3,48,60,1.600,2.000,0.00003,0.125,0.6,0.275",
        "last segment ends at n_frames (exclusive)"
    );
    let back = read_scores_csv(&path).unwrap();
    assert_eq!(back, p, "bit-exact scores and probabilities");
    // Unknown n_frames and fps: T·sf frames, empty times, no category columns.
    let mut q = pred("clip", vec![0.5, 0.25], None);
    q.category_probs = None;
    let path = dir.path().join("clip.scores.csv");
    write_scores_csv(&path, &q, 0.0).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().nth(2).unwrap(), "1,16,32,,,0.25");
    let back = read_scores_csv(&path).unwrap();
    assert_eq!((back.n_frames, back.category_probs.clone(), back.categories.len()), (Some(32), None, 0));
    let raw = read_scores_file(&path).unwrap();
    assert_eq!(raw.rows[1].time_start, None);
    // A prediction with more segments than frames is refused.
    assert!(write_scores_csv(&path, &pred("x", vec![0.1; 4], Some(40)), 25.0).is_err());
}

#[test]
fn reader_rejects_broken_files_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let h = "segment,frame_start,frame_end,time_start,time_end,score,p_A";
    let cases = [
        ("segment,frame_start,score\n0,0,1\n", ":1: header must start with"),
        (&*format!("{h},extra\n"), ":1: columns after `score`"),
        (&*format!("{h}\n0,0,16,,,0.5\n"), ":2: 6 fields, header has 7"),
        (&*format!("{h}\n0,0,16,,,nan,0.1\n"), ":2: score: \"nan\" is not a finite number"),
        (&*format!("{h}\n0,0,16,,,0.5,0.1\n1,20,36,,,0.5,0.1\n"), ":3: row 1 (segment 1, frames 20..36) breaks"),
        (&*format!("{h}\n0,16,16,,,0.5,0.1\n"), ":2: frame_end 16 not after frame_start 16"),
        (&*format!("{h}\n"), ":2: no rows"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("v{i}.scores.csv"));
        std::fs::write(&p, text).unwrap();
        let err = read_scores_csv(&p).unwrap_err().to_string();
        assert!(err.contains(&format!("v{i}.scores.csv{want}")), "case {i}: {err}");
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

#[test]
fn eval_cli_on_score_files_writes_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("scores");
    let mut a = pred("Fire001_x264", vec![0.1, 0.9, 0.8, 0.2], Some(64));
    a.category_probs = Some(vec![0.1, 0.8, 0.1]);
    write_scores_csv(&scores.join("a/Fire001_x264.scores.csv"), &a, 25.0).unwrap();
    write_scores_csv(
        &scores.join("Normal_Videos_001_x264.scores.csv"),
        &pred("n", vec![0.1, 0.6, 0.2], Some(48)),
        25.0,
    )
    .unwrap();
    let ann = dir.path().join("ann.txt");
    std::fs::write(
        &ann,
        "Fire001_x264.mp4  Fire  16  47  -1  -1\nNormal_Videos_001_x264.mp4  Normal  -1  -1  -1  -1\n",
    )
    .unwrap();
    let (json, plots) = (dir.path().join("m.json"), dir.path().join("plots"));
    let arg = |p: &PathBuf| p.to_string_lossy().into_owned();
    let cli = Cli::try_parse_from([
        "eval",
        "--scores",
        &arg(&scores),
        "--annotations",
        &arg(&ann),
        "--json",
        &arg(&json),
        "--plots",
        &arg(&plots),
    ])
    .unwrap();
    run_cli(cli.eval).unwrap();
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(m["auc"].as_f64().unwrap(), 100.0);
    assert_eq!(m["far"].as_f64().unwrap(), 16.0 / 48.0);
    assert_eq!(m["category_accuracy"].as_f64().unwrap(), 100.0);
    assert_eq!(m["map_avg"].as_f64().unwrap(), 100.0);
    assert_eq!(m["videos"].as_array().unwrap().len(), 2);
    assert!(plots.join("Fire001_x264.png").is_file() && plots.join("Normal_Videos_001_x264.png").is_file());

    // Argument rules: --scores excludes --model; --model needs --test; one input required.
    assert!(
        Cli::try_parse_from(["eval", "--scores", "x", "--model", "m", "--test", "t", "--annotations", "a"]).is_err()
    );
    assert!(Cli::try_parse_from(["eval", "--model", "m", "--annotations", "a"]).is_err());
    assert!(Cli::try_parse_from(["eval", "--annotations", "a"]).is_err());
    assert!(Cli::try_parse_from(["eval", "--model", "m", "--test", "t", "--annotations", "a", "--crops", "3"]).is_ok());
    assert!(Cli::try_parse_from(["eval", "--model", "m", "--test", "t", "--annotations", "a", "--crops", "x"]).is_err());
}
