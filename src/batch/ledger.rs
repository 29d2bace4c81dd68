//! The done-ledger: `DIR/.refinevad/ledger[.shard-i-of-N].jsonl`, one JSON line per
//! finished input, appended and fsync'd only after all of that input's outputs were
//! written atomically. A line is the proof that the input is done; an input without a
//! line is redone (its outputs, if any, are overwritten with identical ones).
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Folder of the batch's own files inside the output directory.
pub const STATE_DIR: &str = ".refinevad";

/// Outcome of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

/// One event, as kept in the ledger for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBrief {
    pub start_s: f64,
    pub end_s: f64,
    pub peak_score: f32,
    pub category: Option<String>,
}

/// Wall-clock facts: excluded from what resume promises to reproduce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// RFC 3339 UTC.
    pub started: String,
    pub finished: String,
    /// Seconds between the stream's start and its outputs being written (the stream
    /// shares the machine with the others in flight).
    pub wall_s: f64,
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Ledger format version.
    pub v: u32,
    pub key: String,
    pub id: String,
    pub source: String,
    pub size: Option<u64>,
    pub mtime_ns: Option<i128>,
    /// SHA-256 of the file's bytes (with `--hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hash of everything that determines the outputs (pipeline stages, model weights).
    pub config_hash: String,
    /// Hash of the annotation file the plot was shaded with (None: no annotations).
    #[serde(default)]
    pub truth_hash: Option<String>,
    pub status: Status,
    /// Failure kind (`empty`, `not_video`, `truncated`, …) and its message.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    /// Output files relative to the output directory.
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub frames: u64,
    #[serde(default)]
    pub fps: f64,
    #[serde(default)]
    pub segments: usize,
    #[serde(default)]
    pub snippet_frames: usize,
    /// Video duration in seconds (frames / fps).
    #[serde(default)]
    pub duration_s: f64,
    #[serde(default)]
    pub peak_score: Option<f32>,
    #[serde(default)]
    pub peak_time_s: Option<f64>,
    #[serde(default)]
    pub mean_score: Option<f64>,
    #[serde(default)]
    pub events: usize,
    /// The strongest events (at most [`MAX_BRIEF_EVENTS`]), by start time.
    #[serde(default)]
    pub top_events: Vec<EventBrief>,
    /// Category of the strongest event.
    #[serde(default)]
    pub top_category: Option<String>,
    pub timing: Timing,
}

pub const MAX_BRIEF_EVENTS: usize = 10;
pub const VERSION: u32 = 1;

/// The ledger file name of a shard (`None`: unsharded).
pub fn ledger_path(out: &Path, shard_suffix: &str) -> PathBuf {
    out.join(STATE_DIR).join(format!("ledger{shard_suffix}.jsonl"))
}

/// Every ledger file of an output directory (all shards that wrote there), sorted.
pub fn ledger_files(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join(STATE_DIR))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    n.starts_with("ledger") && n.ends_with(".jsonl")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads ledger files; later lines win per key (a retry supersedes a failure). A torn
/// last line (the process died mid-write) is skipped. Returns the entries and the number
/// of unreadable lines.
pub fn load(files: &[PathBuf]) -> std::io::Result<(HashMap<String, Entry>, usize)> {
    let mut map: HashMap<String, Entry> = HashMap::new();
    let mut bad = 0;
    for f in files {
        let mut text = String::new();
        match File::open(f) {
            Ok(mut h) => h.read_to_string(&mut text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Entry>(line) {
                Ok(e) => {
                    // Across files (shards writing one folder), the most recent wins.
                    let newer = map.get(&e.key).is_none_or(|old| old.timing.finished <= e.timing.finished);
                    if newer {
                        map.insert(e.key.clone(), e);
                    }
                }
                Err(_) => bad += 1,
            }
        }
    }
    Ok((map, bad))
}

/// Append-only writer: each entry is one `write` of a whole line on an `O_APPEND` file,
/// followed by `fsync`.
pub struct LedgerWriter {
    path: PathBuf,
    file: File,
}

impl LedgerWriter {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(path)?;
        // Terminate a torn last line so the next entry starts on its own line.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        if let Some(dir) = path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Self { path: path.into(), file })
    }

    pub fn append(&mut self, e: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, status: Status, finished: &str) -> Entry {
        Entry {
            v: VERSION,
            key: key.into(),
            id: key.into(),
            source: key.into(),
            size: Some(1),
            mtime_ns: Some(2),
            sha256: None,
            config_hash: "c".into(),
            truth_hash: None,
            status,
            kind: None,
            cause: None,
            outputs: vec![],
            frames: 0,
            fps: 0.0,
            segments: 0,
            snippet_frames: 16,
            duration_s: 0.0,
            peak_score: None,
            peak_time_s: None,
            mean_score: None,
            events: 0,
            top_events: vec![],
            top_category: None,
            timing: Timing { finished: finished.into(), ..Default::default() },
        }
    }

    #[test]
    fn later_lines_win_and_torn_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let p = ledger_path(d.path(), "");
        let mut w = LedgerWriter::open(&p).unwrap();
        w.append(&entry("a", Status::Failed, "1")).unwrap();
        w.append(&entry("b", Status::Ok, "1")).unwrap();
        drop(w);
        // A torn line, as left by kill -9 in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"v\":1,\"key\":\"c\",\"id").unwrap();
        drop(f);
        let mut w = LedgerWriter::open(&p).unwrap();
        w.append(&entry("a", Status::Ok, "2")).unwrap();
        let (map, bad) = load(&ledger_files(d.path())).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(map.len(), 2);
        assert_eq!(map["a"].status, Status::Ok);
    }
}
