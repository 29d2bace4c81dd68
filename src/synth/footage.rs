//! Base footage decoded once into memory (through the project's GStreamer source stage)
//! at a working size a little larger than the output, so crops stay sharp.
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::plan::ClipInfo;
use super::SynthError;
use crate::runtime::channel::{bounded, ChannelConfig};
use crate::source::{run_source, SourceConfig, SourceMsg};

/// Extensions taken from footage folders.
const VIDEO_EXTS: &[&str] = &["avi", "mp4", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "ts", "flv", "wmv", "ogv"];

/// The clips used when `--footage` is not given (those present).
pub const DEFAULT_FOOTAGE: &[&str] =
    &["data/samples/vtest.avi", "data/samples/box.mp4", "data/samples/cup.mp4", "data/samples/tree.avi"];

/// Expands files and folders (recursively, sorted) into footage files.
pub fn expand_footage(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, SynthError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| SynthError::Io { path: p.clone(), source: e })?;
            found.sort();
            if found.is_empty() {
                return Err(SynthError::Args(format!("{}: no video files in this folder", p.display())));
            }
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(SynthError::Args(format!("{}: footage not found", p.display())));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// A decoded clip: frames at `width`×`height` with their source times.
#[derive(Debug, Clone)]
pub struct Clip {
    pub file: String,
    pub width: u32,
    pub height: u32,
    /// Source time (seconds from the first frame) of each kept frame, increasing.
    pub times: Vec<f64>,
    /// Packed RGB frames, parallel to `times`.
    pub frames: Vec<Arc<Vec<u8>>>,
}

impl Clip {
    /// The two frames around source time `t` and the blend weight of the second.
    /// Sparse clips (AVIs with repeat chunks: tree.avi has 68 frames over 30 s) cross-fade
    /// between their real frames instead of freezing, which would look like a fault.
    pub fn at(&self, t: f64) -> (usize, usize, f32) {
        let n = self.times.len();
        let i = self.times.partition_point(|&x| x <= t);
        if i == 0 {
            return (0, 0, 0.0);
        }
        if i >= n {
            return (n - 1, n - 1, 0.0);
        }
        let (a, b) = (self.times[i - 1], self.times[i]);
        let w = ((t - a) / (b - a).max(1e-9)) as f32;
        if w < 0.02 {
            (i - 1, i - 1, 0.0)
        } else if w > 0.98 {
            (i, i, 0.0)
        } else {
            (i - 1, i, w)
        }
    }
}

