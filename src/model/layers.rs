//! Minimal differentiable building blocks on candle tensors. candle-nn's fused softmax and
//! layer-norm kernels have no backward pass and its init/dropout use an unseedable RNG, so
//! these are written from plain tensor ops and initialised from [`Rng`].
use std::collections::BTreeMap;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var, D};

use super::rng::Rng;

pub type CResult<T> = candle_core::Result<T>;

/// Named trainable tensors. Names are the safetensors keys of the checkpoint.
#[derive(Default)]
pub struct ParamStore {
    pub vars: BTreeMap<String, Var>,
}

impl ParamStore {
    /// Registers a parameter; `init` is only used when the name is not present yet.
    pub fn get(&mut self, name: &str, shape: &[usize], init: Init, rng: &mut Rng, dev: &Device) -> CResult<Tensor> {
        if let Some(v) = self.vars.get(name) {
            if v.dims() != shape {
                candle_core::bail!("parameter {name}: shape {:?}, expected {shape:?}", v.dims());
            }
            return Ok(v.as_tensor().clone());
        }
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal(std) => (0..n).map(|_| rng.normal() * std).collect(),
            Init::Uniform(a) => (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * a).collect(),
        };
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, dev)?)?;
        let t = var.as_tensor().clone();
        self.vars.insert(name.to_string(), var);
        Ok(t)
    }

    pub fn num_params(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Init {
    Zeros,
    Ones,
    Normal(f32),
    Uniform(f32),
}

/// y = x Wᵀ + b on the last dimension of any-rank x.
#[derive(Clone)]
pub struct Linear {
    pub w: Tensor,
    pub b: Option<Tensor>,
}

impl Linear {
    /// PyTorch-style init: U(±1/√in) for weight and bias.
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        din: usize,
        dout: usize,
        bias: bool,
        rng: &mut Rng,
        dev: &Device,
    ) -> CResult<Self> {
        let a = 1.0 / (din as f32).sqrt();
        let w = ps.get(&format!("{name}.weight"), &[dout, din], Init::Uniform(a), rng, dev)?;
        let b = if bias { Some(ps.get(&format!("{name}.bias"), &[dout], Init::Uniform(a), rng, dev)?) } else { None };
        Ok(Self { w, b })
    }

    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let dims = x.dims().to_vec();
        let din = *dims.last().unwrap();
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = x.reshape((rows, din))?.matmul(&self.w.t()?)?;
        let y = match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out = dims;
        *out.last_mut().unwrap() = self.w.dim(0)?;
        y.reshape(out)
    }
}

/// LayerNorm over the last dimension with learnable gain and bias.
#[derive(Clone)]
pub struct LayerNorm {
    pub g: Tensor,
    pub b: Tensor,
}

impl LayerNorm {
    pub fn new(ps: &mut ParamStore, name: &str, dim: usize, rng: &mut Rng, dev: &Device) -> CResult<Self> {
        Ok(Self {
            g: ps.get(&format!("{name}.weight"), &[dim], Init::Ones, rng, dev)?,
            b: ps.get(&format!("{name}.bias"), &[dim], Init::Zeros, rng, dev)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        layer_norm_plain(x)?.broadcast_mul(&self.g)?.broadcast_add(&self.b)
    }
}

/// LayerNorm without affine parameters, eps = 1e-5.
pub fn layer_norm_plain(x: &Tensor) -> CResult<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + 1e-5)?.sqrt()?)
}

/// Numerically stable softmax over the last dimension (differentiable).
pub fn softmax_last(x: &Tensor) -> CResult<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

pub fn sigmoid(x: &Tensor) -> CResult<Tensor> {
    candle_nn::ops::sigmoid(x)
}

/// Inverted dropout with a mask drawn from the model's seeded RNG.
pub fn dropout(x: &Tensor, p: f32, rng: &Mutex<Rng>) -> CResult<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let n = x.elem_count();
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = {
        let mut r = rng.lock().unwrap_or_else(|e| e.into_inner());
        (0..n).map(|_| if r.uniform() < p { 0.0 } else { keep }).collect()
    };
    x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
}

