//! The training loop on in-memory videos: balanced batches, crops + padding, losses,
//! AdamW. Independent of file formats so tests and the CLI share it.
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::loss;
use super::optim::{AdamW, AdamWConfig};
use crate::features::layout::FeatureLayout;
use crate::model::checkpoint::{predict_normalised, Checkpoint, InferenceConfig, Prediction};
use crate::model::rng::Rng;
use crate::model::{HeadConfig, ModelError, NormStats, RefineVad};

/// How a video longer than `max_len` segments is cut for a training batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropMode {
    /// A random contiguous window of `max_len` segments (keeps neighbours intact, which
    /// MoTAR's motion and shift rely on; may miss a short event in a very long video).
    RandomCrop,
    /// `max_len` segments at sorted, jittered, evenly spaced indices (covers the whole
    /// video; neighbours become farther apart).
    Resample,
}

/// The training recipe (stored in the checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainRecipe {
    pub seed: u64,
    /// Epochs (an epoch = enough balanced batches to see the larger class once).
    pub epochs: usize,
    /// Total steps; overrides `epochs` when set.
    pub steps: Option<usize>,
    /// Videos per batch, half normal and half abnormal (smaller when data is small).
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_steps: usize,
    pub min_lr_frac: f64,
    pub grad_clip: f64,
    /// Learning-rate multiplier of the MoTAR gate MLP.
    pub gate_lr_mult: f64,
    /// Maximum segments per training video (longer ones are cropped, shorter padded).
    pub max_len: usize,
    pub crop: CropMode,
    /// k = ⌊T / topk_divisor⌋ + 1 in the MIL loss.
    pub topk_divisor: usize,
    pub lambda_smooth: f64,
    pub smooth_sigma: f32,
    pub lambda_cat: f64,
}

impl Default for TrainRecipe {
    fn default() -> Self {
        Self {
            seed: 0,
            epochs: 30,
            steps: None,
            batch_size: 64,
            lr: 5e-4,
            weight_decay: 1e-2,
            warmup_steps: 20,
            min_lr_frac: 0.01,
            grad_clip: 1.0,
            gate_lr_mult: 10.0,
            max_len: 256,
            crop: CropMode::RandomCrop,
            topk_divisor: 16,
            lambda_smooth: 0.1,
            smooth_sigma: 1.0,
            lambda_cat: 0.2,
        }
    }
}

/// One training video (raw features; normalised by the trainer).
#[derive(Debug, Clone)]
pub struct TrainVideo {
    pub name: String,
    pub t: usize,
    pub data: Vec<f32>,
    /// Index into the category list; None = normal.
    pub category: Option<usize>,
}

/// Loss parts of one step (or their mean over an epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    pub total: f64,
    pub mil: f64,
    pub smooth: f64,
    pub cat: f64,
    pub grad_norm: f64,
}

impl LossParts {
    pub fn add(&mut self, o: &LossParts) {
        self.total += o.total;
        self.mil += o.mil;
        self.smooth += o.smooth;
        self.cat += o.cat;
        self.grad_norm += o.grad_norm;
    }
    pub fn scale(&mut self, f: f64) {
        self.total *= f;
        self.mil *= f;
        self.smooth *= f;
        self.cat *= f;
        self.grad_norm *= f;
    }
}

pub struct Trainer {
    pub model: RefineVad,
    pub opt: AdamW,
    pub norm: NormStats,
    pub recipe: TrainRecipe,
    pub layout: FeatureLayout,
    pub categories: Vec<String>,
    pub inference: InferenceConfig,
    /// Normalised training videos.
    videos: Vec<TrainVideo>,
    normal: Vec<usize>,
    abnormal: Vec<usize>,
    queues: [Vec<usize>; 2],
    pub rng: Rng,
    half: usize,
}

impl Trainer {
    /// Fits normalisation on `videos`, builds the model and the optimiser.
    pub fn new(
        mut cfg: HeadConfig,
        recipe: TrainRecipe,
        mut videos: Vec<TrainVideo>,
        layout: FeatureLayout,
        categories: Vec<String>,
        init_prototypes: Option<&[Vec<f32>]>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let d = layout.width();
        cfg.input_dim = d;
        cfg.num_categories = categories.len();
        cfg.stream_widths = layout.streams.iter().map(|s| s.width).collect();
        for v in &videos {
            if v.data.len() != v.t * d || v.t == 0 {
                return Err(ModelError::Input(format!("{}: {} values do not form {}×{d}", v.name, v.data.len(), v.t)));
            }
        }
        let norm = NormStats::fit(&videos.iter().map(|v| (v.data.as_slice(), v.t)).collect::<Vec<_>>(), &cfg, &layout);
        for v in videos.iter_mut() {
            v.data = norm.apply(&v.data, v.t, d);
        }
        let normal: Vec<usize> = (0..videos.len()).filter(|&i| videos[i].category.is_none()).collect();
        let abnormal: Vec<usize> = (0..videos.len()).filter(|&i| videos[i].category.is_some()).collect();
        if normal.is_empty() || abnormal.is_empty() {
            return Err(ModelError::Input(format!(
                "training needs normal and abnormal videos (got {} normal, {} abnormal)",
                normal.len(),
                abnormal.len()
            )));
        }
        let half = (recipe.batch_size / 2).max(1).min(normal.len()).min(abnormal.len());
        let mut rng = Rng::new(recipe.seed);
        let mut model = RefineVad::new(cfg, rng.next_u64(), init_prototypes, device)?;
        model.set_gate_stats(norm.gate);
        model.reseed_dropout(rng.next_u64());
        let mut t = Self {
            opt: AdamW::new(
                model.vars(),
                AdamWConfig {
                    lr: recipe.lr,
                    weight_decay: recipe.weight_decay,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    warmup_steps: recipe.warmup_steps,
                    total_steps: 1,
                    min_lr_frac: recipe.min_lr_frac,
                    grad_clip: recipe.grad_clip,
                    gate_lr_mult: recipe.gate_lr_mult,
                },
            )?,
            model,
            norm,
            recipe,
            layout,
            categories,
            inference: InferenceConfig::default(),
            videos,
            normal,
            abnormal,
            queues: [vec![], vec![]],
            rng,
            half,
        };
        t.inference.window = t.recipe.max_len;
        t.opt.cfg.total_steps = t.total_steps();
        Ok(t)
    }

