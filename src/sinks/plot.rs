//! `<dir>/<stream>.png`: the score timeline of a stream ([`crate::eval::plot`]) with its
//! closed events marked (orange band) and, when annotations are given, the ground truth
//! shaded (pink). Written at the stream's end.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::paths::stream_path;
use super::set::Sink;
use super::{PlotSinkConfig, SinkError, SinkMsg};
use crate::dataset::Annotations;
use crate::eval::plot::plot_scores;
use crate::events::EventStatus;
use crate::telemetry::events::OutputWritten;
use crate::window::ScoreMsg;

#[derive(Default)]
struct Timeline {
    uri: String,
    /// Score per frame (each segment's score over its frames; 0 for unscored holes).
    frames: Vec<f32>,
    segments: usize,
    events: Vec<(u64, u64)>,
}

pub(crate) struct PlotSink {
    dir: PathBuf,
    annotations: Option<Annotations>,
    streams: HashMap<Arc<str>, Timeline>,
}

impl PlotSink {
    pub fn new(cfg: &PlotSinkConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| SinkError::io(&cfg.dir, e))?;
        let annotations = cfg.annotations.as_deref().map(Annotations::load).transpose()?;
        Ok(Self { dir: cfg.dir.clone(), annotations, streams: HashMap::new() })
    }

    /// Ground truth of a stream: by stream id, else by the file name of its URI.
    fn truth(&self, stream: &str, uri: &str) -> Vec<(u64, u64)> {
        let Some(a) = &self.annotations else { return Vec::new() };
        a.get(stream)
            .or_else(|| (!uri.is_empty()).then(|| a.get(uri)).flatten())
            .map(|v| v.intervals.clone())
            .unwrap_or_default()
    }
}

impl Sink for PlotSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        match msg {
            SinkMsg::Event(e) if e.status == EventStatus::Closed => {
                self.streams.entry(Arc::from(e.stream.as_str())).or_default().events.push((e.start.frame, e.end.frame));
            }
            SinkMsg::Event(_) | SinkMsg::Source(_) => {}
            SinkMsg::Score(m) => match &**m {
                ScoreMsg::Started { info, .. } => {
                    self.streams.insert(info.stream.clone(), Timeline { uri: info.uri.clone(), ..Default::default() });
                }
                ScoreMsg::Segment(seg) => {
                    let t = self.streams.entry(seg.stream.clone()).or_default();
                    let (a, b) = (seg.frame_start as usize, seg.frame_end as usize);
                    if t.frames.len() < a {
                        t.frames.resize(a, 0.0);
                    }
                    t.frames.truncate(a);
                    t.frames.resize(b.max(a), seg.score);
                    t.segments += 1;
                }
                ScoreMsg::Down(_) | ScoreMsg::Up(_) => {}
                ScoreMsg::End { stream, .. } => {
                    let Some(t) = self.streams.remove(stream).filter(|t| !t.frames.is_empty()) else { return Ok(()) };
                    let path = stream_path(&self.dir, stream, ".png");
                    plot_scores(&path, &t.frames, &self.truth(stream, &t.uri), &t.events)?;
                    OutputWritten { stream, path: &path.to_string_lossy(), segments: t.segments }.emit();
                }
            },
        }
        Ok(())
    }
}
