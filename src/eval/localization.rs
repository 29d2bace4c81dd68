//! Category-aware temporal localisation mAP at IoU 0.1…0.5, after VadCLIP's
//! `ucf_detectionMAP.py` (also used by Ex-VAD), adapted to a head that gives one
//! class-agnostic score curve plus one video-level category distribution:
//!
//! 1. **Proposals** per video (segment level): θ = max − 0.6·(max − min) of the score curve
//!    (VadCLIP's single relative threshold, `thr_set = [0.6]`); every maximal run of
//!    segments with score > θ is one proposal, frames `[a·sf, min(b·sf, L))`. A flat curve
//!    gives none. Runs are disjoint, so VadCLIP's NMS is a no-op and is omitted.
//! 2. **Label** = argmax of the video's `category_probs`; **confidence** = mean segment
//!    score inside the run (VadCLIP uses max + 0.7·class score of its per-frame class
//!    curves, which this head does not have).
//! 3. **Ground truth**: every annotated interval of an anomalous video with a known
//!    category, clipped to the evaluated frames. Proposals on normal videos are false
//!    positives (VadCLIP's default `excludeNormal=False`, all test videos).
//! 4. **AP per category**: proposals of that label sorted by confidence (descending, stable
//!    in video order); each matches the unmatched same-video ground-truth interval of that
//!    category with the highest IoU ≥ threshold (true positive) or is a false positive;
//!    AP = Σ precision at each true positive / #ground-truth intervals (VadCLIP's
//!    non-interpolated AP). IoU is on frame index ranges.
//! 5. **mAP** = mean AP over the categories that have ground truth (VadCLIP also averages a
//!    "Normal" class whose AP is always 0; it is left out here), in percent.

/// Relative threshold of VadCLIP's proposal step.
pub const PROPOSAL_THRESHOLD: f64 = 0.6;
/// IoU thresholds reported.
pub const IOU_THRESHOLDS: [f64; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];

/// One video's input to the localisation metric.
pub struct LocVideo<'a> {
    pub scores: &'a [f32],
    pub snippet_frames: usize,
    /// Evaluated frames L.
    pub frames: u64,
    /// Predicted category (None: no proposals from this video).
    pub predicted: Option<&'a str>,
    /// Ground truth `(category, [start, end))`.
    pub truth: Vec<(&'a str, (u64, u64))>,
}

/// A detected interval `[start, end)` in frames with its confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub start: u64,
    pub end: u64,
    pub confidence: f64,
}

/// Step 1 of the module docs.
pub fn proposals(scores: &[f32], snippet_frames: usize, frames: u64) -> Vec<Proposal> {
    let (mx, mn) = scores.iter().fold((f64::MIN, f64::MAX), |(a, b), &s| (a.max(s as f64), b.min(s as f64)));
    let theta = mx - (mx - mn) * PROPOSAL_THRESHOLD;
    let mut out = Vec::new();
    let mut t = 0;
    while t < scores.len() {
        if (scores[t] as f64) <= theta {
            t += 1;
            continue;
        }
        let a = t;
        while t < scores.len() && (scores[t] as f64) > theta {
            t += 1;
        }
        let (start, end) = ((a * snippet_frames) as u64, ((t * snippet_frames) as u64).min(frames));
        if start < end {
            let confidence = scores[a..t].iter().map(|&s| s as f64).sum::<f64>() / (t - a) as f64;
            out.push(Proposal { start, end, confidence });
        }
    }
    out
}

