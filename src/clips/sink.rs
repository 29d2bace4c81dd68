//! The `clips` sink. File streams are cut on the sink's own thread when an event closes;
//! live clips wait on a writer thread until their post-roll has been recorded, so one
//! stream's wait never holds up another stream or the other sinks.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::prune::{prune, Retention};
use super::recorder::{Recorder, Recording};
use super::ring::{stream_to_wall, RingLimits};
use super::{clip_path, cut::cut_file, mux::write_cut, ClipError};
use crate::events::{rfc3339_utc, Event, EventStatus};
use crate::sinks::{ClipsSinkConfig, SinkError, SinkMsg};
use crate::telemetry::events::{ClipFailed, ClipWritten, ClipsPruned};
use crate::window::ScoreMsg;

/// Extra wait after a live clip's end for the recorder to deliver it (its connection may
/// lag the analysis one).
const LIVE_GRACE: Duration = Duration::from_secs(3);
/// Live clips waiting for their post-roll, at most (the writer's queue).
const LIVE_QUEUE: usize = 256;

enum Stream {
    File {
        uri: String,
    },
    /// `started`: the wall-clock time stream second 0 maps to (when the stream started).
    Live {
        recorder: Recorder,
        started: SystemTime,
    },
}

/// A live clip to write once `to` has been recorded.
struct LiveJob {
    stream: String,
    event_id: String,
    recording: Arc<Recording>,
    from: SystemTime,
    to: SystemTime,
    path: PathBuf,
}

/// What the writing threads share: where clips go, retention, the first failure.
struct Output {
    dir: PathBuf,
    retention: Retention,
    first_error: Mutex<Option<String>>,
}

pub struct ClipsSink {
    cfg: ClipsSinkConfig,
    out: Arc<Output>,
    limits: RingLimits,
    streams: HashMap<String, Stream>,
    live_tx: Option<Sender<LiveJob>>,
    live_thread: Option<JoinHandle<()>>,
}

impl ClipsSink {
    /// Creates the clip directory and applies retention once.
    pub fn new(cfg: &ClipsSinkConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| SinkError::io(&cfg.dir, e))?;
        let retention = Retention {
            max_age: cfg.max_age_h.map(|h| Duration::from_secs_f64(h * 3600.0)),
            max_bytes: cfg.max_total_mb.map(|m| (m * 1e6) as u64),
        };
        let out = Arc::new(Output { dir: cfg.dir.clone(), retention, first_error: Mutex::new(None) });
        out.prune(None);
        let (tx, rx) = crossbeam_channel::bounded(LIVE_QUEUE);
        let out2 = out.clone();
        let live_thread = std::thread::Builder::new()
            .name("clips-live-writer".into())
            .spawn(move || live_writer(rx, &out2))
            .map_err(|e| SinkError::Thread(e.to_string()))?;
        let limits = RingLimits { max_s: cfg.buffer_s(), max_bytes: (cfg.buffer_mb * 1e6) as usize };
        Ok(Self {
            cfg: cfg.clone(),
            out,
            limits,
            streams: HashMap::new(),
            live_tx: Some(tx),
            live_thread: Some(live_thread),
        })
    }

    /// Handles one message (stream starts and ends, events).
    pub fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        match msg {
            SinkMsg::Score(m) => match &**m {
                ScoreMsg::Started { info, .. } => {
                    let stream = info.stream.to_string();
                    if info.live && matches!(self.streams.get(&stream), Some(Stream::Live { .. })) {
                        return Ok(()); // started again after an outage: keep the ring and its clock
                    }
                    let state = if info.live {
                        let uri = self.cfg.record_uris.get(&stream).unwrap_or(&info.uri);
                        // Stream second 0 is the analysis connection's first frame.
                        let started = info
                            .started_unix_ms
                            .map_or_else(SystemTime::now, |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
                        let source = self.cfg.streams.get(&stream);
                        Stream::Live { recorder: Recorder::start(&stream, uri, self.limits, source), started }
                    } else {
                        Stream::File { uri: info.uri.clone() }
                    };
                    self.streams.insert(stream, state);
                }
                ScoreMsg::End { stream, .. } => {
                    self.streams.remove(&**stream);
                }
                // Segments, and a live source's outages (the recorder reconnects on its own).
                _ => {}
            },
            SinkMsg::Event(e) if e.status == EventStatus::Closed => self.closed(e),
            _ => {}
        }
        Ok(())
    }

    /// Writes every pending live clip with what has been recorded, stops the recorders,
    /// and reports the first clip that failed.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        self.live_tx.take();
        if let Some(t) = self.live_thread.take() {
            let _ = t.join();
        }
        self.streams.clear();
        match self.out.first_error.lock().unwrap().take() {
            Some(e) => Err(SinkError::io(&self.out.dir, std::io::Error::other(e))),
            None => Ok(()),
        }
    }

    fn closed(&mut self, e: &Event) {
        let (from_s, to_s) = self.cfg.range(e.start.seconds, e.end.seconds);
        let path = clip_path(&self.cfg, &e.stream, &e.event_id);
        match self.streams.get(&e.stream) {
            Some(Stream::File { uri }) => {
                let t0 = Instant::now();
                let r = cut_file(uri, from_s, to_s, &path);
                self.out.finish_clip(&e.stream, &e.event_id, &path, r, t0);
            }
            Some(Stream::Live { recorder, started }) => {
                if let Some(reason) = recorder.recording().unsupported.lock().unwrap().as_ref() {
                    tracing::debug!(stream = e.stream, event_id = e.event_id, "no clip: {reason}");
                    return;
                }
                let job = LiveJob {
                    stream: e.stream.clone(),
                    event_id: e.event_id.clone(),
                    recording: recorder.recording().clone(),
                    from: stream_to_wall(*started, from_s),
                    to: stream_to_wall(*started, to_s),
                    path,
                };
                if let Some(tx) = &self.live_tx {
                    if tx.try_send(job).is_err() {
                        let r =
                            Err(ClipError::Pipeline { uri: e.video.clone(), detail: "too many clips pending".into() });
                        self.out.finish_clip(&e.stream, &e.event_id, &self.cfg.dir, r, Instant::now());
                    }
                }
            }
            None => {
                let r =
                    Err(ClipError::Pipeline { uri: e.video.clone(), detail: "the stream's start was not seen".into() });
                self.out.finish_clip(&e.stream, &e.event_id, &path, r, Instant::now());
            }
        }
    }
}

