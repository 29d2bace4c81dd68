//! Live RTSP sources end to end, against a real RTSP server on 127.0.0.1.
mod rtsp_common;

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use rtsp_common::{Mount, RtspServer};

/// Pulls `n` decoded frames from `url` with a plain GStreamer client; false if the
/// stream fails or gives fewer within 20 s.
fn client_receives(url: &str, n: usize) -> bool {
    gst::init().unwrap();
    let desc = format!("uridecodebin uri={url} ! videoconvert ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    let bus = pipeline.bus().unwrap();
    while got < n && std::time::Instant::now() < deadline {
        if bus.pop_filtered(&[gst::MessageType::Error]).is_some() {
            break;
        }
        if sink.try_pull_sample(gst::ClockTime::from_mseconds(200)).is_some() {
            got += 1;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    got == n
}

#[test]
fn test_server_serves_stops_and_restarts_on_the_same_port() {
    let mut srv = RtspServer::start(vec![Mount::test_pattern("/cam", 320, 240, 15)]);
    let url = srv.url("/cam");
    assert!(client_receives(&url, 10), "no frames from {url}");
    srv.stop();
    assert!(!client_receives(&url, 1), "frames from a stopped server");
    srv.restart();
    assert!(client_receives(&url, 10), "no frames from {url} after restart");
}
