//! Live clips: a recorder on a real RTSP stream (looping H.264 on 127.0.0.1) keeps a
//! bounded ring of encoded video; a clip of a time range is remuxed without re-encoding,
//! starts at a keyframe, decodes, and holds exactly the units of the range. The recorder
//! reconnects after an outage.
mod clips_common;
mod rtsp_common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clips_common::probe;
use refinevad::clips::mux::write_cut;
use refinevad::clips::recorder::Recorder;
use refinevad::clips::ring::RingLimits;
use refinevad::clips::ClipsSink;
use refinevad::events::Event;
use refinevad::sinks::{ClipsSinkConfig, SinkMsg};
use refinevad::source::{SourceConfig, StreamInfo};
use refinevad::window::ScoreMsg;
use rtsp_common::{wait_for, Mount, RtspServer};

const FPS: u32 = 15;

#[test]
fn recorder_ring_gives_decodable_keyframe_aligned_clips_and_survives_an_outage() {
    let mut srv = RtspServer::start(vec![Mount::test_pattern("/cam", 320, 240, FPS)]);
    let rec = Recorder::start("cam", &srv.url("/cam"), RingLimits { max_s: 8.0, max_bytes: 64 << 20 }, None);
    let shared = rec.recording().clone();
    let span = || shared.ring.lock().unwrap().span_s();

    // Fill past the ring's bound: it must stay within 8 s plus less than one GOP (1 s).
    wait_for(Duration::from_secs(60), "a full ring", || (span() >= 7.5).then_some(()));
    let t_fill = SystemTime::now();
    wait_for(Duration::from_secs(60), "more recording", || {
        shared.ring.lock().unwrap().latest_wall().filter(|w| *w > t_fill + Duration::from_secs(3))
    });
    assert!(span() <= 8.0 + 1.0, "ring span {} s", span());

    let latest = shared.ring.lock().unwrap().latest_wall().unwrap();
    let (from, to) = (latest - Duration::from_millis(4500), latest - Duration::from_millis(1000));
    let cut = shared.ring.lock().unwrap().cut(from, to).expect("a cut");
    let first = &cut.units[0];
    assert!(first.keyframe, "the clip starts at a keyframe");
    assert!(first.wall <= from, "the keyframe is at or before the start");
    assert!(cut.units.iter().skip(1).all(|u| !u.keyframe || u.wall > from), "it is the last keyframe before the start");
    assert!(cut.units.last().unwrap().wall <= to);
    // At most one GOP (1 s at 15 fps) before the start.
    let lead = from.duration_since(first.wall).unwrap().as_secs_f64();
    assert!(lead < 1.0 + 0.5, "starts {lead} s before the range");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cam/clip.mp4");
    let written = write_cut(&cut, &path).unwrap();
    let p = probe(&path);
    assert_eq!(p.frames, cut.units.len() as u64, "every recorded unit decodes: {p:?}");
    assert_eq!((p.width, p.height), (320, 240));
    let expected = cut.units.len() as f64 / FPS as f64;
    assert!((p.decoded_s - expected).abs() <= 2.0 / FPS as f64, "decoded {} s, expected {expected} s", p.decoded_s);
    assert!((written.seconds - p.decoded_s).abs() <= 2.0 / FPS as f64, "{written:?} vs {p:?}");
    assert!(p.decoded_s + 1.0 / FPS as f64 >= to.duration_since(from).unwrap().as_secs_f64(), "covers the range");
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");

    // Outage: the recorder reconnects and records again.
    let connections = shared.connections.load(std::sync::atomic::Ordering::Relaxed);
    srv.stop();
    std::thread::sleep(Duration::from_millis(500));
    srv.restart();
    let back = SystemTime::now();
    wait_for(Duration::from_secs(90), "recording after the outage", || {
        shared.ring.lock().unwrap().latest_wall().filter(|w| *w > back + Duration::from_secs(2))
    });
    assert!(shared.connections.load(std::sync::atomic::Ordering::Relaxed) > connections);
    let reconnects = refinevad::telemetry::registry()
        .counter_value("refinevad_clip_recorder_reconnects_total", &[("stream", "cam")]);
    assert!(reconnects >= 1, "the outage is counted: {reconnects}");
    drop(rec);
}

/// The sink's live path: a live stream's start starts a recorder; a closed event's clip is
/// written by the live writer once its post-roll has been recorded (before the sink
/// finishes), at `<dir>/<stream>/<event_id>.mp4`, covering the event's range.
#[test]
fn live_clip_is_written_once_the_post_roll_is_recorded() {
    let srv = RtspServer::start(vec![Mount::test_pattern("/cam", 320, 240, FPS)]);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ClipsSinkConfig::new(dir.path().join("clips"));
    (cfg.pre_roll_s, cfg.post_roll_s) = (2.0, 2.0);
    let mut sink = ClipsSink::new(&cfg).unwrap();
    let started_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let info = StreamInfo {
        stream: Arc::from("cam"),
        uri: srv.url("/cam"),
        fps: FPS as f64,
        live: true,
        started_unix_ms: Some(started_ms),
        ..Default::default()
    };
    let categories: Arc<[String]> = Arc::from(Vec::new());
    sink.handle(&SinkMsg::from(ScoreMsg::Started { info, categories })).unwrap();
    // An event from stream second 6 to 7: its clip covers seconds 4 to 9.
    let event: Event = serde_json::from_value(serde_json::json!({
        "event_id": "0123456789abcdef0123456789abcdef", "seq": 1, "status": "closed", "stream": "cam",
        "video": srv.url("/cam"), "start": {"seconds": 6.0, "frame": 90}, "end": {"seconds": 7.0, "frame": 105},
        "peak_score": 0.9, "category": null, "category_probs": {}, "pipeline": "t", "model": "m",
        "wall_time": "2026-01-01T00:00:00.000Z"
    }))
    .unwrap();
    sink.handle(&SinkMsg::from(event)).unwrap();
    let path = dir.path().join("clips/cam/0123456789abcdef0123456789abcdef.mp4");
    let written_at = wait_for(Duration::from_secs(90), "the live clip", || path.exists().then(SystemTime::now));
    let post_roll_end = SystemTime::UNIX_EPOCH + Duration::from_millis(started_ms + 9000);
    assert!(written_at >= post_roll_end, "written only after its post-roll was recorded");
    let p = probe(&path);
    let frame = 1.0 / FPS as f64;
    assert!(p.decoded_s + frame >= 5.0, "covers seconds 4 to 9: {p:?}");
    assert!(p.decoded_s <= 5.0 + 1.0 + 2.0 * frame, "at most one GOP before the range: {p:?}");
    sink.finish().unwrap();
}

