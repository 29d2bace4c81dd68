//! `refinevad run --watch`: edits to the pipeline file's `sources` are applied while the
//! run goes on, through the same path as `POST`/`DELETE /streams`. A source that
//! disappears from the file is stopped (it drains to `removed`), a new one is started, and
//! one whose settings changed is stopped and started again. Other sections need a restart:
//! a change there is reported and not applied. A file that no longer loads (syntax, a bad
//! key) is reported with its file and key and the run keeps its current sources. A
//! stopped stream's id (and its place under `runtime.max_streams`) is reused only once
//! its last segments are through every stage.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{self, PipelineConfig};
use crate::runtime::control::SourceControl;
use crate::runtime::Cancel;
use crate::source::{SourceConfig, StreamTable};
use crate::telemetry::events::{PipelineReloadFailed, PipelineReloaded};

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(500);
/// How long a changed source may take to drain before it is started again.
const DRAIN: Duration = Duration::from_secs(30);

/// The watcher thread; stopped and joined on drop.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Watches `file`; the run was started with `current`. Stops when dropped or when the
/// run is cancelled.
pub fn spawn(
    file: PathBuf,
    current: PipelineConfig,
    control: Arc<SourceControl>,
    table: Arc<StreamTable>,
    cancel: Cancel,
) -> Watcher {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("pipeline-watch".into())
        .spawn(move || {
            let stopped = || stop2.load(Ordering::Relaxed) || cancel.is_cancelled();
            watch(&file, current, &control, &table, &stopped)
        })
        .expect("spawn the pipeline watcher");
    Watcher { stop, thread: Some(thread) }
}

fn watch(
    file: &Path,
    mut current: PipelineConfig,
    control: &SourceControl,
    table: &StreamTable,
    stopped: &dyn Fn() -> bool,
) {
    // Nothing is taken as applied at start: an edit made while the run was starting is
    // compared with what the run started with, and applied.
    let mut applied: Option<Vec<u8>> = None;
    // An edit is loaded once the file has read the same on two polls in a row, so a file
    // caught half-written is not reported as broken.
    let mut pending: Option<Vec<u8>> = None;
    let mut missing_reported = false;
    while !stopped() {
        std::thread::sleep(POLL);
        let text = match std::fs::read(file) {
            Ok(t) => t,
            Err(e) => {
                if !missing_reported {
                    let error = format!("cannot read it ({e}); watching for it to come back");
                    PipelineReloadFailed { file: &file.display().to_string(), error: &error }.emit();
                    missing_reported = true;
                }
                continue;
            }
        };
        missing_reported = false;
        if applied.as_ref() == Some(&text) {
            pending = None;
            continue;
        }
        if pending.as_ref() != Some(&text) {
            pending = Some(text);
            continue;
        }
        applied = pending.take();
        match config::load(file) {
            Ok(new) => current = apply(file, &current, &new, control, table, stopped),
            Err(e) => PipelineReloadFailed { file: &file.display().to_string(), error: &e.to_string() }.emit(),
        }
    }
}

/// Applies the difference in `sources` between `old` and `new`; returns the
/// configuration now running: `new`, except for sources that could not be stopped or
/// started, which the next edit of the file tries again.
fn apply(
    file: &Path,
    old: &PipelineConfig,
    new: &PipelineConfig,
    control: &SourceControl,
    table: &StreamTable,
    stopped: &dyn Fn() -> bool,
) -> PipelineConfig {
    let diff = SourceDiff::between(&old.sources, &new.sources);
    let not_applied = needs_restart(old, new);
    if diff == SourceDiff::default() && not_applied.is_empty() {
        return new.clone();
    }
    let mut running = new.clone();
    let mut errors = Vec::new();
    let mut still_old: Vec<String> = Vec::new();
    for id in diff.removed.iter().chain(&diff.changed) {
        if let Err(e) = control.remove_source(id) {
            errors.push(format!("stopping `{id}`: {}", e.message));
        }
    }
    // Stopped streams must drain (their last segments through every stage) before their
    // ids, or their places under `runtime.max_streams`, are used again.
    for id in diff.removed.iter().chain(&diff.changed) {
        let deadline = Instant::now() + DRAIN;
        while !table.get(id).is_none_or(|s| s.state().is_terminal() && s.is_drained()) {
            if Instant::now() > deadline || stopped() {
                errors.push(format!("`{id}` did not finish within {} s", DRAIN.as_secs()));
                still_old.push(id.clone());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for (i, src) in new.sources.iter().enumerate() {
        let start = diff.added.contains(&src.id) || diff.changed.contains(&src.id);
        if !start || still_old.contains(&src.id) || stopped() {
            continue;
        }
        if let Err(e) = control.add_source(src.clone()) {
            errors.push(format!("sources[{i}] `{}`: {}", src.id, e.message));
            still_old.push(src.id.clone());
        }
    }
    // What did not happen stays as it was, so that the next edit tries it again.
    for id in &still_old {
        running.sources.retain(|s| &s.id != id);
        if let Some(o) = old.sources.iter().find(|s| &s.id == id) {
            running.sources.push(o.clone());
        }
    }
    PipelineReloaded {
        file: &file.display().to_string(),
        added: &diff.added,
        removed: &diff.removed,
        restarted: &diff.changed,
        not_applied: &not_applied,
        errors: &errors,
    }
    .emit();
    running
}

/// Stream ids that left the file, arrived in it, or changed settings.
#[derive(Debug, Default, PartialEq)]
struct SourceDiff {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl SourceDiff {
    fn between(old: &[SourceConfig], new: &[SourceConfig]) -> Self {
        let find = |list: &[SourceConfig], id: &str| list.iter().find(|s| s.id == id).cloned();
        let mut d = SourceDiff::default();
        for o in old {
            match find(new, &o.id) {
                None => d.removed.push(o.id.clone()),
                Some(n) if n != *o => d.changed.push(o.id.clone()),
                Some(_) => {}
            }
        }
        d.added = new.iter().filter(|n| find(old, &n.id).is_none()).map(|n| n.id.clone()).collect();
        d
    }
}

/// Top-level sections other than `sources` that differ: they take effect at the next start.
fn needs_restart(old: &PipelineConfig, new: &PipelineConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    a.keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .filter(|k| *k != "sources" && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(id: &str, uri: &str) -> SourceConfig {
        SourceConfig::new(id, uri)
    }

    #[test]
    fn diff_finds_added_removed_and_changed_sources() {
        let old = [src("a", "rtsp://h/a"), src("b", "rtsp://h/b"), src("c", "rtsp://h/c")];
        let new = [src("a", "rtsp://h/a"), src("c", "rtsp://h/c2"), src("d", "rtsp://h/d")];
        assert_eq!(
            SourceDiff::between(&old, &new),
            SourceDiff { added: vec!["d".into()], removed: vec!["b".into()], changed: vec!["c".into()] }
        );
        assert_eq!(SourceDiff::between(&old, &old), SourceDiff::default());
    }

    #[test]
    fn sections_other_than_sources_need_a_restart() {
        let old = PipelineConfig::default_named("x");
        let mut new = old.clone();
        new.sources.push(src("a", "rtsp://h/a"));
        assert!(needs_restart(&old, &new).is_empty());
        new.segmenter.snippet_frames = std::num::NonZeroUsize::new(8).unwrap();
        new.name = "y".into();
        assert_eq!(needs_restart(&old, &new), vec!["name".to_string(), "segmenter".to_string()]);
    }
}
