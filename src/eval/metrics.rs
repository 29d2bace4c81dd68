//! Ranking metrics equivalent to scikit-learn's `roc_auc_score` and
//! `average_precision_score` (binary), including their tie handling: scores are grouped
//! by distinct value and each group is one threshold. Checked against sklearn reference
//! values in `tests/eval_metrics.rs`.

/// Counts per distinct score, highest score first: (positives, negatives) of each group.
fn threshold_groups(labels: &[bool], scores: &[f32]) -> Vec<(u64, u64)> {
    assert_eq!(labels.len(), scores.len(), "labels and scores differ in length");
    let mut idx: Vec<u32> = (0..scores.len() as u32).collect();
    idx.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    let mut groups: Vec<(u64, u64)> = Vec::new();
    let mut last: Option<f32> = None;
    for &i in &idx {
        let (s, y) = (scores[i as usize], labels[i as usize]);
        // `==` (not bit equality) so that 0.0 and -0.0 tie, as in numpy.
        if last != Some(s) || groups.is_empty() {
            groups.push((0, 0));
            last = Some(s);
        }
        let g = groups.last_mut().expect("pushed");
        if y {
            g.0 += 1
        } else {
            g.1 += 1
        }
    }
    groups
}

/// Area under the ROC curve (trapezoidal over distinct thresholds, = sklearn). NaN when
/// `labels` holds a single class (sklearn 1.9 warns and returns NaN; older versions
/// raise); callers turn NaN into an error or "not available".
pub fn roc_auc(labels: &[bool], scores: &[f32]) -> f64 {
    let groups = threshold_groups(labels, scores);
    let (p, n) = groups.iter().fold((0u64, 0u64), |(p, n), g| (p + g.0, n + g.1));
    if p == 0 || n == 0 {
        return f64::NAN;
    }
    let (mut tp, mut fp, mut area) = (0u64, 0u64, 0f64);
    for (gp, gn) in groups {
        let (tp0, fp0) = (tp, fp);
        tp += gp;
        fp += gn;
        area += (fp - fp0) as f64 * (tp + tp0) as f64 / 2.0;
    }
    area / (p as f64 * n as f64)
}

/// Average precision Σₙ (Rₙ − Rₙ₋₁)·Pₙ over distinct thresholds, highest first (= sklearn,
/// no interpolation). Edge cases as sklearn 1.9: no positives → 0.0 (sklearn warns),
/// all positives → 1.0; [`super::evaluate`] refuses one-class test sets before this.
pub fn average_precision(labels: &[bool], scores: &[f32]) -> f64 {
    let groups = threshold_groups(labels, scores);
    let p: u64 = groups.iter().map(|g| g.0).sum();
    if p == 0 {
        return 0.0;
    }
    let (mut tp, mut fp, mut ap) = (0u64, 0u64, 0f64);
    for (gp, gn) in groups {
        tp += gp;
        fp += gn;
        if gp > 0 {
            ap += (gp as f64 / p as f64) * (tp as f64 / (tp + fp) as f64);
        }
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_by_hand() {
        let y = [false, false, true, true];
        let s = [0.1, 0.4, 0.35, 0.8];
        assert!((roc_auc(&y, &s) - 0.75).abs() < 1e-12);
        assert!((average_precision(&y, &s) - 0.833_333_333_333_333_4).abs() < 1e-12);
        // All tied: AUC 0.5, AP = prevalence.
        assert_eq!(roc_auc(&y, &[0.5; 4]), 0.5);
        assert_eq!(average_precision(&y, &[0.5; 4]), 0.5);
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).is_nan());
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), 0.0);
        assert_eq!(average_precision(&[true, true], &[0.1, 0.2]), 1.0);
    }
}
