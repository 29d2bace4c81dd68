//! One test per detector rule, plus a seeded property test over random score curves.
use std::sync::Arc;

use super::*;
use crate::runtime::rng::XorShift;
use crate::segment::{SourceDown, SourceUp};
use crate::telemetry::registry;
use crate::window::ScoredSegment;

/// Segments of 10 frames at 20 fps: 0.5 s each, so segment `i` spans [i/2, (i+1)/2) s.
const SEG_FRAMES: u64 = 10;
const FPS: f64 = 20.0;
const CATS: [&str; 2] = ["Fire", "Panic"];

fn seg(i: usize, score: f32, probs: [f32; 2]) -> ScoredSegment {
    let (a, b) = (i as u64 * SEG_FRAMES, (i as u64 + 1) * SEG_FRAMES);
    ScoredSegment {
        stream: Arc::from("cam1"),
        index: i,
        frame_start: a,
        frame_end: b,
        time_start: a as f64 / FPS,
        time_end: b as f64 / FPS,
        score,
        category_probs: probs.to_vec(),
    }
}

fn detector(cfg: &EventsConfig) -> EventDetector {
    let ctx = EventContext { pipeline: "test".into(), model: "m".into(), ..Default::default() };
    let cats: Arc<[String]> = CATS.iter().map(|c| c.to_string()).collect();
    EventDetector::for_stream(cfg, &ctx, Arc::from("cam1"), "file:///v/cam1.mp4", cats)
}

/// Runs a score curve; returns every message with the index of the segment that caused
/// it (`scores.len()` for `finish`).
fn run(cfg: &EventsConfig, scores: &[f32]) -> Vec<(usize, Event)> {
    let mut d = detector(cfg);
    let mut out = Vec::new();
    for (i, &s) in scores.iter().enumerate() {
        out.extend(d.push(&seg(i, s, [0.7, 0.3])).into_iter().map(|e| (i, e)));
    }
    out.extend(d.finish().into_iter().map(|e| (scores.len(), e)));
    out
}

fn closed(msgs: &[(usize, Event)]) -> Vec<&Event> {
    msgs.iter().map(|(_, e)| e).filter(|e| e.status == EventStatus::Closed).collect()
}

fn statuses(msgs: &[(usize, Event)]) -> Vec<(usize, EventStatus)> {
    msgs.iter().map(|(i, e)| (*i, e.status)).collect()
}

/// Rules off except the one under test.
fn plain() -> EventsConfig {
    EventsConfig {
        hysteresis: 0.0,
        min_duration_s: 0.0,
        merge_gap_s: 0.0,
        cooldown_s: 0.0,
        update_interval_s: 1e9,
        ..Default::default()
    }
}

fn suppressed(reason: &str) -> u64 {
    registry().counter_value("refinevad_events_suppressed_total", &[("reason", reason)])
}

use EventStatus::{Closed, Opened, Updated};

#[test]
fn threshold_opens_at_or_above() {
    assert!(run(&plain(), &[0.1, 0.59, 0.5, 0.0]).is_empty());
    let m = run(&plain(), &[0.1, 0.6, 0.2]);
    assert_eq!(statuses(&m), [(1, Opened), (2, Closed)]);
    let e = closed(&m)[0];
    assert_eq!((e.start.frame, e.end.frame, e.start.seconds, e.end.seconds), (10, 20, 0.5, 1.0));
    assert_eq!(e.peak_score, 0.6);
}

#[test]
fn hysteresis_keeps_the_event_open_above_the_low_mark() {
    let scores = [0.7, 0.55, 0.52, 0.55, 0.3];
    let with = run(&EventsConfig { hysteresis: 0.1, ..plain() }, &scores);
    assert_eq!(statuses(&with), [(0, Opened), (4, Closed)]);
    assert_eq!(closed(&with)[0].end.frame, 40);
    let without = run(&plain(), &scores);
    assert_eq!(statuses(&without), [(0, Opened), (1, Closed)]);
    // Below the threshold but above the low mark never opens an event.
    assert!(run(&EventsConfig { hysteresis: 0.1, ..plain() }, &[0.55; 6]).is_empty());
}

