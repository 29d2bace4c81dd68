//! The start-up caches (`features::cache`): the optimised ONNX Runtime graph is written
//! once, reused with identical features, and rebuilt when damaged or unwritable; a model
//! file changed after a passed checksum check is checked again. Real binary, real models.
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn extract(cache: &Path, clip: &Path, out: &Path, models: Option<&Path>) -> Output {
    let mut cmd = bin();
    cmd.env("REFINEVAD_CACHE", cache);
    if let Some(m) = models {
        cmd.env("REFINEVAD_MODELS_DIR", m);
    }
    cmd.args(["extract", "--out", out.to_str().unwrap(), clip.to_str().unwrap()]).output().unwrap()
}

fn features(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("c.npy")).unwrap()
}

fn graphs(cache: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(cache.join("ort-optimized")) else { return Vec::new() };
    dir.map(|e| e.unwrap().path()).collect()
}

#[test]
fn optimised_graph_is_reused_and_rebuilt_when_damaged() {
    let d = tempfile::tempdir().unwrap();
    let clip = d.path().join("c.mp4");
    make_clip(&clip, 40, 160, 120, 10);
    let cache = d.path().join("cache");

    let o = extract(&cache, &clip, &d.path().join("a"), None);
    assert!(o.status.success(), "{}", text(&o));
    let first = features(&d.path().join("a"));
    let saved = graphs(&cache);
    assert_eq!(saved.len(), 1, "one optimised graph for the one CPU model: {saved:?}");
    let size = std::fs::metadata(&saved[0]).unwrap().len();
    assert!(size > 1_000_000, "a whole graph with its weights: {size} bytes");

    let o = extract(&cache, &clip, &d.path().join("b"), None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(features(&d.path().join("b")), first, "features from the cached graph are identical");

    std::fs::write(&saved[0], b"not a graph").unwrap();
    let o = extract(&cache, &clip, &d.path().join("c"), None);
    assert!(o.status.success(), "a damaged entry is rebuilt, not fatal: {}", text(&o));
    assert_eq!(features(&d.path().join("c")), first);
    assert_eq!(std::fs::metadata(&saved[0]).unwrap().len(), size, "the entry was written again");

    // A cache that cannot be created costs only time.
    let blocked = d.path().join("file-not-dir");
    std::fs::write(&blocked, b"").unwrap();
    let o = extract(&blocked, &clip, &d.path().join("e"), None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(features(&d.path().join("e")), first);
}

#[test]
fn a_model_changed_after_a_passed_check_is_checked_again() {
    let d = tempfile::tempdir().unwrap();
    let clip = d.path().join("c.mp4");
    make_clip(&clip, 20, 160, 120, 10);
    let cache = d.path().join("cache");
    let models = d.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let real = root().join("models");
    for f in ["manifest.json", "soft_caption_table.npy", "efficientnet_lite0.onnx"] {
        std::fs::copy(real.join(f), models.join(f)).unwrap();
    }
    std::os::unix::fs::symlink(real.join("onnxruntime"), models.join("onnxruntime")).unwrap();

    let o = extract(&cache, &clip, &d.path().join("a"), Some(&models));
    assert!(o.status.success(), "{}", text(&o));
    let stamps = std::fs::read_dir(cache.join("verified-models")).unwrap().count();
    assert_eq!(stamps, 2, "backbone and caption table passed their checks");

    // Same size, one byte changed in the weights.
    let model = models.join("efficientnet_lite0.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&model, &bytes).unwrap();
    let o = extract(&cache, &clip, &d.path().join("b"), Some(&models));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));
}
