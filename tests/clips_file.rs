//! File clips end to end: `refinevad run` on demo clips with injected anomalies and a
//! `clips` sink. Every message of a closed event names its clip; the clip exists, decodes
//! at the source resolution, and covers [start − pre_roll, end + post_roll] clamped to the
//! file and capped at max_clip_s, to within a frame. Retention removes clips past their
//! age and the oldest ones over the size quota, never the new clip.
mod clips_common;
mod common;

use std::collections::BTreeMap;
use std::fs::{File, FileTimes};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clips_common::probe;
use serde_json::Value;

const PRE: f64 = 5.0;
const POST: f64 = 5.0;
const MAX: f64 = 20.0;
const QUOTA_MB: f64 = 3.0;

fn old_clip(path: &Path, bytes: usize, age_h: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![0u8; bytes]).unwrap();
    let t = SystemTime::now() - Duration::from_secs(age_h * 3600);
    File::options().write(true).open(path).unwrap().set_times(FileTimes::new().set_modified(t)).unwrap();
}

/// The container duration of a source video.
fn duration_s(path: &Path) -> f64 {
    let p = probe(path);
    p.duration_s.max(p.decoded_s)
}

#[test]
fn closed_events_name_decodable_clips_covering_their_range_and_retention_applies() {
    let root = common::root();
    let videos = ["demo_0000_Intrusion", "demo_0003_VideoFault"];
    for v in videos {
        assert!(root.join(format!("data/demo/videos/{v}.mp4")).is_file(), "run scripts/setup.sh first");
    }
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    // Leftovers of earlier runs: one past its age, three old ones for the size quota.
    old_clip(&clips.join("gone/ancient.mp4"), 1000, 72);
    let quota_files: Vec<PathBuf> = (0..3).map(|i| clips.join(format!("old/{i}.mp4"))).collect();
    for (i, f) in quota_files.iter().enumerate() {
        old_clip(f, 900_000, 10 - i as u64);
    }
    let sources: String = videos
        .iter()
        .map(|v| format!("  - {{ id: {v}, uri: {} }}\n", root.join(format!("data/demo/videos/{v}.mp4")).display()))
        .collect();
    let yaml = format!(
        "name: cliptest\nsources:\n{sources}model:\n  checkpoint: models/refinevad-default\n\
         events: {{ threshold: 0.5, hysteresis: 0.1, min_duration_s: 1.0, merge_gap_s: 2.0 }}\n\
         sinks:\n  - {{ type: jsonl, path: {jsonl} }}\n  - type: clips\n    dir: {clips}\n    \
         pre_roll_s: {PRE}\n    post_roll_s: {POST}\n    max_clip_s: {MAX}\n    max_age_h: 24\n    \
         max_total_mb: {QUOTA_MB}\n",
        jsonl = dir.path().join("events.jsonl").display(),
        clips = clips.display(),
    );
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(&pipeline, yaml).unwrap();
    let out = common::run(&["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::text(&out));

    let events: Vec<Value> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &events {
        by_id.entry(e["event_id"].as_str().unwrap().to_owned()).or_default().push(e);
    }
    let closed: Vec<&Value> = events.iter().filter(|e| e["status"] == "closed").collect();
    assert!(closed.len() >= 2, "the default head finds the vehicle and the video faults: {events:?}");
    let mut capped = 0;
    let mut written = Vec::new();
    for e in &closed {
        let (stream, id) = (e["stream"].as_str().unwrap(), e["event_id"].as_str().unwrap());
        let clip = PathBuf::from(e["clip"].as_str().expect("closed events name their clip"));
        assert_eq!(clip, clips.join(stream).join(format!("{id}.mp4")));
        for m in &by_id[id] {
            assert_eq!(m["clip"], e["clip"], "every message of the event names the same clip");
        }
        let source = root.join(format!("data/demo/videos/{stream}.mp4"));
        let (start, end) = (e["start"]["seconds"].as_f64().unwrap(), e["end"]["seconds"].as_f64().unwrap());
        let from = (start - PRE).max(0.0);
        let to = (end + POST).min(from + MAX).min(duration_s(&source));
        capped += usize::from(end + POST > from + MAX);
        let src = probe(&source);
        let p = probe(&clip);
        let frame = 1.0 / src.fps;
        assert_eq!((p.width, p.height), (src.width, src.height), "source resolution");
        let want = ((to - from) * src.fps).round() as i64;
        assert!((p.frames as i64 - want).abs() <= 1, "{stream}: {} frames, want {want} ([{from}, {to}])", p.frames);
        assert!((p.duration_s - (to - from)).abs() <= frame + 1e-3, "{stream}: {p:?} for [{from}, {to}]");
        written.push(clip);
    }
    assert!(capped >= 1, "one event is longer than max_clip_s");

    // Retention: the aged clip went at start; over the quota the oldest went first, and
    // every new clip stayed.
    assert!(!clips.join("gone/ancient.mp4").exists());
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let total: u64 = written.iter().chain(&quota_files).map(size).sum();
    assert!(total as f64 <= QUOTA_MB * 1e6, "total {total} within the quota");
    let kept: Vec<bool> = quota_files.iter().map(|f| f.exists()).collect();
    assert!(!kept[0], "the oldest clip is removed first");
    assert!(kept.windows(2).all(|w| w[0] <= w[1]), "removal is oldest first: {kept:?}");
    // Nothing more than needed was removed: putting back the next removed one breaks the quota.
    if let Some(last_removed) = kept.iter().rposition(|k| !k) {
        assert!(total + 900_000 > (QUOTA_MB * 1e6) as u64, "removed {} too many", last_removed + 1);
    }
    assert!(written.iter().all(|c| c.exists()));
}