/// A camera that requires authentication: the recorder connects with its stream's
/// credentials (here from a password file); without them it records nothing and keeps
/// retrying.
#[test]
fn recorder_uses_the_stream_credentials() {
    let srv = RtspServer::start_with(
        rtsp_common::free_port(),
        vec![Mount::test_pattern("/cam", 320, 240, FPS)],
        Some(("viewer", "s3cret")),
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let mut source = SourceConfig::new("cam", srv.url("/cam"));
    (source.username, source.password_file) = (Some("viewer".into()), Some(secret));
    let limits = RingLimits { max_s: 10.0, max_bytes: 16 << 20 };
    let with = Recorder::start("cam", &srv.url("/cam"), limits, Some(source));
    let without = Recorder::start("cam2", &srv.url("/cam"), limits, None);
    let (w, wo) = (with.recording().clone(), without.recording().clone());
    wait_for(Duration::from_secs(60), "an authenticated recording", || {
        (!w.ring.lock().unwrap().is_empty()).then_some(())
    });
    wait_for(Duration::from_secs(60), "a retry without credentials", || {
        (wo.connections.load(std::sync::atomic::Ordering::Relaxed) >= 2).then_some(())
    });
    assert!(wo.ring.lock().unwrap().is_empty(), "nothing is recorded without credentials");
}

/// Measurement (docs/clips.md), not run by default: CPU of one recorder on a 1280×720
/// 25 fps 4 Mbit/s H.264 RTSP stream served by a separate process, and the time to remux a 20 s
/// clip from its ring.
/// `cargo test --release --test clips_live -- --ignored --nocapture measure_recorder`
#[test]
#[ignore]
fn measure_recorder() {
    let port = rtsp_common::free_port();
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "serve_for_measurement", "--nocapture"])
        .env("CLIPS_SERVE_PORT", port.to_string())
        .spawn()
        .unwrap();
    let url = format!("rtsp://127.0.0.1:{port}/main");
    wait_for(Duration::from_secs(60), "the server", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let rec = Recorder::start("main", &url, RingLimits { max_s: 70.0, max_bytes: 256 << 20 }, None);
    let shared = rec.recording().clone();
    wait_for(Duration::from_secs(60), "25 s of recording", || {
        (shared.ring.lock().unwrap().span_s() >= 25.0).then_some(())
    });
    let cpu = |f: &str| -> f64 {
        let stat = std::fs::read_to_string(f).unwrap();
        let after = stat.rsplit(')').next().unwrap().split_whitespace().collect::<Vec<_>>();
        (after[11].parse::<f64>().unwrap() + after[12].parse::<f64>().unwrap()) / 100.0
    };
    let (c0, t0) = (cpu("/proc/self/stat"), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(30));
    let (c1, wall) = (cpu("/proc/self/stat"), t0.elapsed().as_secs_f64());
    let (bytes, span) = {
        let r = shared.ring.lock().unwrap();
        (r.bytes(), r.span_s())
    };
    let latest = shared.ring.lock().unwrap().latest_wall().unwrap();
    let cut = shared.ring.lock().unwrap().cut(latest - Duration::from_secs(20), latest).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let w = write_cut(&cut, &dir.path().join("clip.mp4")).unwrap();
    let write_s = t.elapsed().as_secs_f64();
    println!(
        "recorder: {:.1}% of one core over {wall:.0} s (1280x720 25 fps H.264, {:.1} Mbit/s); \
         ring {:.1} MB for {span:.1} s; remux of a {:.1} s clip ({:.1} MB): {:.0} ms",
        100.0 * (c1 - c0) / wall,
        bytes as f64 * 8.0 / span / 1e6,
        bytes as f64 / 1e6,
        w.seconds,
        w.bytes as f64 / 1e6,
        write_s * 1e3
    );
    drop(rec);
    let _ = server.kill();
    let _ = server.wait();
}

/// The RTSP server of [`measure_recorder`], in its own process so its encoder's CPU is
/// not counted.
#[test]
#[ignore]
fn serve_for_measurement() {
    let Ok(port) = std::env::var("CLIPS_SERVE_PORT") else { return };
    let _srv = RtspServer::start_with(
        port.parse().unwrap(),
        vec![Mount::launch(
        "/main",
        "( videotestsrc is-live=true pattern=snow ! video/x-raw,width=1280,height=720,framerate=25/1 ! videoconvert \
         ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=4000 key-int-max=50 ! rtph264pay name=pay0 pt=96 \
         config-interval=1 )",
    )],
        None,
    );
    std::thread::sleep(Duration::from_secs(120));
}
