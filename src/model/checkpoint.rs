//! Checkpoints: `model.safetensors` (weights, written by a small deterministic serialiser:
//! sorted names, f32 little-endian, so save → load is bit-exact) and `config.json`
//! (architecture, feature layout, categories, normalisation statistics, inference
//! windowing, training recipe, metrics, sha256 of the weights).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::infer::InferenceConfig;
use super::layers::softmax_last;
use super::{core::anomaly_probs, HeadConfig, ModelError, NormStats, RefineVad};
use crate::features::layout::FeatureLayout;
use crate::io::atomic::write_atomic;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const FORMAT: &str = "refinevad-head";
pub const FORMAT_VERSION: u32 = 1;

/// Contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub format_version: u32,
    pub architecture: HeadConfig,
    pub layout: FeatureLayout,
    /// Anomaly category names, in the order of the model's C rows.
    pub categories: Vec<String>,
    pub normalisation: NormStats,
    pub inference: InferenceConfig,
    /// Training recipe (arguments, seed, steps…), free-form JSON written by the trainer.
    pub training: serde_json::Value,
    /// Validation metrics of this checkpoint, free-form JSON.
    pub metrics: serde_json::Value,
    pub param_count: usize,
    pub weights_sha256: String,
    pub refinevad_version: String,
}

impl Checkpoint {
    /// A checkpoint description for `model` (weights hash is filled in by [`Self::save`]).
    pub fn new(model: &RefineVad, layout: FeatureLayout, categories: Vec<String>, normalisation: NormStats) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            architecture: model.config().clone(),
            layout,
            categories,
            normalisation,
            inference: InferenceConfig::default(),
            training: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            param_count: model.num_params(),
            weights_sha256: String::new(),
            refinevad_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Writes `dir/model.safetensors` then `dir/config.json`, each atomically.
    pub fn save(&mut self, model: &RefineVad, dir: &Path) -> Result<(), ModelError> {
        let bytes = serialize_safetensors(model)?;
        self.weights_sha256 = hex(&Sha256::digest(&bytes));
        self.param_count = model.num_params();
        self.architecture = model.config().clone();
        self.normalisation.gate = model.gate_stats();
        let wpath = dir.join(WEIGHTS_FILE);
        write_atomic(&wpath, &bytes).map_err(|source| ModelError::Io { path: wpath, source })?;
        let cpath = dir.join(CONFIG_FILE);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| ModelError::Format { path: cpath.clone(), reason: e.to_string() })?;
        write_atomic(&cpath, &json).map_err(|source| ModelError::Io { path: cpath, source })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// safetensors bytes of all parameters, names sorted.
pub fn serialize_safetensors(model: &RefineVad) -> Result<Vec<u8>, ModelError> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, var) in model.vars() {
        let v: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
        let start = data.len();
        for x in &v {
            data.extend_from_slice(&x.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": var.dims(), "data_offsets": [start, data.len()] }),
        );
    }
    header.insert("__metadata__".into(), serde_json::json!({ "format": FORMAT }));
    let mut h = serde_json::to_vec(&header).map_err(|e| ModelError::Config(e.to_string()))?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + data.len());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    Ok(out)
}

/// Output of [`LoadedModel::predict`] for one video.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per-segment anomaly score in [0,1] (length T).
    pub scores: Vec<f32>,
    /// Video-level category distribution softmax_c(p_anom / τ_w), summing to 1 — the soft
    /// classification (equal to w under the default weighting). Empty when `no_core`.
    pub category_probs: Vec<f32>,
    /// Per-category anomaly probabilities p_anom (independent, each in [0,1]). Empty when `no_core`.
    pub category_anomaly: Vec<f32>,
    pub categories: Vec<String>,
    /// MoTAR gate r_t per segment (zeros when `no_motar`).
    pub gate: Vec<f32>,
}

/// A checkpoint ready for inference.
pub struct LoadedModel {
    pub checkpoint: Checkpoint,
    pub model: RefineVad,
    pub dir: PathBuf,
}

impl LoadedModel {
    /// Loads `dir/config.json` + `dir/model.safetensors` on the CPU.
    pub fn load(dir: &Path) -> Result<LoadedModel, ModelError> {
        Self::load_on(dir, &Device::Cpu)
    }

