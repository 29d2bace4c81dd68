//! The RefineVAD head (MoTAR + CORE) in candle, used by training and by the pipeline.
//!
//! `forward(x, mask)` = `core(motar(x, mask), mask)`: the pipeline may run the two stages
//! in different actors. `x` is the *normalised* input (see [`NormStats`]); the
//! [`LoadedModel`] API normalises raw features itself. Choices and defaults:
//! `docs/model.md`.
pub mod checkpoint;
pub mod config;
pub mod core;
pub mod encoder;
pub mod infer;
pub mod layers;
pub mod motar;
pub mod norm;
pub mod rng;

use std::path::PathBuf;
use std::sync::Mutex;

use candle_core::{Device, Tensor};

pub use checkpoint::{Checkpoint, InferenceConfig, LoadedModel, Prediction};
pub use config::{CategoryWeighting, HeadConfig, InputNorm};
pub use motar::GateStats;
pub use norm::NormStats;

use self::core::Core;
use layers::{dropout, layer_norm_plain, sigmoid, Linear, ParamStore};
use motar::Motar;
use rng::Rng;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("model config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: checkpoint was trained on feature layout {expected} but the features have layout {found}; re-extract features with that layout or train a head for this one")]
    LayoutMismatch { path: PathBuf, expected: String, found: String },
    #[error("features: {0}")]
    Input(String),
}

/// Outputs of one forward pass (Tensors on the model's device).
pub struct HeadOutput {
    /// Per-segment anomaly score in [0,1], [B,T] (0 on padding).
    pub scores: Tensor,
    /// (normal, anomalous) logits per category, [B,C,2] (zeros when `no_core`).
    pub category_logits: Tensor,
    /// Category weights w used to form v, [B,C] (uniform when `no_core`).
    pub category_weights: Tensor,
    /// MoTAR gate r_t, [B,T] (zeros when `no_motar`, and from [`RefineVad::core`]).
    pub gate: Tensor,
}

/// The head. Parameters live in a name → Var store (the safetensors keys).
pub struct RefineVad {
    cfg: HeadConfig,
    params: ParamStore,
    proj: Linear,
    motar: Option<Motar>,
    core: Option<Core>,
    score1: Linear,
    score2: Linear,
    gate_stats: GateStats,
    rng: Mutex<Rng>,
    device: Device,
}

impl RefineVad {
    /// A freshly initialised head (weights drawn from `seed`).
    pub fn new(
        cfg: HeadConfig,
        seed: u64,
        init_prototypes: Option<&[Vec<f32>]>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::build(cfg, ParamStore::default(), seed, init_prototypes, device)
    }

    /// A head whose parameters are given by name (checkpoint loading); every parameter
    /// must be present and no unknown name is accepted.
    pub fn from_tensors(
        cfg: HeadConfig,
        tensors: std::collections::HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let given: std::collections::BTreeSet<String> = tensors.keys().cloned().collect();
        let mut ps = ParamStore::default();
        for (k, t) in tensors {
            ps.vars.insert(k, candle_core::Var::from_tensor(&t.to_device(device)?)?);
        }
        let m = Self::build(cfg, ps, 0, None, device)?;
        let needed: std::collections::BTreeSet<String> =
            RefineVad::new(m.cfg.clone(), 0, None, device)?.params.vars.into_keys().collect();
        let missing: Vec<_> = needed.difference(&given).collect();
        let extra: Vec<_> = given.difference(&needed).collect();
        if !missing.is_empty() || !extra.is_empty() {
            return Err(ModelError::Config(format!(
                "weights do not match the architecture: missing {missing:?}, unexpected {extra:?}"
            )));
        }
        Ok(m)
    }

