//! MoTAR: motion magnitude → shift-ratio gate → adaptive bidirectional channel shift →
//! temporal Transformer.
//!
//! The paper's s_t = ⌊r_t·d/K⌋ has no gradient, so training uses a soft channel mask:
//! with s = r_t·d/K and channel index c, a_c = σ((s − c − ½)/ρ) ("c < s", from t−1) and
//! b_c = σ((2s − c − ½)/ρ) − a_c ("s ≤ c < 2s", from t+1); y_t = a⊙h_{t−1} + b⊙h_{t+1} +
//! (1 − a − b)⊙h_t. As ρ → 0 this is the hard shift with a continuous s.
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, D};

use super::config::HeadConfig;
use super::encoder::Encoder;
use super::layers::{sigmoid, CResult, Init, Linear, ParamStore};
use super::rng::Rng;

/// Normalisation of the gate input ln(m_t + eps): (value − mean) / std over training
/// segments. Stored in the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GateStats {
    pub mean: f32,
    pub std: f32,
}

impl Default for GateStats {
    fn default() -> Self {
        Self { mean: 0.0, std: 1.0 }
    }
}

pub const MOTION_EPS: f32 = 1e-6;

#[derive(Clone)]
pub struct Motar {
    gate1: Linear,
    gate2: Linear,
    gate3: Linear,
    encoder: Encoder,
    fold: usize,
    ramp: f32,
    log_motion: bool,
    clip: f32,
    hard_train: bool,
    hard_infer: bool,
    residual: bool,
    gate_embed: Option<Tensor>,
}

impl Motar {
    pub fn new(ps: &mut ParamStore, cfg: &HeadConfig, rng: &mut Rng, dev: &Device) -> CResult<Self> {
        let h = cfg.gate_hidden;
        Ok(Self {
            gate1: Linear::new(ps, "motar.gate.l1", 1, h, true, rng, dev)?,
            gate2: Linear::new(ps, "motar.gate.l2", h, h, true, rng, dev)?,
            gate3: Linear::new(ps, "motar.gate.l3", h, 1, true, rng, dev)?,
            encoder: Encoder::new(
                ps,
                "motar.encoder",
                cfg.d_model,
                cfg.encoder_layers,
                cfg.heads,
                cfg.ffn_mult,
                cfg.dropout,
                rng,
                dev,
            )?,
            fold: cfg.shift_fold,
            ramp: cfg.shift_ramp,
            log_motion: cfg.gate_log_motion,
            clip: cfg.gate_input_clip,
            hard_train: cfg.hard_shift_train,
            hard_infer: cfg.hard_shift_infer,
            residual: cfg.shift_residual,
            gate_embed: if cfg.gate_embedding {
                Some(ps.get("motar.gate_embed", &[cfg.d_model], Init::Normal(0.5), rng, dev)?)
            } else {
                None
            },
        })
    }

    /// Gate input from normalised features `x` [B,T,D]: m_t (or standardised ln m_t).
    pub fn gate_input(&self, x: &Tensor, mask: &Tensor, stats: GateStats) -> CResult<Tensor> {
        let m = motion(x, mask)?;
        if !self.log_motion {
            return Ok(m);
        }
        let u = (((m + MOTION_EPS as f64)?.log()? - stats.mean as f64)? / stats.std.max(1e-6) as f64)?;
        u.clamp(-self.clip, self.clip)?.broadcast_mul(mask)
    }

    /// r_t ∈ (0,1) [B,T] (padded positions 0).
    pub fn gate(&self, x: &Tensor, mask: &Tensor, stats: GateStats) -> CResult<Tensor> {
        let u = self.gate_input(x, mask, stats)?.unsqueeze(2)?;
        let z = self.gate3.forward(&self.gate2.forward(&self.gate1.forward(&u)?.gelu_erf()?)?.gelu_erf()?)?;
        sigmoid(&z.squeeze(2)?)?.broadcast_mul(mask)
    }

    /// Shift of projected features `h` [B,T,d] by the gate `r` [B,T].
    pub fn shift(&self, h: &Tensor, r: &Tensor, mask: &Tensor, hard: bool) -> CResult<Tensor> {
        let (b, t, d) = h.dims3()?;
        let h = h.broadcast_mul(&mask.unsqueeze(2)?)?; // zero rows beyond the end = zero padding
        let prev = h.pad_with_zeros(1, 1, 0)?.narrow(1, 0, t)?;
        let next = h.pad_with_zeros(1, 0, 1)?.narrow(1, 1, t)?;
        let s = (r.unsqueeze(2)? * (d as f64 / self.fold as f64))?; // [B,T,1]
        let c = Tensor::arange(0f32, d as f32, h.device())?.reshape((1, 1, d))?;
        let (a, both) = if hard {
            let s = s.floor()?.detach();
            let a = c.broadcast_lt(&s)?.to_dtype(DType::F32)?;
            let both = c.broadcast_lt(&(s * 2.0)?)?.to_dtype(DType::F32)?;
            (a, both)
        } else {
            let ramp =
                |lim: Tensor| -> CResult<Tensor> { sigmoid(&((lim.broadcast_sub(&c)? - 0.5)? / self.ramp as f64)?) };
            (ramp(s.clone())?, ramp((s * 2.0)?)?)
        };
        let a = a.broadcast_as((b, t, d))?;
        let both = both.broadcast_as((b, t, d))?;
        let bnext = (&both - &a)?;
        let own = (1.0 - &both)?;
        (prev.mul(&a)? + next.mul(&bnext)?)? + h.mul(&own)?
    }

    /// h_tc [B,T,d] and the gate r [B,T], from normalised input `x` and projected `h`.
    pub fn forward(
        &self,
        x: &Tensor,
        h: &Tensor,
        mask: &Tensor,
        stats: GateStats,
        train: Option<&Mutex<Rng>>,
    ) -> CResult<(Tensor, Tensor)> {
        let r = self.gate(x, mask, stats)?;
        let hard = if train.is_some() { self.hard_train } else { self.hard_infer };
        let mut y = self.shift(h, &r, mask, hard)?;
        if self.residual {
            y = (y + h)?;
        }
        if let Some(e) = &self.gate_embed {
            y = (y + r.unsqueeze(2)?.broadcast_mul(e)?)?.broadcast_mul(&mask.unsqueeze(2)?)?;
        }
        Ok((self.encoder.forward(&y, mask, train)?, r))
    }
}

/// m_t = Var_c(x_t − x_{t−1}) (population variance over channels), m_1 = 0, and 0 where
/// either segment is padding. `x` [B,T,D], `mask` [B,T] → [B,T].
pub fn motion(x: &Tensor, mask: &Tensor) -> CResult<Tensor> {
    let (_, t, _) = x.dims3()?;
    if t < 2 {
        return mask.zeros_like();
    }
    let d = (x.narrow(1, 1, t - 1)? - x.narrow(1, 0, t - 1)?)?;
    let v = d.var_keepdim(D::Minus1)?.squeeze(2)?;
    // var_keepdim is the unbiased estimate; rescale to the population variance.
    let n = x.dim(2)? as f64;
    let v = if n > 1.0 { (v * ((n - 1.0) / n))? } else { v };
    let pair = (mask.narrow(1, 1, t - 1)? * mask.narrow(1, 0, t - 1)?)?;
    (v * pair)?.pad_with_zeros(1, 1, 0)
}
