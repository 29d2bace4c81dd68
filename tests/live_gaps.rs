//! A live source's outage through the real stages: segmenter, ONNX feature pool, MoTAR
//! windowing, CORE scoring, events, and the `jsonl` and `webhook` sinks (a receiver on
//! 127.0.0.1). Frames are vtest.avi's, decoded by the real source; the outage is a
//! hand-made `Down` / `Up` pair between them.
//!
//! Besides the stream with the gap (`cam`), the same frames run as two gap-free streams:
//! `pre` (the frames before the gap) and `post` (the frames after it). With no MoTAR window
//! across the gap, `cam`'s scores before the gap equal `pre`'s and after it equal `post`'s;
//! a window spanning the gap (or motion statistics carried over it) would change them.
mod common;
mod webhook_common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use refinevad::config::PipelineConfig;
use refinevad::events::{run_events, EventContext, EventsConfig, WallTime};
use refinevad::features::pool::spawn_pool;
use refinevad::features::IMAGE_SIDE;
use refinevad::runtime::channel::{bounded, ChannelConfig};
use refinevad::segment::{SegmentMsg, Segmenter};
use refinevad::sinks::{JsonlSinkConfig, SinkConfig, SinkContext, SinkSet};
use refinevad::source::{run_source, Frame, SourceConfig, SourceMsg, StreamInfo};
use refinevad::window::{spawn_scoring, ModelStageConfig, ScoreMsg, ScoredSegment};
use serde_json::Value;
use webhook_common::{Action, Receiver};

/// Frames before the gap: 10 full snippets and a 10-frame partial one (kept: ≥ half).
const BEFORE: usize = 170;
/// Frames after the gap: 10 snippets.
const AFTER: usize = 160;
/// The stream's start (2026-01-01T00:00:00Z) and where the second connection starts.
const SESSION_MS: u64 = 1_767_225_600_000;
const OFFSET_S: f64 = 60.0;

/// The first `n` frames of vtest.avi through the real source stage.
fn frames(n: usize) -> (StreamInfo, Vec<Frame>) {
    let (tx, rx) = bounded::<SourceMsg>("frames", &ChannelConfig::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = cancel.clone();
    let src = SourceConfig::new("v", common::sample("vtest.avi").display().to_string());
    let decoder = std::thread::spawn(move || {
        let _ = run_source(&src, &Arc::from("v"), (IMAGE_SIDE, IMAGE_SIDE), &tx, &stop);
    });
    let (mut info, mut out) = (None, Vec::new());
    for m in rx.iter() {
        match m {
            SourceMsg::Started(i) => info = Some(i),
            SourceMsg::Frame(f) if out.len() < n => out.push(f),
            _ => cancel.store(true, std::sync::atomic::Ordering::Relaxed),
        }
    }
    decoder.join().unwrap();
    assert_eq!(out.len(), n, "vtest.avi has enough frames");
    (info.expect("started"), out)
}

/// `frames` as stream `id`, indices from `first`, pts from 0 (a new connection's clock).
fn as_stream(id: &str, frames: &[Frame], first: u64) -> Vec<SourceMsg> {
    let pts0 = frames[0].pts_ns.unwrap_or(0);
    frames
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let pts_ns = f.pts_ns.map(|p| p - pts0);
            SourceMsg::Frame(Frame { stream: id.into(), index: first + k as u64, pts_ns, ..f.clone() })
        })
        .collect()
}

fn started(info: &StreamInfo, id: &str) -> SourceMsg {
    SourceMsg::Started(StreamInfo {
        stream: id.into(),
        uri: format!("rtsp://viewer:secret@127.0.0.1:8554/{id}?token=abc"),
        live: true,
        first_pts_ns: Some(0),
        started_unix_ms: Some(SESSION_MS),
        ..info.clone()
    })
}

fn end(id: &str, frames: u64) -> SourceMsg {
    SourceMsg::End { stream: id.into(), frames, result: Ok(()) }
}

/// The three streams' source messages, one stream after the other.
fn source_messages() -> Vec<SourceMsg> {
    let (info, all) = frames(BEFORE + AFTER);
    let (before, after) = all.split_at(BEFORE);
    let mut m = vec![started(&info, "cam")];
    m.extend(as_stream("cam", before, 0));
    m.push(SourceMsg::Down { stream: "cam".into(), frames: BEFORE as u64, cause: "end of stream".into() });
    m.push(SourceMsg::Up { stream: "cam".into(), offset_s: OFFSET_S, down_s: 5.2, attempts: 3 });
    m.extend(as_stream("cam", after, BEFORE as u64));
    m.push(end("cam", (BEFORE + AFTER) as u64));
    m.push(started(&info, "pre"));
    m.extend(as_stream("pre", before, 0));
    m.push(end("pre", BEFORE as u64));
    m.push(started(&info, "post"));
    m.extend(as_stream("post", after, 0));
    m.push(end("post", AFTER as u64));
    m
}