    pub fn load_on(dir: &Path, device: &Device) -> Result<LoadedModel, ModelError> {
        let cpath = dir.join(CONFIG_FILE);
        let ctext = std::fs::read(&cpath).map_err(|source| ModelError::Io { path: cpath.clone(), source })?;
        let ck: Checkpoint = serde_json::from_slice(&ctext).map_err(|e| ModelError::Format {
            path: cpath.clone(),
            reason: format!("not a refinevad head config: {e}"),
        })?;
        if ck.format != FORMAT || ck.format_version != FORMAT_VERSION {
            return Err(ModelError::Format {
                path: cpath,
                reason: format!("format {} v{} is not {FORMAT} v{FORMAT_VERSION}", ck.format, ck.format_version),
            });
        }
        let wpath = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&wpath).map_err(|source| ModelError::Io { path: wpath.clone(), source })?;
        let sha = hex(&Sha256::digest(&bytes));
        if sha != ck.weights_sha256 {
            return Err(ModelError::Format { path: wpath, reason: format!("sha256 {sha} does not match config.json ({}); the weights were modified or belong to another checkpoint", ck.weights_sha256) });
        }
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| ModelError::Format { path: wpath.clone(), reason: e.to_string() })?;
        let mut model = RefineVad::from_tensors(ck.architecture.clone(), tensors, device)
            .map_err(|e| ModelError::Format { path: wpath.clone(), reason: e.to_string() })?;
        model.set_gate_stats(ck.normalisation.gate);
        if ck.categories.len() != ck.architecture.num_categories {
            return Err(ModelError::Format {
                path: cpath,
                reason: "category list does not match num_categories".into(),
            });
        }
        Ok(LoadedModel { checkpoint: ck, model, dir: dir.to_owned() })
    }

    pub fn categories(&self) -> &[String] {
        &self.checkpoint.categories
    }

    pub fn layout(&self) -> &FeatureLayout {
        &self.checkpoint.layout
    }

    /// Refuses features whose layout differs from the checkpoint's.
    pub fn check_layout(&self, layout: &FeatureLayout) -> Result<(), ModelError> {
        if layout != &self.checkpoint.layout {
            return Err(ModelError::LayoutMismatch {
                path: self.dir.clone(),
                expected: self.checkpoint.layout.describe(),
                found: layout.describe(),
            });
        }
        Ok(())
    }

    /// Normalises raw features (T×D) with the checkpoint's fitted statistics.
    pub fn normalise(&self, features: &[f32], t: usize, d: usize) -> Vec<f32> {
        self.checkpoint.normalisation.apply(features, t, d)
    }

    /// Scores one video of raw features `features` (T×D row-major) with layout `layout`.
    pub fn predict(
        &self,
        features: &[f32],
        t: usize,
        d: usize,
        layout: &FeatureLayout,
    ) -> Result<Prediction, ModelError> {
        self.check_layout(layout)?;
        if d != layout.width() || features.len() != t * d {
            return Err(ModelError::Input(format!(
                "{} values do not form {t}×{d} (layout width {})",
                features.len(),
                layout.width()
            )));
        }
        if t == 0 {
            return Err(ModelError::Input("video has no segments".into()));
        }
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!("non-finite value at segment {}, column {}", i / d, i % d)));
        }
        let x = self.normalise(features, t, d);
        predict_normalised(&self.model, &x, t, &self.checkpoint.inference, &self.checkpoint.categories)
    }
}

/// Inference on already-normalised features (T×D): windowed MoTAR, CORE, outputs as a
/// [`Prediction`]. Shared by [`LoadedModel::predict`] and the trainer's validation.
pub fn predict_normalised(
    model: &RefineVad,
    x: &[f32],
    t: usize,
    inf: &InferenceConfig,
    categories: &[String],
) -> Result<Prediction, ModelError> {
    let out = model.infer_video(x, t, inf)?;
    let cfg = model.config();
    let (probs, anom) = if cfg.no_core {
        (vec![], vec![])
    } else {
        let p = anomaly_probs(&out.category_logits)?;
        let w = softmax_last(&(&p / cfg.weight_temperature as f64)?)?;
        (w.flatten_all()?.to_vec1()?, p.flatten_all()?.to_vec1()?)
    };
    Ok(Prediction {
        scores: out.scores.flatten_all()?.to_vec1()?,
        category_probs: probs,
        category_anomaly: anom,
        categories: categories.to_vec(),
        gate: out.gate.flatten_all()?.to_vec1()?,
    })
}
