//! Seeded synthetic features for the head tests. Anomalies that only temporal context or
//! category reveals, video-level labels only:
//! - every segment is a per-video offset + an AR(1) process (ρ = 0.9, unit marginal
//!   variance) on D = 24 + 8 columns (two streams);
//! - normal and abnormal videos share benign variation: a slow drift along a random
//!   direction and, in half the videos, a scene cut (offset jump at one segment);
//! - category 0 "Jitter": inside the event ρ becomes −0.6 — the marginal distribution of a
//!   segment is unchanged, only x_t − x_{t−1} grows (a per-segment MLP cannot see it);
//! - category 1 "Freeze": inside the event the segment repeats the event's first segment
//!   (differences vanish; each segment alone looks normal);
//! - category 2 "Shift": a category-specific direction is added (visible per segment).
#![allow(dead_code)]
use refinevad::features::layout::FeatureLayout;
use refinevad::model::rng::Rng;

pub const D_A: usize = 24;
pub const D_B: usize = 8;
pub const CATEGORIES: [&str; 3] = ["Jitter", "Freeze", "Shift"];

pub fn layout() -> FeatureLayout {
    FeatureLayout::new([("synth_a", D_A), ("synth_b", D_B)])
}

pub struct SynthVideo {
    pub name: String,
    pub t: usize,
    pub data: Vec<f32>,
    pub category: Option<usize>,
    /// Per-segment ground truth (1 = anomalous).
    pub truth: Vec<u8>,
    /// Event as [start, end) segments.
    pub event: Option<(usize, usize)>,
}

pub fn generate(n_normal: usize, n_per_category: usize, seed: u64, t_range: (usize, usize)) -> Vec<SynthVideo> {
    let d = D_A + D_B;
    let mut rng = Rng::new(seed);
    // Category directions are shared by all videos of a seed family (fixed seed).
    let mut dir_rng = Rng::new(1234);
    let shift_dir: Vec<f32> = unit(&mut dir_rng, d);
    let mut out = Vec::new();
    let cats: Vec<Option<usize>> =
        (0..n_normal).map(|_| None).chain((0..3).flat_map(|c| (0..n_per_category).map(move |_| Some(c)))).collect();
    for (i, cat) in cats.into_iter().enumerate() {
        let t = t_range.0 + rng.below(t_range.1 - t_range.0 + 1);
        let offset: Vec<f32> = (0..d).map(|_| 2.0 * rng.normal()).collect();
        let drift = unit(&mut rng, d);
        let drift_amp = rng.normal() * 1.5;
        let cut = if rng.uniform() < 0.5 { Some(t / 4 + rng.below(t / 2)) } else { None };
        let cut_jump: Vec<f32> = (0..d).map(|_| 0.8 * rng.normal()).collect();
        let event = cat.map(|_| {
            let len = 6 + rng.below(9);
            let s = rng.below(t - len);
            (s, s + len)
        });
        let mut z = vec![0f32; d];
        for v in z.iter_mut() {
            *v = rng.normal();
        }
        let mut data = vec![0f32; t * d];
        let mut truth = vec![0u8; t];
        let mut frozen: Option<Vec<f32>> = None;
        for s in 0..t {
            let inside = event.is_some_and(|(a, b)| s >= a && s < b);
            let rho: f32 = if inside && cat == Some(0) { -0.6 } else { 0.9 };
            let innov = (1.0 - rho * rho).sqrt();
            for v in z.iter_mut() {
                *v = rho * *v + innov * rng.normal();
            }
            let mut row: Vec<f32> = (0..d)
                .map(|j| {
                    offset[j]
                        + z[j]
                        + drift_amp * drift[j] * (s as f32 / t as f32)
                        + if cut.is_some_and(|c| s >= c) { cut_jump[j] } else { 0.0 }
                })
                .collect();
            if inside {
                truth[s] = 1;
                match cat {
                    Some(1) => {
                        if frozen.is_none() {
                            frozen = Some(row.clone());
                        }
                        row = frozen.clone().unwrap();
                    }
                    Some(2) => row.iter_mut().zip(&shift_dir).for_each(|(r, u)| *r += 2.5 * u),
                    _ => {}
                }
            }
            data[s * d..(s + 1) * d].copy_from_slice(&row);
        }
        let name = match cat {
            None => format!("Normal_{seed}_{i:03}"),
            Some(c) => format!("{}_{seed}_{i:03}", CATEGORIES[c]),
        };
        out.push(SynthVideo { name, t, data, category: cat, truth, event });
    }
    out
}

fn unit(rng: &mut Rng, d: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..d).map(|_| rng.normal()).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n * (d as f32).sqrt()).collect()
}

