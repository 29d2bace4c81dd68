//! Helpers shared by the integration tests: the real binary, the real sample footage.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A sample installed by scripts/setup.sh. Panics with a hint when set-up has not run.
pub fn sample(name: &str) -> PathBuf {
    let p = root().join("data/samples").join(name);
    assert!(p.is_file(), "{} missing: run scripts/setup.sh first", p.display());
    p
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_refinevad"));
    c.current_dir(root());
    c.env_remove("RUST_LOG");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run refinevad")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Writes a short H.264 MP4 with GStreamer's test source (moving ball) and encoder.
pub fn make_clip(path: &Path, frames: u32, width: u32, height: u32, fps: u32) {
    let status = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            &format!("num-buffers={frames}"),
            "pattern=ball",
            "!",
            &format!("video/x-raw,width={width},height={height},framerate={fps}/1"),
            "!",
            "x264enc",
            "!",
            "mp4mux",
            "!",
            "filesink",
            &format!("location={}", path.display()),
        ])
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) is installed by scripts/setup.sh");
    assert!(status.success(), "could not write test clip");
}
