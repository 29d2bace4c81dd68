//! Reads the `.npy` file(s) of one video into a T×D matrix: crop handling, shape and
//! finiteness checks, and the optional `refinevad extract` sidecar.
use std::path::{Path, PathBuf};

use crate::features::layout::FeatureFileMeta;
use crate::io::npy::read_f32;

use super::{CropMode, DatasetError};

/// Default frames per snippet for feature files without a sidecar (I3D/C3D/CLIP
/// convention of the UCF-Crime and XD-Violence feature releases).
pub const DEFAULT_SNIPPET_FRAMES: usize = 16;

/// One video's matrix and what its sidecar said.
pub struct Loaded {
    pub t: usize,
    pub d: usize,
    pub data: Vec<f32>,
    pub meta: Option<FeatureFileMeta>,
}

/// Loads a video from its files: one `[T,D]` or `[T,C,D]` file, or several crop files
/// (`(crop index, path)`, one `[T,D]` each). Crops are averaged ([`CropMode::Mean`]) or
/// one is picked ([`CropMode::Index`]; a file without crops is used as is).
pub fn load_video(video: &str, files: &[(Option<usize>, PathBuf)], mode: &CropMode) -> Result<Loaded, DatasetError> {
    let selected: Vec<&(Option<usize>, PathBuf)> = match mode {
        CropMode::Index(k) if files.len() > 1 || files[0].0.is_some() => {
            let f = files.iter().find(|(c, _)| *c == Some(*k)).ok_or_else(|| DatasetError::CropMissing {
                video: video.to_owned(),
                crop: *k,
                available: files.iter().filter_map(|(c, _)| *c).collect(),
                first: files[0].1.clone(),
            })?;
            vec![f]
        }
        _ => files.iter().collect(),
    };
    let mut acc: Option<(usize, usize, Vec<f32>, &Path)> = None;
    let mut n = 0usize;
    let mut meta = None;
    for (_, path) in &selected {
        let (t, d, data) = read_matrix(path, mode)?;
        if selected.len() == 1 {
            meta = read_sidecar(path, t, d)?;
        }
        match &mut acc {
            None => acc = Some((t, d, data, path)),
            Some((t0, d0, sum, first)) => {
                if t != *t0 {
                    return Err(DatasetError::CropLength {
                        path: path.clone(),
                        t,
                        expected: *t0,
                        other: first.to_path_buf(),
                    });
                }
                if d != *d0 {
                    return Err(DatasetError::Width {
                        path: path.clone(),
                        d,
                        expected: *d0,
                        first: first.to_path_buf(),
                    });
                }
                sum.iter_mut().zip(&data).for_each(|(s, v)| *s += v);
            }
        }
        n += 1;
    }
    let (t, d, mut data, _) = acc.expect("at least one file per video");
    if n > 1 {
        let inv = 1.0 / n as f32;
        data.iter_mut().for_each(|v| *v *= inv);
    }
    Ok(Loaded { t, d, data, meta })
}

/// Reads one file as `[T,D]`, reducing a `[T,C,D]` crop axis per `mode`; rejects
/// non-finite values naming the first bad row.
fn read_matrix(path: &Path, mode: &CropMode) -> Result<(usize, usize, Vec<f32>), DatasetError> {
    let arr = read_f32(path)?;
    let shape_err = |reason: String| DatasetError::Shape { path: path.to_owned(), reason };
    let (t, c, d) = match arr.shape[..] {
        [t, d] => (t, 1, d),
        [t, c, d] => (t, c, d),
        _ => return Err(shape_err(format!("shape {:?}; expected [T, D] or [T, crops, D]", arr.shape))),
    };
    if t == 0 || d == 0 || c == 0 {
        return Err(shape_err(format!("shape {:?} has no segments or no features", arr.shape)));
    }
    if let Some(i) = arr.data.iter().position(|v| !v.is_finite()) {
        let (row, crop, col) = (i / (c * d), (arr.shape.len() == 3).then_some(i / d % c), i % d);
        return Err(DatasetError::NonFinite { path: path.to_owned(), row, crop, col, value: arr.data[i] });
    }
    if arr.shape.len() == 2 {
        return Ok((t, d, arr.data));
    }
    let data = match mode {
        CropMode::Index(k) if *k >= c => {
            return Err(shape_err(format!("crop {k} requested but the file has {c} crops (shape {:?})", arr.shape)))
        }
        CropMode::Index(k) => {
            (0..t).flat_map(|r| arr.data[(r * c + k) * d..(r * c + k + 1) * d].iter().copied()).collect()
        }
        CropMode::Mean => {
            let mut out = vec![0f32; t * d];
            for r in 0..t {
                for k in 0..c {
                    let row = &arr.data[(r * c + k) * d..(r * c + k + 1) * d];
                    out[r * d..(r + 1) * d].iter_mut().zip(row).for_each(|(o, v)| *o += v);
                }
            }
            let inv = 1.0 / c as f32;
            out.iter_mut().for_each(|v| *v *= inv);
            out
        }
    };
    Ok((t, d, data))
}

/// Reads `<stem>.json` beside `<stem>.npy` if present and checks it against the matrix.
fn read_sidecar(npy: &Path, t: usize, d: usize) -> Result<Option<FeatureFileMeta>, DatasetError> {
    let json = npy.with_extension("json");
    let text = match std::fs::read_to_string(&json) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DatasetError::io(json, e)),
    };
    let meta: FeatureFileMeta =
        serde_json::from_str(&text).map_err(|source| DatasetError::Sidecar { path: json.clone(), source })?;
    let mismatch = |reason: String| DatasetError::SidecarMismatch { path: json.clone(), reason };
    if meta.n_segments != t {
        return Err(mismatch(format!("n_segments {} but {} has {t} rows", meta.n_segments, npy.display())));
    }
    if meta.layout.width() != d {
        return Err(mismatch(format!(
            "layout {} has width {} but {} has D={d}",
            meta.layout.describe(),
            meta.layout.width(),
            npy.display()
        )));
    }
    if meta.snippet_frames == 0 {
        return Err(mismatch("snippet_frames is 0".into()));
    }
    Ok(Some(meta))
}
