//! The feature writer: collects each stream's segments (they may arrive out of order
//! from the worker pool), and once the stream has ended and all its segments are in,
//! writes `<out>/<id>.npy` ([T, D] float32) and `<out>/<id>.json` atomically.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::features::layout::{FeatureFileMeta, FeatureLayout};
use crate::features::{FeatureMsg, SegmentFeatures};
use crate::runtime::channel::Rx;
use crate::source::StreamInfo;
use crate::telemetry::events::{OutputWritten, StreamFailed, StreamFinished};

/// Result for one input.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOutcome {
    Written { id: String, npy: PathBuf, segments: usize, frames: u64, fps: f64 },
    Failed { id: String, kind: &'static str, cause: String },
}

#[derive(Default)]
struct Pending {
    info: Option<StreamInfo>,
    segments: BTreeMap<usize, SegmentFeatures>,
    end: Option<(u64, usize)>,
    failed: Option<String>,
}

pub struct FeatureWriter {
    pub out_dir: PathBuf,
    pub layout: FeatureLayout,
    pub snippet_frames: usize,
    pub image_frames: usize,
    pub models: BTreeMap<String, String>,
    /// Stream id → the input as given, for the sidecar.
    pub sources: HashMap<String, String>,
}

impl FeatureWriter {
    /// Consumes the feature channel until it closes; calls `report` per finished stream.
    pub fn run(&self, input: Rx<FeatureMsg>, mut report: impl FnMut(StreamOutcome)) {
        let mut pending: HashMap<Arc<str>, Pending> = HashMap::new();
        // Streams already reported: late segments of a failed stream are ignored.
        let mut closed: HashSet<Arc<str>> = HashSet::new();
        for msg in input.iter() {
            let stream = msg.stream().clone();
            if closed.contains(&stream) {
                continue;
            }
            let p = pending.entry(stream.clone()).or_default();
            match msg {
                FeatureMsg::Started(info) => p.info = Some(info),
                FeatureMsg::Segment(s) => {
                    p.segments.insert(s.index, s);
                }
                FeatureMsg::Failed { error, .. } => p.failed = Some(error),
                // Features do not depend on the stream's clock: an outage changes nothing here.
                FeatureMsg::Down(_) | FeatureMsg::Up(_) => {}
                FeatureMsg::End { frames, snippets, result, .. } => match result {
                    Ok(()) => p.end = Some((frames, snippets)),
                    Err(e) => {
                        pending.remove(&stream);
                        closed.insert(stream.clone());
                        StreamFailed { stream: &stream, kind: e.kind(), cause: &e.to_string() }.emit();
                        report(StreamOutcome::Failed { id: stream.to_string(), kind: e.kind(), cause: e.to_string() });
                        continue;
                    }
                },
            }
            let p = pending.get(&stream).expect("entry exists");
            let complete = matches!(p.end, Some((_, n)) if p.segments.len() == n);
            if complete || (p.failed.is_some() && p.end.is_some()) {
                let p = pending.remove(&stream).expect("entry exists");
                closed.insert(stream.clone());
                report(self.finish(&stream, p));
            }
        }
        // Channel closed: anything still pending never completed (cancelled run).
        for (stream, p) in pending {
            let cause = p.failed.unwrap_or_else(|| "stopped before the end".into());
            StreamFailed { stream: &stream, kind: "incomplete", cause: &cause }.emit();
            report(StreamOutcome::Failed { id: stream.to_string(), kind: "incomplete", cause });
        }
    }

    fn finish(&self, stream: &str, p: Pending) -> StreamOutcome {
        let id = stream.to_string();
        let (frames, n) = p.end.unwrap_or((0, 0));
        if let Some(e) = p.failed {
            StreamFailed { stream, kind: "inference", cause: &e }.emit();
            return StreamOutcome::Failed { id, kind: "inference", cause: e };
        }
        let d = self.layout.width();
        let mut data = Vec::with_capacity(n * d);
        for (i, (idx, s)) in p.segments.iter().enumerate() {
            debug_assert_eq!(i, *idx);
            if s.vector.len() != d || s.vector.iter().any(|v| !v.is_finite()) {
                let cause = format!(
                    "segment {idx}: feature vector has {} values (expected {d}) or non-finite values",
                    s.vector.len()
                );
                return StreamOutcome::Failed { id, kind: "inference", cause };
            }
            data.extend_from_slice(&s.vector);
        }
        let fps = p.info.as_ref().map_or(0.0, |i| i.fps);
        let npy = self.out_dir.join(format!("{id}.npy"));
        let json = self.out_dir.join(format!("{id}.json"));
        let meta = FeatureFileMeta {
            video: self.sources.get(&id).cloned().unwrap_or_else(|| id.clone()),
            layout: self.layout.clone(),
            snippet_frames: self.snippet_frames,
            fps,
            n_frames: frames,
            n_segments: n,
            models: self.models.clone(),
            image_frames_per_snippet: self.image_frames,
            refinevad_version: env!("CARGO_PKG_VERSION").into(),
        };
        let write = || -> Result<(), String> {
            crate::io::npy::write_f32(&npy, &[n, d], &data).map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
            crate::io::atomic::write_atomic(&json, text.as_bytes()).map_err(|e| format!("{}: {e}", json.display()))
        };
        match write() {
            Ok(()) => {
                StreamFinished { stream, frames }.emit();
                OutputWritten { stream, path: &npy.display().to_string(), segments: n }.emit();
                StreamOutcome::Written { id, npy, segments: n, frames, fps }
            }
            Err(cause) => {
                StreamFailed { stream, kind: "write", cause: &cause }.emit();
                StreamOutcome::Failed { id, kind: "write", cause }
            }
        }
    }
}