impl Output {
    /// Reports a clip's outcome (logged and counted) and applies retention after a write.
    fn finish_clip(
        &self,
        stream: &str,
        event_id: &str,
        path: &Path,
        r: Result<super::mux::Written, ClipError>,
        t0: Instant,
    ) {
        match r {
            Ok(w) => {
                let p = path.to_string_lossy();
                let write_s = t0.elapsed().as_secs_f64();
                ClipWritten { stream, event_id, path: &p, seconds: w.seconds, bytes: w.bytes, write_s }.emit();
                self.prune(Some(path));
            }
            Err(e) => {
                let cause = e.to_string();
                ClipFailed { stream, event_id, cause: &cause }.emit();
                self.first_error.lock().unwrap().get_or_insert(format!("clip {event_id} of `{stream}`: {cause}"));
            }
        }
    }

    fn prune(&self, keep: Option<&Path>) {
        match prune(&self.dir, &self.retention, SystemTime::now(), keep) {
            Ok(p) if !p.files.is_empty() => {
                ClipsPruned { dir: &self.dir.to_string_lossy(), files: p.files.len(), bytes: p.bytes }.emit()
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(dir = %self.dir.display(), "clip retention: {e}"),
        }
    }
}

/// Holds live jobs until their end has been recorded (or its grace time has passed), then
/// writes them. When the queue closes, writes what is pending with what was recorded.
fn live_writer(rx: Receiver<LiveJob>, out: &Output) {
    let mut pending: Vec<LiveJob> = Vec::new();
    let mut open = true;
    while open || !pending.is_empty() {
        let now = SystemTime::now();
        let mut i = 0;
        while i < pending.len() {
            let j = &pending[i];
            let recorded = j.recording.ring.lock().unwrap().latest_wall().is_some_and(|w| w >= j.to);
            if !open || recorded || now >= j.to + LIVE_GRACE {
                write_live(pending.swap_remove(i), out);
            } else {
                i += 1;
            }
        }
        if !open {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(job) => pending.push(job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
    }
}

fn write_live(j: LiveJob, out: &Output) {
    let t0 = Instant::now();
    let cut = j.recording.ring.lock().unwrap().cut(j.from, j.to);
    let r = match cut {
        Some(c) => write_cut(&c, &j.path),
        None => Err(ClipError::NothingRecorded {
            stream: j.stream.clone(),
            from: rfc3339_utc(j.from),
            to: rfc3339_utc(j.to),
        }),
    };
    out.finish_clip(&j.stream, &j.event_id, &j.path, r, t0);
}
