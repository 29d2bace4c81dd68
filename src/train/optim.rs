//! AdamW with per-parameter learning-rate multipliers (the MoTAR gate MLP gets a larger
//! rate), decoupled weight decay on weight matrices only (not on biases, LayerNorm gains
//! or prototypes), global-norm gradient clipping, and linear warm-up + cosine decay.
use std::collections::BTreeMap;

use candle_core::{backprop::GradStore, Tensor, Var};

type CResult<T> = candle_core::Result<T>;

#[derive(Debug, Clone)]
pub struct AdamWConfig {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    /// Final learning rate as a fraction of `lr`.
    pub min_lr_frac: f64,
    /// Global gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// Learning-rate multiplier for parameters whose name starts with `motar.gate.`.
    pub gate_lr_mult: f64,
}

pub struct AdamW {
    pub cfg: AdamWConfig,
    pub step: usize,
    /// name → (var, first moment, second moment)
    state: BTreeMap<String, (Var, Tensor, Tensor)>,
}

impl AdamW {
    pub fn new(vars: &BTreeMap<String, Var>, cfg: AdamWConfig) -> CResult<Self> {
        let mut state = BTreeMap::new();
        for (k, v) in vars {
            state.insert(k.clone(), (v.clone(), v.zeros_like()?, v.zeros_like()?));
        }
        Ok(Self { cfg, step: 0, state })
    }

    /// Learning rate at 0-based step `s`: linear warm-up, then cosine to `min_lr_frac·lr`.
    pub fn lr_at(&self, s: usize) -> f64 {
        let c = &self.cfg;
        if s < c.warmup_steps {
            return c.lr * (s + 1) as f64 / c.warmup_steps as f64;
        }
        let span = c.total_steps.saturating_sub(c.warmup_steps).max(1);
        let p = ((s - c.warmup_steps) as f64 / span as f64).min(1.0);
        c.lr * (c.min_lr_frac + (1.0 - c.min_lr_frac) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
    }

    fn decays(name: &str) -> bool {
        name.ends_with(".weight") && !name.contains("ln") && !name.contains("prototypes")
    }

    /// Backward + one update. Returns the gradient norm before clipping.
    pub fn backward_step(&mut self, loss: &Tensor) -> CResult<f64> {
        let grads: GradStore = loss.backward()?;
        let mut sq = 0f64;
        for (v, _, _) in self.state.values() {
            if let Some(g) = grads.get(v.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = sq.sqrt();
        let clip = if self.cfg.grad_clip > 0.0 && norm > self.cfg.grad_clip { self.cfg.grad_clip / norm } else { 1.0 };
        let lr = self.lr_at(self.step);
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for (name, (v, m, s)) in self.state.iter_mut() {
            let Some(g) = grads.get(v.as_tensor()) else { continue };
            let g = (g * clip)?;
            *m = ((&*m * b1)? + (&g * (1.0 - b1))?)?;
            *s = ((&*s * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let plr = if name.starts_with("motar.gate.") { lr * self.cfg.gate_lr_mult } else { lr };
            let upd = ((&*m / c1)? / ((&*s / c2)?.sqrt()? + self.cfg.eps)?)?;
            let mut theta = v.as_tensor().detach();
            if Self::decays(name) {
                theta = (theta * (1.0 - plr * self.cfg.weight_decay))?;
            }
            v.set(&(theta - (upd * plr)?)?)?;
        }
        Ok(norm)
    }

    /// Moments for checkpointing (`m.<name>`, `v.<name>`).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (k, (_, m, s)) in &self.state {
            out.push((format!("m.{k}"), m.clone()));
            out.push((format!("v.{k}"), s.clone()));
        }
        out
    }

    pub fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>, step: usize) -> CResult<()> {
        for (k, (_, m, s)) in self.state.iter_mut() {
            match (tensors.get(&format!("m.{k}")), tensors.get(&format!("v.{k}"))) {
                (Some(a), Some(b)) => {
                    *m = a.clone();
                    *s = b.clone();
                }
                _ => candle_core::bail!("optimizer state lacks {k}"),
            }
        }
        self.step = step;
        Ok(())
    }
}