/// Multi-head attention: queries `q` [B,Tq,d], keys/values `kv` [B,Tk,d]; `key_mask`
/// [B,Tk] (1 = attend) masks padded keys.
#[derive(Clone)]
pub struct MultiHeadAttention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub heads: usize,
}

impl MultiHeadAttention {
    pub fn new(ps: &mut ParamStore, name: &str, d: usize, heads: usize, rng: &mut Rng, dev: &Device) -> CResult<Self> {
        Ok(Self {
            q: Linear::new(ps, &format!("{name}.q"), d, d, true, rng, dev)?,
            k: Linear::new(ps, &format!("{name}.k"), d, d, true, rng, dev)?,
            v: Linear::new(ps, &format!("{name}.v"), d, d, true, rng, dev)?,
            o: Linear::new(ps, &format!("{name}.o"), d, d, true, rng, dev)?,
            heads,
        })
    }

    pub fn forward(&self, xq: &Tensor, xkv: &Tensor, key_mask: Option<&Tensor>) -> CResult<Tensor> {
        let (b, tq, d) = xq.dims3()?;
        let tk = xkv.dim(1)?;
        let h = self.heads;
        let hd = d / h;
        let split =
            |t: Tensor, n: usize| -> CResult<Tensor> { t.reshape((b, n, h, hd))?.transpose(1, 2)?.contiguous() };
        let q = split(self.q.forward(xq)?, tq)?;
        let k = split(self.k.forward(xkv)?, tk)?;
        let v = split(self.v.forward(xkv)?, tk)?;
        let mut att = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? / (hd as f64).sqrt())?; // [B,h,Tq,Tk]
        if let Some(m) = key_mask {
            // Additive -1e9 on padded keys; fully padded rows fall back to uniform weights,
            // and their outputs are masked downstream.
            let bias = ((m.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, tk))?;
            att = att.broadcast_add(&bias)?;
        }
        let att = softmax_last(&att)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, tq, d))?;
        self.o.forward(&y)
    }
}

/// Sinusoidal positions [T, d] (Vaswani et al.), position 0 at the first segment.
pub fn sinusoidal(t: usize, d: usize, dev: &Device) -> CResult<Tensor> {
    let mut pe = vec![0f32; t * d];
    for pos in 0..t {
        for i in 0..d / 2 {
            let freq = (-(2.0 * i as f64) * (10_000f64).ln() / d as f64).exp();
            let a = pos as f64 * freq;
            pe[pos * d + 2 * i] = a.sin() as f32;
            pe[pos * d + 2 * i + 1] = a.cos() as f32;
        }
    }
    Tensor::from_vec(pe, (t, d), dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_layernorm_match_reference() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1f32, 2.0, 3.0], [0.0, 0.0, 0.0]], &dev).unwrap();
        let s = softmax_last(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!((s[0][2] - 0.66524096).abs() < 1e-6 && (s[1][0] - 1.0 / 3.0).abs() < 1e-6);
        let l = layer_norm_plain(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!((l[0][0] + 1.2247357).abs() < 1e-4);
    }

    #[test]
    fn attention_ignores_padded_keys() {
        let dev = Device::Cpu;
        let mut ps = ParamStore::default();
        let mut rng = Rng::new(1);
        let mha = MultiHeadAttention::new(&mut ps, "a", 8, 2, &mut rng, &dev).unwrap();
        let x: Vec<f32> = (0..2 * 3 * 8).map(|_| rng.normal()).collect();
        let x = Tensor::from_vec(x, (2, 3, 8), &dev).unwrap();
        let m = Tensor::new(&[[1f32, 1.0, 0.0], [1.0, 1.0, 0.0]], &dev).unwrap();
        let y1 = mha.forward(&x.narrow(1, 0, 2).unwrap(), &x, Some(&m)).unwrap();
        let y2 = mha.forward(&x.narrow(1, 0, 2).unwrap(), &x.narrow(1, 0, 2).unwrap(), None).unwrap();
        let d = (y1 - y2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-5, "{d}");
    }
}
