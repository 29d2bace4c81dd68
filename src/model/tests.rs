use candle_core::{DType, Device, Tensor};

use super::layers::ParamStore;
use super::motar::{motion, Motar};
use super::norm::motion_rows;
use super::rng::Rng;
use super::*;

fn cfg(d: usize, c: usize) -> HeadConfig {
    HeadConfig {
        input_dim: d,
        num_categories: c,
        d_model: 32,
        gate_hidden: 8,
        score_hidden: 16,
        prototype_dim: 32,
        ..HeadConfig::default()
    }
}

fn randn(shape: (usize, usize, usize), seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let n = shape.0 * shape.1 * shape.2;
    Tensor::from_vec((0..n).map(|_| r.normal()).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn motion_matches_plain_rust() {
    let x = randn((1, 5, 7), 3);
    let m: Vec<f32> = motion(&x, &Tensor::ones((1, 5), DType::F32, &Device::Cpu).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let flat: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let r = motion_rows(&flat, 5, 7);
    assert_eq!(m[0], 0.0);
    for (a, b) in m.iter().zip(&r) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn hard_shift_is_the_paper_formula_and_soft_approaches_it() {
    let dev = Device::Cpu;
    let c = HeadConfig { shift_ramp: 0.02, ..cfg(4, 2) };
    let mut ps = ParamStore::default();
    let m = Motar::new(&mut ps, &c, &mut Rng::new(0), &dev).unwrap();
    let h = randn((1, 4, 32), 9);
    let mask = Tensor::ones((1, 4), DType::F32, &dev).unwrap();
    // r = 0.55 → s = floor(0.55·32/8) = 2 channels each way; choose r so r·d/K is s + 0.5.
    let r = Tensor::new(&[[0.625f32, 0.625, 0.625, 0.625]], &dev).unwrap();
    let y: Vec<Vec<f32>> = m.shift(&h, &r, &mask, true).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
    let x: Vec<Vec<f32>> = h.squeeze(0).unwrap().to_vec2().unwrap();
    for t in 0..4 {
        for ch in 0..32 {
            let want = if ch < 2 {
                if t > 0 {
                    x[t - 1][ch]
                } else {
                    0.0
                }
            } else if ch < 4 {
                if t < 3 {
                    x[t + 1][ch]
                } else {
                    0.0
                }
            } else {
                x[t][ch]
            };
            assert_eq!(y[t][ch], want, "t={t} c={ch}");
        }
    }
    // Soft mask with s = 2.5 and a tiny ramp equals the hard shift except the boundary channel.
    let soft = m.shift(&h, &r, &mask, false).unwrap();
    let hard = m.shift(&h, &r, &mask, true).unwrap();
    let d = (soft - hard).unwrap().abs().unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
    for row in d {
        for (ch, v) in row.iter().enumerate() {
            if ch != 2 && ch != 4 {
                assert!(*v < 1e-4, "channel {ch}: {v}");
            }
        }
    }
}

#[test]
fn staged_equals_fused_and_gate_gets_gradient() {
    let dev = Device::Cpu;
    let model = RefineVad::new(cfg(12, 3), 5, None, &dev).unwrap();
    let x = randn((2, 9, 12), 1);
    let mask = Tensor::new(&[[1f32; 9], [1., 1., 1., 1., 1., 1., 0., 0., 0.]], &dev).unwrap();
    let fused = model.forward(&x, &mask, false, None).unwrap();
    let (h, gate) = model.motar_with_gate(&x, &mask).unwrap();
    let staged = model.core(&model.motar(&x, &mask).unwrap(), &mask).unwrap();
    assert_eq!(max_diff(&fused.scores, &staged.scores), 0.0);
    assert_eq!(max_diff(&fused.category_logits, &staged.category_logits), 0.0);
    assert_eq!(max_diff(&fused.gate, &gate), 0.0);
    assert_eq!(h.dims(), &[2, 9, 32]);
    // Padding does not influence valid outputs.
    let x2 = x.narrow(0, 1, 1).unwrap().narrow(1, 0, 6).unwrap();
    let short = model.forward(&x2, &Tensor::ones((1, 6), DType::F32, &dev).unwrap(), false, None).unwrap();
    let padded = fused.scores.narrow(0, 1, 1).unwrap().narrow(1, 0, 6).unwrap();
    assert!(max_diff(&short.scores, &padded) < 1e-5);
    // Soft shift passes gradient to the gate MLP.
    let out = model.forward(&x, &mask, true, Some(&[Some(1), None])).unwrap();
    let grads = out.scores.sum_all().unwrap().backward().unwrap();
    let g = grads.get(model.vars()["motar.gate.l1.weight"].as_tensor()).expect("gate gradient");
    assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
}

#[test]
fn ablations_build_and_run() {
    let dev = Device::Cpu;
    let x = randn((1, 5, 6), 2);
    let mask = Tensor::ones((1, 5), DType::F32, &dev).unwrap();
    for (nm, nc, w) in [
        (true, true, CategoryWeighting::Soft),
        (false, true, CategoryWeighting::Soft),
        (true, false, CategoryWeighting::Uniform),
        (false, false, CategoryWeighting::HardArgmax),
    ] {
        let c = HeadConfig { no_motar: nm, no_core: nc, weighting: w, hard_shift_train: true, ..cfg(6, 2) };
        let m = RefineVad::new(c, 1, None, &dev).unwrap();
        let o = m.forward(&x, &mask, true, Some(&[Some(0)])).unwrap();
        assert_eq!(o.scores.dims(), &[1, 5]);
        assert_eq!(o.category_logits.dims(), &[1, 2, 2]);
    }
}

#[test]
fn windowed_inference_matches_full_for_short_and_is_close_for_long() {
    let dev = Device::Cpu;
    let model = RefineVad::new(cfg(6, 2), 5, None, &dev).unwrap();
    let x = randn((1, 40, 6), 4);
    let flat: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let full = model.forward(&x, &Tensor::ones((1, 40), DType::F32, &dev).unwrap(), false, None).unwrap();
    let same = model.infer_video(&flat, 40, &InferenceConfig { window: 64, overlap: 8, batch_windows: 2 }).unwrap();
    assert_eq!(max_diff(&full.scores, &same.scores), 0.0);
    let win = model.infer_video(&flat, 40, &InferenceConfig { window: 16, overlap: 8, batch_windows: 2 }).unwrap();
    assert_eq!(win.scores.dims(), &[1, 40]);
}

#[test]
fn checkpoint_round_trip_is_bit_exact_and_layout_checked() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let layout = crate::features::layout::FeatureLayout::new([("a", 4), ("b", 2)]);
    let model = RefineVad::new(cfg(6, 2), 11, None, &dev).unwrap();
    let mut ck = Checkpoint::new(&model, layout.clone(), vec!["X".into(), "Y".into()], NormStats::identity(6));
    ck.save(&model, dir.path()).unwrap();
    let loaded = LoadedModel::load(dir.path()).unwrap();
    for (k, v) in model.vars() {
        let a: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = loaded.model.vars()[k].as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "{k}");
    }
    let feats: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect();
    let p = loaded.predict(&feats, 5, 6, &layout).unwrap();
    assert_eq!(p.scores.len(), 5);
    assert!((p.category_probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let other = crate::features::layout::FeatureLayout::new([("a", 4), ("c", 2)]);
    let err = loaded.predict(&feats, 5, 6, &other).unwrap_err().to_string();
    assert!(err.contains("a:4+b:2") && err.contains("a:4+c:2"), "{err}");
}
