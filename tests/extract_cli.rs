//! `refinevad extract` end to end: real GStreamer decoding of real footage, real ONNX
//! Runtime with the exported pretrained weights.
mod common;

use common::*;
use refinevad::features::layout::FeatureFileMeta;
use refinevad::io::npy::read_f32;

fn meta(dir: &std::path::Path, id: &str) -> FeatureFileMeta {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{id}.json"))).unwrap()).unwrap()
}

#[test]
fn vtest_features_have_documented_shape_layout_and_are_deterministic() {
    let out1 = tempfile::tempdir().unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let vtest = sample("vtest.avi");
    for out in [&out1, &out2] {
        let o = run(&["extract", "--out", out.path().to_str().unwrap(), vtest.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let m = meta(out1.path(), "vtest");
    assert_eq!(m.n_frames, 795);
    assert_eq!(m.n_segments, 50, "ceil(795 / 16)");
    assert_eq!(m.fps, 10.0);
    assert_eq!(m.layout.describe(), "efficientnet_lite0:1280+soft_caption:384+motion:50");
    assert!(m.models.contains_key("efficientnet_lite0.onnx"));
    let a = read_f32(&out1.path().join("vtest.npy")).unwrap();
    let b = read_f32(&out2.path().join("vtest.npy")).unwrap();
    assert_eq!(a.shape, vec![50, 1714]);
    let max_diff = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max_diff <= 1e-5, "same input gave features differing by {max_diff}");
    // Soft-caption rows are unit vectors; image features are non-trivial.
    let cap = m.layout.range("soft_caption").unwrap();
    for row in a.data.chunks(1714) {
        let n: f32 = row[cap.clone()].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-3, "caption norm {n}");
        assert!(row.iter().all(|v| v.is_finite()));
    }
    let img = m.layout.range("efficientnet_lite0").unwrap();
    assert!(a.data[img].iter().map(|v| v.abs()).sum::<f32>() > 10.0);
}

#[test]
fn generated_clip_gives_ceil_segments_with_partial_last_and_motion() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("ball.mp4");
    make_clip(&clip, 40, 320, 240, 25);
    let out = dir.path().join("out");
    let o = run(&["extract", "--out", out.to_str().unwrap(), clip.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let m = meta(&out, "ball");
    assert_eq!((m.n_frames, m.n_segments, m.fps), (40, 3, 25.0), "40 frames → ceil(40/16) = 3 segments");
    let f = read_f32(&out.join("ball.npy")).unwrap();
    assert_eq!(f.shape, vec![3, 1714]);
    let motion = m.layout.range("motion").unwrap();
    let diff_mean = f.data[motion.start]; // first motion column is diff_mean
    assert!(diff_mean > 0.0, "a moving ball shows motion");
}

#[test]
fn soft_caption_of_a_real_photo_points_at_its_class() {
    // orange.jpg decodes as a one-frame video; its soft caption must be closest to the
    // MiniLM embedding of "an orange" among the 1000 ImageNet captions.
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["extract", "--out", dir.path().to_str().unwrap(), sample("orange.jpg").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let f = read_f32(&dir.path().join("orange.npy")).unwrap();
    assert_eq!(f.shape, vec![1, 1714]);
    let cap = &f.data[1280..1280 + 384];
    let table = read_f32(&root().join("models/soft_caption_table.npy")).unwrap();
    let best = table
        .data
        .chunks(384)
        .map(|r| r.iter().zip(cap).map(|(a, b)| a * b).sum::<f32>())
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    assert_eq!(best, 950, "ImageNet class 950 is orange");
}

#[test]
fn pipeline_file_settings_change_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, "name: t\nsegmenter: {snippet_frames: 8}\nfeatures:\n  caption: {enabled: false}\n  image: {frames_per_snippet: 1}\n").unwrap();
    let clip = dir.path().join("c.mp4");
    make_clip(&clip, 20, 160, 120, 10);
    let out = dir.path().join("o");
    let o =
        run(&["extract", "--pipeline", p.to_str().unwrap(), "--out", out.to_str().unwrap(), clip.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let m = meta(&out, "c");
    assert_eq!(m.layout.describe(), "efficientnet_lite0:1280+motion:50");
    assert_eq!((m.n_segments, m.snippet_frames, m.image_frames_per_snippet), (3, 8, 1));
}
