//! The light temporal Transformer of MoTAR: sinusoidal positions, pre-LN layers
//! (x + Attn(LN x), x + FFN(LN x)), key-padding mask, final LayerNorm.
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use super::layers::{dropout, sinusoidal, CResult, LayerNorm, Linear, MultiHeadAttention, ParamStore};
use super::rng::Rng;

#[derive(Clone)]
struct EncoderLayer {
    ln1: LayerNorm,
    attn: MultiHeadAttention,
    ln2: LayerNorm,
    ff1: Linear,
    ff2: Linear,
}

#[derive(Clone)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
    ln_out: LayerNorm,
    d: usize,
    dropout: f32,
}

impl Encoder {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        d: usize,
        n_layers: usize,
        heads: usize,
        ffn_mult: usize,
        dropout: f32,
        rng: &mut Rng,
        dev: &Device,
    ) -> CResult<Self> {
        let mut layers = Vec::new();
        for i in 0..n_layers {
            let p = format!("{name}.layer{i}");
            layers.push(EncoderLayer {
                ln1: LayerNorm::new(ps, &format!("{p}.ln1"), d, rng, dev)?,
                attn: MultiHeadAttention::new(ps, &format!("{p}.attn"), d, heads, rng, dev)?,
                ln2: LayerNorm::new(ps, &format!("{p}.ln2"), d, rng, dev)?,
                ff1: Linear::new(ps, &format!("{p}.ff1"), d, d * ffn_mult, true, rng, dev)?,
                ff2: Linear::new(ps, &format!("{p}.ff2"), d * ffn_mult, d, true, rng, dev)?,
            });
        }
        Ok(Self { layers, ln_out: LayerNorm::new(ps, &format!("{name}.ln_out"), d, rng, dev)?, d, dropout })
    }

    /// `x` [B,T,d], `mask` [B,T]; returns [B,T,d] with padded rows zeroed.
    pub fn forward(&self, x: &Tensor, mask: &Tensor, train: Option<&Mutex<Rng>>) -> CResult<Tensor> {
        let (_, t, _) = x.dims3()?;
        let drop = |y: Tensor| -> CResult<Tensor> {
            match train {
                Some(r) => dropout(&y, self.dropout, r),
                None => Ok(y),
            }
        };
        let mut h = x.broadcast_add(&sinusoidal(t, self.d, x.device())?)?;
        for l in &self.layers {
            let n = l.ln1.forward(&h)?;
            h = (&h + drop(l.attn.forward(&n, &n, Some(mask))?)?)?;
            let n = l.ln2.forward(&h)?;
            h = (&h + drop(l.ff2.forward(&l.ff1.forward(&n)?.gelu_erf()?)?)?)?;
        }
        self.ln_out.forward(&h)?.broadcast_mul(&mask.unsqueeze(2)?)
    }
}
