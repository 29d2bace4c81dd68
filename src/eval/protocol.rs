//! The field's evaluation protocol over a test set.
//!
//! - **Frame expansion**: segment `i` covers frames `[i·sf, (i+1)·sf)`; its score is
//!   repeated over them. A video is evaluated on `L = min(n_frames, T·sf)` frames when
//!   `n_frames` is known, else `L = T·sf` (VadCLIP's `make_gt_*.py` likewise uses T·16
//!   frames). Frames past the last segment are never scored, so they are not evaluated.
//! - **Ground truth**: the video's annotation intervals, clipped to `L`. A video absent from
//!   the annotations is normal only if its name says so (XD `label_A`, UCF `Normal…`),
//!   because XD-Violence annotation files list abnormal videos only; otherwise an error.
//! - **Metrics** over all videos' frames concatenated: ROC-AUC and AP (sklearn-equivalent);
//!   AUC_A = ROC-AUC over the frames of anomalous videos only; FAR = fraction of normal
//!   videos' frames with score ≥ 0.5; CAT = top-1 accuracy of `category_probs` on anomalous
//!   videos with a known category; mAP@IoU per [`super::localization`]. Percent except FAR.
use serde::Serialize;

use super::localization::{detection_map, LocVideo};
use super::metrics::{average_precision, roc_auc};
use super::EvalError;
use crate::dataset::{names, Annotations};

/// FAR threshold on the anomaly score.
pub const FAR_THRESHOLD: f32 = 0.5;

/// A head's output for one test video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPrediction {
    /// Video id (matched to annotations with [`names::video_id`]).
    pub name: String,
    /// Anomaly score per segment.
    pub scores: Vec<f32>,
    pub snippet_frames: usize,
    pub n_frames: Option<u64>,
    /// Video-level distribution over `categories` (None: head without categories).
    pub category_probs: Option<Vec<f32>>,
    pub categories: Vec<String>,
    /// Fallback true category when the annotation entry carries none.
    pub true_category: Option<String>,
}

impl VideoPrediction {
    /// The head's prediction for a dataset video, with the video's own ground-truth fields.
    pub fn of_video(v: &crate::dataset::VideoFeatures, p: crate::model::Prediction) -> Self {
        VideoPrediction {
            name: v.name.clone(),
            scores: p.scores,
            snippet_frames: v.snippet_frames,
            n_frames: v.n_frames,
            category_probs: (!p.category_probs.is_empty()).then_some(p.category_probs),
            categories: p.categories,
            true_category: v.category.clone(),
        }
    }
}

impl VideoPrediction {
    /// Evaluated frames L (see the module docs).
    pub fn eval_frames(&self) -> u64 {
        let covered = (self.scores.len() * self.snippet_frames) as u64;
        self.n_frames.map_or(covered, |n| n.min(covered))
    }

    /// Category with the highest probability.
    pub fn predicted_category(&self) -> Option<&str> {
        let p = self.category_probs.as_ref()?;
        let (i, _) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
        self.categories.get(i).map(String::as_str)
    }

    /// Score of each evaluated frame.
    pub fn frame_scores(&self) -> impl Iterator<Item = f32> + '_ {
        (0..self.eval_frames()).map(move |f| self.scores[f as usize / self.snippet_frames])
    }
}

/// Per-video numbers in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct VideoMetrics {
    pub name: String,
    pub frames: u64,
    pub anomalous: bool,
    pub category: Option<String>,
    pub predicted_category: Option<String>,
    pub anomalous_frames: u64,
    pub max_score: f32,
    pub mean_score: f64,
    /// Frame ROC-AUC within the video (percent), when it has both classes.
    pub auc: Option<f64>,
}

/// Evaluation results. Percent for auc/ap/auc_abnormal/category_accuracy/mAP; FAR is a
/// fraction. Optional values are None when the test set cannot define them.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub auc: f64,
    pub ap: f64,
    pub auc_abnormal: Option<f64>,
    pub far: Option<f64>,
    pub category_accuracy: Option<f64>,
    /// (IoU threshold, mAP %) for IoU 0.1…0.5.
    pub map_iou: Vec<(f64, f64)>,
    pub map_avg: Option<f64>,
    pub n_videos: usize,
    pub n_abnormal_videos: usize,
    pub n_normal_videos: usize,
    pub n_frames: u64,
    pub n_anomalous_frames: u64,
    pub videos: Vec<VideoMetrics>,
}

impl Metrics {
    /// `AUC=… AP=… AUC_A=… FAR=… CAT=…` (percent with 2 decimals, FAR with 4; `n/a` when
    /// undefined).
    pub fn summary_line(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        format!(
            "AUC={:.2} AP={:.2} AUC_A={} FAR={} CAT={}",
            self.auc,
            self.ap,
            pct(self.auc_abnormal),
            self.far.map_or("n/a".to_owned(), |v| format!("{v:.4}")),
            pct(self.category_accuracy)
        )
    }
}

/// Ground truth of one video.
struct Truth {
    category: Option<String>,
    anomalous: bool,
    intervals: Vec<(u64, u64)>,
}

/// Ground truth of one prediction (see the module docs).
fn truth(p: &VideoPrediction, ann: &Annotations) -> Result<Truth, EvalError> {
    let id = names::video_id(&p.name);
    match ann.get(&id) {
        Some(a) => Ok(Truth {
            category: a.category.clone().or_else(|| if a.is_anomalous() { p.true_category.clone() } else { None }),
            anomalous: a.is_anomalous(),
            intervals: a.intervals.clone(),
        }),
        None if matches!(names::xd_category(&id), Some(Ok(None))) || matches!(names::ucf_category(&id), Some(None)) => {
            Ok(Truth { category: None, anomalous: false, intervals: Vec::new() })
        }
        None => Err(EvalError::MissingAnnotation { video: p.name.clone(), annotations: ann.path().to_owned() }),
    }
}

