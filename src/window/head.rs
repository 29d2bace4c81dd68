//! The head split in two for the staged pipeline: the MoTAR half (normalisation +
//! windowed MoTAR) and the CORE half (CORE + scoring + category distribution). Their
//! composition equals `LoadedModel::predict` (tested in `tests/scoring_stages.rs`).
use candle_core::{DType, Tensor};

use crate::model::core::anomaly_probs;
use crate::model::infer::window_starts;
use crate::model::layers::softmax_last;
use crate::model::{LoadedModel, ModelError};

/// Normalised, MoTAR-recalibrated features of one video or window: T×d_model row-major.
pub fn motar_stage(m: &LoadedModel, raw: &[f32], t: usize) -> Result<Vec<f32>, ModelError> {
    let d = m.layout().width();
    if t == 0 || raw.len() != t * d {
        return Err(ModelError::Input(format!("expected {t}×{d} values, got {}", raw.len())));
    }
    let x = m.normalise(raw, t, d);
    let inf = &m.checkpoint.inference;
    let dev = m.model.device();
    let w = inf.window.max(1).min(t);
    let starts = window_starts(t, w, inf.overlap);
    let dm = m.model.config().d_model;
    let mut h = vec![0f32; t * dm];
    // Each segment takes its features from the window where it is most central.
    let owner = |i: usize| {
        (0..starts.len())
            .filter(|&k| starts[k] <= i && i < starts[k] + w)
            .max_by_key(|&k| (i - starts[k]).min(starts[k] + w - 1 - i))
            .unwrap_or(0)
    };
    let owners: Vec<usize> = (0..t).map(owner).collect();
    for chunk in (0..starts.len()).collect::<Vec<_>>().chunks(inf.batch_windows.max(1)) {
        let mut buf = Vec::with_capacity(chunk.len() * w * d);
        for &k in chunk {
            buf.extend_from_slice(&x[starts[k] * d..(starts[k] + w) * d]);
        }
        let xt = Tensor::from_vec(buf, (chunk.len(), w, d), dev)?;
        let mask = Tensor::ones((chunk.len(), w), DType::F32, dev)?;
        let hw: Vec<Vec<Vec<f32>>> = m.model.motar(&xt, &mask)?.to_vec3()?;
        for (j, &k) in chunk.iter().enumerate() {
            for (p, row) in hw[j].iter().enumerate() {
                let i = starts[k] + p;
                if owners[i] == k {
                    h[i * dm..(i + 1) * dm].copy_from_slice(row);
                }
            }
        }
    }
    Ok(h)
}

/// Per-segment scores and the video/window-level category distribution from MoTAR output.
pub fn core_stage(m: &LoadedModel, hidden: &[f32], t: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
    let dm = m.model.config().d_model;
    let dev = m.model.device();
    let h = Tensor::from_slice(hidden, (1, t, dm), dev)?;
    let out = m.model.core(&h, &Tensor::ones((1, t), DType::F32, dev)?)?;
    let scores = out.scores.flatten_all()?.to_vec1()?;
    let cfg = m.model.config();
    let probs = if cfg.no_core {
        vec![]
    } else {
        let p = anomaly_probs(&out.category_logits)?;
        softmax_last(&(&p / cfg.weight_temperature as f64)?)?.flatten_all()?.to_vec1()?
    };
    Ok((scores, probs))
}
