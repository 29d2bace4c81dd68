//! CORE: attention pooling → video vector g → C×2 category logits → weights w over the
//! per-category anomaly probabilities → soft prototype v = Σ w_c e_c (+ e_y as a teacher
//! for abnormal training videos) → segments query [v; E] by cross-attention, residual +
//! LayerNorm → refined segment features.
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, D};

use super::config::{CategoryWeighting, HeadConfig};
use super::layers::{dropout, sigmoid, softmax_last, CResult, Init, LayerNorm, Linear, MultiHeadAttention, ParamStore};
use super::rng::Rng;

#[derive(Clone)]
pub struct Core {
    pool: Linear,
    cls_ln: LayerNorm,
    cls: Linear,
    /// Raw prototypes [C, prototype_dim]; projected to d by `proto_proj`.
    prototypes: Tensor,
    proto_proj: Linear,
    q_ln: LayerNorm,
    attn: MultiHeadAttention,
    out_ln: LayerNorm,
    c: usize,
    weighting: CategoryWeighting,
    tau: f32,
    teacher: bool,
    dropout: f32,
}

/// What CORE produces besides the refined features.
pub struct CoreOut {
    pub refined: Tensor,
    pub logits: Tensor,
    pub weights: Tensor,
}

impl Core {
    /// `init_prototypes`: optional C rows of `prototype_dim` values (e.g. MiniLM embeddings
    /// of category descriptions); otherwise N(0, 1/prototype_dim).
    pub fn new(
        ps: &mut ParamStore,
        cfg: &HeadConfig,
        init_prototypes: Option<&[Vec<f32>]>,
        rng: &mut Rng,
        dev: &Device,
    ) -> CResult<Self> {
        let (c, d, p) = (cfg.num_categories, cfg.d_model, cfg.prototype_dim);
        let name = "core.prototypes";
        if let Some(rows) = init_prototypes {
            if rows.len() != c || rows.iter().any(|r| r.len() != p) {
                candle_core::bail!("prototype init must be {c} rows of {p} values");
            }
            if !ps.vars.contains_key(name) {
                let flat: Vec<f32> = rows.iter().flatten().copied().collect();
                let var = candle_core::Var::from_tensor(&Tensor::from_vec(flat, (c, p), dev)?)?;
                ps.vars.insert(name.into(), var);
            }
        }
        let prototypes = ps.get(name, &[c, p], Init::Normal(1.0 / (p as f32).sqrt()), rng, dev)?;
        Ok(Self {
            pool: Linear::new(ps, "core.pool", d, 1, true, rng, dev)?,
            cls_ln: LayerNorm::new(ps, "core.cls_ln", d, rng, dev)?,
            cls: Linear::new(ps, "core.cls", d, 2 * c, true, rng, dev)?,
            prototypes,
            proto_proj: Linear::new(ps, "core.proto_proj", p, d, true, rng, dev)?,
            q_ln: LayerNorm::new(ps, "core.q_ln", d, rng, dev)?,
            attn: MultiHeadAttention::new(ps, "core.xattn", d, cfg.heads, rng, dev)?,
            out_ln: LayerNorm::new(ps, "core.out_ln", d, rng, dev)?,
            c,
            weighting: cfg.weighting,
            tau: cfg.weight_temperature,
            teacher: cfg.teacher_prototype,
            dropout: cfg.dropout,
        })
    }

    /// `h` [B,T,d], `mask` [B,T]; `teacher[b] = Some(y)` adds e_y (training only).
    pub fn forward(
        &self,
        h: &Tensor,
        mask: &Tensor,
        train: Option<&Mutex<Rng>>,
        teacher: Option<&[Option<usize>]>,
    ) -> CResult<CoreOut> {
        let (b, _, d) = h.dims3()?;
        let c = self.c;
        // Attention pooling: α = softmax_t(FC(h_t)) over valid segments.
        let a = self.pool.forward(h)?.squeeze(2)?;
        let a = (a + ((mask - 1.0)? * 1e9)?)?;
        let alpha = softmax_last(&a)?; // [B,T]
        let g = alpha.unsqueeze(1)?.matmul(h)?.squeeze(1)?; // [B,d]
        let logits = self.cls.forward(&self.cls_ln.forward(&g)?)?.reshape((b, c, 2))?;
        let p_anom = anomaly_probs(&logits)?; // [B,C]
        let w = match self.weighting {
            CategoryWeighting::Soft => softmax_last(&(&p_anom / self.tau as f64)?)?,
            CategoryWeighting::Uniform => Tensor::full(1.0 / c as f32, (b, c), h.device())?,
            CategoryWeighting::HardArgmax => {
                let idx = p_anom.argmax_keepdim(D::Minus1)?; // [B,1] u32
                let cls = Tensor::arange(0u32, c as u32, h.device())?.reshape((1, c))?;
                cls.broadcast_eq(&idx)?.to_dtype(DType::F32)?
            }
        };
        let e = self.proto_proj.forward(&self.prototypes)?; // [C,d]
        let mut v = w.matmul(&e)?; // [B,d]
        if let (Some(_), Some(tch), true) = (train, teacher, self.teacher) {
            let onehot: Vec<f32> = (0..b)
                .flat_map(|i| (0..c).map(move |k| if tch.get(i).copied().flatten() == Some(k) { 1.0 } else { 0.0 }))
                .collect();
            v = (v + Tensor::from_vec(onehot, (b, c), h.device())?.matmul(&e)?)?;
        }
        let kv = Tensor::cat(&[v.unsqueeze(1)?, e.unsqueeze(0)?.broadcast_as((b, c, d))?.contiguous()?], 1)?; // [B,C+1,d]
        let mut x = self.attn.forward(&self.q_ln.forward(h)?, &kv, None)?;
        if let Some(r) = train {
            x = dropout(&x, self.dropout, r)?;
        }
        let refined = self.out_ln.forward(&(h + x)?)?.broadcast_mul(&mask.unsqueeze(2)?)?;
        Ok(CoreOut { refined, logits, weights: w })
    }
}

/// p_anom,c = softmax over row c's (normal, anomalous) pair at "anomalous" = σ(z₁ − z₀).
pub fn anomaly_probs(logits: &Tensor) -> CResult<Tensor> {
    let z0 = logits.narrow(2, 0, 1)?.squeeze(2)?;
    let z1 = logits.narrow(2, 1, 1)?.squeeze(2)?;
    sigmoid(&(z1 - z0)?)
}
