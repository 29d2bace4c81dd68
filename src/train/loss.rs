//! Training losses. All take per-segment `scores` [B,T] in [0,1] and a validity `mask`
//! [B,T]; a video's length T_b is its number of valid segments.
use candle_core::Tensor;

type CResult<T> = candle_core::Result<T>;

const EPS: f64 = 1e-6;

/// Top-k MIL BCE: per video, the mean of its k_b = ⌊T_b / divisor⌋ + 1 highest scores is
/// the video score, trained with BCE against the video label (1 = abnormal).
pub fn topk_mil(scores: &Tensor, mask: &Tensor, labels: &[f32], divisor: usize) -> CResult<Tensor> {
    let (b, t) = scores.dims2()?;
    // Rank on detached scores with padding pushed below every valid score.
    let rank_key = (scores.detach().mul(mask)? + (mask.affine(1.0, -1.0)? * 2.0)?)?; // valid: s, pad: s − 2
    let idx = rank_key.arg_sort_last_dim(false)?;
    let sorted = scores.contiguous()?.gather(&idx, 1)?;
    let lens: Vec<f32> = mask.sum(1)?.to_vec1()?;
    let mut sel = vec![0f32; b * t];
    for (i, &l) in lens.iter().enumerate() {
        let k = ((l as usize) / divisor.max(1) + 1).min((l as usize).max(1));
        for j in 0..k {
            sel[i * t + j] = 1.0 / k as f32;
        }
    }
    let video = sorted.mul(&Tensor::from_vec(sel, (b, t), scores.device())?)?.sum(1)?;
    bce(&video, &Tensor::from_slice(labels, b, scores.device())?)
}

/// Mean binary cross-entropy on probabilities (clamped to [1e-6, 1 − 1e-6]).
pub fn bce(p: &Tensor, y: &Tensor) -> CResult<Tensor> {
    let p = p.clamp(EPS, 1.0 - EPS)?;
    let l = (y.mul(&p.log()?)? + y.affine(-1.0, 1.0)?.mul(&p.affine(-1.0, 1.0)?.log()?)?)?;
    l.neg()?.mean_all()
}

/// Gaussian temporal smoothing: s̃_t = Σ_j G(j)·m_{t+j}·s_{t+j} / Σ_j G(j)·m_{t+j} with
/// G(j) = exp(−j²/2σ²), j ∈ [−⌈3σ⌉, ⌈3σ⌉] (so the kernel renormalises at video ends and
/// never reads padding); loss = Σ m_t (s_t − s̃_t)² / Σ m_t. Gradients flow through both.
pub fn gaussian_smoothness(scores: &Tensor, mask: &Tensor, sigma: f32) -> CResult<Tensor> {
    let (_, t) = scores.dims2()?;
    let r = (3.0 * sigma).ceil().max(1.0) as usize;
    let sm = scores.mul(mask)?;
    let pad_s = sm.pad_with_zeros(1, r, r)?;
    let pad_m = mask.pad_with_zeros(1, r, r)?;
    let mut num: Option<Tensor> = None;
    let mut den: Option<Tensor> = None;
    for off in 0..=2 * r {
        let j = off as f32 - r as f32;
        let g = (-(j * j) / (2.0 * sigma * sigma)).exp() as f64;
        let s = (pad_s.narrow(1, off, t)? * g)?;
        let m = (pad_m.narrow(1, off, t)? * g)?;
        num = Some(match num {
            Some(n) => (n + s)?,
            None => s,
        });
        den = Some(match den {
            Some(d) => (d + m)?,
            None => m,
        });
    }
    let smooth = num.unwrap().div(&(den.unwrap() + EPS)?)?;
    let diff = (scores - smooth)?.sqr()?.mul(mask)?;
    diff.sum_all()?.div(&(mask.sum_all()? + EPS)?)
}

/// Category BCE over the C rows of (normal, anomalous) logits [B,C,2]: for an abnormal
/// video of category y row y is "anomalous" and every other row "normal"; for a normal
/// video every row is "normal". The row logit is z₁ − z₀ (softmax of the pair).
pub fn category_bce(logits: &Tensor, categories: &[Option<usize>]) -> CResult<Tensor> {
    let (b, c, _) = logits.dims3()?;
    let z = (logits.narrow(2, 1, 1)? - logits.narrow(2, 0, 1)?)?.squeeze(2)?;
    let y: Vec<f32> =
        (0..b).flat_map(|i| (0..c).map(move |k| if categories[i] == Some(k) { 1.0 } else { 0.0 })).collect();
    let y = Tensor::from_vec(y, (b, c), logits.device())?;
    // log σ(z) = −softplus(−z); stable softplus(x) = max(x,0) + ln(1 + e^{−|x|}).
    let softplus = |x: &Tensor| -> CResult<Tensor> { x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()? };
    let l = (y.mul(&softplus(&z.neg()?)?)? + y.affine(-1.0, 1.0)?.mul(&softplus(&z)?)?)?;
    l.mean_all()
}

/// Per-video labels (1 = abnormal) as f32.
pub fn labels(categories: &[Option<usize>]) -> Vec<f32> {
    categories.iter().map(|c| if c.is_some() { 1.0 } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn topk_uses_per_video_length() {
        let dev = Device::Cpu;
        // Video 0: T=17 → k=2 (top 0.9, 0.8); video 1: T=3 (rest padding) → k=1.
        let mut a = vec![0.1f32; 17];
        a[3] = 0.9;
        a[9] = 0.8;
        let mut b = vec![0.99f32; 17];
        b[0] = 0.2;
        b[1] = 0.4;
        b[2] = 0.3;
        let scores = Tensor::from_vec([a, b].concat(), (2, 17), &dev).unwrap();
        let mut m = vec![1f32; 17];
        m.extend([1.0, 1.0, 1.0]);
        m.extend([0.0; 14]);
        let mask = Tensor::from_vec(m, (2, 17), &dev).unwrap();
        let l = topk_mil(&scores, &mask, &[1.0, 0.0], 16).unwrap().to_scalar::<f32>().unwrap();
        let want = (-(0.85f32).ln() - (1.0f32 - 0.4).ln()) / 2.0;
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
    }

    #[test]
    fn smoothness_is_zero_for_constant_and_positive_for_spikes() {
        let dev = Device::Cpu;
        let mask = Tensor::ones((1, 10), DType::F32, &dev).unwrap();
        let c = Tensor::full(0.3f32, (1, 10), &dev).unwrap();
        assert!(gaussian_smoothness(&c, &mask, 1.0).unwrap().to_scalar::<f32>().unwrap() < 1e-9);
        let mut v = vec![0f32; 10];
        v[5] = 1.0;
        let spike = Tensor::from_vec(v, (1, 10), &dev).unwrap();
        assert!(gaussian_smoothness(&spike, &mask, 1.0).unwrap().to_scalar::<f32>().unwrap() > 0.01);
    }

    #[test]
    fn category_targets() {
        let dev = Device::Cpu;
        // Logits that put row 1 anomalous strongly: low loss for category 1, high for None.
        let z = Tensor::new(&[[[5f32, -5.0], [-5.0, 5.0]]], &dev).unwrap();
        let good = category_bce(&z, &[Some(1)]).unwrap().to_scalar::<f32>().unwrap();
        let bad = category_bce(&z, &[None]).unwrap().to_scalar::<f32>().unwrap();
        assert!(good < 1e-3 && bad > 4.0, "{good} {bad}");
    }
}