    fn build(
        cfg: HeadConfig,
        mut ps: ParamStore,
        seed: u64,
        init_prototypes: Option<&[Vec<f32>]>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        cfg.validate().map_err(ModelError::Config)?;
        let mut rng = Rng::new(seed);
        let proj = Linear::new(&mut ps, "input.proj", cfg.input_dim, cfg.d_model, true, &mut rng, device)?;
        let motar = if cfg.no_motar { None } else { Some(Motar::new(&mut ps, &cfg, &mut rng, device)?) };
        let core = if cfg.no_core { None } else { Some(Core::new(&mut ps, &cfg, init_prototypes, &mut rng, device)?) };
        let score1 = Linear::new(&mut ps, "score.l1", cfg.d_model, cfg.score_hidden, true, &mut rng, device)?;
        let score2 = Linear::new(&mut ps, "score.l2", cfg.score_hidden, 1, true, &mut rng, device)?;
        let dropout_rng = Mutex::new(rng.fork(0xD0));
        Ok(Self {
            cfg,
            params: ps,
            proj,
            motar,
            core,
            score1,
            score2,
            gate_stats: GateStats::default(),
            rng: dropout_rng,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &HeadConfig {
        &self.cfg
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Trainable parameters by name.
    pub fn vars(&self) -> &std::collections::BTreeMap<String, candle_core::Var> {
        &self.params.vars
    }
    pub fn num_params(&self) -> usize {
        self.params.num_params()
    }
    pub fn gate_stats(&self) -> GateStats {
        self.gate_stats
    }
    pub fn set_gate_stats(&mut self, s: GateStats) {
        self.gate_stats = s;
    }
    /// Re-seeds the dropout RNG (training determinism / resume).
    pub fn reseed_dropout(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Rng::new(seed);
    }

    fn check_input(&self, x: &Tensor, mask: &Tensor) -> Result<(), ModelError> {
        let (b, t, d) = x.dims3()?;
        if d != self.cfg.input_dim {
            return Err(ModelError::Input(format!("feature width {d}, head expects {}", self.cfg.input_dim)));
        }
        if mask.dims() != [b, t] {
            return Err(ModelError::Input(format!("mask shape {:?}, expected [{b}, {t}]", mask.dims())));
        }
        Ok(())
    }

    /// Input projection (+ optional per-stream LayerNorm): [B,T,D] → [B,T,d].
    fn project(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let x = if self.cfg.stream_layernorm && self.cfg.stream_widths.len() > 1 {
            let mut parts = Vec::new();
            let mut start = 0;
            for w in &self.cfg.stream_widths {
                parts.push(layer_norm_plain(&x.narrow(2, start, *w)?)?);
                start += w;
            }
            Tensor::cat(&parts, 2)?
        } else if self.cfg.stream_layernorm {
            layer_norm_plain(x)?
        } else {
            x.clone()
        };
        let mut h = self.proj.forward(&x)?.gelu_erf()?;
        if train {
            h = dropout(&h, self.cfg.dropout, &self.rng)?;
        }
        Ok(h.broadcast_mul(&mask.unsqueeze(2)?)?)
    }

    fn motar_impl(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<(Tensor, Tensor), ModelError> {
        self.check_input(x, mask)?;
        let h = self.project(x, mask, train)?;
        match &self.motar {
            Some(m) => Ok(m.forward(x, &h, mask, self.gate_stats, train.then_some(&self.rng))?),
            None => Ok((h, mask.zeros_like()?)),
        }
    }

    fn core_impl(
        &self,
        h: &Tensor,
        mask: &Tensor,
        train: bool,
        teacher: Option<&[Option<usize>]>,
    ) -> Result<HeadOutput, ModelError> {
        let (b, t, _) = h.dims3()?;
        let c = self.cfg.num_categories;
        let (feat, logits, weights) = match &self.core {
            Some(core) => {
                let o = core.forward(h, mask, train.then_some(&self.rng), teacher)?;
                (o.refined, o.logits, o.weights)
            }
            None => (
                h.clone(),
                Tensor::zeros((b, c, 2), candle_core::DType::F32, &self.device)?,
                Tensor::full(1.0 / c.max(1) as f32, (b, c), &self.device)?,
            ),
        };
        let mut z = self.score1.forward(&feat)?.gelu_erf()?;
        if train {
            z = dropout(&z, self.cfg.dropout, &self.rng)?;
        }
        let scores = sigmoid(&self.score2.forward(&z)?.squeeze(2)?)?.mul(mask)?;
        Ok(HeadOutput {
            scores,
            category_logits: logits,
            category_weights: weights,
            gate: Tensor::zeros((b, t), candle_core::DType::F32, &self.device)?,
        })
    }

    /// Fused forward. `teacher[b] = Some(category)` for abnormal training videos.
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        teacher: Option<&[Option<usize>]>,
    ) -> Result<HeadOutput, ModelError> {
        let (h, gate) = self.motar_impl(x, mask, train)?;
        let mut out = self.core_impl(&h, mask, train, teacher)?;
        out.gate = gate;
        Ok(out)
    }

    /// Stage 1 (inference): temporal-context features [B,T,d].
    pub fn motar(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.motar_impl(x, mask, false)?.0)
    }

    /// Stage 1 (inference) with the gate r_t [B,T].
    pub fn motar_with_gate(&self, x: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor), ModelError> {
        self.motar_impl(x, mask, false)
    }

    /// Stage 2 (inference): CORE + scoring on stage-1 features; `gate` is zeros here.
    pub fn core(&self, h: &Tensor, mask: &Tensor) -> Result<HeadOutput, ModelError> {
        self.core_impl(h, mask, false, None)
    }
}

#[cfg(test)]
mod tests;
