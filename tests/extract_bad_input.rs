//! Bad input gets one clear error naming the input and the cause, and the other inputs
//! of the run are still processed. Every case uses a real file.
mod common;

use std::path::Path;

use common::*;

/// Runs extract on `bad` plus a good clip; returns (exit code, output text, out dir).
fn with_good(bad: &Path, dir: &Path) -> (i32, String) {
    let good = dir.join("good.mp4");
    if !good.exists() {
        make_clip(&good, 16, 160, 120, 10);
    }
    let out = dir.join("out");
    let o = run(&["extract", "--out", out.to_str().unwrap(), bad.to_str().unwrap(), good.to_str().unwrap()]);
    assert!(out.join("good.npy").is_file(), "the good input must still be processed: {}", text(&o));
    (o.status.code().unwrap(), text(&o))
}

fn expect_failure(bad: &Path, dir: &Path, cause: &str) {
    let (code, out) = with_good(bad, dir);
    assert_eq!(code, 1, "{out}");
    let line = out.lines().find(|l| l.contains("FAILED")).unwrap_or_else(|| panic!("no failure line in:\n{out}"));
    assert!(line.contains(&bad.display().to_string()), "names the input: {line}");
    assert!(line.contains(cause), "expected cause `{cause}` in: {line}");
    assert!(out.contains("finished with 1 failure(s)"), "{out}");
}

#[test]
fn missing_file() {
    let d = tempfile::tempdir().unwrap();
    expect_failure(&d.path().join("missing.mp4"), d.path(), "file not found");
}

#[test]
fn zero_byte_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("empty.mp4");
    std::fs::write(&p, b"").unwrap();
    expect_failure(&p, d.path(), "empty file (0 bytes)");
}

#[test]
fn text_file_named_mp4() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("notes.mp4");
    std::fs::write(&p, "this is not a video, just some text\n".repeat(20)).unwrap();
    expect_failure(&p, d.path(), "not a video GStreamer can recognise");
}

#[test]
fn truncated_avi_and_mp4() {
    let d = tempfile::tempdir().unwrap();
    let full = std::fs::read(sample("vtest.avi")).unwrap();
    let p = d.path().join("cut.avi");
    std::fs::write(&p, &full[..full.len() / 3]).unwrap();
    expect_failure(&p, d.path(), "truncated");
    let full = std::fs::read(sample("box.mp4")).unwrap();
    let p = d.path().join("cut.mp4");
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    expect_failure(&p, d.path(), "truncated");
}

#[test]
fn unsupported_codec() {
    // vtest.avi with its DivX fourcc replaced by one no decoder claims.
    let d = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(sample("vtest.avi")).unwrap();
    let mut n = 0;
    for i in 0..4096.min(bytes.len() - 4) {
        if bytes[i..i + 4].eq_ignore_ascii_case(b"div3") {
            bytes[i..i + 4].copy_from_slice(b"QQQ9");
            n += 1;
        }
    }
    assert!(n > 0, "fourcc found");
    let p = d.path().join("codec.avi");
    std::fs::write(&p, bytes).unwrap();
    expect_failure(&p, d.path(), "unsupported format or codec");
}

#[test]
fn a_directory_of_inputs_with_an_unreadable_subdirectory() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("locked")).unwrap();
    std::fs::create_dir_all(tree.join("ok/deeper")).unwrap();
    make_clip(&tree.join("ok/deeper/a.mp4"), 16, 160, 120, 10);
    make_clip(&tree.join("locked/b.mp4"), 16, 160, 120, 10);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tree.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Root reads anything: drop to `nobody` so the permission bits mean something.
    let is_root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let mut cmd = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_refinevad")]);
        c.current_dir(root());
        c
    } else {
        bin()
    };
    let o = cmd.args(["extract", "--out", out.to_str().unwrap(), tree.to_str().unwrap()]).output().unwrap();
    std::fs::set_permissions(tree.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("locked: cannot read directory"), "{t}");
    assert!(out.join("ok/deeper/a.npy").is_file(), "outputs mirror the input tree: {t}");
}

#[test]
fn config_errors_exit_2_with_file_key_and_cause() {
    let d = tempfile::tempdir().unwrap();
    let clip = d.path().join("c.mp4");
    make_clip(&clip, 16, 160, 120, 10);
    let cases = [
        ("name: [oops\n", "invalid YAML"),
        ("name: x\nfeatures:\n  image:\n    framez: 3\n", "features.image.framez: unknown field `framez`"),
        ("name: x\nfeatures:\n  batch: -1\n", "features.batch: "),
        ("name: x\nchannels:\n  frames: {when_full: sometimes}\n", "channels.frames.when_full"),
    ];
    for (yaml, want) in cases {
        let p = d.path().join("p.yaml");
        std::fs::write(&p, yaml).unwrap();
        for args in [
            vec!["check", p.to_str().unwrap()],
            vec!["extract", "--pipeline", p.to_str().unwrap(), "--out", "/tmp/x", clip.to_str().unwrap()],
        ] {
            let o = run(&args);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(2), "{yaml}: {t}");
            assert!(t.contains(&p.display().to_string()) && t.contains(want), "{yaml}: want `{want}` in {t}");
        }
    }
}

#[test]
fn missing_or_corrupt_model_and_unavailable_gpu_stop_before_decoding() {
    let d = tempfile::tempdir().unwrap();
    let clip = d.path().join("c.mp4");
    make_clip(&clip, 16, 160, 120, 10);
    let models = d.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for f in ["manifest.json", "soft_caption_table.npy"] {
        std::fs::copy(root().join("models").join(f), models.join(f)).unwrap();
    }
    let o = bin()
        .env("REFINEVAD_MODELS_DIR", &models)
        .args(["extract", "--out", "/tmp/x", clip.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("efficientnet_lite0.onnx: missing model file"), "{t}");
    std::fs::write(models.join("efficientnet_lite0.onnx"), b"garbage").unwrap();
    let o = bin()
        .env("REFINEVAD_MODELS_DIR", &models)
        .args(["extract", "--out", "/tmp/x", clip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));

    let p = d.path().join("gpu.yaml");
    std::fs::write(&p, "name: gpu\nfeatures: {devices: [\"cuda:0\"]}\n").unwrap();
    let o = run(&["extract", "--pipeline", p.to_str().unwrap(), "--out", "/tmp/x", clip.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("device cuda:0"), "a requested GPU never falls back to the CPU silently: {t}");
}