/// ROC-AUC (percent) of scores against binary labels, ties counted half.
pub fn auc(scores: &[f32], labels: &[u8]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0f64, 0usize);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            if labels[idx[k]] == 1 {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    let p = labels.iter().filter(|&&l| l == 1).count() as f64;
    let n = labels.len() as f64 - p;
    100.0 * (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Pearson correlation.
pub fn corr(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (*x as f64 - ma, *y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa.sqrt() * sbb.sqrt()).max(1e-12)
}

pub fn std(a: &[f32]) -> f64 {
    let n = a.len() as f64;
    let m = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    (a.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt()
}

use refinevad::model::{HeadConfig, ModelError};
use refinevad::train::trainer::{TrainRecipe, TrainVideo, Trainer};

pub fn to_train(v: &[SynthVideo]) -> Vec<TrainVideo> {
    v.iter().map(|s| TrainVideo { name: s.name.clone(), t: s.t, data: s.data.clone(), category: s.category }).collect()
}

/// Test-set summary of a trained (or untrained) head.
#[derive(Debug, Clone)]
pub struct Report {
    pub auc: f64,
    /// AUC of each category's anomalous segments against all normal segments.
    pub auc_per_category: Vec<f64>,
    pub cat_acc: f64,
    /// Gate r over all valid test segments (in order) and ln m_t beside it.
    pub gate: Vec<f32>,
    pub log_motion: Vec<f32>,
}

pub fn evaluate(tr: &Trainer, test: &[SynthVideo]) -> Result<Report, ModelError> {
    let (mut scores, mut truth, mut gate, mut lm) = (vec![], vec![], vec![], vec![]);
    let mut seg_cat: Vec<Option<usize>> = vec![];
    let (mut hit, mut n_ab) = (0usize, 0usize);
    let d = D_A + D_B;
    for v in test {
        let p = tr.predict(&v.data, v.t)?;
        scores.extend(&p.scores);
        truth.extend(&v.truth);
        seg_cat.extend(v.truth.iter().map(|&l| if l == 1 { v.category } else { None }));
        // Skip segment 0 (m_1 = 0 by definition).
        gate.extend(&p.gate[1..]);
        let xn = tr.norm.apply(&v.data, v.t, d);
        lm.extend(refinevad::model::norm::motion_rows(&xn, v.t, d)[1..].iter().map(|m| (m + 1e-6).ln()));
        if let Some(c) = v.category {
            n_ab += 1;
            if !p.category_probs.is_empty() {
                let am = (0..p.category_probs.len())
                    .max_by(|&a, &b| p.category_probs[a].total_cmp(&p.category_probs[b]))
                    .unwrap();
                hit += (am == c) as usize;
            }
        }
    }
    let per: Vec<f64> = (0..CATEGORIES.len())
        .map(|c| {
            let keep: Vec<usize> =
                (0..scores.len()).filter(|&i| seg_cat[i].is_none() && truth[i] == 0 || seg_cat[i] == Some(c)).collect();
            auc(
                &keep.iter().map(|&i| scores[i]).collect::<Vec<_>>(),
                &keep.iter().map(|&i| truth[i]).collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Report {
        auc: auc(&scores, &truth),
        auc_per_category: per,
        cat_acc: 100.0 * hit as f64 / n_ab.max(1) as f64,
        gate,
        log_motion: lm,
    })
}

pub fn small_config() -> HeadConfig {
    HeadConfig {
        d_model: 64,
        gate_hidden: 16,
        score_hidden: 32,
        prototype_dim: 64,
        dropout: 0.1,
        ..HeadConfig::default()
    }
}

pub fn small_recipe(seed: u64, steps: usize) -> TrainRecipe {
    TrainRecipe {
        seed,
        steps: Some(steps),
        batch_size: 16,
        lr: 1e-3,
        warmup_steps: 20,
        max_len: 128,
        ..TrainRecipe::default()
    }
}

pub fn trainer(cfg: HeadConfig, recipe: TrainRecipe, train: &[SynthVideo]) -> Trainer {
    let cats = CATEGORIES.iter().map(|s| s.to_string()).collect();
    Trainer::new(cfg, recipe, to_train(train), layout(), cats, None, &candle_core::Device::Cpu).unwrap()
}

/// Writes videos as `<dir>/<name>/*.npy` + a CSV manifest `<dir>/<name>.csv` and appends
/// UCF-style annotation lines (`name Category s e -1 -1`, frames, end inclusive) to `ann`.
pub fn write_split(dir: &std::path::Path, name: &str, videos: &[SynthVideo], ann: &mut String) -> std::path::PathBuf {
    let fdir = dir.join(name);
    std::fs::create_dir_all(&fdir).unwrap();
    use std::fmt::Write as _;
    let mut csv = String::from("path,category\n");
    for v in videos {
        let p = fdir.join(format!("{}.npy", v.name));
        refinevad::io::npy::write_f32(&p, &[v.t, D_A + D_B], &v.data).unwrap();
        let cat = v.category.map(|c| CATEGORIES[c]).unwrap_or("Normal");
        writeln!(csv, "{},{cat}", p.display()).unwrap();
        let (s, e) = v.event.map(|(a, b)| (16 * a as i64, 16 * b as i64 - 1)).unwrap_or((-1, -1));
        writeln!(ann, "{} {cat} {s} {e} -1 -1", v.name).unwrap();
    }
    let list = dir.join(format!("{name}.csv"));
    std::fs::write(&list, csv).unwrap();
    list
}