#[test]
fn min_duration_delays_opened_and_drops_short_events() {
    let cfg = EventsConfig { min_duration_s: 1.5, ..plain() };
    let before = suppressed("short");
    // 2 segments = 1.0 s: never reported.
    assert!(run(&cfg, &[0.0, 0.9, 0.9, 0.0, 0.0]).is_empty());
    assert!(suppressed("short") > before);
    // 3 segments = 1.5 s: reported, `opened` only once the third segment is in.
    let m = run(&cfg, &[0.0, 0.9, 0.9, 0.9, 0.0]);
    assert_eq!(statuses(&m), [(3, Opened), (4, Closed)]);
    let opened = &m[0].1;
    assert_eq!((opened.start.seconds, opened.end.seconds), (0.5, 2.0), "true start, end so far");
    assert!(closed(&m)[0].duration_s() >= 1.5);
}

#[test]
fn merge_gap_joins_short_dips_and_delays_close() {
    let cfg = EventsConfig { merge_gap_s: 2.0, ..plain() };
    // Dip of 3 segments (1.5 s) < 2 s: one event over everything.
    let m = run(&cfg, &[0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(closed(&m).len(), 1);
    let e = closed(&m)[0];
    assert_eq!((e.start.frame, e.end.frame), (0, 70));
    // The close comes once 2 s have passed after the end (segment 10 ends at 5.5 s).
    assert_eq!(statuses(&m), [(0, Opened), (10, Closed)]);
    // Dip of 4 segments (2.0 s) = merge gap: two events.
    let m = run(&cfg, &[0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9]);
    let c = closed(&m);
    assert_eq!(c.iter().map(|e| (e.start.frame, e.end.frame)).collect::<Vec<_>>(), [(0, 20), (60, 80)]);
    assert_ne!(c[0].event_id, c[1].event_id);
    // A dip segment above the low mark but below the threshold does not re-trigger.
    let m = run(&EventsConfig { hysteresis: 0.2, ..cfg.clone() }, &[0.9, 0.3, 0.5, 0.5, 0.5, 0.5, 0.1]);
    assert_eq!(closed(&m)[0].end.frame, 10);
}

#[test]
fn missing_segments_count_as_a_gap() {
    let cfg = EventsConfig { merge_gap_s: 1.0, ..plain() };
    let mut d = detector(&cfg);
    assert_eq!(d.push(&seg(0, 0.9, [1.0, 0.0])).len(), 1);
    // Segments 1..=3 never arrive (1.5 s hole): the event closes before segment 4 starts one.
    let m = d.push(&seg(4, 0.9, [1.0, 0.0]));
    assert_eq!(m.iter().map(|e| (e.status, e.start.frame)).collect::<Vec<_>>(), [(Closed, 0), (Opened, 40)]);
    // Timestamp jitter between contiguous segments (pts-based live clocks) is no hole,
    // even with merge_gap 0.
    let mut d = detector(&plain());
    let mut m = Vec::new();
    for i in 0..6 {
        let mut s = seg(i, 0.9, [1.0, 0.0]);
        s.time_start += 0.003 * (i % 2) as f64;
        m.extend(d.push(&s));
    }
    m.extend(d.finish());
    assert_eq!(m.iter().map(|e| e.status).collect::<Vec<_>>(), [Opened, Closed]);
}

#[test]
fn cooldown_suppresses_short_events_and_defers_long_ones() {
    let cfg = EventsConfig { cooldown_s: 5.0, ..plain() };
    let before = suppressed("cooldown");
    // A: segments 0-1 (ends 1.0 s) → cooldown until 6.0 s.
    // B: segments 4-5 (2.0–3.0 s), inside the cooldown: suppressed.
    // C: segments 8-15 (4.0–8.0 s): starts inside, still going at 6.0 s → opened at
    //    segment 11 (ends 6.0 s) with its true start.
    let mut s = vec![0.0f32; 18];
    for i in [0, 1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15] {
        s[i] = 0.9;
    }
    let m = run(&cfg, &s);
    assert_eq!(statuses(&m), [(0, Opened), (2, Closed), (11, Opened), (16, Closed)]);
    assert_eq!(m[2].1.start.seconds, 4.0);
    assert!(suppressed("cooldown") > before);
    // No cooldown: three events.
    assert_eq!(closed(&run(&plain(), &s)).len(), 3);
}

#[test]
fn updates_are_throttled_and_only_on_change() {
    let cfg = EventsConfig { update_interval_s: 2.0, ..plain() };
    // Peak rises every segment for 10 s.
    let rising: Vec<f32> = (0..20).map(|i| 0.6 + i as f32 * 0.02).collect();
    let m = run(&cfg, &rising);
    let times: Vec<f64> = m.iter().filter(|(_, e)| e.status != Closed).map(|(_, e)| e.end.seconds).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 2.0 - 1e-9), "{times:?}");
    assert_eq!(m.iter().filter(|(_, e)| e.status == Updated).count(), 4); // at 2.5, 4.5, 6.5, 8.5 s
    assert!(m.iter().map(|(_, e)| e.seq).eq(0..m.len() as u32), "seq counts messages");
    // A flat curve never changes: opened and closed only.
    assert_eq!(statuses(&run(&cfg, &[0.8; 20])), [(0, Opened), (20, Closed)]);
}

