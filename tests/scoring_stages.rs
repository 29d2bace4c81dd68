//! The staged scoring (MoTAR stage, then CORE stage, as the pipeline runs them on
//! separate workers) equals the fused `LoadedModel::predict`, including the windowed path
//! for videos longer than the MoTAR window; and the stage pool emits every segment once,
//! in order, with the right frame ranges.
use std::sync::Arc;

use refinevad::features::layout::FeatureLayout;
use refinevad::features::{FeatureMsg, SegmentFeatures};
use refinevad::model::{Checkpoint, HeadConfig, InputNorm, LoadedModel, NormStats, RefineVad};
use refinevad::runtime::channel::{bounded, ChannelConfig};
use refinevad::source::StreamInfo;
use refinevad::window::head::{core_stage, motar_stage};
use refinevad::window::{spawn_scoring, ModelStageConfig, ScoreMsg};

const D: usize = 10;

fn head(dir: &std::path::Path, window: usize) -> LoadedModel {
    let cfg = HeadConfig {
        input_dim: D,
        num_categories: 3,
        d_model: 16,
        prototype_dim: 16,
        score_hidden: 8,
        gate_hidden: 8,
        ..Default::default()
    };
    let model = RefineVad::new(cfg, 11, None, &candle_core::Device::Cpu).unwrap();
    let mut norm = NormStats::identity(D);
    norm.kind = InputNorm::VideoMedian;
    let mut ck = Checkpoint::new(&model, FeatureLayout::external(D), vec!["A".into(), "B".into(), "C".into()], norm);
    ck.inference.window = window;
    ck.inference.overlap = window / 4;
    ck.save(&model, dir).unwrap();
    LoadedModel::load(dir).unwrap()
}

fn features(t: usize) -> Vec<f32> {
    (0..t * D).map(|k| (((k * 37) % 101) as f32 / 50.0 - 1.0) + if (k / D) % 40 > 30 { 2.0 } else { 0.0 }).collect()
}

#[test]
fn staged_equals_fused_short_and_windowed() {
    let dir = tempfile::tempdir().unwrap();
    let m = head(dir.path(), 32);
    for t in [1usize, 20, 32, 100] {
        let x = features(t);
        let fused = m.predict(&x, t, D, &FeatureLayout::external(D)).unwrap();
        let h = motar_stage(&m, &x, t).unwrap();
        let (scores, probs) = core_stage(&m, &h, t).unwrap();
        assert_eq!(scores.len(), t);
        let max_diff = scores.iter().zip(&fused.scores).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_diff < 1e-5, "T={t}: staged scores differ by {max_diff}");
        let pd = probs.iter().zip(&fused.category_probs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(pd < 1e-5, "T={t}: category probs differ by {pd}");
    }
}

