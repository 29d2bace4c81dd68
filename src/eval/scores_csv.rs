//! The `*.scores.csv` contract (DESIGN §6): header
//! `segment,frame_start,frame_end,time_start,time_end,score` then one `p_<Category>` column
//! per category; `frame_end` exclusive; frames 0-based at the source frame rate; times in
//! seconds (3 decimals), empty when the frame rate is unknown. Scores and probabilities are
//! written in Rust's shortest round-trip form, so reading gives back the same `f32`s.
use std::fmt::Write as _;
use std::path::Path;

use super::{EvalError, VideoPrediction};
use crate::dataset::names;
use crate::io::atomic::write_atomic;

/// The fixed leading columns.
pub const FIXED_COLUMNS: [&str; 6] = ["segment", "frame_start", "frame_end", "time_start", "time_end", "score"];

/// One row of a score file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub segment: usize,
    pub frame_start: u64,
    pub frame_end: u64,
    pub time_start: Option<f64>,
    pub time_end: Option<f64>,
    pub score: f32,
    /// One value per category of the file.
    pub probs: Vec<f32>,
}

/// A whole score file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoresFile {
    pub categories: Vec<String>,
    pub rows: Vec<ScoreRow>,
}

/// Writes rows atomically (stages that stream per-window probabilities use this).
pub fn write_scores_file(path: &Path, file: &ScoresFile) -> Result<(), EvalError> {
    let mut s = FIXED_COLUMNS.join(",");
    for c in &file.categories {
        let _ = write!(s, ",p_{c}");
    }
    s.push('\n');
    let time = |t: Option<f64>| t.map(|t| format!("{t:.3}")).unwrap_or_default();
    for r in &file.rows {
        let _ = write!(
            s,
            "{},{},{},{},{},{}",
            r.segment,
            r.frame_start,
            r.frame_end,
            time(r.time_start),
            time(r.time_end),
            r.score
        );
        for p in &r.probs {
            let _ = write!(s, ",{p}");
        }
        s.push('\n');
    }
    write_atomic(path, s.as_bytes()).map_err(|e| EvalError::io(path, e))
}

/// Writes a video's prediction: segment `i` spans `[i·sf, min((i+1)·sf, n_frames))`; the
/// video-level `category_probs` are repeated on every row; `fps ≤ 0` = unknown (empty times).
pub fn write_scores_csv(path: &Path, pred: &VideoPrediction, fps: f64) -> Result<(), EvalError> {
    let sf = pred.snippet_frames as u64;
    let covered = pred.scores.len() as u64 * sf;
    // Frames past the last segment are unscored; the file ends at the last segment.
    let end = pred.n_frames.unwrap_or(covered).min(covered);
    if sf == 0 || end + sf <= covered {
        return Err(EvalError::Prediction {
            video: pred.name.clone(),
            reason: format!("{} segments of {sf} frames do not cover n_frames={end}", pred.scores.len()),
        });
    }
    let probs = pred.category_probs.clone().unwrap_or_default();
    let categories = if probs.is_empty() { Vec::new() } else { pred.categories.clone() };
    let t = |f: u64| (fps > 0.0).then(|| f as f64 / fps);
    let rows = pred
        .scores
        .iter()
        .enumerate()
        .map(|(i, &score)| {
            let (a, b) = (i as u64 * sf, ((i as u64 + 1) * sf).min(end));
            ScoreRow {
                segment: i,
                frame_start: a,
                frame_end: b,
                time_start: t(a),
                time_end: t(b),
                score,
                probs: probs.clone(),
            }
        })
        .collect();
    write_scores_file(path, &ScoresFile { categories, rows })
}

/// Reads a score file, checking the header and every field.
pub fn read_scores_file(path: &Path) -> Result<ScoresFile, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let err = |line: usize, reason: String| EvalError::ScoresCsv { path: path.to_owned(), line, reason };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let cols: Vec<&str> = header.trim().split(',').map(str::trim).collect();
    if cols.len() < 6 || cols[..6] != FIXED_COLUMNS {
        return Err(err(1, format!("header must start with {}", FIXED_COLUMNS.join(","))));
    }
    let categories = cols[6..]
        .iter()
        .map(|c| c.strip_prefix("p_").filter(|c| !c.is_empty()).map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| err(1, "columns after `score` must be p_<Category>".into()))?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(err(i + 1, format!("{} fields, header has {}", f.len(), cols.len())));
        }
        let num = |k: usize| {
            f[k].parse::<u64>().map_err(|_| err(i + 1, format!("{}: {:?} is not a whole number", cols[k], f[k])))
        };
        let time = |k: usize| match f[k] {
            "" => Ok(None),
            s => s.parse::<f64>().map(Some).map_err(|_| err(i + 1, format!("{}: {s:?} is not a number", cols[k]))),
        };
        let real = |k: usize| match f[k].parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(err(i + 1, format!("{}: {:?} is not a finite number", cols[k], f[k]))),
        };
        let row = ScoreRow {
            segment: num(0)? as usize,
            frame_start: num(1)?,
            frame_end: num(2)?,
            time_start: time(3)?,
            time_end: time(4)?,
            score: real(5)?,
            probs: (6..cols.len()).map(real).collect::<Result<_, _>>()?,
        };
        if row.frame_end <= row.frame_start {
            return Err(err(i + 1, format!("frame_end {} not after frame_start {}", row.frame_end, row.frame_start)));
        }
        rows.push(row);
    }
    Ok(ScoresFile { categories, rows })
}

/// Reads a score file as a prediction for evaluation. Rows must be consecutive segments
/// from frame 0 of equal length (the last may be shorter); n_frames = last `frame_end`;
/// `category_probs` = mean of the rows' probabilities; name = file name without
/// `.scores.csv`.
pub fn read_scores_csv(path: &Path) -> Result<VideoPrediction, EvalError> {
    let file = read_scores_file(path)?;
    let err = |line: usize, reason: String| EvalError::ScoresCsv { path: path.to_owned(), line, reason };
    let first = file.rows.first().ok_or_else(|| err(2, "no rows".into()))?;
    let sf = first.frame_end - first.frame_start;
    let mut expect = 0u64;
    for (i, r) in file.rows.iter().enumerate() {
        let len = r.frame_end - r.frame_start;
        let last = i + 1 == file.rows.len();
        if r.segment != i || r.frame_start != expect || len > sf || (!last && len != sf) {
            let (seg, a, b) = (r.segment, r.frame_start, r.frame_end);
            let why = format!("row {i} (segment {seg}, frames {a}..{b}) breaks the layout of consecutive {sf}-frame segments from frame 0");
            return Err(err(i + 2, why));
        }
        expect = r.frame_end;
    }
    let category_probs = (!file.categories.is_empty()).then(|| {
        // f64 sums make the mean of identical rows exactly that row.
        let n = file.rows.len() as f64;
        (0..file.categories.len())
            .map(|c| (file.rows.iter().map(|r| r.probs[c] as f64).sum::<f64>() / n) as f32)
            .collect()
    });
    Ok(VideoPrediction {
        name: names::video_id(&path.to_string_lossy()),
        scores: file.rows.iter().map(|r| r.score).collect(),
        snippet_frames: sf as usize,
        n_frames: Some(expect),
        category_probs,
        categories: file.categories,
        true_category: None,
    })
}
