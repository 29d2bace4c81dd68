//! The batch's final stage: consumes the scoring stage's [`ScoreMsg`]s, runs one
//! [`EventDetector`] per stream, and when a stream ends writes ALL its outputs atomically
//! (`<id>.scores.csv`, `<id>.events.json`, `<id>.png`, optionally `<id>.npy` + `<id>.json`)
//! and THEN appends its ledger line. A crash before the line leaves the input to be
//! redone; after it, the input is done.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::ledger::{Entry, EventBrief, LedgerWriter, Status, Timing, MAX_BRIEF_EVENTS, VERSION};
use super::listing::BatchInput;
use super::progress::Progress;
use crate::dataset::Annotations;
use crate::eval::plot::plot_scores;
use crate::eval::{write_scores_file, ScoreRow, ScoresFile};
use crate::events::{rfc3339_utc, Event, EventContext, EventDetector, EventStatus, EventsConfig};
use crate::features::layout::{FeatureFileMeta, FeatureLayout};
use crate::features::FeatureMsg;
use crate::io::atomic::write_atomic;
use crate::runtime::channel::{Rx, Tx};
use crate::sinks::stream_path;
use crate::source::{SourceError, StreamInfo};
use crate::telemetry::events::{OutputWritten, StreamFailed, StreamFinished};
use crate::window::{ScoreMsg, ScoredSegment};

/// Output suffixes, in the order they are written.
pub const SCORES: &str = ".scores.csv";
pub const EVENTS: &str = ".events.json";
pub const PLOT: &str = ".png";
pub const FEATURES: &str = ".npy";
pub const FEATURES_META: &str = ".json";

/// Per-segment feature vectors captured on their way to the scoring stage (`--features`).
pub type FeatureStore = Arc<Mutex<HashMap<Arc<str>, BTreeMap<usize, Vec<f32>>>>>;

/// What `--features` writes besides the vectors (the `extract` sidecar).
pub struct FeatureOutput {
    pub store: FeatureStore,
    pub layout: FeatureLayout,
    pub image_frames: usize,
    pub models: BTreeMap<String, String>,
}

/// Forwards feature messages to the scoring stage, keeping a copy of each vector.
pub fn tap_features(input: Rx<FeatureMsg>, output: Tx<FeatureMsg>, store: FeatureStore) -> Result<(), String> {
    for msg in input.iter() {
        if let FeatureMsg::Segment(s) = &msg {
            store.lock().expect("feature store").entry(s.stream.clone()).or_default().insert(s.index, s.vector.clone());
        }
        output.send_reliable(msg).map_err(|_| "scoring stage stopped".to_string())?;
    }
    Ok(())
}

/// Settings and state of the final stage.
pub struct OutputWriter {
    pub out: PathBuf,
    pub events: EventsConfig,
    pub ctx: EventContext,
    pub annotations: Option<Arc<Annotations>>,
    pub truth_hash: Option<String>,
    pub config_hash: String,
    pub snippet_frames: usize,
    /// Stream id → the input and its content hash (`--hash`).
    pub inputs: HashMap<String, (BatchInput, Option<String>)>,
    pub features: Option<FeatureOutput>,
    pub ledger: LedgerWriter,
    pub progress: Arc<Progress>,
}

struct StreamState {
    info: Option<StreamInfo>,
    categories: Arc<[String]>,
    detector: Option<EventDetector>,
    rows: Vec<ScoreRow>,
    /// Score per frame, for the plot.
    frame_scores: Vec<f32>,
    closed: Vec<Event>,
    peak: Option<(f32, f64)>,
    score_sum: f64,
    /// Captured feature vectors in segment order (`--features`).
    features: Vec<Vec<f32>>,
    started: SystemTime,
    t0: Instant,
}

impl StreamState {
    fn new() -> Self {
        Self {
            info: None,
            categories: Arc::from(Vec::new()),
            detector: None,
            rows: Vec::new(),
            frame_scores: Vec::new(),
            closed: Vec::new(),
            peak: None,
            score_sum: 0.0,
            features: Vec::new(),
            started: SystemTime::now(),
            t0: Instant::now(),
        }
    }
}

