//! Proof that the head learns (issue 3): synthetic videos whose anomalies only temporal
//! context or category reveal (see `head_common`), video-level labels only.
mod head_common;

use candle_core::{DType, Device, Tensor};
use head_common::*;
use refinevad::model::LoadedModel;

fn single_thread() {
    // Small matrices: gemm's thread fan-out costs more than it gains (docs/model.md).
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            std::env::set_var("RAYON_NUM_THREADS", "1");
        }
    });
}

#[test]
fn training_learns_scores_gate_and_categories_and_checkpoint_round_trips() {
    single_thread();
    let train = generate(120, 40, 1, (48, 96));
    let test = generate(30, 10, 2, (48, 96));
    // Seed 0 is the asserted run. Other seeds (HEAD_TEST_SEED=n, for exploring) vary a lot:
    // the gate sometimes settles on a monotone function of motion and then flags only one
    // of Jitter/Freeze (docs/model.md, "seed variance").
    let seed: u64 = std::env::var("HEAD_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut tr = trainer(small_config(), small_recipe(seed, 250), &train);
    let before = evaluate(&tr, &test).unwrap();
    let t0 = std::time::Instant::now();
    let steps = tr.total_steps();
    tr.run_steps(steps, |_, _| {}).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let after = evaluate(&tr, &test).unwrap();
    let dr =
        before.gate.iter().zip(&after.gate).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / after.gate.len() as f64;
    let (c0, c1) = (corr(&before.gate, &before.log_motion), corr(&after.gate, &after.log_motion));
    eprintln!(
        "{steps} steps in {secs:.1}s: AUC {:.1} -> {:.1} (per category {:.0?}), CAT {:.1}, gate std {:.3} -> {:.3}, mean |Δr| {dr:.3}, corr(r, ln m) {c0:.2} -> {c1:.2}",
        before.auc, after.auc, after.auc_per_category, after.cat_acc, std(&before.gate), std(&after.gate)
    );
    assert!(after.auc > 75.0, "test AUC {:.1} not far above chance", after.auc);
    assert!(
        after.auc_per_category.iter().all(|a| *a > 65.0),
        "every category is detected: {:.1?}",
        after.auc_per_category
    );
    assert!(after.cat_acc > 50.0, "category accuracy {:.1} vs chance 33.3", after.cat_acc);
    // The gate learns: spread across segments well above 0.02, and its values moved.
    assert!(std(&before.gate) < 0.03, "untrained gate is nearly constant");
    assert!(std(&after.gate) > 0.08, "trained gate spread {:.3}", std(&after.gate));
    assert!(dr > 0.05, "gate output changed by {dr:.3} on average");
    assert!((c1 - c0).abs() > 0.2 || std(&after.gate) > 0.1, "relation to motion changed");

    // Save → load is bit-exact, and the loaded model predicts exactly what the trainer does.
    let dir = tempfile::tempdir().unwrap();
    tr.checkpoint().save(&tr.model, dir.path()).unwrap();
    let loaded = LoadedModel::load(dir.path()).unwrap();
    for (k, v) in tr.model.vars() {
        let a: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = loaded.model.vars()[k].as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "{k} differs after load");
    }
    assert_eq!(loaded.categories(), CATEGORIES.map(String::from).as_slice());
    let v = &test[0];
    let p1 = tr.predict(&v.data, v.t).unwrap();
    let p2 = loaded.predict(&v.data, v.t, D_A + D_B, &layout()).unwrap();
    assert_eq!(p1, p2);

    // A different feature layout is refused with a message naming both layouts.
    let other = refinevad::features::layout::FeatureLayout::new([("synth_a", D_A), ("motion", D_B)]);
    let err = loaded.predict(&v.data, v.t, D_A + D_B, &other).unwrap_err().to_string();
    assert!(err.contains("synth_a:24+synth_b:8") && err.contains("synth_a:24+motion:8"), "{err}");

    // Staged (MoTAR then CORE as two calls) equals fused, on a window of a trained model.
    let xn = loaded.normalise(&v.data, v.t, D_A + D_B);
    let w = 32.min(v.t);
    let x = Tensor::from_slice(&xn[..w * (D_A + D_B)], (1, w, D_A + D_B), &Device::Cpu).unwrap();
    let mask = Tensor::ones((1, w), DType::F32, &Device::Cpu).unwrap();
    let fused = loaded.model.forward(&x, &mask, false, None).unwrap();
    let staged = loaded.model.core(&loaded.model.motar(&x, &mask).unwrap(), &mask).unwrap();
    let a: Vec<f32> = fused.scores.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = staged.scores.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a, b);
    let a: Vec<f32> = fused.category_weights.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = staged.category_weights.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a, b);
}

#[test]
fn training_is_deterministic_for_a_seed() {
    single_thread();
    let train = generate(12, 4, 3, (20, 40));
    let run = |seed| {
        let mut tr = trainer(small_config(), small_recipe(seed, 4), &train);
        tr.run_steps(4, |_, _| {}).unwrap();
        tr.model.vars()["score.l2.weight"].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn corrupt_or_mismatched_checkpoints_are_refused() {
    single_thread();
    let train = generate(6, 2, 4, (20, 30));
    let tr = trainer(small_config(), small_recipe(0, 1), &train);
    let dir = tempfile::tempdir().unwrap();
    tr.checkpoint().save(&tr.model, dir.path()).unwrap();
    let w = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&w, bytes).unwrap();
    let err = LoadedModel::load(dir.path()).err().expect("tampered weights refused").to_string();
    assert!(err.contains("sha256"), "{err}");
}