fn iou(a: (u64, u64), b: (u64, u64)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = (a.1 - a.0) + (b.1 - b.0) - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// mAP (percent) at each threshold in [`IOU_THRESHOLDS`]; empty when no video has
/// ground truth with a known category or no video has a predicted category.
pub fn detection_map(videos: &[LocVideo]) -> Vec<(f64, f64)> {
    let mut cats: Vec<&str> = videos.iter().flat_map(|v| v.truth.iter().map(|t| t.0)).collect();
    cats.sort_unstable();
    cats.dedup();
    if cats.is_empty() || videos.iter().all(|v| v.predicted.is_none()) {
        return Vec::new();
    }
    let props: Vec<Vec<Proposal>> = videos
        .iter()
        .map(|v| if v.predicted.is_some() { proposals(v.scores, v.snippet_frames, v.frames) } else { Vec::new() })
        .collect();
    IOU_THRESHOLDS
        .iter()
        .map(|&th| {
            let aps: Vec<f64> = cats.iter().map(|c| category_ap(videos, &props, c, th)).collect();
            (th, 100.0 * aps.iter().sum::<f64>() / aps.len() as f64)
        })
        .collect()
}

fn category_ap(videos: &[LocVideo], props: &[Vec<Proposal>], cat: &str, th: f64) -> f64 {
    let mut preds: Vec<(usize, Proposal)> = videos
        .iter()
        .enumerate()
        .filter(|(_, v)| v.predicted == Some(cat))
        .flat_map(|(i, _)| props[i].iter().map(move |p| (i, *p)))
        .collect();
    preds.sort_by(|a, b| b.1.confidence.total_cmp(&a.1.confidence));
    let mut gt: Vec<(usize, (u64, u64), bool)> = videos
        .iter()
        .enumerate()
        .flat_map(|(i, v)| v.truth.iter().filter(|t| t.0 == cat).map(move |t| (i, t.1, false)))
        .collect();
    let n_gt = gt.len();
    if n_gt == 0 {
        return 0.0;
    }
    let (mut tp, mut fp, mut sum) = (0usize, 0usize, 0f64);
    for (vi, p) in preds {
        let mut best: Option<(usize, f64)> = None;
        for (j, g) in gt.iter().enumerate() {
            if g.0 != vi || g.2 {
                continue;
            }
            let o = iou((p.start, p.end), g.1);
            if o >= th && best.is_none_or(|(_, b)| o > b) {
                best = Some((j, o));
            }
        }
        if let Some((j, _)) = best {
            gt[j].2 = true;
            tp += 1;
            sum += tp as f64 / (tp + fp) as f64;
        } else {
            fp += 1;
        }
    }
    sum / n_gt as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_follow_relative_threshold() {
        // max 1, min 0 → θ = 0.4; runs [1,3) and [4,5).
        let s = [0.0, 0.9, 1.0, 0.2, 0.5, 0.1];
        let p = proposals(&s, 16, 90);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].start, p[0].end), (16, 48));
        assert!((p[0].confidence - 0.95).abs() < 1e-6);
        assert_eq!((p[1].start, p[1].end), (64, 80));
        assert!(proposals(&[0.3; 4], 16, 64).is_empty(), "flat curve");
        assert_eq!(proposals(&[0.0, 1.0], 16, 20)[0].end, 20, "clipped to L");
    }

    #[test]
    fn map_by_hand() {
        // Video 0 (Fire): GT [16,48); proposal [16,48) → TP at every IoU.
        // Video 1 (Fire): GT [0,32); proposal [0,16), IoU 0.5 → TP up to 0.5.
        // Video 2 normal, predicted Fire: one proposal → FP, ranked last.
        let v0 = [0.0, 1.0, 1.0, 0.0];
        let v1 = [1.0, 0.0, 0.0, 0.0];
        let v2 = [0.0, 0.0, 0.8, 0.0];
        let vids = [
            LocVideo {
                scores: &v0,
                snippet_frames: 16,
                frames: 64,
                predicted: Some("Fire"),
                truth: vec![("Fire", (16, 48))],
            },
            LocVideo {
                scores: &v1,
                snippet_frames: 16,
                frames: 64,
                predicted: Some("Fire"),
                truth: vec![("Fire", (0, 32))],
            },
            LocVideo { scores: &v2, snippet_frames: 16, frames: 64, predicted: Some("Fire"), truth: vec![] },
        ];
        let m = detection_map(&vids);
        // Ranking: v0 (1.0), v1 (1.0), v2 (0.8). At IoU ≤ 0.5 both GT found: AP = (1 + 1)/2.
        assert_eq!(m[0], (0.1, 100.0));
        assert_eq!(m[4], (0.5, 100.0));
        // Swap: the normal video's proposal ranks first → AP = (1/2 + 2/3)/2.
        let v2 = [0.0, 0.0, 1.5, 0.0];
        let vids = [LocVideo { scores: &v2, ..vids[2].clone_ref() }, vids[0].clone_ref(), vids[1].clone_ref()];
        let m = detection_map(&vids);
        assert!((m[0].1 - 100.0 * (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
    }

    impl<'a> LocVideo<'a> {
        fn clone_ref(&self) -> LocVideo<'a> {
            LocVideo {
                scores: self.scores,
                snippet_frames: self.snippet_frames,
                frames: self.frames,
                predicted: self.predicted,
                truth: self.truth.clone(),
            }
        }
    }
}
