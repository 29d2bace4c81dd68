//! The MoTAR stage's ordering and windowing rules, without a model: exactly-once emission,
//! no window across an outage, outage messages in place, whatever the arrival order.
use std::num::NonZeroUsize;
use std::sync::Arc;

use super::*;
use crate::runtime::rng::XorShift;

fn cfg(segments: usize, stride: usize) -> LiveWindowConfig {
    LiveWindowConfig { segments: NonZeroUsize::new(segments).unwrap(), stride: NonZeroUsize::new(stride).unwrap() }
}

fn started(live: bool) -> FeatureMsg {
    FeatureMsg::Started(StreamInfo { stream: "cam".into(), fps: 10.0, live, ..Default::default() })
}

/// Segment `i` of the first connection.
fn seg(i: usize) -> FeatureMsg {
    seg_after(i, 0)
}

/// Segment `i` after `outages` outages: frames [16 i, 16 i + 16), a vector holding `i`.
fn seg_after(i: usize, outages: u32) -> FeatureMsg {
    FeatureMsg::Segment(SegmentFeatures {
        stream: "cam".into(),
        index: i,
        outages,
        frame_start: 16 * i as u64,
        frame_end: 16 * i as u64 + 16,
        pts_ns: None,
        vector: vec![i as f32],
    })
}

fn down(snippets: usize, outage: u32) -> FeatureMsg {
    let (stream, cause) = ("cam".into(), "lost".into());
    FeatureMsg::Down(SourceDown { stream, frames: 16 * snippets as u64, segments: snippets, outage, cause })
}

fn up(snippets: usize, outage: u32) -> FeatureMsg {
    let offset_s = 100.0 * outage as f64;
    FeatureMsg::Up(SourceUp { stream: "cam".into(), segments: snippets, outage, offset_s, down_s: 1.0, attempts: 1 })
}

fn end(snippets: usize, outages: u32) -> FeatureMsg {
    FeatureMsg::End { stream: "cam".into(), frames: 16 * snippets as u64, snippets, outages, result: Ok(()) }
}

/// Feeds `msgs`; returns the steps as text (`w[1,2,3]>2` = window over segments 1–3
/// emitting from position 2) and checks each window's rows are its segments.
fn run(live: &LiveWindowConfig, msgs: Vec<FeatureMsg>) -> Vec<String> {
    let mut buf = StreamBuf::new(Arc::from("cam"), live.clone());
    let mut steps = Vec::new();
    let mut finished = false;
    for m in msgs {
        assert!(!finished, "a message after the end");
        finished = buf.push(m, &mut steps);
    }
    assert!(finished, "the stream never finished: {steps:?}");
    steps
        .into_iter()
        .map(|s| match s {
            Step::Started(_) => "start".into(),
            Step::Window { segments, x, emit_from } => {
                let idx: Vec<usize> = segments.iter().map(|m| m.index).collect();
                assert_eq!(x, idx.iter().map(|&i| i as f32).collect::<Vec<_>>(), "rows are the window's segments");
                format!("w{idx:?}>{emit_from}").replace(' ', "")
            }
            Step::Down(d) => format!("down{}@{}", d.outage, d.segments),
            Step::Up(u) => format!("up{}", u.outage),
            Step::End { segments, .. } => format!("end@{segments}"),
        })
        .collect()
}

fn in_order(n_before: usize, n_after: usize) -> Vec<FeatureMsg> {
    let mut m = vec![started(true)];
    m.extend((0..n_before).map(seg));
    m.extend([down(n_before, 1), up(n_before, 1)]);
    m.extend((n_before..n_before + n_after).map(|i| seg_after(i, 1)));
    m.push(end(n_before + n_after, 1));
    m
}

#[test]
fn down_scores_the_pending_segments_with_their_context_then_empties_the_window() {
    let steps = run(&cfg(4, 2), in_order(5, 4));
    assert_eq!(
        steps,
        ["start", "w[0,1]>0", "w[0,1,2,3]>2", "w[1,2,3,4]>3", "down1@5", "up1", "w[5,6]>0", "w[5,6,7,8]>2", "end@9"]
    );
}

#[test]
fn outage_messages_wait_for_the_segments_before_them() {
    let want = run(&cfg(4, 2), in_order(5, 4));
    // The pool forwards control at once and finishes segments in any order: Up and even
    // End overtake Down, segments after the gap overtake segments before it.
    let mut m = vec![started(true), seg(1), end(9, 1), up(5, 1), seg_after(6, 1), seg(0), seg_after(5, 1)];
    m.extend([seg(3), seg_after(8, 1), down(5, 1), seg(2), seg_after(7, 1), seg(4)]);
    assert_eq!(run(&cfg(4, 2), m), want);
}

#[test]
fn back_to_back_outages_and_an_outage_before_any_segment() {
    let mut m = vec![started(true), down(0, 1), up(0, 1), seg_after(0, 1), seg_after(1, 1), seg_after(2, 1)];
    m.extend([down(3, 2), up(3, 2), down(3, 3), up(3, 3), seg_after(3, 3), end(4, 3)]);
    let steps = run(&cfg(8, 2), m);
    assert_eq!(
        steps,
        ["start", "down1@0", "up1", "w[0,1]>0", "w[0,1,2]>2", "down2@3", "up2", "down3@3", "up3", "w[3]>0", "end@4"]
    );
}

