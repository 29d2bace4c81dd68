//! Input normalisation fitted on the training set (DESIGN §4: per-video median centring
//! with a global per-dimension scale mattered more than any head component) and the
//! statistics of the MoTAR gate input. Everything here is stored in `config.json`.
use serde::{Deserialize, Serialize};

use super::config::{HeadConfig, InputNorm};
use super::motar::{GateStats, MOTION_EPS};
use crate::features::layout::FeatureLayout;

/// Fitted preprocessing: x' = (x − centre) · scale, where centre is the global mean
/// (`global_standard`), the video's own per-dimension median (`video_median`) or 0 (`none`);
/// `scale` folds in 1/std and the per-stream balance factor √(D / (S·w_s)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormStats {
    pub kind: InputNorm,
    /// Global per-dimension mean (only for `global_standard`, else empty).
    pub mean: Vec<f32>,
    /// Per-dimension multiplier (length D).
    pub scale: Vec<f32>,
    /// Standardisation of the gate input ln(m_t + 1e-6), measured after normalisation.
    pub gate: GateStats,
}

impl NormStats {
    pub fn identity(d: usize) -> Self {
        Self { kind: InputNorm::None, mean: vec![], scale: vec![1.0; d], gate: GateStats::default() }
    }

    /// Fits the statistics on training videos `(data T×D row-major, T)`.
    pub fn fit(videos: &[(&[f32], usize)], cfg: &HeadConfig, layout: &FeatureLayout) -> Self {
        let d = layout.width();
        let mut st = Self { kind: cfg.input_norm, mean: vec![], scale: vec![1.0; d], gate: GateStats::default() };
        let n: usize = videos.iter().map(|v| v.1).sum::<usize>().max(1);
        match cfg.input_norm {
            InputNorm::None => {}
            InputNorm::GlobalStandard => {
                let mut mean = vec![0f64; d];
                for (x, _) in videos {
                    for row in x.chunks_exact(d) {
                        row.iter().zip(mean.iter_mut()).for_each(|(v, m)| *m += *v as f64);
                    }
                }
                mean.iter_mut().for_each(|m| *m /= n as f64);
                let mut var = vec![0f64; d];
                for (x, _) in videos {
                    for row in x.chunks_exact(d) {
                        for j in 0..d {
                            var[j] += (row[j] as f64 - mean[j]).powi(2);
                        }
                    }
                }
                st.scale = var.iter().map(|v| inv_std(v / n as f64)).collect();
                st.mean = mean.iter().map(|m| *m as f32).collect();
            }
            InputNorm::VideoMedian => {
                let mut var = vec![0f64; d];
                for (x, t) in videos {
                    let med = column_medians(x, *t, d);
                    for row in x.chunks_exact(d) {
                        for j in 0..d {
                            var[j] += (row[j] - med[j]) as f64 * (row[j] - med[j]) as f64;
                        }
                    }
                }
                st.scale = var.iter().map(|v| inv_std(v / n as f64)).collect();
            }
        }
        if cfg.stream_balance && layout.streams.len() > 1 {
            let s = layout.streams.len() as f64;
            for spec in &layout.streams {
                let f = (d as f64 / (s * spec.width as f64)).sqrt() as f32;
                if let Some(r) = layout.range(&spec.name) {
                    st.scale[r].iter_mut().for_each(|v| *v *= f);
                }
            }
        }
        // Gate-input statistics over all training segments t ≥ 2.
        let (mut s1, mut s2, mut cnt) = (0f64, 0f64, 0usize);
        for (x, t) in videos {
            let xn = st.apply(x, *t, d);
            for m in motion_rows(&xn, *t, d).into_iter().skip(1) {
                let l = (m + MOTION_EPS).ln() as f64;
                s1 += l;
                s2 += l * l;
                cnt += 1;
            }
        }
        if cnt > 1 {
            let mean = s1 / cnt as f64;
            let std = (s2 / cnt as f64 - mean * mean).max(0.0).sqrt();
            st.gate = GateStats { mean: mean as f32, std: (std as f32).max(1e-3) };
        }
        st
    }

    /// Normalises one video (T×D row-major).
    pub fn apply(&self, x: &[f32], t: usize, d: usize) -> Vec<f32> {
        let centre: Vec<f32> = match self.kind {
            InputNorm::None => vec![0.0; d],
            InputNorm::GlobalStandard => self.mean.clone(),
            InputNorm::VideoMedian => column_medians(x, t, d),
        };
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(d) {
            out.extend(row.iter().zip(&centre).zip(&self.scale).map(|((v, c), s)| (v - c) * s));
        }
        out
    }
}

fn inv_std(var: f64) -> f32 {
    if var > 1e-12 {
        (1.0 / var.sqrt()) as f32
    } else {
        0.0
    }
}

/// Per-dimension median of a T×D matrix (mean of the two middle values for even T).
pub fn column_medians(x: &[f32], t: usize, d: usize) -> Vec<f32> {
    let mut col = Vec::with_capacity(t);
    (0..d)
        .map(|j| {
            col.clear();
            col.extend((0..t).map(|i| x[i * d + j]));
            if col.is_empty() {
                return 0.0;
            }
            col.sort_by(|a, b| a.total_cmp(b));
            if t % 2 == 1 {
                col[t / 2]
            } else {
                0.5 * (col[t / 2 - 1] + col[t / 2])
            }
        })
        .collect()
}

/// m_t = Var_c(x_t − x_{t−1}) (population), m_1 = 0 — the plain-Rust twin of
/// [`super::motar::motion`].
pub fn motion_rows(x: &[f32], t: usize, d: usize) -> Vec<f32> {
    let mut m = vec![0f32; t];
    for i in 1..t {
        let (a, b) = (&x[(i - 1) * d..i * d], &x[i * d..(i + 1) * d]);
        let mean = a.iter().zip(b).map(|(p, q)| (q - p) as f64).sum::<f64>() / d as f64;
        m[i] = (a.iter().zip(b).map(|(p, q)| ((q - p) as f64 - mean).powi(2)).sum::<f64>() / d as f64) as f32;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_balance() {
        assert_eq!(column_medians(&[1.0, 10.0, 3.0, 30.0, 2.0, 20.0], 3, 2), vec![2.0, 20.0]);
        let layout = FeatureLayout::new([("a", 3), ("b", 1)]);
        let cfg = HeadConfig { input_norm: InputNorm::None, ..HeadConfig::default() };
        let st = NormStats::fit(&[(&[0.0; 8], 2)], &cfg, &layout);
        // a: sqrt(4/(2*3)), b: sqrt(4/2)
        assert!((st.scale[0] - (4.0f32 / 6.0).sqrt()).abs() < 1e-6);
        assert!((st.scale[3] - 2f32.sqrt()).abs() < 1e-6);
    }
}
