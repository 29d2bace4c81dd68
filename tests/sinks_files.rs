//! The events stage feeding the file sinks: scored segments of two streams go through
//! `run_events` into `jsonl`, `scores_csv`, `events_json` and `plot`; every output is
//! read back with the project's own readers.
use std::path::Path;
use std::sync::Arc;

use refinevad::events::{run_events, Event, EventContext, EventStatus, EventsConfig};
use refinevad::runtime::channel::{bounded, ChannelConfig};
use refinevad::sinks::{
    EventsJsonSinkConfig, JsonlSinkConfig, PlotSinkConfig, ScoresCsvSinkConfig, SinkConfig, SinkContext, SinkError,
    SinkSet,
};
use refinevad::source::StreamInfo;
use refinevad::window::{ScoreMsg, ScoredSegment};

const SF: u64 = 16;
const FPS: f64 = 25.0;

fn info(stream: &str, uri: &str) -> StreamInfo {
    StreamInfo {
        stream: Arc::from(stream),
        uri: uri.into(),
        width: 224,
        height: 224,
        source_width: None,
        source_height: None,
        fps: FPS,
        live: false,
        first_pts_ns: None,
        started_unix_ms: None,
    }
}

/// A stream's messages: `scores[i]` for segment i, Fire-like probabilities when high.
fn stream_msgs(stream: &str, uri: &str, scores: &[f32], n_frames: u64) -> Vec<ScoreMsg> {
    let cats: Arc<[String]> = ["Fire", "Panic"].map(String::from).into();
    let mut v = vec![ScoreMsg::Started { info: info(stream, uri), categories: cats }];
    for (i, &score) in scores.iter().enumerate() {
        let (a, b) = (i as u64 * SF, ((i as u64 + 1) * SF).min(n_frames));
        let fire = if score > 0.5 { 0.8 } else { 0.3 };
        v.push(ScoreMsg::Segment(ScoredSegment {
            stream: Arc::from(stream),
            index: i,
            frame_start: a,
            frame_end: b,
            time_start: a as f64 / FPS,
            time_end: b as f64 / FPS,
            score,
            category_probs: vec![fire, 1.0 - fire],
        }));
    }
    v.push(ScoreMsg::End { stream: Arc::from(stream), frames: n_frames, segments: scores.len(), result: Ok(()) });
    v
}

/// 0.64 s segments: an anomaly over segments 10..=17 (5.1 s) and a blip at 30 (too short).
fn curve(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            if (10..=17).contains(&i) {
                0.9
            } else if i == 30 {
                0.8
            } else {
                0.1
            }
        })
        .collect()
}