#[test]
fn category_is_the_score_weighted_argmax() {
    let mut d = detector(&plain_with_hysteresis(0.1));
    let mut m = Vec::new();
    // Two strong Fire segments, three weak (but sustained) Panic segments: weighting by
    // score picks Fire; a plain mean would pick Panic.
    for (i, (s, p)) in
        [(0.95, [0.9, 0.1]), (0.95, [0.9, 0.1]), (0.55, [0.1, 0.9]), (0.55, [0.1, 0.9]), (0.55, [0.1, 0.9])]
            .into_iter()
            .enumerate()
    {
        m.extend(d.push(&seg(i, s, p)));
    }
    m.extend(d.finish());
    let e = m.last().unwrap();
    assert_eq!(e.category.as_deref(), Some("Fire"));
    let fire = (0.95 * 0.9 * 2.0 + 0.55 * 0.1 * 3.0) / (0.95 * 2.0 + 0.55 * 3.0);
    assert!((e.category_probs["Fire"] as f64 - fire).abs() < 1e-6);
    assert!((e.category_probs.values().sum::<f32>() - 1.0).abs() < 1e-5);
}

fn plain_with_hysteresis(h: f32) -> EventsConfig {
    EventsConfig { hysteresis: h, ..plain() }
}

#[test]
fn ids_are_stable_across_runs_and_shared_by_an_events_messages() {
    let cfg = EventsConfig { update_interval_s: 0.0, ..plain() };
    let curve = [0.0, 0.7, 0.8, 0.9, 0.0, 0.9, 0.0];
    let (a, b) = (run(&cfg, &curve), run(&cfg, &curve));
    let ids = |m: &[(usize, Event)]| m.iter().map(|(_, e)| e.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a[0].1.event_id, event_id("test", "cam1", 10));
    let first: Vec<_> = a.iter().filter(|(_, e)| e.start.frame == 10).collect();
    assert!(first.len() >= 3 && first.iter().all(|(_, e)| e.event_id == first[0].1.event_id));
}

#[test]
fn end_of_stream_closes_and_whole_video_events_span_everything() {
    let m = run(&EventsConfig::default(), &[0.9; 40]);
    assert_eq!(statuses(&m).first(), Some(&(2, Opened))); // 1.5 s = 3 segments
    assert_eq!(statuses(&m).last(), Some(&(40, Closed)));
    let e = closed(&m)[0];
    assert_eq!((e.start.frame, e.end.frame, e.end.seconds), (0, 400, 20.0));
    // Ending in a dip: the dip is not part of the event.
    let m = run(&EventsConfig::default(), &[0.9, 0.9, 0.9, 0.9, 0.1]);
    assert_eq!(closed(&m)[0].end.frame, 40);
    // A short candidate at the end is dropped, not reported.
    assert!(run(&EventsConfig::default(), &[0.0, 0.0, 0.9]).is_empty());
}