struct Run {
    /// Every score message, in the order the events stage saw them.
    scores: Vec<ScoreMsg>,
    jsonl: Vec<Value>,
    webhook: Vec<webhook_common::Got>,
}

/// Runs segmenter → feature pool → MoTAR → CORE → events → jsonl + webhook.
fn run_pipeline() -> Run {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(|_, _| Action::ok());
    let cfg = PipelineConfig::default_named("gaps");
    let (snips_tx, snips_rx) = bounded::<SegmentMsg>("snippets", &ChannelConfig::default());
    let (feats_tx, feats_rx) = bounded("features", &ChannelConfig::default());
    let (pool, _models) = spawn_pool(&cfg.features, snips_rx, feats_tx).expect("models installed by scripts/setup.sh");
    // Short live windows, so a window spanning the gap would be hard to miss.
    let mut model = ModelStageConfig::default();
    model.window.segments = std::num::NonZeroUsize::new(8).unwrap();
    model.window.stride = std::num::NonZeroUsize::new(4).unwrap();
    let (scores_tx, scores_rx) = bounded::<ScoreMsg>("scores", &ChannelConfig::default());
    let (scoring, _) = spawn_scoring(&model, &cfg.features.layout(), feats_rx, scores_tx).unwrap();
    let msgs = source_messages();
    let needs = cfg.features.needs();
    let segmenter = std::thread::spawn(move || {
        let mut seg = Segmenter::new(Default::default(), needs);
        for m in msgs {
            for out in seg.handle(m) {
                assert!(snips_tx.send_reliable(out).is_ok());
            }
        }
    });
    // Every score message also goes to a recording channel on its way to the events stage.
    let (seen_tx, seen_rx) = bounded::<ScoreMsg>("seen", &ChannelConfig::default());
    let (tee_tx, tee_rx) = crossbeam_channel::unbounded();
    let tee = std::thread::spawn(move || {
        for m in scores_rx.iter() {
            tee_tx.send(m.clone()).unwrap();
            assert!(seen_tx.send_reliable(m).is_ok());
        }
    });
    let jsonl = dir.path().join("events.jsonl");
    let sinks = SinkSet::spawn(
        &[
            SinkConfig::Jsonl(JsonlSinkConfig { path: jsonl.clone(), queue: Default::default() }),
            SinkConfig::Webhook(webhook_common::config(receiver.url(), &dir.path().join("outbox"))),
        ],
        &SinkContext { pipeline: "gaps".into(), ops: None },
    )
    .unwrap();
    // Threshold near 0: every segment is anomalous, so an event is open at the gap.
    let events = EventsConfig { threshold: 1e-6, hysteresis: 0.0, min_duration_s: 0.0, ..Default::default() };
    let ctx = EventContext { pipeline: "gaps".into(), model: "refinevad-default".into(), ..Default::default() };
    let stats = run_events(seen_rx, &events, &ctx, &sinks);
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    segmenter.join().unwrap();
    tee.join().unwrap();
    pool.into_iter().for_each(|h| h.join().unwrap());
    scoring.into_iter().for_each(|h| h.join().unwrap().unwrap());
    assert_eq!((stats.streams, stats.outages), (3, 1));
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    let jsonl = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Run { scores: tee_rx.iter().collect(), jsonl, webhook: receiver.accepted() }
}

fn segments<'a>(run: &'a Run, stream: &str) -> Vec<&'a ScoredSegment> {
    run.scores
        .iter()
        .filter_map(|m| match m {
            ScoreMsg::Segment(s) if &*s.stream == stream => Some(s),
            _ => None,
        })
        .collect()
}

fn of<'a>(lines: &'a [Value], stream: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["stream"] == stream).collect()
}