fn read_jsonl(p: &Path) -> Vec<Event> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn run_events_feeds_every_file_sink() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path();
    let truth = out.join("annotations.txt");
    std::fs::write(&truth, "cam1.mp4  Fire  170 280 -1 -1\n").unwrap();
    let cfgs = [
        SinkConfig::Jsonl(JsonlSinkConfig { path: out.join("log/events.jsonl"), queue: Default::default() }),
        SinkConfig::ScoresCsv(ScoresCsvSinkConfig { dir: out.join("scores"), queue: Default::default() }),
        SinkConfig::EventsJson(EventsJsonSinkConfig { dir: out.join("events"), queue: Default::default() }),
        SinkConfig::Plot(PlotSinkConfig {
            dir: out.join("plots"),
            annotations: Some(truth),
            queue: Default::default(),
        }),
    ];
    let sinks = SinkSet::spawn(&cfgs, &SinkContext { pipeline: "demo".into(), ops: None }).unwrap();
    let (tx, rx) = bounded::<ScoreMsg>("scores", &ChannelConfig::default());
    let ctx = EventContext { pipeline: "demo".into(), model: "refinevad-default".into(), ..Default::default() };
    let cfg = EventsConfig::default();
    // Two streams interleaved, one with a nested id; the second has no anomaly.
    let n1 = 40 * SF - 5; // the last segment is short
    let a = stream_msgs("site/cam1", "file:///data/cam1.mp4", &curve(40), n1);
    let b = stream_msgs("cam2", "file:///data/cam2.mp4", &[0.2; 12], 12 * SF);
    let producer = std::thread::spawn(move || {
        let mut b = b.into_iter();
        for m in a {
            tx.send(m).unwrap();
            if let Some(m) = b.next() {
                tx.send(m).unwrap();
            }
        }
        for m in b {
            tx.send(m).unwrap();
        }
    });
    let stats = std::thread::scope(|s| s.spawn(|| run_events(rx, &cfg, &ctx, &sinks)).join().unwrap());
    producer.join().unwrap();
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!((stats.streams, stats.segments, stats.opened, stats.closed), (2, 52, 1, 1));

    // jsonl: opened then closed of one event, on cam1, categorised Fire.
    let log = read_jsonl(&out.join("log/events.jsonl"));
    assert_eq!(log.iter().map(|e| e.status).collect::<Vec<_>>(), [EventStatus::Opened, EventStatus::Closed]);
    let closed = &log[1];
    assert_eq!(log[0].event_id, closed.event_id);
    assert_eq!((closed.stream.as_str(), closed.video.as_str()), ("site/cam1", "file:///data/cam1.mp4"));
    assert_eq!((closed.start.frame, closed.end.frame), (160, 288));
    assert_eq!(closed.category.as_deref(), Some("Fire"));
    assert_eq!((closed.pipeline.as_str(), closed.model.as_str()), ("demo", "refinevad-default"));

    // scores_csv: the §6 contract, read back with the evaluator's reader; nested stream id.
    let csv = out.join("scores/site/cam1.scores.csv");
    let pred = refinevad::eval::read_scores_csv(&csv).unwrap();
    assert_eq!(pred.scores, curve(40));
    assert_eq!((pred.snippet_frames, pred.n_frames), (16, Some(n1)));
    assert_eq!(pred.categories, ["Fire", "Panic"]);
    let file = refinevad::eval::read_scores_file(&csv).unwrap();
    assert_eq!(file.rows[12].probs, [0.8, 0.19999999]); // per-segment probabilities kept
    assert_eq!(file.rows[1].time_start, Some(0.64));
    assert!(out.join("scores/cam2.scores.csv").exists());

    // events_json: the closed events; `[]` for the quiet stream.
    let events: Vec<Event> =
        serde_json::from_slice(&std::fs::read(out.join("events/site/cam1.events.json")).unwrap()).unwrap();
    assert_eq!(events, std::slice::from_ref(closed));
    assert_eq!(std::fs::read_to_string(out.join("events/cam2.events.json")).unwrap().trim(), "[]");

    // plot: a PNG of the timeline size.
    for p in ["plots/site/cam1.png", "plots/cam2.png"] {
        let png = std::fs::read(out.join(p)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{p}");
        let (w, h) =
            (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
        assert_eq!((w, h), (960, 200), "{p}");
    }
}

#[test]
fn jsonl_appends_across_runs_and_bad_paths_fail_at_start() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("e.jsonl");
    let cfg = [SinkConfig::Jsonl(JsonlSinkConfig { path: path.clone(), queue: Default::default() })];
    let ctx = EventContext { pipeline: "p".into(), model: "m".into(), ..Default::default() };
    for _ in 0..2 {
        let sinks = SinkSet::spawn(&cfg, &SinkContext::default()).unwrap();
        let (tx, rx) = bounded::<ScoreMsg>("scores2", &ChannelConfig::default());
        for m in stream_msgs("cam", "", &curve(20), 20 * SF) {
            tx.send(m).unwrap();
        }
        drop(tx);
        run_events(rx, &EventsConfig::default(), &ctx, &sinks);
        assert!(sinks.close().into_iter().all(|(_, r)| r.is_ok()));
    }
    let log = read_jsonl(&path);
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].event_id, log[2].event_id, "same input, same ids");

    let blocker = t.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let bad = [SinkConfig::Jsonl(JsonlSinkConfig { path: blocker.join("e.jsonl"), queue: Default::default() })];
    let err = SinkSet::spawn(&bad, &SinkContext::default()).err().unwrap();
    assert!(matches!(&err, SinkError::Start { sink, .. } if sink == "sinks[0] (jsonl)"), "{err}");
}

#[test]
fn streams_cut_off_without_end_are_closed_when_the_input_ends() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("e.jsonl");
    let sinks = SinkSet::spawn(
        &[SinkConfig::Jsonl(JsonlSinkConfig { path: path.clone(), queue: Default::default() })],
        &SinkContext::default(),
    )
    .unwrap();
    let (tx, rx) = bounded::<ScoreMsg>("scores3", &ChannelConfig::default());
    let mut msgs = stream_msgs("cam", "", &[0.9; 10], 10 * SF);
    msgs.pop(); // no End: the pipeline was cancelled
    for m in msgs {
        assert!(tx.send(m).unwrap());
    }
    drop(tx);
    let stats = run_events(rx, &EventsConfig::default(), &EventContext::default(), &sinks);
    sinks.close();
    assert_eq!((stats.opened, stats.closed), (1, 1));
    assert_eq!(read_jsonl(&path).last().unwrap().end.frame, 160);
}