fn check(p: &VideoPrediction) -> Result<(), EvalError> {
    let bad = |reason: String| Err(EvalError::Prediction { video: p.name.clone(), reason });
    if p.scores.is_empty() {
        return bad("no segment scores".into());
    }
    if p.snippet_frames == 0 {
        return bad("snippet_frames is 0".into());
    }
    if let Some(i) = p.scores.iter().position(|s| !s.is_finite()) {
        return bad(format!("non-finite score {} at segment {i}", p.scores[i]));
    }
    if let Some(probs) = &p.category_probs {
        if probs.len() != p.categories.len() {
            return bad(format!("{} category probabilities for {} categories", probs.len(), p.categories.len()));
        }
    }
    Ok(())
}

/// Evaluates predictions against annotations with the protocol of the module docs.
pub fn evaluate(preds: &[VideoPrediction], ann: &Annotations) -> Result<Metrics, EvalError> {
    if preds.is_empty() {
        return Err(EvalError::Empty("no predictions".into()));
    }
    let mut seen = std::collections::HashSet::new();
    let (mut labels, mut scores, mut abnormal_mask) = (Vec::new(), Vec::new(), Vec::new());
    let (mut far_hits, mut far_total) = (0u64, 0u64);
    let (mut cat_ok, mut cat_n) = (0usize, 0usize);
    let mut videos = Vec::with_capacity(preds.len());
    let mut truths = Vec::with_capacity(preds.len());
    for p in preds {
        check(p)?;
        if !seen.insert(names::video_id(&p.name)) {
            return Err(EvalError::DuplicateVideo { video: p.name.clone() });
        }
        let Truth { category, anomalous, intervals } = truth(p, ann)?;
        let l = p.eval_frames();
        let intervals: Vec<(u64, u64)> =
            intervals.iter().map(|&(s, e)| (s.min(l), e.min(l))).filter(|(s, e)| s < e).collect();
        let start = labels.len();
        labels.resize(start + l as usize, false);
        for &(s, e) in &intervals {
            labels[start + s as usize..start + e as usize].iter_mut().for_each(|y| *y = true);
        }
        scores.extend(p.frame_scores());
        abnormal_mask.resize(labels.len(), anomalous);
        let (ys, ss) = (&labels[start..], &scores[start..]);
        if !anomalous {
            far_total += l;
            far_hits += ss.iter().filter(|&&s| s >= FAR_THRESHOLD).count() as u64;
        }
        let predicted = p.predicted_category().map(str::to_owned);
        if let (true, Some(c), Some(_)) = (anomalous, &category, &p.category_probs) {
            if !p.categories.contains(c) {
                return Err(EvalError::UnknownCategory {
                    annotations: ann.path().to_owned(),
                    video: p.name.clone(),
                    category: c.clone(),
                    known: p.categories.clone(),
                });
            }
            cat_n += 1;
            cat_ok += (predicted.as_ref() == Some(c)) as usize;
        }
        let auc = roc_auc(ys, ss);
        videos.push(VideoMetrics {
            name: p.name.clone(),
            frames: l,
            anomalous,
            category: category.clone(),
            predicted_category: predicted,
            anomalous_frames: ys.iter().filter(|&&y| y).count() as u64,
            max_score: p.scores.iter().copied().fold(f32::MIN, f32::max),
            mean_score: ss.iter().map(|&s| s as f64).sum::<f64>() / l.max(1) as f64,
            auc: (!auc.is_nan()).then_some(100.0 * auc),
        });
        truths.push((category, intervals));
    }
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 || positives == labels.len() {
        let class = if positives == 0 { "normal" } else { "anomalous" };
        return Err(EvalError::OneClass { what: "frame-level AUC", frames: labels.len(), class });
    }
    let (ya, sa): (Vec<bool>, Vec<f32>) =
        labels.iter().zip(&scores).zip(&abnormal_mask).filter(|(_, &m)| m).map(|((&y, &s), _)| (y, s)).unzip();
    let auc_a = roc_auc(&ya, &sa);
    let loc: Vec<LocVideo> = preds
        .iter()
        .zip(&truths)
        .map(|(p, (c, iv))| LocVideo {
            scores: &p.scores,
            snippet_frames: p.snippet_frames,
            frames: p.eval_frames(),
            predicted: p.predicted_category(),
            truth: c.as_deref().map(|c| iv.iter().map(|&i| (c, i)).collect()).unwrap_or_default(),
        })
        .collect();
    let map_iou = detection_map(&loc);
    Ok(Metrics {
        auc: 100.0 * roc_auc(&labels, &scores),
        ap: 100.0 * average_precision(&labels, &scores),
        auc_abnormal: (!auc_a.is_nan()).then_some(100.0 * auc_a),
        far: (far_total > 0).then(|| far_hits as f64 / far_total as f64),
        category_accuracy: (cat_n > 0).then(|| 100.0 * cat_ok as f64 / cat_n as f64),
        map_avg: (!map_iou.is_empty()).then(|| map_iou.iter().map(|m| m.1).sum::<f64>() / map_iou.len() as f64),
        map_iou,
        n_videos: preds.len(),
        n_abnormal_videos: videos.iter().filter(|v| v.anomalous).count(),
        n_normal_videos: videos.iter().filter(|v| !v.anomalous).count(),
        n_frames: labels.len() as u64,
        n_anomalous_frames: positives as u64,
        videos,
    })
}
