//! The source, segmenter and feature stages as a library, on real media and weights.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::*;
use refinevad::features::extractor::{Extractor, SharedModels};
use refinevad::features::{Device, FeaturesConfig, IMAGE_SIDE};
use refinevad::runtime::channel::{bounded, ChannelConfig};
use refinevad::segment::{SegmentMsg, Segmenter, SegmenterConfig};
use refinevad::source::{run_source, SourceConfig, SourceMsg};

/// Decodes a file through the real source stage and returns its snippets.
fn snippets_of(path: &std::path::Path, cfg: &FeaturesConfig) -> Vec<refinevad::segment::Snippet> {
    let (tx, rx) = bounded::<SourceMsg>("t", &ChannelConfig::default());
    let src = SourceConfig::new("t", path.display().to_string());
    let stream: Arc<str> = "t".into();
    let h = std::thread::spawn(move || {
        let n = run_source(&src, &stream, (IMAGE_SIDE, IMAGE_SIDE), &tx, &AtomicBool::new(false)).unwrap();
        tx.send_reliable(SourceMsg::End { stream, frames: n, result: Ok(()) }).unwrap();
    });
    let mut seg = Segmenter::new(SegmenterConfig::default(), cfg.needs());
    let mut out = Vec::new();
    for m in rx.iter() {
        let end = matches!(m, SourceMsg::End { .. });
        for s in seg.handle(m) {
            if let SegmentMsg::Snippet(s) = s {
                out.push(s);
            }
        }
        if end {
            break;
        }
    }
    h.join().unwrap();
    out
}

#[test]
fn efficientnet_logits_of_real_photos_give_their_imagenet_class() {
    let cfg = FeaturesConfig::default();
    let shared = SharedModels::load(&cfg).expect("models installed by scripts/setup.sh");
    let mut ex = Extractor::new(&cfg, &shared, Device::Cpu, 0).unwrap();
    // Same classes the ONNX export checks against torch (scripts/export_models.py).
    for (file, class) in [("orange.jpg", 950), ("baboon.jpg", 372), ("squirrel_cls.jpg", 335)] {
        let snippets = snippets_of(&sample(file), &cfg);
        assert_eq!(snippets.len(), 1, "a photo is a one-frame, one-snippet video");
        let logits = ex.imagenet_logits(&snippets).unwrap().remove(0);
        let top = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(top, class, "{file}");
    }
}

#[test]
fn frame_ranges_tile_the_video_exactly() {
    let cfg = FeaturesConfig::default();
    let snippets = snippets_of(&sample("vtest.avi"), &cfg);
    assert_eq!(snippets.len(), 50);
    let mut next = 0;
    for (i, s) in snippets.iter().enumerate() {
        assert_eq!((s.index, s.frame_start), (i, next));
        next = s.frame_end;
    }
    assert_eq!(next, 795);
    assert_eq!(snippets[49].frame_end - snippets[49].frame_start, 795 - 49 * 16);
    assert!(snippets.windows(2).all(|w| w[0].pts_ns < w[1].pts_ns), "pts kept and increasing");
}

/// Runs the front half (sources → segmenter → feature pool) in-process and returns each
/// stream's vectors by segment index.
fn front_features(
    cfg: &refinevad::config::PipelineConfig,
    files: &[(&str, std::path::PathBuf)],
) -> std::collections::BTreeMap<(String, usize), Vec<f32>> {
    use refinevad::features::FeatureMsg;
    use refinevad::runtime::front::build_front;
    use refinevad::runtime::{run_stages, Cancel};
    let sources = files.iter().map(|(id, p)| SourceConfig::new(id.to_string(), p.display().to_string())).collect();
    let cancel = Cancel::default();
    let mut front = build_front(cfg, sources, &cancel).unwrap();
    let rx = front.features.clone();
    drop(front.features);
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let out2 = out.clone();
    front.stages.add("collect", move || {
        for m in rx.iter() {
            if let FeatureMsg::Segment(s) = m {
                out2.lock().unwrap().insert((s.stream.to_string(), s.index), s.vector);
            }
        }
        Ok(())
    });
    let outcome = run_stages(front.stages, cancel, std::time::Duration::from_secs(10));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let m = std::mem::take(&mut *out.lock().unwrap());
    m
}

#[test]
fn two_worker_pools_share_the_work_and_give_the_same_features() {
    use refinevad::telemetry::registry;
    let files = [("v1", sample("vtest.avi")), ("v2", sample("box.mp4"))];
    let one = front_features(&refinevad::config::PipelineConfig::default_named("one"), &files);
    let mut cfg = refinevad::config::PipelineConfig::default_named("two");
    cfg.features.devices = vec![Device::Cpu, Device::Cpu];
    cfg.features.batch = std::num::NonZeroUsize::new(2).unwrap();
    let before: Vec<u64> = ["cpu#0", "cpu#1"]
        .iter()
        .map(|w| registry().counter_value("refinevad_snippets_inferred_total", &[("stage", "features"), ("worker", w)]))
        .collect();
    let two = front_features(&cfg, &files);
    let after: Vec<u64> = ["cpu#0", "cpu#1"]
        .iter()
        .map(|w| registry().counter_value("refinevad_snippets_inferred_total", &[("stage", "features"), ("worker", w)]))
        .collect();
    assert!(after[0] > before[0] && after[1] > before[1], "both workers got work: {before:?} → {after:?}");
    assert_eq!(one.len(), 50 + 29);
    assert_eq!(one.keys().collect::<Vec<_>>(), two.keys().collect::<Vec<_>>(), "every segment of every stream, once");
    for (k, a) in &one {
        let b = &two[k];
        let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(d < 1e-4, "{k:?}: features depend on batching by {d}");
    }
}

#[test]
fn a_source_that_never_delivers_a_frame_fails_as_stalled() {
    // A UDP source nobody sends to: no frame, no EOS, no error — only the watchdog ends it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = SourceConfig {
        stall_timeout_s: Some(1.5),
        live: Some(false),
        ..SourceConfig::new("udp", format!("udp://127.0.0.1:{port}"))
    };
    let (tx, _rx) = bounded::<SourceMsg>("t", &ChannelConfig::default());
    let t0 = std::time::Instant::now();
    let err = run_source(&src, &"udp".into(), (IMAGE_SIDE, IMAGE_SIDE), &tx, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(err.kind(), "stalled", "{err}");
    assert!(err.to_string().contains("stalled: no frame"), "{err}");
    assert!(t0.elapsed().as_secs_f64() < 10.0);
}