#[test]
fn payload_has_the_design_fields() {
    let m = run(&plain(), &[0.9, 0.0]);
    let v: serde_json::Value = serde_json::to_value(&m[0].1).unwrap();
    for k in [
        "event_id",
        "stream",
        "status",
        "start",
        "end",
        "peak_score",
        "category",
        "category_probs",
        "pipeline",
        "model",
        "video",
        "wall_time",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["status"], "opened");
    assert_eq!(v["start"], serde_json::json!({"seconds": 0.0, "frame": 0}));
    assert_eq!(v["category"], "Fire");
    assert_eq!(v["video"], "file:///v/cam1.mp4");
    let wt = v["wall_time"].as_str().unwrap();
    assert!(wt.len() == 24 && wt.ends_with('Z') && wt.as_bytes()[10] == b'T', "{wt}");
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, m[0].1);
}

#[test]
fn config_defaults_parse_and_validation() {
    let c: EventsConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, EventsConfig::default());
    assert_eq!((c.threshold, c.hysteresis, c.min_duration_s, c.merge_gap_s, c.cooldown_s), (0.6, 0.1, 1.5, 2.0, 0.0));
    assert!(serde_json::from_str::<EventsConfig>(r#"{"treshold": 0.5}"#)
        .unwrap_err()
        .to_string()
        .contains("unknown field"));
    c.validate().unwrap();
    let bad = |c: EventsConfig| c.validate().unwrap_err().key;
    assert_eq!(bad(EventsConfig { threshold: 1.5, ..c.clone() }), "threshold");
    assert_eq!(bad(EventsConfig { hysteresis: 0.6, ..c.clone() }), "hysteresis");
    assert_eq!(bad(EventsConfig { merge_gap_s: -1.0, ..c.clone() }), "merge_gap_s");
    assert_eq!(bad(EventsConfig { cooldown_s: f64::NAN, ..c.clone() }), "cooldown_s");
    let e = EventsConfig { threshold: 0.0, ..c }.validate().unwrap_err().prefixed("events");
    assert!(e.to_string().starts_with("events.threshold: "));
}

#[test]
fn property_events_are_well_formed_on_random_curves() {
    let mut rng = XorShift::new(0x5eed_cafe);
    for case in 0..400 {
        let cfg = EventsConfig {
            threshold: 0.3 + 0.6 * rng.unit() as f32,
            hysteresis: 0.0,
            min_duration_s: [0.0, 0.5, 1.5, 3.0][rng.next_u64() as usize % 4],
            merge_gap_s: [0.0, 0.5, 2.0, 5.0][rng.next_u64() as usize % 4],
            cooldown_s: [0.0, 0.0, 3.0, 30.0][rng.next_u64() as usize % 4],
            update_interval_s: [0.0, 1.0, 5.0][rng.next_u64() as usize % 3],
            source_events: true,
        };
        let cfg = EventsConfig { hysteresis: cfg.threshold * 0.5 * rng.unit() as f32, ..cfg };
        // A random walk with jumps: long runs above and below the threshold.
        let n = 20 + rng.next_u64() as usize % 300;
        let mut s = rng.unit();
        let scores: Vec<f32> = (0..n)
            .map(|_| {
                s = if rng.unit() < 0.05 { rng.unit() } else { (s + (rng.unit() - 0.5) * 0.3).clamp(0.0, 1.0) };
                s as f32
            })
            .collect();
        let m = run(&cfg, &scores);
        let ctx = format!("case {case}: {cfg:?}");
        // Per id: opened, updated*, closed; seq counts up from 0; a stream's events never overlap.
        let mut prev_end: Option<f64> = None;
        let mut current: Option<&Event> = None;
        for (_, e) in &m {
            match e.status {
                Opened => {
                    assert!(current.is_none(), "{ctx}: opened while another is open");
                    if let Some(end) = prev_end {
                        assert!(e.start.seconds >= end + cfg.merge_gap_s - 1e-6, "{ctx}: overlap or unmerged gap");
                    }
                    assert_eq!(e.seq, 0, "{ctx}");
                    current = Some(e);
                }
                Updated | Closed => {
                    let o = current.unwrap_or_else(|| panic!("{ctx}: {:?} without opened", e.status));
                    assert_eq!(e.event_id, o.event_id, "{ctx}");
                    assert_eq!(e.start, o.start, "{ctx}");
                    assert!(e.end.frame >= o.end.frame && e.peak_score >= o.peak_score, "{ctx}");
                    if e.status == Closed {
                        assert!(e.start.seconds < e.end.seconds && e.start.frame < e.end.frame, "{ctx}");
                        assert!(e.duration_s() + 1e-6 >= cfg.min_duration_s, "{ctx}: too short");
                        assert!(e.peak_score >= cfg.threshold, "{ctx}");
                        prev_end = Some(e.end.seconds);
                        current = None;
                    }
                }
            }
        }
        assert!(current.is_none(), "{ctx}: event left open after finish");
        let mut ids: Vec<_> = m.iter().filter(|(_, e)| e.status == Opened).map(|(_, e)| &e.event_id).collect();
        let n_events = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n_events, "{ctx}: ids unique");
    }
}

