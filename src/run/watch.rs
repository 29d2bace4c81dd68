//! `refinevad run --watch`: edits to the pipeline file's `sources` are applied while the
//! run goes on, through the same path as `POST`/`DELETE /streams`. A source that
//! disappears from the file is stopped (it drains to `removed`), a new one is started, and
//! one whose settings changed is stopped and started again. Other sections need a restart:
//! a change there is reported and not applied. A file that no longer loads (syntax, a bad
//! key) is reported with its file and key and the run keeps its current sources.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{self, PipelineConfig};
use crate::runtime::control::SourceControl;
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

/// Watches `file`, whose current content is `current`.
pub fn spawn(file: PathBuf, current: PipelineConfig, control: Arc<SourceControl>, table: Arc<StreamTable>) -> Watcher {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("pipeline-watch".into())
        .spawn(move || watch(&file, current, &control, &table, &stop2))
        .expect("spawn the pipeline watcher");
    Watcher { stop, thread: Some(thread) }
}

fn watch(file: &Path, mut current: PipelineConfig, control: &SourceControl, table: &StreamTable, stop: &AtomicBool) {
    let mut applied = std::fs::read(file).ok();
    // An edit is loaded once the file has read the same on two polls in a row, so a file
    // caught half-written is not reported as broken.
    let mut pending: Option<Vec<u8>> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let Ok(text) = std::fs::read(file) else { continue };
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
            Ok(new) => {
                apply(file, &current, &new, control, table, stop);
                current = new;
            }
            Err(e) => PipelineReloadFailed { file: &file.display().to_string(), error: &e.to_string() }.emit(),
        }
    }
}

/// Applies the difference in `sources` between `old` and `new`.
fn apply(
    file: &Path,
    old: &PipelineConfig,
    new: &PipelineConfig,
    control: &SourceControl,
    table: &StreamTable,
    stop: &AtomicBool,
) {
    let diff = SourceDiff::between(&old.sources, &new.sources);
    let mut errors = Vec::new();
    for id in diff.removed.iter().chain(&diff.changed) {
        if let Err(e) = control.remove_source(id) {
            errors.push(format!("stopping `{id}`: {}", e.message));
        }
    }
    for id in &diff.changed {
        let deadline = Instant::now() + DRAIN;
        while !table.get(id).is_none_or(|s| s.state().is_terminal()) {
            if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                errors.push(format!("`{id}` did not stop within {} s; not restarted", DRAIN.as_secs()));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for (i, src) in new.sources.iter().enumerate() {
        if diff.added.contains(&src.id) || diff.changed.contains(&src.id) {
            if let Err(e) = control.add_source(src.clone()) {
                errors.push(format!("sources[{i}] `{}`: {}", src.id, e.message));
            }
        }
    }
    PipelineReloaded {
        file: &file.display().to_string(),
        added: &diff.added,
        removed: &diff.removed,
        restarted: &diff.changed,
        not_applied: &needs_restart(old, new),
        errors: &errors,
    }
    .emit();
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