/// Decodes `file` at `size`, keeping frames whose time falls in `keep` (seconds, with
/// one frame of margin either side). Returns the clip and its info.
pub fn decode(file: &str, size: (u32, u32), keep: Option<(f64, f64)>) -> Result<(Clip, ClipInfo), SynthError> {
    let cfg = SourceConfig { live: Some(false), ..SourceConfig::new("synth", file.to_owned()) };
    let stream: Arc<str> = Arc::from("synth");
    let (tx, rx) = bounded::<SourceMsg>("synth_footage", &ChannelConfig::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let worker = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            let r = run_source(&cfg, &stream, size, &tx, &cancel);
            drop(tx);
            r
        })
    };
    let mut fps = 0.0;
    let mut native = [size.0, size.1];
    let mut raw: Vec<(f64, Option<Vec<u8>>)> = Vec::new();
    let mut first_pts: Option<u64> = None;
    for msg in rx.iter() {
        match msg {
            SourceMsg::Started(info) => {
                fps = info.fps;
                native = [info.source_width.unwrap_or(info.width), info.source_height.unwrap_or(info.height)];
            }
            SourceMsg::Frame(f) => {
                let fallback = f.index as f64 / if fps > 0.0 { fps } else { 25.0 };
                let t = match f.pts_ns {
                    Some(p) => (p - *first_pts.get_or_insert(p)) as f64 / 1e9,
                    None => fallback,
                };
                let keep_it = keep.is_none_or(|(a, b)| t >= a - 2.0 && t <= b + 2.0);
                raw.push((t, keep_it.then_some(f.rgb)));
            }
            SourceMsg::End { .. } => break,
            SourceMsg::Down { .. } | SourceMsg::Up { .. } => {}
        }
    }
    let n = worker
        .join()
        .map_err(|_| SynthError::Footage { file: file.into(), detail: "decoder thread panicked".into() })?
        .map_err(|source| SynthError::Decode { source })?;
    if raw.is_empty() {
        return Err(SynthError::Footage { file: file.into(), detail: "no frames decoded".into() });
    }
    // Keep times strictly increasing (a few containers repeat timestamps).
    let mut last = f64::NEG_INFINITY;
    for (t, _) in raw.iter_mut() {
        if *t <= last {
            *t = last + 1e-6;
        }
        last = *t;
    }
    let frame_dur = if fps > 0.0 { 1.0 / fps } else { 0.04 };
    let duration_s = raw.last().map_or(0.0, |(t, _)| t + frame_dur);
    let info = ClipInfo {
        file: file.to_owned(),
        native_size: native,
        work_size: [size.0, size.1],
        fps: if fps > 0.0 { fps } else { 25.0 },
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        frames: n,
    };
    let (times, frames) =
        raw.into_iter().filter_map(|(t, f)| f.map(|f| (t, Arc::new(f)))).unzip::<_, _, Vec<_>, Vec<_>>();
    Ok((Clip { file: file.to_owned(), width: size.0, height: size.1, times, frames }, info))
}

/// Learns a clip's native size, frame rate and duration (one decode at a tiny size, no
/// frames kept) and picks its working size for output `out`.
pub fn probe(file: &str, out: (u32, u32)) -> Result<ClipInfo, SynthError> {
    let (_, mut info) = decode(file, (64, 48), Some((-10.0, -10.0)))?;
    info.work_size = work_size(info.native_size, out);
    Ok(info)
}

/// Working size: large enough that the smallest crop (65 % of the largest output-aspect
/// window) is still ≥ the output resolution, never larger than the source; even sizes.
pub fn work_size(native: [u32; 2], out: (u32, u32)) -> [u32; 2] {
    let (nw, nh) = (native[0] as f64, native[1] as f64);
    let aspect = out.0 as f64 / out.1 as f64;
    let (max_w, max_h) = if nw / nh > aspect { (nh * aspect, nh) } else { (nw, nw / aspect) };
    let f = (out.0 as f64 / (super::plan::MIN_CROP * max_w)).max(out.1 as f64 / (super::plan::MIN_CROP * max_h));
    let f = f.min(1.0);
    let even = |x: f64| (((x * f) / 2.0).round() as u32 * 2).max(2);
    [even(nw), even(nh)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_size_keeps_aspect_and_never_upscales() {
        assert_eq!(work_size([768, 576], (320, 240)), [492, 370]);
        assert_eq!(work_size([320, 240], (320, 240)), [320, 240]);
        let [w, h] = work_size([1920, 1080], (320, 240));
        assert!((w as f64 / h as f64 - 16.0 / 9.0).abs() < 0.02 && h >= 369, "{w}x{h}");
    }

    #[test]
    fn sparse_clips_blend_between_real_frames() {
        let f = Arc::new(vec![0u8; 3]);
        let c = Clip {
            file: "x".into(),
            width: 1,
            height: 1,
            times: vec![0.0, 0.5, 1.0],
            frames: vec![f.clone(), f.clone(), f],
        };
        assert_eq!(c.at(0.0), (0, 0, 0.0));
        let (a, b, w) = c.at(0.25);
        assert_eq!((a, b), (0, 1));
        assert!((w - 0.5).abs() < 1e-6);
        assert_eq!(c.at(5.0), (2, 2, 0.0));
    }
}