fn live_detector(cfg: &EventsConfig, session_ms: Option<u64>) -> EventDetector {
    let ctx = EventContext { pipeline: "test".into(), model: "m".into(), ..Default::default() };
    let cats: Arc<[String]> = CATS.iter().map(|c| c.to_string()).collect();
    let info = crate::source::StreamInfo {
        stream: Arc::from("cam1"),
        uri: "rtsp://u:p@cam/1".into(),
        fps: FPS,
        live: session_ms.is_some(),
        started_unix_ms: session_ms,
        ..Default::default()
    };
    EventDetector::new(cfg, &ctx, &info, cats)
}

/// Segment `i` after a gap: its times shifted by `shift_s`.
fn seg_at(i: usize, score: f32, shift_s: f64) -> ScoredSegment {
    let mut s = seg(i, score, [0.7, 0.3]);
    s.time_start += shift_s;
    s.time_end += shift_s;
    s
}

#[test]
fn a_gap_closes_the_event_at_its_end_and_the_stream_starts_afresh() {
    let cfg = EventsConfig { cooldown_s: 30.0, merge_gap_s: 2.0, ..plain() };
    let mut d = live_detector(&cfg, Some(1_767_225_600_000));
    let mut m = Vec::new();
    for i in 0..4 {
        m.extend(d.push(&seg(i, 0.9, [0.7, 0.3])));
    }
    let closing = d.gap();
    assert_eq!(closing.iter().map(|e| e.status).collect::<Vec<_>>(), [Closed]);
    let c = &closing[0];
    assert_eq!((c.start.frame, c.end.frame, c.end.seconds), (0, 40, 2.0), "closed at the last segment before the gap");
    assert!(!d.is_open());
    // After the gap (10 s later): a new event, not held back by the cooldown, its own id.
    let mut after = Vec::new();
    for i in 4..8 {
        after.extend(d.push(&seg_at(i, 0.9, 10.0)));
    }
    after.extend(d.finish());
    assert_eq!(after.iter().map(|e| e.status).collect::<Vec<_>>(), [Opened, Closed]);
    assert_eq!((after[0].start.frame, after[0].start.seconds), (40, 12.0));
    assert_ne!(after[0].event_id, c.event_id);
    // Without the gap the same scores are one event.
    let mut d = live_detector(&cfg, Some(1_767_225_600_000));
    let one: Vec<Event> = (0..8).flat_map(|i| d.push(&seg(i, 0.9, [0.7, 0.3]))).collect();
    assert_eq!(one.iter().filter(|e| e.status == Opened).count(), 1);
}

#[test]
fn live_events_carry_their_session_in_the_id_and_wall_times() {
    let session = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let mut d = live_detector(&plain(), Some(session));
    let e = d.push(&seg(3, 0.9, [0.7, 0.3])).remove(0);
    assert_eq!(e.event_id, event_id_in_session("test", "cam1", Some(session), 30));
    assert_ne!(e.event_id, event_id("test", "cam1", 30));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["start"]["wall_time"], "2026-01-01T00:00:01.500Z");
    assert_eq!(v["end"]["wall_time"], "2026-01-01T00:00:02.000Z");
    // Files: the pinned id and no wall-clock fields.
    let mut f = live_detector(&plain(), None);
    let e = f.push(&seg(3, 0.9, [0.7, 0.3])).remove(0);
    assert_eq!(e.event_id, event_id("test", "cam1", 30));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["start"], serde_json::json!({"seconds": 1.5, "frame": 30}));
}

