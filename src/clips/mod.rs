//! Event clips: a short MP4 of each event, named in every message of the event.
//!
//! - **Files** ([`cut`]): when an event closes, `[start − pre_roll, end + post_roll]` is
//!   decoded from the source file (accurate seek) and re-encoded with x264 at the source
//!   resolution. Re-encoding works for every codec GStreamer decodes and cuts on the exact
//!   frame; files are offline, so its cost (about real time ÷ 10 here) is acceptable.
//! - **Live streams** ([`recorder`], [`ring`]): a recorder per stream keeps the encoded
//!   H.264/H.265 access units of its own connection in a bounded ring; a clip is the
//!   units from the last keyframe at or before the start, remuxed without re-encoding
//!   ([`mux`]).
//!
//! Every clip is written to a temporary file, fsync'd and renamed; retention
//! ([`prune`]) removes the oldest clips by age and total size. See `docs/clips.md`.
pub mod cut;
pub mod mux;
pub mod prune;
pub mod recorder;
pub mod ring;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use sink::ClipsSink;

use crate::sinks::{stream_path, ClipsSinkConfig, SinkConfig};
use crate::source::StreamTable;

/// Errors of writing one clip.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("GStreamer element `{0}` is missing (install gstreamer1.0-plugins-good/-bad/-ugly)")]
    MissingElement(String),
    #[error("{uri}: {detail}")]
    Pipeline { uri: String, detail: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("nothing recorded between {from} and {to} for `{stream}`")]
    NothingRecorded { stream: String, from: String, to: String },
    #[error("`{stream}` has no clips: {reason}")]
    Unsupported { stream: String, reason: String },
    #[error("timed out after {0} s")]
    Timeout(u64),
}

/// The `clip` value events carry when `sinks` has a `clips` sink: its `url_template`, or
/// the clip path `<dir>/{stream}/{event_id}.mp4`.
pub fn clip_template(sinks: &[SinkConfig]) -> Option<String> {
    sinks.iter().find_map(|s| match s {
        SinkConfig::Clips(c) => Some(
            c.url_template
                .clone()
                .unwrap_or_else(|| c.dir.join("{stream}").join("{event_id}.mp4").to_string_lossy().into_owned()),
        ),
        _ => None,
    })
}

/// `sinks` with the run's stream table given to every `clips` sink, whose recorders
/// connect with their stream's transport, latency and credentials — also for streams
/// added at run time.
pub fn with_streams(sinks: &[SinkConfig], table: &Arc<StreamTable>) -> Vec<SinkConfig> {
    let mut sinks = sinks.to_vec();
    for s in &mut sinks {
        if let SinkConfig::Clips(c) = s {
            c.streams = StreamConfigs(Some(table.clone()));
        }
    }
    sinks
}

/// Where a clips sink finds a stream's source configuration: the run's stream table.
#[derive(Clone, Default)]
pub struct StreamConfigs(Option<Arc<StreamTable>>);

impl StreamConfigs {
    pub fn get(&self, stream: &str) -> Option<crate::source::SourceConfig> {
        self.0.as_ref().and_then(|t| t.config(stream))
    }
}

impl std::fmt::Debug for StreamConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "StreamConfigs(table)" } else { "StreamConfigs(none)" })
    }
}

impl PartialEq for StreamConfigs {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

/// Where the clip of `event_id` of `stream` is written: `<dir>/<stream>/<event_id>.mp4`
/// (stream ids are sanitised as for every per-stream output).
pub fn clip_path(cfg: &ClipsSinkConfig, stream: &str, event_id: &str) -> PathBuf {
    stream_path(&cfg.dir, stream, "").join(format!("{event_id}.mp4"))
}

/// The temporary sibling a clip is written to before its rename. Starts with `.` so
/// retention never counts a clip being written.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Makes a finished temporary file durable under its final name: fsync, rename, fsync
/// the directory.
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<u64, ClipError> {
    let io = |source| ClipError::Io { path: path.to_owned(), source };
    let f = std::fs::File::open(tmp).map_err(io)?;
    f.sync_all().map_err(io)?;
    let bytes = f.metadata().map_err(io)?.len();
    std::fs::rename(tmp, path).map_err(io)?;
    if let Some(d) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = d.sync_all();
    }
    Ok(bytes)
}

/// `gst::ElementFactory::make` with a typed error naming the missing element.
pub(crate) fn make(factory: &str) -> Result<gstreamer::Element, ClipError> {
    gstreamer::ElementFactory::make(factory).build().map_err(|_| ClipError::MissingElement(factory.into()))
}
