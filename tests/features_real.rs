//! The source, segmenter and feature stages as a library, on real media and weights.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::*;
use refinevad::features::extractor::{Extractor, SharedModels};
use refinevad::features::{Device, FeaturesConfig, IMAGE_SIDE};
use refinevad::runtime::channel::{bounded, ChannelConfig};
use refinevad::segment::{Segmenter, SegmentMsg, SegmenterConfig};
use refinevad::source::{run_source, SourceConfig, SourceMsg};

/// Decodes a file through the real source stage and returns its snippets.
fn snippets_of(path: &std::path::Path, cfg: &FeaturesConfig) -> Vec<refinevad::segment::Snippet> {
    let (tx, rx) = bounded::<SourceMsg>("t", &ChannelConfig::default());
    let src = SourceConfig { id: "t".into(), uri: path.display().to_string(), live: None };
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
    let mut ex = Extractor::new(&cfg, &shared, Device::Cpu).unwrap();
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
