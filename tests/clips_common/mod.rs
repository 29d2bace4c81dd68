//! Helpers of the clip tests: decoding a written clip with GStreamer.
#![allow(dead_code)]
use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// What decoding a clip found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub frames: u64,
    /// The container's duration.
    pub duration_s: f64,
    /// First to last decoded frame end (pts + duration).
    pub decoded_s: f64,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
}

/// Decodes every frame of `path` (`filesrc ! decodebin ! appsink`).
pub fn probe(path: &Path) -> Probe {
    gst::init().unwrap();
    let desc =
        format!("filesrc location=\"{}\" ! decodebin ! appsink name=s sync=false caps=video/x-raw", path.display());
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("s").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let (mut frames, mut first, mut last, mut size, mut fps) = (0u64, None, 0u64, (0, 0), 0.0);
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
        let b = sample.buffer().unwrap();
        let pts = b.pts().unwrap().nseconds();
        first.get_or_insert(pts);
        last = last.max(pts + b.duration().map_or(0, |d| d.nseconds()));
        if frames == 0 {
            let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
            size = (s.get::<i32>("width").unwrap() as u32, s.get::<i32>("height").unwrap() as u32);
            fps = s.get::<gst::Fraction>("framerate").map_or(0.0, |f| f.numer() as f64 / f.denom().max(1) as f64);
        }
        frames += 1;
    }
    let bus = pipeline.bus().unwrap();
    if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
        panic!("{}: decoding failed: {m:?}", path.display());
    }
    assert!(sink.is_eos(), "{}: decoding did not reach the end", path.display());
    let duration_s = pipeline.query_duration::<gst::ClockTime>().map_or(0.0, |d| d.nseconds() as f64 / 1e9);
    pipeline.set_state(gst::State::Null).unwrap();
    Probe {
        frames,
        duration_s,
        decoded_s: (last - first.unwrap_or(0)) as f64 / 1e9,
        width: size.0,
        height: size.1,
        fps,
    }
}
