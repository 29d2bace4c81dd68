//! Whole-video inference. Self-attention is quadratic in T, so MoTAR runs on overlapping
//! windows of `window` segments (the training crop length by default) and each segment
//! takes its features from the window where it is most central; CORE is linear in T and
//! runs once over the stitched video, so the category decision sees the whole video.
//! Videos of at most `window` segments are one plain forward pass.
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{HeadOutput, ModelError, RefineVad};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// MoTAR window (segments).
    pub window: usize,
    /// Overlap between consecutive windows (segments).
    pub overlap: usize,
    /// Windows per batched forward pass.
    pub batch_windows: usize,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self { window: 256, overlap: 64, batch_windows: 8 }
    }
}

/// Window start offsets covering [0, t): stride window − overlap, last one aligned to the end.
pub fn window_starts(t: usize, window: usize, overlap: usize) -> Vec<usize> {
    if t <= window {
        return vec![0];
    }
    let stride = window.saturating_sub(overlap).max(1);
    let mut starts: Vec<usize> = (0..).map(|k| k * stride).take_while(|s| s + window < t).collect();
    starts.push(t - window);
    starts
}

impl RefineVad {
    /// Inference on one normalised video (`x`: T×D row-major). Returns B = 1 outputs.
    pub fn infer_video(&self, x: &[f32], t: usize, inf: &InferenceConfig) -> Result<HeadOutput, ModelError> {
        let d = self.config().input_dim;
        if x.len() != t * d || t == 0 {
            return Err(ModelError::Input(format!("expected {t}×{d} values, got {}", x.len())));
        }
        let dev: &Device = self.device();
        let w = inf.window.max(1);
        if t <= w {
            let xt = Tensor::from_slice(x, (1, t, d), dev)?;
            return self.forward(&xt, &Tensor::ones((1, t), candle_core::DType::F32, dev)?, false, None);
        }
        let starts = window_starts(t, w, inf.overlap);
        // Owner window of each segment: the one maximising its distance to the window edge.
        let owner: Vec<usize> = (0..t)
            .map(|i| {
                (0..starts.len())
                    .filter(|&k| starts[k] <= i && i < starts[k] + w)
                    .max_by_key(|&k| (i - starts[k]).min(starts[k] + w - 1 - i))
                    .unwrap()
            })
            .collect();
        let dm = self.config().d_model;
        let mut h = vec![0f32; t * dm];
        let mut gate = vec![0f32; t];
        for chunk in (0..starts.len()).collect::<Vec<_>>().chunks(inf.batch_windows.max(1)) {
            let mut buf = Vec::with_capacity(chunk.len() * w * d);
            for &k in chunk {
                buf.extend_from_slice(&x[starts[k] * d..(starts[k] + w) * d]);
            }
            let xt = Tensor::from_vec(buf, (chunk.len(), w, d), dev)?;
            let mask = Tensor::ones((chunk.len(), w), candle_core::DType::F32, dev)?;
            let (hw, gw) = self.motar_with_gate(&xt, &mask)?;
            let hw: Vec<Vec<Vec<f32>>> = hw.to_vec3()?;
            let gw: Vec<Vec<f32>> = gw.to_vec2()?;
            for (j, &k) in chunk.iter().enumerate() {
                for p in 0..w {
                    let i = starts[k] + p;
                    if owner[i] == k {
                        h[i * dm..(i + 1) * dm].copy_from_slice(&hw[j][p]);
                        gate[i] = gw[j][p];
                    }
                }
            }
        }
        let ht = Tensor::from_vec(h, (1, t, dm), dev)?;
        let mut out = self.core(&ht, &Tensor::ones((1, t), candle_core::DType::F32, dev)?)?;
        out.gate = Tensor::from_vec(gate, (1, t), dev)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::window_starts;

    #[test]
    fn windows_cover_everything() {
        assert_eq!(window_starts(100, 256, 64), vec![0]);
        assert_eq!(window_starts(300, 256, 64), vec![0, 44]);
        let s = window_starts(1000, 256, 64);
        assert_eq!(*s.last().unwrap(), 744);
        assert!(s.windows(2).all(|p| p[1] - p[0] <= 192));
    }
}