#[test]
fn an_outage_splits_windows_and_events_and_is_reported() {
    let run = run_pipeline();

    // Scores on both sides, each segment once, in order; times continue from the offset.
    let cam = segments(&run, "cam");
    assert_eq!(cam.iter().map(|s| s.index).collect::<Vec<_>>(), (0..21).collect::<Vec<_>>());
    assert_eq!((cam[10].frame_start, cam[10].frame_end), (160, 170), "the half-full snippet at the gap is kept");
    assert_eq!((cam[11].frame_start, cam[11].time_start), (170, OFFSET_S));
    assert!(cam.windows(2).all(|w| w[1].time_start >= w[0].time_end - 1e-9), "times never go back");
    let gap_at = run.scores.iter().position(|m| matches!(m, ScoreMsg::Down(d) if &*d.stream == "cam"));
    let first_after =
        run.scores.iter().position(|m| matches!(m, ScoreMsg::Segment(s) if &*s.stream == "cam" && s.index == 11));
    assert!(gap_at.unwrap() < first_after.unwrap(), "Down comes after every segment before the gap");

    // No window across the gap: each side scores as if it were a stream of its own.
    let (pre, post) = (segments(&run, "pre"), segments(&run, "post"));
    assert_eq!((pre.len(), post.len()), (11, 10));
    // Scores of normal footage are tiny (≈ 1e-5): compare them relative to their size, and
    // the windows' category distributions as they are.
    let diff = |a: &[&ScoredSegment], b: &[&ScoredSegment]| {
        a.iter().zip(b).fold((0f32, 0f32), |(r, p), (x, y)| {
            let rel = (x.score - y.score).abs() / y.score.abs().max(1e-12);
            let probs = x.category_probs.iter().zip(&y.category_probs).map(|(u, v)| (u - v).abs()).fold(0f32, f32::max);
            (r.max(rel), p.max(probs))
        })
    };
    let (d_pre, d_post) = (diff(&cam[..11], &pre), diff(&cam[11..], &post));
    eprintln!("before the gap vs `pre`: {d_pre:?}; after vs `post`: {d_post:?} (relative score, category prob)");
    for (side, (rel, probs)) in [("before", d_pre), ("after", d_post)] {
        assert!(rel < 0.01 && probs < 1e-4, "scores {side} the gap depend on the other side: {rel} / {probs}");
    }

    // The event open at the gap closes there; a new one starts after it.
    let lines = of(&run.jsonl, "cam");
    let kinds: Vec<&str> = lines.iter().map(|v| v.get("type").unwrap_or(&v["status"]).as_str().unwrap()).collect();
    let down = kinds.iter().position(|k| *k == "source_down").expect("source_down in the jsonl");
    assert_eq!(kinds[down + 1], "source_up");
    let gap_s = (cam[10].time_end * 1000.0).round() / 1000.0;
    let wall = |s: f64| WallTime::after(SESSION_MS, s).to_rfc3339();
    let closed_before =
        lines[..down].iter().rev().find(|v| v["status"] == "closed").expect("an event closed at the gap");
    assert_eq!(closed_before["end"]["frame"], BEFORE as u64);
    assert_eq!(closed_before["end"]["seconds"].as_f64(), Some(gap_s));
    assert_eq!(
        closed_before["end"]["wall_time"].as_str(),
        Some(wall(gap_s).as_str()),
        "live events carry wall-clock times"
    );
    let opened_after = lines[down + 2..].iter().find(|v| v["status"] == "opened").expect("an event after the gap");
    assert_eq!(opened_after["start"]["frame"], BEFORE as u64);
    assert_eq!(opened_after["start"]["wall_time"], "2026-01-01T00:01:00.000Z");
    assert_ne!(opened_after["event_id"], closed_before["event_id"]);
    for e in lines.iter().filter(|v| v["status"] == "closed") {
        let (a, b) = (e["start"]["frame"].as_u64().unwrap(), e["end"]["frame"].as_u64().unwrap());
        assert!(b <= BEFORE as u64 || a >= BEFORE as u64, "an event spans the gap: {a}–{b}");
    }
    let (d, u) = (lines[down], lines[down + 1]);
    assert_eq!(
        (d["outage"].as_u64(), d["cause"].as_str(), d["seconds"].as_f64()),
        (Some(1), Some("end of stream"), Some(gap_s))
    );
    assert_eq!(d["wall_time"].as_str(), Some(wall(gap_s).as_str()));
    assert_eq!(d["video"], "rtsp://127.0.0.1:8554/cam", "no credentials or token in outage messages");
    assert_eq!((u["down_s"].as_f64(), u["attempts"].as_u64()), (Some(5.2), Some(3)));
    assert_eq!(u["wall_time"], "2026-01-01T00:01:00.000Z");
    assert!(of(&run.jsonl, "pre").iter().chain(&of(&run.jsonl, "post")).all(|v| v.get("type").is_none()));

    // The webhook receiver got both, with their own idempotency keys, among the events.
    let hooks: Vec<(String, Value)> = run.webhook.iter().map(|g| (g.key().to_owned(), g.json())).collect();
    for v in [d, u] {
        let kind = v["type"].as_str().unwrap();
        let key = format!("{}-{kind}", v["event_id"].as_str().unwrap());
        let got = hooks.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("{key} not delivered"));
        assert_eq!(&got.1, v, "the webhook body is the jsonl record");
    }
    assert!(hooks.iter().any(|(_, v)| v["status"] == "closed" && v["stream"] == "cam"));
}