/// Runs the events stage over `msgs` with a `jsonl` sink; returns its lines.
fn stage_lines(cfg: &EventsConfig, msgs: Vec<crate::window::ScoreMsg>) -> Vec<serde_json::Value> {
    use crate::runtime::channel::{bounded, ChannelConfig};
    use crate::sinks::{JsonlSinkConfig, SinkConfig, SinkContext, SinkSet};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sinks = SinkSet::spawn(
        &[SinkConfig::Jsonl(JsonlSinkConfig { path: path.clone(), queue: Default::default() })],
        &SinkContext::default(),
    )
    .unwrap();
    let (tx, rx) = bounded("scores", &ChannelConfig::default());
    let feeder = std::thread::spawn(move || msgs.into_iter().for_each(|m| assert!(tx.send(m).is_ok())));
    let ctx = EventContext { pipeline: "test".into(), model: "m".into(), ..Default::default() };
    let stats = run_events(rx, cfg, &ctx, &sinks);
    feeder.join().unwrap();
    assert!(sinks.close().into_iter().all(|(_, r)| r.is_ok()));
    assert_eq!(stats.outages, 1);
    std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn outage_stream() -> Vec<crate::window::ScoreMsg> {
    use crate::window::ScoreMsg;
    let cats: Arc<[String]> = CATS.iter().map(|c| c.to_string()).collect();
    let session = 1_767_225_600_000;
    let info = crate::source::StreamInfo {
        stream: Arc::from("cam1"),
        uri: "rtsp://admin:pw@cam/1?token=t".into(),
        fps: FPS,
        live: true,
        started_unix_ms: Some(session),
        ..Default::default()
    };
    let mut m = vec![ScoreMsg::Started { info, categories: cats }];
    m.extend((0..4).map(|i| ScoreMsg::Segment(seg(i, 0.9, [0.7, 0.3]))));
    let stream: Arc<str> = Arc::from("cam1");
    let cause = "eof".into();
    m.push(ScoreMsg::Down(SourceDown { stream: stream.clone(), frames: 40, segments: 4, outage: 1, cause }));
    m.push(ScoreMsg::Up(SourceUp {
        stream: stream.clone(),
        segments: 4,
        outage: 1,
        offset_s: 12.0,
        down_s: 9.5,
        attempts: 3,
    }));
    m.extend((4..8).map(|i| ScoreMsg::Segment(seg_at(i, 0.9, 10.0))));
    m.push(ScoreMsg::End { stream, frames: 80, segments: 8, result: Ok(()) });
    m
}

#[test]
fn the_stage_closes_at_a_down_and_reports_the_outage_between_the_events() {
    let lines = stage_lines(&plain(), outage_stream());
    let kinds: Vec<String> =
        lines.iter().map(|v| v.get("type").or(v.get("status")).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["opened", "closed", "source_down", "source_up", "opened", "closed"]);
    assert_eq!(lines[1]["end"]["frame"], 40);
    let (down, up) = (&lines[2], &lines[3]);
    assert_eq!(down["video"], "rtsp://cam/1", "credentials and query redacted");
    assert_eq!((down["cause"].as_str(), down["seconds"].as_f64()), (Some("eof"), Some(2.0)));
    assert_eq!(down["wall_time"], "2026-01-01T00:00:02.000Z");
    assert_eq!((up["down_s"].as_f64(), up["attempts"].as_u64(), up["outage"].as_u64()), (Some(9.5), Some(3), Some(1)));
    assert_eq!(up["wall_time"], "2026-01-01T00:00:12.000Z");
    assert_ne!(down["event_id"], up["event_id"]);
    assert_eq!(lines[4]["start"]["wall_time"], "2026-01-01T00:00:12.000Z");
    // Turned off: the event still closes at the gap, no outage lines.
    let quiet = stage_lines(&EventsConfig { source_events: false, ..plain() }, outage_stream());
    assert_eq!(quiet.iter().filter(|v| v.get("type").is_some()).count(), 0);
    assert_eq!(quiet.len(), 4);
    assert_eq!(quiet[1]["end"]["frame"], 40);
}