#[test]
fn times_after_an_outage_start_at_the_offset() {
    let mut buf = StreamBuf::new(Arc::from("cam"), cfg(2, 2));
    let mut steps = Vec::new();
    for m in in_order(2, 2) {
        buf.push(m, &mut steps);
    }
    let times: Vec<(usize, f64)> = steps
        .iter()
        .filter_map(|s| if let Step::Window { segments, .. } = s { Some(segments) } else { None })
        .flatten()
        .map(|m| (m.index, m.time_start))
        .collect();
    assert_eq!(times, [(0, 0.0), (1, 1.6), (2, 100.0), (3, 101.6)]);
}

#[test]
fn files_are_one_window_at_the_end() {
    let mut m = vec![started(false)];
    m.extend([seg(2), seg(0), seg(1)]);
    m.push(end(3, 0));
    assert_eq!(run(&cfg(2, 1), m), ["start", "w[0,1,2]>0", "end@3"]);
}

#[test]
fn failed_extraction_still_sends_the_outage_messages_in_order() {
    let mut buf = StreamBuf::new(Arc::from("cam"), cfg(4, 4));
    let mut steps = Vec::new();
    for m in
        [started(true), seg(0), down(2, 1), up(2, 1), FeatureMsg::Failed { stream: "cam".into(), error: "x".into() }]
    {
        assert!(!buf.push(m, &mut steps));
    }
    assert!(buf.push(end(3, 1), &mut steps));
    let kinds: Vec<_> = steps.iter().map(|s| format!("{s:?}").split([' ', '(']).next().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["Started", "Down", "Up", "End"]);
    assert!(matches!(steps.last(), Some(Step::End { result: Err(_), .. })));
}

#[test]
fn property_every_segment_once_and_no_window_spans_an_outage() {
    let mut rng = XorShift::new(0x9a95_eed5);
    for case in 0..2000 {
        let w = 1 + rng.below(8);
        let live = cfg(w, 1 + rng.below(w + 1));
        let n = rng.below(40);
        let mut bounds: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(n + 1)).collect();
        bounds.sort_unstable();
        let outages = bounds.len() as u32;
        let mut msgs = Vec::new();
        let mut b = 0;
        for i in 0..=n {
            while b < bounds.len() && bounds[b] == i {
                msgs.extend([down(i, b as u32 + 1), up(i, b as u32 + 1)]);
                b += 1;
            }
            if i < n {
                msgs.push(seg_after(i, b as u32));
            }
        }
        msgs.push(end(n, outages));
        // Any arrival order after Started.
        for k in (1..msgs.len()).rev() {
            msgs.swap(k, rng.below(k + 1));
        }
        msgs.insert(0, started(true));
        let ctx = format!("case {case}: W={w} S={} n={n} outages at {bounds:?}", live.stride);
        let mut buf = StreamBuf::new(Arc::from("cam"), live.clone());
        let mut steps = Vec::new();
        let done: Vec<bool> = msgs.into_iter().map(|m| buf.push(m, &mut steps)).collect();
        assert_eq!(done.iter().filter(|&&d| d).count(), 1, "{ctx}: finished once");
        assert!(*done.last().unwrap(), "{ctx}: finished at the last message");
        // Connection of segment i = outages at or before it.
        let conn = |i: usize| bounds.iter().filter(|&&x| x <= i).count();
        let mut emitted = Vec::new();
        let mut downs = 0;
        for s in &steps {
            match s {
                Step::Window { segments, emit_from, .. } => {
                    let idx: Vec<usize> = segments.iter().map(|m| m.index).collect();
                    assert!(idx.len() <= w, "{ctx}: window longer than W: {idx:?}");
                    assert!(idx.windows(2).all(|p| p[1] == p[0] + 1), "{ctx}: not consecutive: {idx:?}");
                    assert!(idx.iter().all(|&i| conn(i) == conn(idx[0])), "{ctx}: window spans an outage: {idx:?}");
                    assert_eq!(conn(idx[0]), downs, "{ctx}: window on the wrong side of an outage");
                    emitted.extend_from_slice(&idx[*emit_from..]);
                }
                Step::Down(d) => {
                    downs += 1;
                    assert_eq!((d.outage as usize, d.segments), (downs, bounds[downs - 1]), "{ctx}");
                    assert_eq!(emitted.len(), d.segments, "{ctx}: everything before the gap is out first");
                }
                Step::Up(u) => assert_eq!(u.outage as usize, downs, "{ctx}: up follows its down"),
                Step::Started(_) | Step::End { .. } => {}
            }
        }
        assert_eq!(emitted, (0..n).collect::<Vec<_>>(), "{ctx}: every segment exactly once, in order");
        assert_eq!(downs, bounds.len(), "{ctx}");
        assert!(matches!(steps.last(), Some(Step::End { .. })), "{ctx}");
    }
}
