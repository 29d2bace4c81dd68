//! File sinks: `jsonl` (append per message, events and source outages), `scores_csv` and
//! `events_json` (one file per stream, written atomically at the stream's end).
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::paths::stream_path;
use super::set::Sink;
use super::{EventsJsonSinkConfig, JsonlSinkConfig, ScoresCsvSinkConfig, SinkError, SinkMsg};
use crate::eval::{write_scores_file, ScoreRow, ScoresFile};
use crate::events::{Event, EventStatus};
use crate::io::atomic::write_atomic;
use crate::telemetry::events::OutputWritten;
use crate::window::{ScoreMsg, ScoredSegment};

/// One JSON event per line, appended; each line is a single `write` on an `O_APPEND`
/// file, so a crash leaves at most one torn last line and readers can tail the file.
pub(crate) struct JsonlSink {
    path: PathBuf,
    file: File,
}

impl JsonlSink {
    pub fn open(cfg: &JsonlSinkConfig) -> Result<Self, SinkError> {
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        }
        let file =
            OpenOptions::new().create(true).append(true).open(&cfg.path).map_err(|e| SinkError::io(&cfg.path, e))?;
        Ok(Self { path: cfg.path.clone(), file })
    }
}

impl Sink for JsonlSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        let mut line = match msg {
            SinkMsg::Event(e) => serde_json::to_vec(&**e).expect("events serialise"),
            SinkMsg::Source(e) => serde_json::to_vec(&**e).expect("source events serialise"),
            SinkMsg::Score(_) => return Ok(()),
        };
        line.push(b'\n');
        self.file.write_all(&line).and_then(|_| self.file.flush()).map_err(|err| SinkError::io(&self.path, err))
    }
}

/// `<dir>/<stream>.scores.csv` (DESIGN §6) with each segment's own category probabilities.
pub(crate) struct ScoresCsvSink {
    dir: PathBuf,
    streams: HashMap<Arc<str>, ScoresFile>,
}

impl ScoresCsvSink {
    pub fn new(cfg: &ScoresCsvSinkConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| SinkError::io(&cfg.dir, e))?;
        Ok(Self { dir: cfg.dir.clone(), streams: HashMap::new() })
    }
}

/// The CSV row of a segment; times are left empty when the stream has no clock.
pub(crate) fn score_row(seg: &ScoredSegment) -> ScoreRow {
    let timed = seg.time_end > seg.time_start;
    ScoreRow {
        segment: seg.index,
        frame_start: seg.frame_start,
        frame_end: seg.frame_end,
        time_start: timed.then_some(seg.time_start),
        time_end: timed.then_some(seg.time_end),
        score: seg.score,
        probs: seg.category_probs.clone(),
    }
}

impl Sink for ScoresCsvSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        let SinkMsg::Score(m) = msg else { return Ok(()) };
        match &**m {
            ScoreMsg::Started { info, categories } => {
                let file = ScoresFile { categories: categories.to_vec(), rows: Vec::new() };
                self.streams.insert(info.stream.clone(), file);
            }
            ScoreMsg::Segment(seg) => {
                let file = self.streams.entry(seg.stream.clone()).or_default();
                let mut row = score_row(seg);
                row.probs.resize(file.categories.len(), 0.0); // the CSV needs one value per column
                file.rows.push(row);
            }
            ScoreMsg::Down(_) | ScoreMsg::Up(_) => {}
            ScoreMsg::End { stream, .. } => {
                // A stream that failed part-way still gets the scores of what was decoded.
                let Some(file) = self.streams.remove(stream).filter(|f| !f.rows.is_empty()) else { return Ok(()) };
                let path = stream_path(&self.dir, stream, ".scores.csv");
                write_scores_file(&path, &file)?;
                OutputWritten { stream, path: &path.to_string_lossy(), segments: file.rows.len() }.emit();
            }
        }
        Ok(())
    }
}

/// `<dir>/<stream>.events.json`: the stream's closed events as a JSON array (`[]` when
/// none), written at the stream's end.
pub(crate) struct EventsJsonSink {
    dir: PathBuf,
    streams: HashMap<Arc<str>, Vec<Arc<Event>>>,
}

impl EventsJsonSink {
    pub fn new(cfg: &EventsJsonSinkConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| SinkError::io(&cfg.dir, e))?;
        Ok(Self { dir: cfg.dir.clone(), streams: HashMap::new() })
    }
}

impl Sink for EventsJsonSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        match msg {
            SinkMsg::Event(e) if e.status == EventStatus::Closed => {
                self.streams.entry(Arc::from(e.stream.as_str())).or_default().push(e.clone());
            }
            SinkMsg::Event(_) | SinkMsg::Source(_) => {}
            SinkMsg::Score(m) => match &**m {
                ScoreMsg::Started { info, .. } => {
                    self.streams.insert(info.stream.clone(), Vec::new());
                }
                ScoreMsg::End { stream, .. } => {
                    let events = self.streams.remove(stream).unwrap_or_default();
                    let path = stream_path(&self.dir, stream, ".events.json");
                    let list: Vec<&Event> = events.iter().map(|e| &**e).collect();
                    let mut json = serde_json::to_vec_pretty(&list).expect("events serialise");
                    json.push(b'\n');
                    write_atomic(&path, &json).map_err(|e| SinkError::io(&path, e))?;
                    OutputWritten { stream, path: &path.to_string_lossy(), segments: events.len() }.emit();
                }
                ScoreMsg::Segment(_) | ScoreMsg::Down(_) | ScoreMsg::Up(_) => {}
            },
        }
        Ok(())
    }
}
