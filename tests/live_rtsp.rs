//! Live RTSP sources end to end, against a real RTSP server on 127.0.0.1: the real binary
//! scores RTSP streams, survives a server outage (Down, backoff, Up) without disturbing
//! the other stream, and takes sources added and removed through the control API.
mod common;
mod rtsp_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use rtsp_common::{free_port, wait_for, Mount, RtspServer};
use serde_json::Value;

const CAM_PASSWORD: &str = "s3cr3t-pw";

/// Pulls `n` decoded frames from `url` with a plain GStreamer client; false if the
/// stream fails or gives fewer within 20 s.
fn client_receives(url: &str, n: usize) -> bool {
    gst::init().unwrap();
    let desc = format!("uridecodebin uri={url} ! videoconvert ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    let bus = pipeline.bus().unwrap();
    while got < n && Instant::now() < deadline {
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

/// `(status, body)` of one HTTP request to the ops server.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the ops server");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (code, body)
}

/// The `/streams` entry of `id`, once the ops server answers.
fn stream(port: u16, id: &str) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET /streams HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let body = out.split_once("\r\n\r\n")?.1;
    let list: Vec<Value> = serde_json::from_str(body).ok()?;
    list.into_iter().find(|v| v["id"] == id)
}

fn state_of(v: &Value) -> String {
    v["state"].as_str().unwrap_or("").to_owned()
}

fn frames_of(v: &Value) -> u64 {
    v["frames"].as_u64().unwrap_or(0)
}

/// The binary, killed on drop unless it exited.
struct Run(Child, std::path::PathBuf);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Run {
    fn start(yaml: &Path, log_path: &Path) -> Self {
        Self::start_with(yaml, log_path, &[])
    }

    fn start_with(yaml: &Path, log_path: &Path, extra: &[&str]) -> Self {
        let log = std::fs::File::create(log_path).unwrap();
        let child = common::bin()
            .args(["-v", "run", yaml.to_str().unwrap()])
            .args(extra)
            .env("REFINEVAD_TEST_CAM_PASSWORD", CAM_PASSWORD)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start refinevad");
        Run(child, log_path.to_owned())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }

    /// Polls `f` until it gives a value; fails with the run's log after `timeout` or if
    /// the run exits meanwhile.
    fn wait<T>(&mut self, timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("refinevad exited ({status}) while waiting for {what}; log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends Ctrl-C and waits (bounded) for the exit code.
    fn interrupt(&mut self) -> i32 {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let status = wait_for(Duration::from_secs(60), "refinevad to exit after Ctrl-C", || self.0.try_wait().unwrap());
        status.code().unwrap_or(-1)
    }
}

fn scores_rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

#[test]
fn live_streams_survive_an_outage_and_are_added_and_removed_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv1 = RtspServer::start(vec![Mount::test_pattern("/cam1", 320, 240, 15)]);
    let srv2 = RtspServer::start_with(
        free_port(),
        vec![Mount::test_pattern("/cam2", 320, 240, 15), Mount::test_pattern("/cam3", 320, 240, 15)],
        Some(("viewer", CAM_PASSWORD)),
    );
    let ops = free_port();
    let yaml = dir.path().join("live.yaml");
    std::fs::write(
        &yaml,
        format!(
            r#"name: live_test
sources:
  - id: cam1
    uri: {cam1}
    transport: tcp
    latency_ms: 100
    stall_timeout_s: 5
    reconnect: {{ initial_s: 0.5, max_s: 2 }}
  - id: cam2
    uri: {cam2}
    transport: tcp
    username: viewer
    password_env: REFINEVAD_TEST_CAM_PASSWORD
    reconnect: {{ initial_s: 0.5, max_s: 2 }}
features: {{ batch: 4, max_wait_ms: 20 }}
model:
  window: {{ segments: 8, stride: 2 }}
runtime:
  ops_listen: 127.0.0.1:{ops}
  control: true
  max_streams: 3
  shutdown_timeout_s: 30
sinks:
  - type: jsonl
    path: {out}/events.jsonl
  - type: scores_csv
    dir: {out}/scores
"#,
            cam1 = srv1.url("/cam1"),
            cam2 = srv2.url("/cam2"),
            out = dir.path().display()
        ),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let mut run = Run::start(&yaml, &log);

    // Both streams come up and decode.
    for id in ["cam1", "cam2"] {
        run.wait(Duration::from_secs(90), &format!("{id} live with frames"), || {
            stream(ops, id).filter(|v| state_of(v) == "live" && frames_of(v) > 30)
        });
    }

    // Outage of cam1's server: Down, backoff, then Up once it is back.
    let cam2_before = frames_of(&stream(ops, "cam2").unwrap());
    srv1.stop();
    let mut seen = vec!["live".to_string()];
    let watch = |seen: &mut Vec<String>| {
        let v = stream(ops, "cam1")?;
        let s = state_of(&v);
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        Some(v)
    };
    run.wait(Duration::from_secs(30), "cam1 to go to backoff after its server stopped", || {
        watch(&mut seen).filter(|v| state_of(v) == "backoff")
    });
    let (code, health) = http(ops, "GET", "/healthz", "");
    assert_eq!(code, 503, "/healthz during the outage: {health}");
    assert!(health.contains(r#""cam1":"backoff""#) || health.contains(r#""cam1":"connecting""#), "{health}");
    std::thread::sleep(Duration::from_secs(3));
    srv1.restart();
    let back = run.wait(Duration::from_secs(30), "cam1 live again after its server returned", || {
        watch(&mut seen).filter(|v| state_of(v) == "live" && v["reconnects"] == 1)
    });
    assert!(back["last_error"].as_str().is_some_and(|e| !e.is_empty()), "cause of the outage kept: {back}");
    let live = seen.iter().position(|s| s == "live").unwrap();
    let backoff = seen.iter().skip(live).position(|s| s == "backoff").expect("backoff seen") + live;
    assert!(seen[backoff..].iter().any(|s| s == "live"), "state sequence {seen:?}");
    let cam2 = stream(ops, "cam2").unwrap();
    assert_eq!((state_of(&cam2).as_str(), &cam2["reconnects"]), ("live", &Value::from(0)), "cam2: {cam2}");
    assert!(frames_of(&cam2) > cam2_before + 30, "cam2 kept decoding through cam1's outage: {cam2}");
    let (_, metrics) = http(ops, "GET", "/metrics", "");
    assert!(metrics.contains(r#"refinevad_stream_reconnects_total{stream="cam1"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"refinevad_stream_state{stream="cam1",state="live"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"refinevad_stream_state{stream="cam1",state="backoff"} 0"#), "{metrics}");
    let (code, health) = http(ops, "GET", "/healthz", "");
    assert_eq!(code, 200, "/healthz after the outage: {health}");

    // A source added at run time, with credentials in its URI; bad requests are refused.
    let cam3_uri = srv2.url("/cam3").replace("rtsp://", &format!("rtsp://viewer:{CAM_PASSWORD}@"));
    let body = format!(r#"{{"id":"cam3","uri":"{cam3_uri}","transport":"tcp"}}"#);
    let (code, created) = http(ops, "POST", "/streams", &body);
    assert_eq!(code, 201, "{created}");
    assert!(!created.contains(CAM_PASSWORD) && created.contains("viewer:***@"), "{created}");
    let (code, msg) = http(ops, "POST", "/streams", &body);
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains("cam3") && msg.contains("already running"), "{msg}");
    let (code, msg) = http(ops, "POST", "/streams", r#"{"id":"cam4","uri":"rtsp://x","latency":5}"#);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("unknown field `latency`"), "{msg}");
    let (code, msg) = http(ops, "POST", "/streams", r#"{"id":"cam4","uri":"/surely/missing.mp4"}"#);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("uri: /surely/missing.mp4: file not found"), "{msg}");
    let (code, msg) = http(ops, "DELETE", "/streams/nope", "");
    assert_eq!(code, 404, "{msg}");
    run.wait(Duration::from_secs(60), "cam3 live with frames", || {
        stream(ops, "cam3").filter(|v| state_of(v) == "live" && frames_of(v) > 100)
    });

    // Removed: it ends cleanly and its scores are written.
    let (code, msg) = http(ops, "DELETE", "/streams/cam3", "");
    assert_eq!(code, 202, "{msg}");
    run.wait(Duration::from_secs(30), "cam3 removed", || stream(ops, "cam3").filter(|v| state_of(v) == "removed"));
    let cam3_scores = dir.path().join("scores/cam3.scores.csv");
    run.wait(Duration::from_secs(30), "cam3's scores written at its end", || {
        (scores_rows(&cam3_scores) > 0).then_some(())
    });
    assert_eq!(state_of(&stream(ops, "cam2").unwrap()), "live", "cam2 unaffected by cam3's removal");

    // Ctrl-C ends the run; every stream's scores are written, and no password leaked.
    assert_eq!(run.interrupt(), 130, "exit code after Ctrl-C; log:\n{}", run.log());
    for id in ["cam1", "cam2"] {
        let rows = scores_rows(&dir.path().join(format!("scores/{id}.scores.csv")));
        assert!(rows > 0, "{id} produced no scores; log:\n{}", run.log());
    }
    let text = run.log();
    assert!(text.contains("stream backoff") && text.contains("stream reconnected"), "{text}");
    assert!(!text.contains(CAM_PASSWORD), "the password appears in the log");
}

/// The log without its colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces `path` atomically, as editors do.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn run_watch_applies_edits_of_the_sources_and_keeps_going_on_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let srv =
        RtspServer::start(vec![Mount::test_pattern("/w1", 320, 240, 15), Mount::test_pattern("/w2", 320, 240, 15)]);
    let ops = free_port();
    let yaml = dir.path().join("watched.yaml");
    let (w1, w2) = (srv.url("/w1"), srv.url("/w2"));
    let file = |sources: &str, extra: &str| {
        format!(
            "name: watched\nsources:\n{sources}features: {{ max_wait_ms: 20 }}\nmodel:\n  window: {{ segments: 8, stride: 2 }}\n\
             runtime:\n  ops_listen: 127.0.0.1:{ops}\n  shutdown_timeout_s: 30\n\
             sinks:\n  - type: scores_csv\n    dir: {out}/scores\n{extra}",
            out = dir.path().display()
        )
    };
    let src = |id: &str, uri: &str, more: &str| format!("  - {{ id: {id}, uri: \"{uri}\", transport: tcp{more} }}\n");
    write_file(&yaml, &file(&src("w1", &w1, ""), ""));
    let log = dir.path().join("run.log");
    let mut run = Run::start_with(&yaml, &log, &["--watch"]);
    run.wait(Duration::from_secs(90), "w1 live with frames", || {
        stream(ops, "w1").filter(|v| state_of(v) == "live" && frames_of(v) > 30)
    });
    let (code, msg) = http(ops, "POST", "/streams", r#"{"id":"x","uri":"rtsp://x"}"#);
    assert_eq!(code, 403, "--watch alone does not open the HTTP control API: {msg}");

    // A new source starts; a changed one is stopped, drained and started again.
    let w1_since = stream(ops, "w1").unwrap()["since"].clone();
    write_file(&yaml, &file(&(src("w1", &w1, ", latency_ms: 150") + &src("w2", &w2, "")), ""));
    run.wait(Duration::from_secs(90), "w2 live with frames", || {
        stream(ops, "w2").filter(|v| state_of(v) == "live" && frames_of(v) > 30)
    });
    run.wait(Duration::from_secs(60), "the reload reported", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("pipeline file reloaded").then_some(())
    });
    let plain = strip_ansi(&run.log());
    let reloaded = plain.lines().find(|l| l.contains("pipeline file reloaded")).unwrap().to_owned();
    assert!(reloaded.contains(r#"added=["w2"]"#) && reloaded.contains(r#"restarted=["w1"]"#), "{reloaded}");
    run.wait(Duration::from_secs(60), "w1 live again after its restart", || {
        stream(ops, "w1").filter(|v| state_of(v) == "live" && v["since"] != w1_since && frames_of(v) > 10)
    });
    assert!(!strip_ansi(&run.log()).contains("pipeline file: "), "no source failed to stop or start:\n{}", run.log());

    // A broken file changes nothing and says where it is broken.
    write_file(&yaml, &file(&src("w2", &w2, ""), "bogus_key: 1\n"));
    run.wait(Duration::from_secs(30), "the broken file reported", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("pipeline file not reloaded").then_some(())
    });
    let text = strip_ansi(&run.log());
    let line = text.lines().find(|l| l.contains("pipeline file not reloaded")).unwrap();
    assert!(line.contains("watched.yaml") && line.contains("bogus_key"), "{line}");
    assert_eq!(state_of(&stream(ops, "w1").unwrap()), "live", "w1 kept running");

    // A removed source drains to `removed`; other sections wait for the next start.
    write_file(&yaml, &file(&src("w2", &w2, ""), "segmenter: { snippet_frames: 8 }\n"));
    run.wait(Duration::from_secs(60), "w1 removed", || stream(ops, "w1").filter(|v| state_of(v) == "removed"));
    assert_eq!(state_of(&stream(ops, "w2").unwrap()), "live", "w2 unaffected");
    run.wait(Duration::from_secs(30), "the restart-only change reported", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("changes to segmenter take effect at the next start").then_some(())
    });
    let (_, metrics) = http(ops, "GET", "/metrics", "");
    assert!(metrics.contains(r#"refinevad_pipeline_reloads_total{result="ok"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"refinevad_pipeline_reloads_total{result="error"} 1"#), "{metrics}");

    assert_eq!(run.interrupt(), 130, "exit code after Ctrl-C; log:\n{}", run.log());
    for id in ["w1", "w2"] {
        let rows = scores_rows(&dir.path().join(format!("scores/{id}.scores.csv")));
        assert!(rows > 0, "{id} produced no scores; log:\n{}", run.log());
    }
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Measurement for docs/live.md (not a check): reconnect time after the server returns,
/// and the process's CPU per live stream of vtest.avi (768×576, 10 fps) over 30 s.
/// `cargo nextest run --release --test live_rtsp --run-ignored only --no-capture`
#[test]
#[ignore]
fn measure_reconnect_time_and_cpu_per_stream() {
    let vtest = common::sample("vtest.avi");
    let mut srv = RtspServer::start(vec![Mount::clip("/a", &vtest, 10), Mount::clip("/b", &vtest, 10)]);
    let dir = tempfile::tempdir().unwrap();
    let ops = free_port();
    let source = |id: &str, url: String| {
        format!(
            "  - id: {id}\n    uri: {url}\n    transport: tcp\n    latency_ms: 100\n    stall_timeout_s: 5\n    \
             reconnect: {{ initial_s: 0.2, max_s: 0.5, jitter: 0 }}\n"
        )
    };
    let yaml = dir.path().join("m.yaml");
    let write = |sources: String| {
        std::fs::write(
            &yaml,
            format!(
                "name: measure\nsources:\n{sources}model:\n  window: {{ segments: 64, stride: 2 }}\nruntime:\n  \
                 ops_listen: 127.0.0.1:{ops}\n  control: true\n"
            ),
        )
        .unwrap()
    };
    write(source("a", srv.url("/a")));
    let mut run = Run::start(&yaml, &dir.path().join("run.log"));
    run.wait(Duration::from_secs(90), "a live", || stream(ops, "a").filter(|v| state_of(v) == "live"));

    // Reconnect: server down 3 s, then time from its return to frames flowing again.
    let mut times = Vec::new();
    for cycle in 1..=5u64 {
        srv.stop();
        run.wait(Duration::from_secs(30), "a down", || stream(ops, "a").filter(|v| state_of(v) != "live"));
        std::thread::sleep(Duration::from_secs(3));
        srv.restart();
        let t0 = Instant::now();
        run.wait(Duration::from_secs(30), "a back", || {
            stream(ops, "a").filter(|v| state_of(v) == "live" && v["reconnects"] == cycle)
        });
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!("reconnect after server return (backoff 0.2–0.5 s): {times:.2?} s, median {:.2} s", times[2]);

    // CPU over 30 s with one live stream, then with two.
    let pid = run.0.id();
    let per_window = |run: &mut Run| {
        std::thread::sleep(Duration::from_secs(5));
        let (c0, f0) = (cpu_seconds(pid), Instant::now());
        std::thread::sleep(Duration::from_secs(30));
        let _ = run.0.try_wait();
        (cpu_seconds(pid) - c0) / f0.elapsed().as_secs_f64()
    };
    let one = per_window(&mut run);
    let (code, body) =
        http(ops, "POST", "/streams", &format!(r#"{{"id":"b","uri":"{}","transport":"tcp"}}"#, srv.url("/b")));
    assert_eq!(code, 201, "{body}");
    run.wait(Duration::from_secs(60), "b live", || stream(ops, "b").filter(|v| state_of(v) == "live"));
    let two = per_window(&mut run);
    println!("CPU (cores busy) over 30 s: one live stream {one:.2}, two live streams {two:.2}");
    let frames: Vec<u64> = ["a", "b"].iter().map(|id| frames_of(&stream(ops, id).unwrap())).collect();
    println!("frames decoded: {frames:?}");
    assert_eq!(run.interrupt(), 130);
}