#[test]
fn stage_pool_scores_every_segment_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let m = head(dir.path(), 32);
    let t = 45;
    let x = features(t);
    let fused = m.predict(&x, t, D, &FeatureLayout::external(D)).unwrap();
    let cfg = ModelStageConfig { checkpoint: dir.path().into(), ..Default::default() };
    let (in_tx, in_rx) = bounded::<FeatureMsg>("in", &ChannelConfig::default());
    let (out_tx, out_rx) = bounded::<ScoreMsg>("out", &ChannelConfig::default());
    let (handles, cats) = spawn_scoring(&cfg, &FeatureLayout::external(D), in_rx, out_tx).unwrap();
    assert_eq!(&*cats, &["A".to_string(), "B".into(), "C".into()]);
    let stream: Arc<str> = "s".into();
    let info = StreamInfo {
        stream: stream.clone(),
        uri: "x".into(),
        width: 1,
        height: 1,
        source_width: None,
        source_height: None,
        fps: 10.0,
        live: false,
        first_pts_ns: None,
        started_unix_ms: None,
    };
    in_tx.send(FeatureMsg::Started(info)).unwrap();
    // Out of order, as a worker pool delivers them.
    let mut order: Vec<usize> = (0..t).collect();
    order.swap(3, 17);
    order.reverse();
    for i in order {
        let v = x[i * D..(i + 1) * D].to_vec();
        let frame_end = ((i as u64 + 1) * 16).min(713);
        in_tx
            .send(FeatureMsg::Segment(SegmentFeatures {
                stream: stream.clone(),
                index: i,
                outages: 0,
                frame_start: i as u64 * 16,
                frame_end,
                pts_ns: None,
                vector: v,
            }))
            .unwrap();
    }
    in_tx
        .send(FeatureMsg::End { stream: stream.clone(), frames: 713, snippets: t, outages: 0, result: Ok(()) })
        .unwrap();
    drop(in_tx);
    let msgs: Vec<ScoreMsg> = out_rx.iter().collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert!(matches!(msgs.first(), Some(ScoreMsg::Started { .. })));
    assert!(matches!(msgs.last(), Some(ScoreMsg::End { segments: 45, .. })));
    let segs: Vec<_> = msgs.iter().filter_map(|m| if let ScoreMsg::Segment(s) = m { Some(s) } else { None }).collect();
    assert_eq!(segs.len(), t);
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(s.index, i);
        assert!((s.score - fused.scores[i]).abs() < 1e-5);
        assert!((s.time_start - i as f64 * 1.6).abs() < 1e-9);
        assert_eq!(s.category_probs.len(), 3);
    }
    assert_eq!(segs[44].frame_end, 713);
}

#[test]
fn live_streams_are_scored_in_sliding_windows_with_bounded_delay() {
    let dir = tempfile::tempdir().unwrap();
    let _m = head(dir.path(), 32);
    let mut cfg = ModelStageConfig { checkpoint: dir.path().into(), ..Default::default() };
    cfg.window.segments = std::num::NonZeroUsize::new(8).unwrap();
    cfg.window.stride = std::num::NonZeroUsize::new(2).unwrap();
    let (in_tx, in_rx) = bounded::<FeatureMsg>("in", &ChannelConfig::default());
    let (out_tx, out_rx) = bounded::<ScoreMsg>("out", &ChannelConfig::default());
    let (handles, _) = spawn_scoring(&cfg, &FeatureLayout::external(D), in_rx, out_tx).unwrap();
    let stream: Arc<str> = "cam".into();
    let info = StreamInfo {
        stream: stream.clone(),
        uri: "rtsp://x".into(),
        width: 1,
        height: 1,
        source_width: None,
        source_height: None,
        fps: 25.0,
        live: true,
        first_pts_ns: Some(0),
        started_unix_ms: None,
    };
    in_tx.send(FeatureMsg::Started(info)).unwrap();
    let x = features(20);
    let mut seen = 0;
    for i in 0..20 {
        in_tx
            .send(FeatureMsg::Segment(SegmentFeatures {
                stream: stream.clone(),
                index: i,
                outages: 0,
                frame_start: i as u64 * 16,
                frame_end: (i as u64 + 1) * 16,
                pts_ns: None,
                vector: x[i * D..(i + 1) * D].to_vec(),
            }))
            .unwrap();
        // Scores for segment i are out within one stride, before the stream ends.
        if i % 2 == 1 {
            while seen <= i {
                match out_rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap() {
                    ScoreMsg::Segment(s) => {
                        assert_eq!(s.index, seen);
                        seen += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    in_tx.send(FeatureMsg::End { stream, frames: 320, snippets: 20, outages: 0, result: Ok(()) }).unwrap();
    drop(in_tx);
    let rest: Vec<_> = out_rx.iter().collect();
    assert!(matches!(rest.last(), Some(ScoreMsg::End { .. })));
    assert_eq!(seen, 20);
    for h in handles {
        h.join().unwrap().unwrap();
    }
}