impl OutputWriter {
    /// Consumes `rx` until it closes. Streams still open then (an interrupted run) get no
    /// ledger line, so the next run redoes them. An error (the ledger cannot be written)
    /// stops the stage.
    pub fn run(mut self, rx: Rx<ScoreMsg>) -> Result<(), String> {
        let mut streams: HashMap<Arc<str>, StreamState> = HashMap::new();
        for msg in rx.iter() {
            match msg {
                ScoreMsg::Started { info, categories } => {
                    let mut st = StreamState::new();
                    st.detector = Some(EventDetector::new(&self.events, &self.ctx, &info, categories.clone()));
                    st.categories = categories;
                    st.info = Some(info.clone());
                    streams.insert(info.stream.clone(), st);
                }
                ScoreMsg::Segment(seg) => {
                    let st = streams.entry(seg.stream.clone()).or_insert_with(StreamState::new);
                    self.progress.video_seconds((seg.time_end - seg.time_start).max(0.0));
                    push_segment(st, &seg);
                }
                // Archives are files: their sources never go down and come back.
                ScoreMsg::Down(_) | ScoreMsg::Up(_) => {}
                ScoreMsg::End { stream, frames, segments, result } => {
                    let st = streams.remove(&stream).unwrap_or_else(StreamState::new);
                    if let Some(entry) = self.finish(&stream, st, frames, segments, result) {
                        self.ledger.append(&entry).map_err(|e| {
                            format!("{}: cannot append to the ledger: {e}", self.ledger.path().display())
                        })?;
                        self.progress.finished(&entry);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the stream's outputs and returns its ledger entry (None: interrupted).
    fn finish(
        &self,
        stream: &Arc<str>,
        mut st: StreamState,
        frames: u64,
        _segments: usize,
        result: Result<(), SourceError>,
    ) -> Option<Entry> {
        let (input, sha) = match self.inputs.get(&**stream) {
            Some((i, h)) => (i.clone(), h.clone()),
            None => {
                tracing::warn!(stream = &**stream, "scores for a stream that is not in the batch");
                return None;
            }
        };
        if let Some(f) = &self.features {
            let captured = f.store.lock().expect("feature store").remove(&**stream);
            st.features = captured.map(|m| m.into_values().collect()).unwrap_or_default();
        }
        let mut entry = self.entry(&input, sha, &st, frames);
        if let Err(e) = result {
            if matches!(e, SourceError::Cancelled { .. }) {
                return None;
            }
            return Some(self.failed(entry, &input, e.kind(), e.to_string()));
        }
        if st.rows.is_empty() {
            let cause = format!("{}: no segment could be scored ({frames} frame(s) decoded)", input.source);
            return Some(self.failed(entry, &input, "no_frames", cause));
        }
        if let Some(mut det) = st.detector.take() {
            st.closed.extend(det.finish().into_iter().filter(|e| e.status == EventStatus::Closed));
        }
        match self.write_outputs(&input.id, &st, frames) {
            Ok(outputs) => {
                entry.outputs = outputs;
                entry.events = st.closed.len();
                let mut strongest: Vec<&Event> = st.closed.iter().collect();
                strongest.sort_by(|a, b| b.peak_score.total_cmp(&a.peak_score).then(a.start.frame.cmp(&b.start.frame)));
                entry.top_category = strongest.first().and_then(|e| e.category.clone());
                strongest.truncate(MAX_BRIEF_EVENTS);
                strongest.sort_by_key(|e| e.start.frame);
                entry.top_events = strongest
                    .into_iter()
                    .map(|e| EventBrief {
                        start_s: e.start.seconds,
                        end_s: e.end.seconds,
                        peak_score: e.peak_score,
                        category: e.category.clone(),
                    })
                    .collect();
                StreamFinished { stream, frames }.emit();
                entry.timing.finished = rfc3339_utc(SystemTime::now());
                entry.timing.wall_s = st.t0.elapsed().as_secs_f64();
                Some(entry)
            }
            Err(cause) => Some(self.failed(entry, &input, "write", cause)),
        }
    }

    fn entry(&self, input: &BatchInput, sha: Option<String>, st: &StreamState, frames: u64) -> Entry {
        let fps = st.info.as_ref().map_or(0.0, |i| i.fps);
        let duration_s =
            if fps > 0.0 { frames as f64 / fps } else { st.rows.last().and_then(|r| r.time_end).unwrap_or(0.0) };
        Entry {
            v: VERSION,
            key: input.key.clone(),
            id: input.id.clone(),
            source: input.source.clone(),
            size: input.size,
            mtime_ns: input.mtime_ns,
            sha256: sha,
            config_hash: self.config_hash.clone(),
            truth_hash: self.truth_hash.clone(),
            status: Status::Ok,
            kind: None,
            cause: None,
            outputs: Vec::new(),
            frames,
            fps,
            segments: st.rows.len(),
            snippet_frames: self.snippet_frames,
            duration_s: (duration_s * 1000.0).round() / 1000.0,
            peak_score: st.peak.map(|p| p.0),
            peak_time_s: st.peak.map(|p| (p.1 * 1000.0).round() / 1000.0),
            mean_score: (!st.rows.is_empty()).then(|| st.score_sum / st.rows.len() as f64),
            events: 0,
            top_events: Vec::new(),
            top_category: None,
            timing: Timing {
                started: rfc3339_utc(st.started),
                finished: rfc3339_utc(SystemTime::now()),
                wall_s: st.t0.elapsed().as_secs_f64(),
            },
        }
    }

    /// A failed input: no outputs (stale ones from an earlier run are removed).
    fn failed(&self, mut entry: Entry, input: &BatchInput, kind: &str, cause: String) -> Entry {
        StreamFailed { stream: &input.id, kind: static_kind(kind), cause: &cause }.emit();
        remove_outputs(&self.out, &input.id);
        entry.status = Status::Failed;
        entry.kind = Some(kind.to_string());
        entry.cause = Some(cause);
        entry.segments = 0;
        entry.peak_score = None;
        entry.peak_time_s = None;
        entry.mean_score = None;
        entry
    }

    fn write_outputs(&self, id: &str, st: &StreamState, frames: u64) -> Result<Vec<String>, String> {
        let rel = |suffix: &str| stream_path(Path::new(""), id, suffix);
        let abs = |suffix: &str| self.out.join(rel(suffix));
        let mut outputs = Vec::new();
        // Scores.
        let categories = st.categories.to_vec();
        let mut rows = st.rows.clone();
        rows.iter_mut().for_each(|r| r.probs.resize(categories.len(), 0.0));
        let path = abs(SCORES);
        write_scores_file(&path, &ScoresFile { categories, rows }).map_err(|e| e.to_string())?;
        outputs.push(rel(SCORES));
        // Events (the events_json sink's format: closed events, pretty JSON array).
        let path = abs(EVENTS);
        let mut json = serde_json::to_vec_pretty(&st.closed).expect("events serialise");
        json.push(b'\n');
        write_atomic(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
        outputs.push(rel(EVENTS));
        // Timeline.
        let path = abs(PLOT);
        let uri = st.info.as_ref().map_or("", |i| i.uri.as_str());
        let spans: Vec<(u64, u64)> = st.closed.iter().map(|e| (e.start.frame, e.end.frame)).collect();
        plot_scores(&path, &st.frame_scores, &truth(self.annotations.as_deref(), id, uri), &spans)
            .map_err(|e| e.to_string())?;
        outputs.push(rel(PLOT));
        // Features.
        if let Some(f) = &self.features {
            let d = f.layout.width();
            let n = st.rows.len();
            let store = &st.features;
            if store.len() != n || store.iter().any(|v| v.len() != d || v.iter().any(|x| !x.is_finite())) {
                return Err(format!(
                    "{id}: features: {} vectors for {n} segments, or wrong width/non-finite values",
                    store.len()
                ));
            }
            let data: Vec<f32> = store.concat();
            let path = abs(FEATURES);
            crate::io::npy::write_f32(&path, &[n, d], &data).map_err(|e| e.to_string())?;
            outputs.push(rel(FEATURES));
            let meta = FeatureFileMeta {
                video: st.info.as_ref().map_or_else(String::new, |i| i.uri.clone()),
                layout: f.layout.clone(),
                snippet_frames: self.snippet_frames,
                fps: st.info.as_ref().map_or(0.0, |i| i.fps),
                n_frames: frames,
                n_segments: n,
                models: f.models.clone(),
                image_frames_per_snippet: f.image_frames,
                refinevad_version: env!("CARGO_PKG_VERSION").into(),
            };
            let path = abs(FEATURES_META);
            let text = serde_json::to_string_pretty(&meta).expect("meta serialises");
            write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            outputs.push(rel(FEATURES_META));
        }
        for o in &outputs {
            OutputWritten { stream: id, path: &o.to_string_lossy(), segments: st.rows.len() }.emit();
        }
        Ok(outputs.into_iter().map(|p| p.to_string_lossy().replace('\\', "/")).collect())
    }
}

fn push_segment(st: &mut StreamState, seg: &ScoredSegment) {
    if let Some(det) = st.detector.as_mut() {
        st.closed.extend(det.push(seg).into_iter().filter(|e| e.status == EventStatus::Closed));
    }
    st.rows.push(crate::sinks::score_row(seg));
    if st.peak.is_none_or(|(p, _)| seg.score > p) {
        st.peak = Some((seg.score, seg.time_start));
    }
    st.score_sum += f64::from(seg.score);
    let (a, b) = (seg.frame_start as usize, seg.frame_end as usize);
    if st.frame_scores.len() < a {
        st.frame_scores.resize(a, 0.0);
    }
    st.frame_scores.truncate(a);
    st.frame_scores.resize(b.max(a), seg.score);
}

/// Ground-truth intervals of a video: by its id, else by its source's file name.
pub fn truth(ann: Option<&Annotations>, id: &str, uri: &str) -> Vec<(u64, u64)> {
    let Some(a) = ann else { return Vec::new() };
    a.get(id)
        .or_else(|| (!uri.is_empty()).then(|| a.get(uri)).flatten())
        .map(|v| v.intervals.clone())
        .unwrap_or_default()
}

/// Removes every output of `id` (stale results of an input that now fails or is redone).
pub fn remove_outputs(out: &Path, id: &str) {
    for suffix in [SCORES, EVENTS, PLOT, FEATURES, FEATURES_META] {
        let _ = std::fs::remove_file(stream_path(out, id, suffix));
    }
}

fn static_kind(kind: &str) -> &'static str {
    match kind {
        "write" => "write",
        "no_frames" => "no_frames",
        "empty" => "empty",
        "not_video" => "not_video",
        "truncated" => "truncated",
        "missing_plugin" => "missing_plugin",
        "not_found" => "not_found",
        "permission_denied" => "permission_denied",
        "decode" => "decode",
        _ => "other",
    }
}