    /// Balanced batches per epoch: enough to see every video of the larger class once.
    pub fn steps_per_epoch(&self) -> usize {
        self.normal.len().max(self.abnormal.len()).div_ceil(self.half)
    }

    pub fn total_steps(&self) -> usize {
        self.recipe.steps.unwrap_or(self.recipe.epochs * self.steps_per_epoch())
    }

    pub fn batch_videos(&self) -> usize {
        2 * self.half
    }

    fn draw(&mut self, class: usize) -> usize {
        if self.queues[class].is_empty() {
            let mut q = if class == 0 { self.normal.clone() } else { self.abnormal.clone() };
            self.rng.shuffle(&mut q);
            q.reverse();
            self.queues[class] = q;
        }
        self.queues[class].pop().unwrap()
    }

    /// Segment indices used for one video in a batch.
    fn crop(&mut self, t: usize) -> Vec<usize> {
        let l = self.recipe.max_len.max(1);
        if t <= l {
            return (0..t).collect();
        }
        match self.recipe.crop {
            CropMode::RandomCrop => {
                let s = self.rng.below(t - l + 1);
                (s..s + l).collect()
            }
            CropMode::Resample => (0..l)
                .map(|i| {
                    let lo = i * t / l;
                    let hi = ((i + 1) * t / l).max(lo + 1);
                    lo + self.rng.below(hi - lo)
                })
                .collect(),
        }
    }

    /// One optimisation step on a fresh balanced batch.
    pub fn step(&mut self) -> Result<LossParts, ModelError> {
        let d = self.layout.width();
        let half = self.half;
        let mut ids: Vec<usize> = Vec::with_capacity(2 * half);
        for class in [0, 1] {
            for _ in 0..half {
                ids.push(self.draw(class));
            }
        }
        let crops: Vec<Vec<usize>> =
            ids.iter().map(|&i| self.videos[i].t).collect::<Vec<_>>().into_iter().map(|t| self.crop(t)).collect();
        let tmax = crops.iter().map(|c| c.len()).max().unwrap_or(1);
        let b = ids.len();
        let mut x = vec![0f32; b * tmax * d];
        let mut mask = vec![0f32; b * tmax];
        for (bi, (&vi, idx)) in ids.iter().zip(&crops).enumerate() {
            let v = &self.videos[vi];
            for (p, &src) in idx.iter().enumerate() {
                x[(bi * tmax + p) * d..(bi * tmax + p + 1) * d].copy_from_slice(&v.data[src * d..(src + 1) * d]);
                mask[bi * tmax + p] = 1.0;
            }
        }
        let dev = self.model.device().clone();
        let x = Tensor::from_vec(x, (b, tmax, d), &dev)?;
        let mask = Tensor::from_vec(mask, (b, tmax), &dev)?;
        let cats: Vec<Option<usize>> = ids.iter().map(|&i| self.videos[i].category).collect();
        let out = self.model.forward(&x, &mask, true, Some(&cats))?;
        let mil = loss::topk_mil(&out.scores, &mask, &loss::labels(&cats), self.recipe.topk_divisor)?;
        let smooth = loss::gaussian_smoothness(&out.scores, &mask, self.recipe.smooth_sigma)?;
        let mut total = (&mil + (&smooth * self.recipe.lambda_smooth)?)?;
        let mut cat_v = 0.0;
        if !self.model.config().no_core {
            let cat = loss::category_bce(&out.category_logits, &cats)?;
            cat_v = cat.to_scalar::<f32>()? as f64;
            total = (total + (cat * self.recipe.lambda_cat)?)?;
        }
        let grad_norm = self.opt.backward_step(&total)?;
        Ok(LossParts {
            total: total.to_scalar::<f32>()? as f64,
            mil: mil.to_scalar::<f32>()? as f64,
            smooth: smooth.to_scalar::<f32>()? as f64,
            cat: cat_v,
            grad_norm,
        })
    }

    /// Runs `n` steps and returns the mean loss parts; `progress(step_in_run, parts)` is
    /// called after each step.
    pub fn run_steps(
        &mut self,
        n: usize,
        mut progress: impl FnMut(usize, &LossParts),
    ) -> Result<LossParts, ModelError> {
        let mut mean = LossParts::default();
        for i in 0..n {
            let p = self.step()?;
            progress(i, &p);
            mean.add(&p);
        }
        mean.scale(1.0 / n.max(1) as f64);
        Ok(mean)
    }

    /// Inference on raw features of one video with the current weights.
    pub fn predict(&self, raw: &[f32], t: usize) -> Result<Prediction, ModelError> {
        let d = self.layout.width();
        let x = self.norm.apply(raw, t, d);
        predict_normalised(&self.model, &x, t, &self.inference, &self.categories)
    }

    /// A checkpoint description of the current state (call `.save(&model, dir)`).
    pub fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new(&self.model, self.layout.clone(), self.categories.clone(), self.norm.clone());
        ck.inference = self.inference.clone();
        ck.training = serde_json::to_value(&self.recipe).unwrap_or_default();
        ck
    }

    pub fn step_count(&self) -> usize {
        self.opt.step
    }
}
